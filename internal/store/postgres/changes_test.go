package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/internal/store/postgres/pgtest"
)

// Writes through one store (one replica) reach a subscriber on another.
func TestChangesReachOtherReplicas(t *testing.T) {
	dsn := pgtest.Schema(t)
	a, err := Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	changes := make(chan mcpgate.Change, 16)
	resyncs := make(chan struct{}, 4)
	go b.Subscribe(ctx, func(c mcpgate.Change) { changes <- c }, func() { resyncs <- struct{}{} })
	select {
	case <-resyncs: // listening
	case <-time.After(5 * time.Second):
		t.Fatal("the subscriber never connected")
	}

	now := time.Now().UTC()
	want := func(kind mcpgate.ChangeKind, key string) {
		t.Helper()
		select {
		case c := <-changes:
			if c.Kind != kind || c.Key != key {
				t.Fatalf("got %+v, want %s %q", c, kind, key)
			}
		case <-time.After(time.Second):
			t.Fatalf("no %s change within 1 s", kind)
		}
	}
	if err := a.CreateServer(t.Context(), mcpgate.Server{Name: "gh", URL: "https://x/", Source: "api", CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	want(mcpgate.ChangeServer, "gh")
	g := mcpgate.Grant{ID: "gr_1", User: "u", Servers: []string{"gh"}, TokenHash: "abc", CreatedAt: now}
	if err := a.CreateGrant(t.Context(), g); err != nil {
		t.Fatal(err)
	}
	want(mcpgate.ChangeGrant, "abc")
	g.Version = 1
	g.RevokedAt = now
	if _, err := a.UpdateGrant(t.Context(), g); err != nil {
		t.Fatal(err)
	}
	want(mcpgate.ChangeGrant, "abc")
	if err := a.Publish(t.Context(), mcpgate.Change{Kind: mcpgate.ChangePolicy}); err != nil {
		t.Fatal(err)
	}
	want(mcpgate.ChangePolicy, "")
	// A failed write publishes nothing.
	if _, err := a.UpdateGrant(t.Context(), g); err == nil {
		t.Fatal("stale update succeeded")
	}
	select {
	case c := <-changes:
		t.Fatalf("a failed write published %+v", c)
	case <-time.After(200 * time.Millisecond):
	}
}

// Deployments sharing a database in separate schemas do not hear each
// other's changes (notification channels are database-wide).
func TestChangesStayInTheirSchema(t *testing.T) {
	a, err := Open(t.Context(), pgtest.Schema(t))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(t.Context(), pgtest.Schema(t))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if a.channel == b.channel {
		t.Fatalf("both schemas notify on %q", a.channel)
	}

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	changes := make(chan mcpgate.Change, 16)
	resyncs := make(chan struct{}, 4)
	go b.Subscribe(ctx, func(c mcpgate.Change) { changes <- c }, func() { resyncs <- struct{}{} })
	select {
	case <-resyncs:
	case <-time.After(5 * time.Second):
		t.Fatal("the subscriber never connected")
	}
	if err := a.Publish(t.Context(), mcpgate.Change{Kind: mcpgate.ChangePolicy}); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(t.Context(), mcpgate.Change{Kind: mcpgate.ChangeServer, Key: "mine"}); err != nil {
		t.Fatal(err)
	}
	// Notifications from one sender arrive in order on one listener, but a
	// and b are separate senders: wait for b's and then check nothing else.
	select {
	case c := <-changes:
		if c.Kind != mcpgate.ChangeServer || c.Key != "mine" {
			t.Fatalf("heard %+v from another schema", c)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("own change never arrived")
	}
	select {
	case c := <-changes:
		t.Fatalf("heard %+v from another schema", c)
	case <-time.After(300 * time.Millisecond):
	}
}
