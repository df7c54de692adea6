package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/internal/adminapi"
	"github.com/mcpgate/mcpgate/internal/audit"
	"github.com/mcpgate/mcpgate/internal/config"
	"github.com/mcpgate/mcpgate/internal/store/sqlite"
)

// TestAppAudit: the wired gateway records through a.audit with the
// configured redaction and mirror, serves the events to mcpgate audit, and
// writes what is still buffered when it shuts down.
func TestAppAudit(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Audit.Mirror = filepath.Join(t.TempDir(), "audit.jsonl")
	cfg.Audit.RedactKeys = []string{"ssn"}
	cfg.Audit.RedactPatterns = []string{`ghp_[A-Za-z0-9]{8}`}
	a, stop := bootApp(t, cfg)

	// What the proxy will hold: a small interface, not the Writer.
	var rec interface{ Record(mcpgate.AuditEvent) } = a.audit
	rec.Record(mcpgate.AuditEvent{Time: time.Now(), User: "ann", Server: "gh", Method: "tools/call", Tool: "search",
		Decision: mcpgate.DecisionAllow, Arguments: `{"q":"ghp_abcdEFGH in a log","ssn":"123-45-6789","password":"hunter2"}`})
	wantArgs := `{"q":"[REDACTED] in a log","ssn":"[REDACTED]","password":"[REDACTED]"}`

	var list adminapi.AuditList
	deadline := time.Now().Add(10 * time.Second)
	for len(list.Events) == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond) // the writer flushes every 500 ms
		list = adminapi.AuditList{}
		decodeStrict(t, mustRun(t, "audit", "--user", "ann", "-o", "json"), &list)
	}
	if len(list.Events) != 1 || list.Events[0].Tool != "search" || compact(t, list.Events[0].Arguments) != wantArgs {
		t.Fatalf("mcpgate audit = %+v; want the event with arguments %s", list.Events, wantArgs)
	}

	// Recorded just before shutdown: written by the drain, not the timer.
	rec.Record(mcpgate.AuditEvent{Time: time.Now(), User: "bob", Server: "gh", Decision: mcpgate.DecisionDeny, RuleID: "r1"})
	stop()

	st, err := sqlite.Open(context.Background(), filepath.Join(cfg.DataDir, "mcpgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	events, err := st.QueryAudit(context.Background(), mcpgate.AuditQuery{})
	if err != nil || len(events) != 2 || events[0].User != "bob" || events[1].Arguments != wantArgs {
		t.Fatalf("stored after shutdown: %+v, %v; want bob's event, then ann's redacted", events, err)
	}

	lines := strings.Split(strings.TrimSpace(readFile(t, cfg.Audit.Mirror)), "\n")
	if len(lines) != 2 {
		t.Fatalf("mirror has %d lines, want 2:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	var first audit.MirrorLine
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil || first.User != "ann" || compact(t, first.Arguments) != wantArgs {
		t.Errorf("mirror line %s (%v); want ann's event, redacted", lines[0], err)
	}
	if strings.Contains(readFile(t, cfg.Audit.Mirror), "hunter2") {
		t.Error("the mirror holds a secret")
	}
}

// TestAppAuditConfigErrors: a mirror that cannot be opened stops the start.
func TestAppAuditConfigErrors(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Addr = "127.0.0.1:0"
	cfg.AdminToken = config.Secret{Value: appAdminToken}
	cfg.Audit.Mirror = filepath.Join(t.TempDir(), "missing", "audit.jsonl")
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := NewApp(context.Background(), cfg, slog.New(slog.DiscardHandler), nil); err == nil || !strings.Contains(err.Error(), "audit mirror") {
		t.Errorf("NewApp with a mirror in a missing directory = %v, want an audit mirror error", err)
	}
}

func compact(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		t.Fatalf("arguments %s: %v", raw, err)
	}
	return b.String()
}
