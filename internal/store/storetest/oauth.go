package storetest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
)

func newOAuthClient(issuer, clientID string) mcpgate.OAuthClient {
	return mcpgate.OAuthClient{
		Issuer:       issuer,
		ClientID:     clientID,
		ClientSecret: append([]byte("sealed:"+clientID+"\x00"), allBytes()...),
		Method:       "dcr",
		AuthMethod:   "client_secret_basic",
		RedirectURI:  "https://gateway.example.com/oauth/callback",
		CreatedAt:    at(0),
	}
}

func mustGetOAuthClient(t *testing.T, s mcpgate.Store, issuer string) mcpgate.OAuthClient {
	t.Helper()
	got, err := s.GetOAuthClient(t.Context(), issuer)
	if err != nil {
		t.Fatalf("GetOAuthClient(%q): %v", issuer, err)
	}
	checkUTC(t, "GetOAuthClient("+issuer+")", got.CreatedAt)
	return got
}

func testOAuthClientPutGet(t *testing.T, s mcpgate.Store) {
	ctx := t.Context()
	const issuer = "https://auth.example.com"
	if _, err := s.GetOAuthClient(ctx, issuer); !errors.Is(err, mcpgate.ErrNotFound) {
		t.Errorf("GetOAuthClient(missing) = %v, want ErrNotFound", err)
	}
	first := newOAuthClient(issuer, "client-1")
	got, err := s.PutOAuthClient(ctx, first)
	if err != nil {
		t.Fatalf("PutOAuthClient: %v", err)
	}
	checkUTC(t, "PutOAuthClient", got.CreatedAt)
	if d := diff(first, got); d != "" {
		t.Errorf("PutOAuthClient (-want +got):\n%s", d)
	}
	if d := diff(first, mustGetOAuthClient(t, s, issuer)); d != "" {
		t.Errorf("GetOAuthClient (-want +got):\n%s", d)
	}

	// A second registration for the issuer loses to the stored one.
	second := newOAuthClient(issuer, "client-2")
	second.ClientSecret = nil
	second.Method, second.AuthMethod = "cimd", "none"
	second.CreatedAt = at(time.Hour)
	got, err = s.PutOAuthClient(ctx, second)
	if err != nil {
		t.Fatalf("PutOAuthClient(second): %v", err)
	}
	checkUTC(t, "PutOAuthClient(second)", got.CreatedAt)
	if d := diff(first, got); d != "" {
		t.Errorf("PutOAuthClient(second) returned (-want the first +got):\n%s", d)
	}
	if d := diff(first, mustGetOAuthClient(t, s, issuer)); d != "" {
		t.Errorf("PutOAuthClient(second) changed the stored client (-want +got):\n%s", d)
	}

	// A public client at another issuer: no secret, and minimal fields.
	public := mcpgate.OAuthClient{Issuer: "https://other.example.com/tenant", ClientID: "https://gateway.example.com/client.json", Method: "cimd", AuthMethod: "none", CreatedAt: at(time.Minute)}
	if got, err := s.PutOAuthClient(ctx, public); err != nil || diff(public, got) != "" {
		t.Errorf("PutOAuthClient(public) = %+v, %v; want %+v", got, err, public)
	}
	if got := mustGetOAuthClient(t, s, public.Issuer); len(got.ClientSecret) != 0 || diff(public, got) != "" {
		t.Errorf("GetOAuthClient(public) = %+v, want %+v", got, public)
	}

	// Issuers are compared exactly.
	for _, other := range []string{issuer + "/", "HTTPS://AUTH.EXAMPLE.COM"} {
		if _, err := s.GetOAuthClient(ctx, other); !errors.Is(err, mcpgate.ErrNotFound) {
			t.Errorf("GetOAuthClient(%q) = %v, want ErrNotFound", other, err)
		}
	}

	if err := s.DeleteOAuthClient(ctx, issuer); err != nil {
		t.Fatalf("DeleteOAuthClient: %v", err)
	}
	if _, err := s.GetOAuthClient(ctx, issuer); !errors.Is(err, mcpgate.ErrNotFound) {
		t.Errorf("GetOAuthClient(deleted) = %v, want ErrNotFound", err)
	}
	if err := s.DeleteOAuthClient(ctx, issuer); !errors.Is(err, mcpgate.ErrNotFound) {
		t.Errorf("DeleteOAuthClient(twice) = %v, want ErrNotFound", err)
	}
	if d := diff(public, mustGetOAuthClient(t, s, public.Issuer)); d != "" {
		t.Errorf("DeleteOAuthClient changed another issuer's client (-want +got):\n%s", d)
	}
	// After a delete (say, the registration was revoked) a new one is stored.
	if got, err := s.PutOAuthClient(ctx, second); err != nil || diff(second, got) != "" {
		t.Errorf("PutOAuthClient after delete = %+v, %v; want %+v", got, err, second)
	}
	if d := diff(second, mustGetOAuthClient(t, s, issuer)); d != "" {
		t.Errorf("GetOAuthClient after re-registration (-want +got):\n%s", d)
	}
}

// testOAuthClientConcurrent: replicas registering at the same issuer at once
// all end up with the one registration that was stored.
func testOAuthClientConcurrent(t *testing.T, s mcpgate.Store, n int) {
	const issuer = "https://auth.example.com"
	got := make([]mcpgate.OAuthClient, n)
	errs := concurrently(n, func(i int) error {
		var err error
		got[i], err = s.PutOAuthClient(t.Context(), newOAuthClient(issuer, fmt.Sprintf("client-%d", i)))
		return err
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("PutOAuthClient #%d: %v", i, err)
		}
	}
	stored := mustGetOAuthClient(t, s, issuer)
	var winner int
	if _, err := fmt.Sscanf(stored.ClientID, "client-%d", &winner); err != nil || winner < 0 || winner >= n {
		t.Fatalf("stored client id %q is none of the writers'", stored.ClientID)
	}
	if d := diff(newOAuthClient(issuer, stored.ClientID), stored); d != "" {
		t.Errorf("stored client is not one writer's (-want +got):\n%s", d)
	}
	for i, c := range got {
		if d := diff(stored, c); d != "" {
			t.Errorf("PutOAuthClient #%d returned another client than the stored one (-stored +returned):\n%s", i, d)
		}
	}
}

func testOAuthClientList(t *testing.T, s mcpgate.Store) {
	ctx := t.Context()
	got, err := s.ListOAuthClients(ctx)
	if err != nil || len(got) != 0 {
		t.Fatalf("ListOAuthClients(empty store) = %v, %v; want none", got, err)
	}
	// Byte order: 'B' < 'a', '-' < '.' < '/'.
	var want []mcpgate.OAuthClient
	for _, iss := range []string{"https://b.example", "https://a.example/t", "https://a.example", "https://B.example", "https://a-example", "https://a.example.com"} {
		c := newOAuthClient(iss, "client-"+iss)
		if _, err := s.PutOAuthClient(ctx, c); err != nil {
			t.Fatalf("PutOAuthClient(%q): %v", iss, err)
		}
		want = append(want, c)
	}
	public := mcpgate.OAuthClient{Issuer: "https://public.example", ClientID: "https://gw.example/client.json", Method: "cimd", AuthMethod: "none", CreatedAt: at(time.Minute)}
	if _, err := s.PutOAuthClient(ctx, public); err != nil {
		t.Fatal(err)
	}
	want = append(want, public)
	slices.SortFunc(want, func(a, b mcpgate.OAuthClient) int { return cmpString(a.Issuer, b.Issuer) })
	got, err = s.ListOAuthClients(ctx)
	if err != nil {
		t.Fatalf("ListOAuthClients: %v", err)
	}
	if d := diff(want, got); d != "" {
		t.Errorf("ListOAuthClients (-want +got):\n%s", d)
	}
	for _, c := range got {
		checkUTC(t, "ListOAuthClients "+c.Issuer, c.CreatedAt)
	}
}

func testOAuthClientUpdate(t *testing.T, s mcpgate.Store) {
	ctx := t.Context()
	const issuer = "https://auth.example.com"
	old := newOAuthClient(issuer, "client-1")
	if err := s.UpdateOAuthClient(ctx, old, old); !errors.Is(err, mcpgate.ErrNotFound) {
		t.Errorf("UpdateOAuthClient(missing) = %v, want ErrNotFound", err)
	}
	if _, err := s.PutOAuthClient(ctx, old); err != nil {
		t.Fatal(err)
	}
	other := newOAuthClient("https://other.example.com", "client-o")
	if _, err := s.PutOAuthClient(ctx, other); err != nil {
		t.Fatal(err)
	}
	stored := mustGetOAuthClient(t, s, issuer)

	next := stored
	next.ClientSecret = append([]byte("rewrapped\x00"), allBytes()...)
	if err := s.UpdateOAuthClient(ctx, stored, next); err != nil {
		t.Fatalf("UpdateOAuthClient: %v", err)
	}
	if d := diff(next, mustGetOAuthClient(t, s, issuer)); d != "" {
		t.Errorf("GetOAuthClient after update (-want +got):\n%s", d)
	}
	if d := diff(other, mustGetOAuthClient(t, s, other.Issuer)); d != "" {
		t.Errorf("UpdateOAuthClient changed another issuer's client (-want +got):\n%s", d)
	}

	// The stored registration no longer matches what was read first.
	stale := next
	stale.ClientSecret = []byte("stale")
	if err := s.UpdateOAuthClient(ctx, stored, stale); !errors.Is(err, mcpgate.ErrConflict) {
		t.Errorf("UpdateOAuthClient(stale secret) = %v, want ErrConflict", err)
	}
	// A registration deleted and made again since it was read is another one,
	// even with the same client id and secret.
	if err := s.DeleteOAuthClient(ctx, issuer); err != nil {
		t.Fatal(err)
	}
	again := next
	again.CreatedAt = at(time.Hour)
	if _, err := s.PutOAuthClient(ctx, again); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateOAuthClient(ctx, next, stale); !errors.Is(err, mcpgate.ErrConflict) {
		t.Errorf("UpdateOAuthClient(re-registered since) = %v, want ErrConflict", err)
	}
	if d := diff(again, mustGetOAuthClient(t, s, issuer)); d != "" {
		t.Errorf("rejected updates changed the client (-want +got):\n%s", d)
	}
	moved := again
	moved.Issuer = "https://elsewhere.example.com"
	if err := s.UpdateOAuthClient(ctx, again, moved); !errors.Is(err, mcpgate.ErrInvalid) {
		t.Errorf("UpdateOAuthClient(new issuer) = %v, want ErrInvalid", err)
	}

	// A public client (no secret) can be updated too.
	public := mcpgate.OAuthClient{Issuer: "https://public.example", ClientID: "https://gw.example/client.json", Method: "cimd", AuthMethod: "none", CreatedAt: at(time.Minute)}
	if _, err := s.PutOAuthClient(ctx, public); err != nil {
		t.Fatal(err)
	}
	pub := mustGetOAuthClient(t, s, public.Issuer)
	pubNext := pub
	pubNext.RedirectURI = "https://gw.example/oauth/callback"
	if err := s.UpdateOAuthClient(ctx, pub, pubNext); err != nil {
		t.Errorf("UpdateOAuthClient(public client): %v", err)
	}
	if d := diff(pubNext, mustGetOAuthClient(t, s, public.Issuer)); d != "" {
		t.Errorf("GetOAuthClient(public) after update (-want +got):\n%s", d)
	}
}

// testOAuthClientConcurrentUpdate: n writers read the same registration and
// update it at once; exactly one wins and the rest see ErrConflict.
func testOAuthClientConcurrentUpdate(t *testing.T, s mcpgate.Store, n int) {
	const issuer = "https://auth.example.com"
	if _, err := s.PutOAuthClient(t.Context(), newOAuthClient(issuer, "client-1")); err != nil {
		t.Fatal(err)
	}
	base := mustGetOAuthClient(t, s, issuer)
	nexts := make([]mcpgate.OAuthClient, n)
	errs := concurrently(n, func(i int) error {
		nexts[i] = base
		nexts[i].ClientSecret = []byte(fmt.Sprintf("secret-%d", i))
		return s.UpdateOAuthClient(t.Context(), base, nexts[i])
	})
	winner := checkOneWinner(t, errs)
	if winner < 0 {
		return
	}
	if d := diff(nexts[winner], mustGetOAuthClient(t, s, issuer)); d != "" {
		t.Errorf("stored client is not the winner's (-want +got):\n%s", d)
	}
}

func newAuthRequest(state, server, user string) mcpgate.AuthRequest {
	sum := sha256.Sum256([]byte("state-" + state))
	return mcpgate.AuthRequest{
		StateHash:    hex.EncodeToString(sum[:]),
		Server:       server,
		User:         user,
		Issuer:       "https://auth." + server + ".example.com",
		ClientID:     "client-" + server,
		CodeVerifier: append([]byte("sealed:verifier\x00"), allBytes()...),
		RedirectURI:  "https://gateway.example.com/oauth/callback",
		Resource:     "https://" + server + ".example.com/mcp",
		Scopes:       []string{"read", "write"},
		CreatedAt:    at(0),
		ExpiresAt:    at(10 * time.Minute),
	}
}

func mustCreateAuthRequest(t *testing.T, s mcpgate.Store, r mcpgate.AuthRequest) {
	t.Helper()
	if err := s.CreateAuthRequest(t.Context(), r); err != nil {
		t.Fatalf("CreateAuthRequest(%s): %v", r.StateHash, err)
	}
}

func testAuthRequestCreateTake(t *testing.T, s mcpgate.Store) {
	ctx := t.Context()
	user := newAuthRequest("a", "github", "alice@example.com")
	shared := newAuthRequest("b", "github", "")
	shared.Scopes, shared.Resource = nil, ""
	for _, r := range []mcpgate.AuthRequest{user, shared} {
		mustCreateAuthRequest(t, s, r)
	}
	dup := newAuthRequest("a", "jira", "bob")
	if err := s.CreateAuthRequest(ctx, dup); !errors.Is(err, mcpgate.ErrConflict) {
		t.Errorf("CreateAuthRequest(duplicate state) = %v, want ErrConflict", err)
	}
	if _, err := s.TakeAuthRequest(ctx, newAuthRequest("missing", "github", "").StateHash); !errors.Is(err, mcpgate.ErrNotFound) {
		t.Errorf("TakeAuthRequest(missing) = %v, want ErrNotFound", err)
	}
	for _, want := range []mcpgate.AuthRequest{user, shared} {
		got, err := s.TakeAuthRequest(ctx, want.StateHash)
		if err != nil {
			t.Fatalf("TakeAuthRequest: %v", err)
		}
		checkUTC(t, "TakeAuthRequest", got.CreatedAt, got.ExpiresAt)
		if d := diff(want, got); d != "" {
			t.Errorf("TakeAuthRequest (-want +got):\n%s", d)
		}
		// A state works once.
		if _, err := s.TakeAuthRequest(ctx, want.StateHash); !errors.Is(err, mcpgate.ErrNotFound) {
			t.Errorf("TakeAuthRequest(twice) = %v, want ErrNotFound", err)
		}
	}
	// Once taken, the state hash is free again (the duplicate was refused).
	mustCreateAuthRequest(t, s, dup)
}

// testAuthRequestConcurrentTake: a callback replayed to several replicas at
// once is accepted by exactly one.
func testAuthRequestConcurrentTake(t *testing.T, s mcpgate.Store, n int) {
	want := newAuthRequest("raced", "github", "alice")
	mustCreateAuthRequest(t, s, want)
	got := make([]mcpgate.AuthRequest, n)
	errs := concurrently(n, func(i int) error {
		var err error
		got[i], err = s.TakeAuthRequest(t.Context(), want.StateHash)
		return err
	})
	wins := 0
	for i, err := range errs {
		switch {
		case err == nil:
			wins++
			if d := diff(want, got[i]); d != "" {
				t.Errorf("TakeAuthRequest #%d (-want +got):\n%s", i, d)
			}
		case !errors.Is(err, mcpgate.ErrNotFound):
			t.Errorf("TakeAuthRequest #%d: %v, want nil or ErrNotFound", i, err)
		}
	}
	if wins != 1 {
		t.Errorf("%d of %d concurrent TakeAuthRequests succeeded, want exactly 1", wins, n)
	}
}

func testAuthRequestDeleteBefore(t *testing.T, s mcpgate.Store) {
	ctx := t.Context()
	offsets := []time.Duration{-2 * time.Hour, -time.Millisecond, 0, time.Hour}
	reqs := make([]mcpgate.AuthRequest, len(offsets))
	for i, d := range offsets {
		reqs[i] = newAuthRequest(fmt.Sprint(i), "github", "alice")
		// Created long ago or just now: only the expiry counts.
		reqs[i].CreatedAt = at(-time.Duration(i) * 24 * time.Hour)
		reqs[i].ExpiresAt = at(d)
		mustCreateAuthRequest(t, s, reqs[i])
	}
	n, err := s.DeleteAuthRequestsBefore(ctx, at(0))
	if err != nil || n != 2 {
		t.Fatalf("DeleteAuthRequestsBefore = %d, %v; want 2, nil", n, err)
	}
	if n, err := s.DeleteAuthRequestsBefore(ctx, at(0)); err != nil || n != 0 {
		t.Errorf("DeleteAuthRequestsBefore again = %d, %v; want 0, nil", n, err)
	}
	for i, d := range offsets {
		_, err := s.TakeAuthRequest(ctx, reqs[i].StateHash)
		switch want := d >= 0; {
		case want && err != nil:
			t.Errorf("request expiring at %v: TakeAuthRequest = %v, want it kept (cut-off is exclusive)", d, err)
		case !want && !errors.Is(err, mcpgate.ErrNotFound):
			t.Errorf("request expiring at %v: TakeAuthRequest = %v, want ErrNotFound", d, err)
		}
	}
	mustCreateAuthRequest(t, s, reqs[3])
	if n, err := s.DeleteAuthRequestsBefore(ctx, at(24*time.Hour)); err != nil || n != 1 {
		t.Errorf("DeleteAuthRequestsBefore(all) = %d, %v; want 1, nil", n, err)
	}
}

// testAuthRequestListSwap: key rotation lists the pending requests and
// swaps each sealed verifier only if it is still the one it read.
func testAuthRequestListSwap(t *testing.T, s mcpgate.Store) {
	ctx := t.Context()
	if got, err := s.ListAuthRequests(ctx); err != nil || len(got) != 0 {
		t.Fatalf("ListAuthRequests(empty) = %v, %v; want none", got, err)
	}
	first := newAuthRequest("first", "github", "alice")
	second := newAuthRequest("second", "jira", "")
	second.Scopes, second.CreatedAt = nil, at(time.Second)
	mustCreateAuthRequest(t, s, first)
	mustCreateAuthRequest(t, s, second)
	got, err := s.ListAuthRequests(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := diff([]mcpgate.AuthRequest{first, second}, got); d != "" {
		t.Errorf("ListAuthRequests (-want +got):\n%s", d)
	}

	rewrapped := append([]byte("sealed:rewrapped\x00"), allBytes()...)
	if err := s.SwapAuthRequestVerifier(ctx, first.StateHash, []byte("sealed:stale"), rewrapped); !errors.Is(err, mcpgate.ErrConflict) {
		t.Errorf("SwapAuthRequestVerifier(stale old) = %v, want ErrConflict", err)
	}
	if err := s.SwapAuthRequestVerifier(ctx, first.StateHash, first.CodeVerifier, rewrapped); err != nil {
		t.Fatalf("SwapAuthRequestVerifier: %v", err)
	}
	taken, err := s.TakeAuthRequest(ctx, first.StateHash)
	if err != nil {
		t.Fatal(err)
	}
	want := first
	want.CodeVerifier = rewrapped
	if d := diff(want, taken); d != "" {
		t.Errorf("taken after the swap (-want +got):\n%s", d)
	}
	if err := s.SwapAuthRequestVerifier(ctx, first.StateHash, rewrapped, first.CodeVerifier); !errors.Is(err, mcpgate.ErrNotFound) {
		t.Errorf("SwapAuthRequestVerifier(taken) = %v, want ErrNotFound", err)
	}
	if got, err := s.ListAuthRequests(ctx); err != nil || len(got) != 1 || got[0].StateHash != second.StateHash {
		t.Errorf("ListAuthRequests after a take = %v, %v; want only the second", got, err)
	}
}
