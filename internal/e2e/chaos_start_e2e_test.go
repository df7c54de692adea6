package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mcpgate/mcpgate/internal/adminapi"
	"github.com/mcpgate/mcpgate/internal/e2e/gatewaytest"
	"github.com/mcpgate/mcpgate/internal/store/postgres/pgtest"
)

// A replica configured with another sealing key than the one the shared
// database was sealed with must refuse to start, saying why, and change
// nothing: a replica that started would write secrets the others cannot
// open (and could not open theirs).
func TestReplicaWithAnotherSealKeyRefusesToStart(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dsn := pgtest.Schema(t)
	o := replicaOptions(dsn)
	gw := gatewaytest.StartGateway(t, &o)
	actx, acancel := context.WithTimeout(ctx, 10*time.Second)
	defer acancel()
	if _, err := gw.Admin().CreateServer(actx, adminapi.CreateServerRequest{
		Name: "gh", URL: "https://mcp.example.com/mcp", Headers: map[string]string{"X-Api-Key": "sealed-secret"},
	}); err != nil {
		t.Fatal(err)
	}
	before := dumpPostgres(ctx, t, dsn)

	other := make([]byte, 32)
	rand.Read(other)
	wrong := o
	wrong.Env = []string{"MCPGATE_STORE_DSN=" + dsn, "MCPGATE_SEAL_KEY=" + base64.StdEncoding.EncodeToString(other)}
	code, out := gatewaytest.RunGateway(t, &wrong, 30*time.Second)
	const want = "the sealing key does not match this database"
	if code != 1 || !strings.Contains(out, want) || !strings.Contains(out, "refusing to start") {
		t.Fatalf("a replica with another sealing key exited %d, saying:\n%s\nwant exit 1 and %q … refusing to start", code, out, want)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, want) {
			t.Logf("the replica with another sealing key refused to start (exit %d): %s", code, strings.TrimSpace(line))
		}
	}
	if after := dumpPostgres(ctx, t, dsn); !bytes.Equal(sortedLines(before), sortedLines(after)) {
		t.Errorf("the refused replica changed the database:\n---- before ----\n%s\n---- after ----\n%s", before, after)
	}
	// The replica with the right key is unaffected.
	if s, err := gw.Admin().GetServer(actx, "gh"); err != nil || s.Name != "gh" {
		t.Errorf("the running replica after the refused start: %+v %v", s, err)
	}
}

// Replicas started at the same instant on a fresh schema all come up: the
// migrations run once, under an advisory lock, and the others find them
// done; the installation facts written at first start (the seal check) are
// written once and accepted by all. They then work as one gateway.
func TestReplicasMigrateAFreshSchemaAtOnce(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dsn := pgtest.Schema(t)
	o := replicaOptions(dsn)
	opts := make([]*gatewaytest.Options, 3)
	for i := range opts {
		c := o
		opts[i] = &c
	}
	gws := gatewaytest.StartGateways(t, opts...)

	files, err := filepath.Glob(filepath.Join(gatewaytest.RepoRoot(t), "internal", "store", "postgres", "migrations", "*.sql"))
	if err != nil || len(files) == 0 {
		t.Fatalf("list the migrations: %v %v", files, err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var rows, versions int
	if err := conn.QueryRow(ctx, `SELECT count(*), count(DISTINCT version) FROM schema_migrations`).Scan(&rows, &versions); err != nil {
		t.Fatal(err)
	}
	if rows != len(files) || versions != len(files) {
		t.Errorf("schema_migrations has %d rows (%d versions) after %d replicas started at once; want %d, each migration once", rows, versions, len(gws), len(files))
	}
	var checks int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM meta WHERE key = 'seal_check'`).Scan(&checks); err != nil || checks != 1 {
		t.Errorf("meta has %d seal checks (%v); want 1", checks, err)
	}

	// One gateway: a server added through one replica, a grant made through
	// another, used through each.
	up := gatewaytest.StartUpstream(t, true)
	gws[0].AddServer(t, "everything", up)
	_, token := gws[1].CreateGrant(t, "alice", "everything")
	for i, gw := range gws {
		waitForServer(ctx, t, gw, "everything", token)
		r, err := mcpPost(ctx, newClient(), gw.URL("everything"), token, "", "tools/call", map[string]any{"name": "test_simple_text", "arguments": map[string]any{}}, false)
		if err != nil || !r.ok() {
			t.Errorf("tools/call through replica %d: %v %v", i, r, err)
		}
	}
	t.Logf("%d replicas started at the same instant on a fresh schema: all up, %d migrations applied once, one seal check", len(gws), rows)
}

// sortedLines is a dump with its lines sorted: rows come in no set order.
func sortedLines(dump []byte) []byte {
	lines := bytes.Split(dump, []byte("\n"))
	slices.SortFunc(lines, bytes.Compare)
	return bytes.Join(lines, []byte("\n"))
}
