package rotation_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/internal/registry"
	"github.com/mcpgate/mcpgate/internal/rotation"
	"github.com/mcpgate/mcpgate/internal/seal"
	"github.com/mcpgate/mcpgate/internal/store/sqlite"
)

var metaKeys = []string{"seal_check", "connect_link_key"}

func openStore(t *testing.T) *sqlite.DB {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "rot.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func keyring(t *testing.T, primary []byte, older ...[]byte) *seal.Keyring {
	t.Helper()
	k, err := seal.NewKeyring(primary, older...)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustSeal(t *testing.T, k *seal.Keyring, plaintext, aad string) []byte {
	t.Helper()
	b, err := k.Seal([]byte(plaintext), []byte(aad))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func privateKeyPEM(t *testing.T) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

func accessAAD(id string) string  { return "connection/" + id + "/access_token" }
func refreshAAD(id string) string { return "connection/" + id + "/refresh_token" }
func credentialAAD(id string) string {
	return "connection/" + id + "/grant_credential"
}

const pendingState = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"

func verifierAAD(stateHash string) string { return "auth_request/" + stateHash + "/verifier" }

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// fixture is a store holding sealed values of every kind.
type fixture struct {
	st      *sqlite.DB
	key     string // the PEM key of server "jwt"
	created map[string]mcpgate.Server
}

// newFixture fills a store with values sealed under k and returns how many
// sealed values it holds.
func newFixture(t *testing.T, k *seal.Keyring) (*fixture, int) {
	t.Helper()
	ctx := t.Context()
	f := &fixture{st: openStore(t), key: privateKeyPEM(t), created: map[string]mcpgate.Server{}}
	reg := registry.New(f.st, k, func() time.Time { return t0 })
	n := 0
	for _, in := range []registry.Input{
		{Name: "headers", URL: "https://h.example/mcp", Headers: map[string]string{"Authorization": "Bearer h", "X-Key": "k"},
			OAuthClientID: "cid", OAuthClientSecret: "client-secret"}, // 3 values
		{Name: "jwt", URL: "https://j.example/mcp", OAuthClientID: "cid", OAuthPrivateKey: f.key, OAuthScopes: []string{"read"}}, // 1
		{Name: "plain", URL: "https://p.example/mcp"}, // none
	} {
		s, err := reg.Add(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		f.created[s.Name] = s
	}
	n += 4
	for _, c := range []mcpgate.Connection{
		{ID: "c1", Server: "headers", User: "alice", State: mcpgate.StateConnected,
			AccessToken: mustSeal(t, k, "at-1", accessAAD("c1")), RefreshToken: mustSeal(t, k, "rt-1", refreshAAD("c1"))},
		{ID: "c2", Server: "jwt", State: mcpgate.StateConnected, GrantType: "jwt_bearer", AccessToken: mustSeal(t, k, "at-2", accessAAD("c2")),
			GrantCredential: mustSeal(t, k, "assertion-2", credentialAAD("c2"))},
	} {
		c.CreatedAt, c.UpdatedAt = t0, t0
		if err := f.st.CreateConnection(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	n += 4
	for _, c := range []mcpgate.OAuthClient{
		{Issuer: "https://as.example", ClientID: "dcr-1", ClientSecret: mustSeal(t, k, "dcr-secret", "oauth_client/https://as.example/secret"), Method: "dcr", AuthMethod: "client_secret_basic", CreatedAt: t0},
		{Issuer: "https://public.example", ClientID: "https://gw.example/client.json", Method: "cimd", AuthMethod: "none", CreatedAt: t0},
	} {
		if _, err := f.st.PutOAuthClient(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	n++
	for _, key := range metaKeys {
		v := base64.StdEncoding.EncodeToString(mustSeal(t, k, "value of "+key, "meta/"+key))
		if _, err := f.st.PutMetaIfAbsent(ctx, key, v); err != nil {
			t.Fatal(err)
		}
	}
	n += 2
	// An authorization in progress: its PKCE verifier must survive the
	// removal of the old key until the callback comes.
	if err := f.st.CreateAuthRequest(ctx, mcpgate.AuthRequest{StateHash: pendingState, Server: "headers", User: "alice",
		CodeVerifier: mustSeal(t, k, "verifier-1", verifierAAD(pendingState)), CreatedAt: t0, ExpiresAt: t0.Add(10 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	n++
	if _, err := f.st.PutMetaIfAbsent(ctx, "unrelated", "not sealed"); err != nil {
		t.Fatal(err)
	}
	return f, n
}

// checkOpens fails unless k opens every sealed value of the fixture.
func (f *fixture) checkOpens(t *testing.T, k *seal.Keyring) {
	t.Helper()
	ctx := t.Context()
	reg := registry.New(f.st, k, nil)
	if err := reg.Reload(ctx); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if up := reg.Lookup("headers"); up == nil || up.Headers.Get("Authorization") != "Bearer h" || up.Headers.Get("X-Key") != "k" {
		t.Errorf("headers after rotation: %+v", up)
	}
	for name, want := range map[string]registry.OAuthClient{
		"headers": {ID: "cid", Secret: "client-secret"},
		"jwt":     {ID: "cid", Secret: f.key, AuthMethod: "private_key_jwt", Scopes: []string{"read"}},
	} {
		got, err := reg.OAuthClient(ctx, name)
		if err != nil || got.Secret != want.Secret || got.AuthMethod != want.AuthMethod {
			t.Errorf("OAuthClient(%s) = %+v, %v; want %+v", name, got, err, want)
		}
	}
	open := func(what string, sealed []byte, aad, want string) {
		t.Helper()
		got, err := k.Open(sealed, []byte(aad))
		if err != nil || string(got) != want {
			t.Errorf("%s: Open = %q, %v; want %q", what, got, err, want)
		}
	}
	for id, want := range map[string][2]string{"c1": {"at-1", "rt-1"}, "c2": {"at-2", ""}} {
		c, err := f.st.GetConnection(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		open(id+" access token", c.AccessToken, accessAAD(id), want[0])
		if want[1] != "" {
			open(id+" refresh token", c.RefreshToken, refreshAAD(id), want[1])
		} else if c.RefreshToken != nil {
			t.Errorf("%s: a refresh token appeared: %x", id, c.RefreshToken)
		}
	}
	if c, err := f.st.GetConnection(ctx, "c2"); err != nil {
		t.Fatal(err)
	} else {
		open("c2 grant credential", c.GrantCredential, credentialAAD("c2"), "assertion-2")
	}
	oc, err := f.st.GetOAuthClient(ctx, "https://as.example")
	if err != nil {
		t.Fatal(err)
	}
	open("oauth client", oc.ClientSecret, "oauth_client/https://as.example/secret", "dcr-secret")
	if pub, err := f.st.GetOAuthClient(ctx, "https://public.example"); err != nil || pub.ClientSecret != nil {
		t.Errorf("public client = %+v, %v; want it without a secret", pub, err)
	}
	for _, key := range metaKeys {
		v, err := f.st.GetMeta(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		b, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			t.Fatalf("meta %s: %v", key, err)
		}
		open("meta "+key, b, "meta/"+key, "value of "+key)
	}
	pending, err := f.st.ListAuthRequests(ctx)
	if err != nil || len(pending) != 1 {
		t.Fatalf("ListAuthRequests = %v, %v; want the pending one", pending, err)
	}
	open("PKCE verifier", pending[0].CodeVerifier, verifierAAD(pendingState), "verifier-1")
	if v, err := f.st.GetMeta(ctx, "unrelated"); err != nil || v != "not sealed" {
		t.Errorf("unrelated meta = %q, %v", v, err)
	}
}

func TestRotate(t *testing.T) {
	a, b := seal.GenerateKey(), seal.GenerateKey()
	kA, kBA, kB := keyring(t, a), keyring(t, b, a), keyring(t, b)
	f, want := newFixture(t, kA)

	// A value sealed under B before the rotation is not rewritten.
	if _, err := registry.New(f.st, kBA, nil).Add(t.Context(), registry.Input{Name: "new", URL: "https://n.example/mcp", Headers: map[string]string{"X-New": "n"}}); err != nil {
		t.Fatal(err)
	}
	r := rotation.New(f.st, kBA, metaKeys...)
	id, n, err := r.Rotate(t.Context())
	if err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	if id != kB.PrimaryID() || n != want {
		t.Errorf("Rotate = %s, %d; want %s, %d", id, n, kB.PrimaryID(), want)
	}
	f.checkOpens(t, kB)
	if up := registry.New(f.st, kB, nil); up.Reload(t.Context()) != nil || up.Lookup("new").Headers.Get("X-New") != "n" {
		t.Errorf("server sealed under B before rotation no longer opens")
	}
	// Rotation re-encrypts; it does not change the servers' settings.
	for name, before := range f.created {
		after, err := f.st.GetServer(t.Context(), name)
		if err != nil {
			t.Fatal(err)
		}
		if !after.UpdatedAt.Equal(before.UpdatedAt) || after.OAuthAuthMethod != before.OAuthAuthMethod || after.URL != before.URL {
			t.Errorf("server %s changed beyond its sealed values: before %+v, after %+v", name, before, after)
		}
	}

	// Everything is under B now: rotating again, with or without A, rewraps
	// nothing and writes nothing.
	before, _ := f.st.GetServer(t.Context(), "headers")
	for _, k := range []*seal.Keyring{kBA, kB} {
		id, n, err := rotation.New(f.st, k, metaKeys...).Rotate(t.Context())
		if err != nil || id != kB.PrimaryID() || n != 0 {
			t.Errorf("second Rotate = %s, %d, %v; want %s, 0, nil", id, n, err, kB.PrimaryID())
		}
	}
	if after, _ := f.st.GetServer(t.Context(), "headers"); after.Version != before.Version {
		t.Errorf("a no-op rotation wrote the server: version %d → %d", before.Version, after.Version)
	}
}

// TestRotateUnknownKey: a value under a key the keyring lacks is named in
// the error, and everything else is still rewrapped.
func TestRotateUnknownKey(t *testing.T) {
	a, b, c := seal.GenerateKey(), seal.GenerateKey(), seal.GenerateKey()
	kA, kBA, kC := keyring(t, a), keyring(t, b, a), keyring(t, c)
	f, want := newFixture(t, kA)
	lost := mcpgate.Connection{ID: "lost", Server: "plain", User: "bob", State: mcpgate.StateConnected,
		AccessToken: mustSeal(t, kC, "at", accessAAD("lost")), CreatedAt: t0, UpdatedAt: t0}
	if err := f.st.CreateConnection(t.Context(), lost); err != nil {
		t.Fatal(err)
	}
	if err := f.st.SetMeta(t.Context(), "connect_link_key", "%%% not base64"); err != nil {
		t.Fatal(err)
	}
	want-- // the link key is now unreadable

	id, n, err := rotation.New(f.st, kBA, metaKeys...).Rotate(t.Context())
	if !errors.Is(err, mcpgate.ErrConflict) {
		t.Fatalf("Rotate = %v, want ErrConflict", err)
	}
	for _, says := range []string{`connection lost (server "plain", user "bob"): access token: seal: unknown master key ` + kC.PrimaryID(),
		`meta "connect_link_key": not base64`, "2 could not be", "keep the old keys"} {
		if !strings.Contains(err.Error(), says) {
			t.Errorf("error %q does not say %q", err, says)
		}
	}
	if id != kBA.PrimaryID() || n != want {
		t.Errorf("Rotate = %s, %d; want %s, %d", id, n, kBA.PrimaryID(), want)
	}
	kB := keyring(t, b)
	reg := registry.New(f.st, kB, nil)
	if err := reg.Reload(t.Context()); err != nil {
		t.Errorf("servers do not open under B alone: %v", err)
	}
	if c1, _ := f.st.GetConnection(t.Context(), "c1"); c1.AccessToken == nil {
		t.Fatal("c1 lost its token")
	} else if _, err := kB.Open(c1.AccessToken, []byte(accessAAD("c1"))); err != nil {
		t.Errorf("c1 does not open under B alone: %v", err)
	}
}

// meddler is a store whose updates first let a concurrent writer in: the
// writer changes (or removes) the record, so the rotation's swap loses.
type meddler struct {
	mcpgate.Store
	mu    sync.Mutex
	times map[string]int // how many more times to meddle, per record
}

func (m *meddler) turn(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.times[id] == 0 {
		return false
	}
	m.times[id]--
	return true
}

func (m *meddler) UpdateServer(ctx context.Context, s mcpgate.Server) (mcpgate.Server, error) {
	if m.turn(s.Name) {
		if s.Name == "plain-gone" {
			if err := m.Store.DeleteServer(ctx, s.Name); err != nil {
				return s, err
			}
		} else {
			cur, err := m.Store.GetServer(ctx, s.Name)
			if err != nil {
				return s, err
			}
			cur.URL += "?changed"
			if _, err := m.Store.UpdateServer(ctx, cur); err != nil {
				return s, err
			}
		}
	}
	return m.Store.UpdateServer(ctx, s)
}

func (m *meddler) UpdateConnection(ctx context.Context, c mcpgate.Connection) (mcpgate.Connection, error) {
	if m.turn(c.ID) {
		cur, err := m.Store.GetConnection(ctx, c.ID)
		if err != nil {
			return c, err
		}
		cur.LastUsedAt = t0.Add(time.Duration(cur.Version) * time.Minute)
		if _, err := m.Store.UpdateConnection(ctx, cur); err != nil {
			return c, err
		}
	}
	return m.Store.UpdateConnection(ctx, c)
}

func (m *meddler) UpdateOAuthClient(ctx context.Context, old, next mcpgate.OAuthClient) error {
	if m.turn(old.Issuer) {
		// Re-registered meanwhile: same client id, a new record.
		if err := m.Store.DeleteOAuthClient(ctx, old.Issuer); err != nil {
			return err
		}
		again := old
		again.CreatedAt = old.CreatedAt.Add(time.Minute)
		if _, err := m.Store.PutOAuthClient(ctx, again); err != nil {
			return err
		}
	}
	return m.Store.UpdateOAuthClient(ctx, old, next)
}

// TestRotateRetriesLostSwaps: a record changed between reading and writing
// is re-read and rewrapped without undoing the concurrent change; a record
// removed meanwhile is skipped.
func TestRotateRetriesLostSwaps(t *testing.T) {
	a, b := seal.GenerateKey(), seal.GenerateKey()
	kA, kBA, kB := keyring(t, a), keyring(t, b, a), keyring(t, b)
	f, want := newFixture(t, kA)
	if _, err := registry.New(f.st, kA, nil).Add(t.Context(), registry.Input{Name: "plain-gone", URL: "https://g.example/mcp", Headers: map[string]string{"X-A": "a"}}); err != nil {
		t.Fatal(err)
	}
	m := &meddler{Store: f.st, times: map[string]int{"headers": 2, "c1": 3, "https://as.example": 1, "plain-gone": 1}}
	id, n, err := rotation.New(m, kBA, metaKeys...).Rotate(t.Context())
	if err != nil || id != kB.PrimaryID() || n != want {
		t.Fatalf("Rotate = %s, %d, %v; want %s, %d, nil", id, n, err, kB.PrimaryID(), want)
	}
	f.checkOpens(t, kB)
	if s, _ := f.st.GetServer(t.Context(), "headers"); !strings.HasSuffix(s.URL, "?changed?changed") {
		t.Errorf("the concurrent server updates were undone: URL %q", s.URL)
	}
	if c, _ := f.st.GetConnection(t.Context(), "c1"); c.LastUsedAt.IsZero() {
		t.Errorf("the concurrent connection updates were undone: %+v", c)
	}
	if oc, _ := f.st.GetOAuthClient(t.Context(), "https://as.example"); !oc.CreatedAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("the re-registration was undone: %+v", oc)
	}
	if _, err := f.st.GetServer(t.Context(), "plain-gone"); !errors.Is(err, mcpgate.ErrNotFound) {
		t.Errorf("removed server: %v", err)
	}
}

// TestRotateGivesUp: a record that changes on every attempt is reported,
// not retried forever.
func TestRotateGivesUp(t *testing.T) {
	a, b := seal.GenerateKey(), seal.GenerateKey()
	f, want := newFixture(t, keyring(t, a))
	m := &meddler{Store: f.st, times: map[string]int{"c1": 1000}}
	_, n, err := rotation.New(m, keyring(t, b, a), metaKeys...).Rotate(t.Context())
	if !errors.Is(err, mcpgate.ErrConflict) || !strings.Contains(err.Error(), "connection c1") || !strings.Contains(err.Error(), "rotate again") {
		t.Fatalf("Rotate = %v, want ErrConflict naming connection c1", err)
	}
	if n != want-2 {
		t.Errorf("rewrapped %d, want %d (all but c1's two tokens)", n, want-2)
	}
}

// TestRotateConcurrent: rotations racing in one process rewrap each value
// once between them.
func TestRotateConcurrent(t *testing.T) {
	a, b := seal.GenerateKey(), seal.GenerateKey()
	f, want := newFixture(t, keyring(t, a))
	r := rotation.New(f.st, keyring(t, b, a), metaKeys...)
	var wg sync.WaitGroup
	ns := make([]int, 4)
	for i := range ns {
		wg.Go(func() {
			_, n, err := r.Rotate(t.Context())
			if err != nil {
				t.Errorf("Rotate #%d: %v", i, err)
			}
			ns[i] = n
		})
	}
	wg.Wait()
	total := 0
	for _, n := range ns {
		total += n
	}
	if total != want {
		t.Errorf("rotations rewrapped %v values, %d in all; want %d in all", ns, total, want)
	}
	f.checkOpens(t, keyring(t, b))
}
