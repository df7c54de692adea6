package registry_test

import (
	"context"
	"sync"
	"testing"

	"github.com/mcpgate/mcpgate/internal/registry"
	"github.com/mcpgate/mcpgate/internal/seal"
	"github.com/mcpgate/mcpgate/internal/store/postgres"
	"github.com/mcpgate/mcpgate/internal/store/postgres/pgtest"
)

// Replicas starting together all declare the config's servers at once;
// every one of them must come up.
func TestDeclareConcurrentlyFromManyReplicas(t *testing.T) {
	dsn := pgtest.Schema(t)
	keys, err := seal.NewKeyring(seal.GenerateKey())
	if err != nil {
		t.Fatal(err)
	}
	declared := []registry.Input{
		{Name: "github", URL: "https://api.example.com/mcp", Headers: map[string]string{"X-Key": "v"}},
		{Name: "linear", URL: "https://mcp.linear.example/sse"},
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			st, err := postgres.Open(context.Background(), dsn)
			if err != nil {
				errs <- err
				return
			}
			defer st.Close()
			errs <- registry.New(st, keys, nil).Declare(context.Background(), declared)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("a replica failed to start: %v", err)
		}
	}
}

// Declaring what the store already holds writes nothing (replicas that
// start together agree without racing); a changed declaration is written.
func TestDeclareWritesOnlyChanges(t *testing.T) {
	r, st := newRegistry(t)
	ctx := t.Context()
	declared := []registry.Input{{
		Name: "github", URL: "https://api.example.com/mcp", Headers: map[string]string{"X-Key": "v", "Authorization": "Bearer t"},
		OAuthClientID: "cid", OAuthClientSecret: "s3", OAuthScopes: []string{"repo"},
	}}
	version := func() int64 {
		t.Helper()
		s, err := st.GetServer(ctx, "github")
		if err != nil {
			t.Fatal(err)
		}
		return s.Version
	}
	for range 3 {
		if err := r.Declare(ctx, declared); err != nil {
			t.Fatal(err)
		}
	}
	if v := version(); v != 1 {
		t.Fatalf("version %d after declaring the same server three times; want 1", v)
	}
	for i, edit := range []func(in *registry.Input){
		func(in *registry.Input) { in.Headers = map[string]string{"X-Key": "v2", "Authorization": "Bearer t"} },
		func(in *registry.Input) { in.OAuthClientSecret = "s4" },
		func(in *registry.Input) { in.OAuthScopes = []string{"repo", "user"} },
		func(in *registry.Input) { in.URL = "https://api.example.com/mcp/v2" },
	} {
		edit(&declared[0])
		if err := r.Declare(ctx, declared); err != nil {
			t.Fatal(err)
		}
		if v := version(); v != int64(i+2) {
			t.Fatalf("change %d: version %d; want %d (the change was not written)", i+1, v, i+2)
		}
	}
}
