// Package storetest is the one conformance suite for mcpgate.Store. Every
// backend's tests call Run, so the backends cannot drift apart: a behaviour
// that is not pinned down here is not part of the contract.
package storetest

import (
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/mcpgate/mcpgate"
)

// Run runs the whole suite. Each subtest calls open for a fresh, empty store
// and closes it when the subtest ends (checking Close's error); open should
// register any further cleanup (removing files, dropping schemas) with
// t.Cleanup. Subtests run in parallel, so open must give each its own store.
func Run(t *testing.T, open func(t *testing.T) mcpgate.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s mcpgate.Store)
	}{
		{"Ping", testPing},
		{"ServerCreateGet", testServerCreateGet},
		{"ServerDuplicate", testServerDuplicate},
		{"ServerMissing", testServerMissing},
		{"ServerList", testServerList},
		{"ServerDelete", testServerDelete},
		{"ServerTimestamps", testServerTimestamps},
		{"ServerUpdate", testServerUpdate},
		{"ServerConcurrentCAS2", func(t *testing.T, s mcpgate.Store) { testServerConcurrentCAS(t, s, 2) }},
		{"ServerConcurrentCAS16", func(t *testing.T, s mcpgate.Store) { testServerConcurrentCAS(t, s, 16) }},
		{"GrantCreateGet", testGrantCreateGet},
		{"GrantZeroTimes", testGrantZeroTimes},
		{"GrantDuplicate", testGrantDuplicate},
		{"GrantMissing", testGrantMissing},
		{"GrantList", testGrantList},
		{"GrantUpdate", testGrantUpdate},
		{"GrantConcurrentCAS2", func(t *testing.T, s mcpgate.Store) { testGrantConcurrentCAS(t, s, 2) }},
		{"GrantConcurrentCAS16", func(t *testing.T, s mcpgate.Store) { testGrantConcurrentCAS(t, s, 16) }},
		{"GrantTouch", testGrantTouch},
		{"SessionCreateGetDelete", testSessionCreateGetDelete},
		{"SessionUnknownServer", testSessionUnknownServer},
		{"SessionDeleteBefore", testSessionDeleteBefore},
		{"SessionDeleteServer", testSessionDeleteServer},
		{"Meta", testMeta},
		{"MetaConcurrent2", func(t *testing.T, s mcpgate.Store) { testMetaConcurrent(t, s, 2) }},
		{"MetaConcurrent16", func(t *testing.T, s mcpgate.Store) { testMetaConcurrent(t, s, 16) }},
		{"MetaSet", testMetaSet},
		{"ConnectionCreateGet", testConnectionCreateGet},
		{"ConnectionZeroTimes", testConnectionZeroTimes},
		{"ConnectionDuplicate", testConnectionDuplicate},
		{"ConnectionUnknownServer", testConnectionUnknownServer},
		{"ConnectionMissing", testConnectionMissing},
		{"ConnectionList", testConnectionList},
		{"ConnectionListDue", testConnectionListDue},
		{"ConnectionUpdate", testConnectionUpdate},
		{"ConnectionConcurrentCAS2", func(t *testing.T, s mcpgate.Store) { testConnectionConcurrentCAS(t, s, 2) }},
		{"ConnectionConcurrentCAS16", func(t *testing.T, s mcpgate.Store) { testConnectionConcurrentCAS(t, s, 16) }},
		{"ConnectionDelete", testConnectionDelete},
		{"ConnectionDeleteOf", testConnectionDeleteOf},
		{"ConnectionDeleteServer", testConnectionDeleteServer},
		{"OAuthClientPutGet", testOAuthClientPutGet},
		{"OAuthClientConcurrent2", func(t *testing.T, s mcpgate.Store) { testOAuthClientConcurrent(t, s, 2) }},
		{"OAuthClientConcurrent16", func(t *testing.T, s mcpgate.Store) { testOAuthClientConcurrent(t, s, 16) }},
		{"OAuthClientList", testOAuthClientList},
		{"OAuthClientUpdate", testOAuthClientUpdate},
		{"OAuthClientConcurrentUpdate2", func(t *testing.T, s mcpgate.Store) { testOAuthClientConcurrentUpdate(t, s, 2) }},
		{"OAuthClientConcurrentUpdate16", func(t *testing.T, s mcpgate.Store) { testOAuthClientConcurrentUpdate(t, s, 16) }},
		{"AuthRequestCreateTake", testAuthRequestCreateTake},
		{"AuthRequestConcurrentTake2", func(t *testing.T, s mcpgate.Store) { testAuthRequestConcurrentTake(t, s, 2) }},
		{"AuthRequestConcurrentTake8", func(t *testing.T, s mcpgate.Store) { testAuthRequestConcurrentTake(t, s, 8) }},
		{"AuthRequestDeleteBefore", testAuthRequestDeleteBefore},
		{"AuthRequestListSwap", testAuthRequestListSwap},
		{"AuditAppend", testAuditAppend},
		{"AuditText", testAuditText},
		{"AuditQuery", testAuditQuery},
		{"AuditLimit", testAuditLimit},
		{"AuditPaging", testAuditPaging},
		{"AuditDeleteBefore", testAuditDeleteBefore},
		{"AuditConcurrentAppend2", func(t *testing.T, s mcpgate.Store) { testAuditConcurrentAppend(t, s, 2) }},
		{"AuditConcurrentAppend16", func(t *testing.T, s mcpgate.Store) { testAuditConcurrentAppend(t, s, 16) }},
		{"RateWindows", testRateWindows},
		{"RateDeleteBefore", testRateDeleteBefore},
		{"RateConcurrent2", func(t *testing.T, s mcpgate.Store) { testRateConcurrent(t, s, 2, 1) }},
		{"RateConcurrent16", func(t *testing.T, s mcpgate.Store) { testRateConcurrent(t, s, 16, 5) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
}

func testPing(t *testing.T, s mcpgate.Store) {
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

// t0 is millisecond-aligned and not in UTC: backends must return the same
// instant, in UTC.
var t0 = time.Date(2025, 3, 14, 16, 9, 26, 535_000_000, time.FixedZone("CET", 3600))

// at returns t0 shifted by d.
func at(d time.Duration) time.Time { return t0.Add(d) }

// allBytes holds every byte value: sealed values are opaque binary and must
// survive byte-exact, including NUL and invalid UTF-8.
func allBytes() []byte {
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

func newServer(name string) mcpgate.Server {
	return mcpgate.Server{
		Name: name,
		URL:  "https://" + name + ".example.com/mcp",
		Headers: []mcpgate.Header{
			{Name: "Authorization", Value: []byte("sealed:bearer-" + name)},
			{Name: "X-Api-Key", Value: allBytes()},
		},
		OAuthClientID:     "client-" + name,
		OAuthClientSecret: append([]byte{0, 0xff}, allBytes()...),
		OAuthAuthMethod:   mcpgate.AuthMethodPrivateKeyJWT,
		OAuthScopes:       []string{"read", "write:all", "https://scopes.example.com/x"},
		Source:            mcpgate.SourceAPI,
		CreatedAt:         at(0),
		UpdatedAt:         at(time.Minute),
		Version:           1,
	}
}

func newGrant(id string, created time.Time) mcpgate.Grant {
	sum := sha256.Sum256([]byte("token-" + id))
	return mcpgate.Grant{
		ID:        id,
		User:      "alice@example.com",
		Servers:   []string{"github", "jira"},
		Label:     "laptop " + id,
		TokenHash: hex.EncodeToString(sum[:]),
		CreatedAt: created,
		Version:   1,
	}
}

// diff compares with time.Time.Equal (go-cmp uses Equal methods) and treats
// nil and empty slices alike: neither is part of the contract.
func diff(want, got any) string {
	return cmp.Diff(want, got, cmpopts.EquateEmpty())
}

// checkUTC fails unless every time is in UTC (zero times are UTC too).
func checkUTC(t *testing.T, what string, times ...time.Time) {
	t.Helper()
	for i, tm := range times {
		if tm.Location() != time.UTC {
			t.Errorf("%s: time #%d is %v, want location UTC", what, i, tm)
		}
	}
}

func serverTimes(s mcpgate.Server) []time.Time { return []time.Time{s.CreatedAt, s.UpdatedAt} }

func grantTimes(g mcpgate.Grant) []time.Time {
	return []time.Time{g.CreatedAt, g.ExpiresAt, g.RevokedAt, g.LastUsedAt}
}

// concurrently runs f(0..n-1) in n goroutines released at the same moment,
// so that they all act on the same snapshot, and returns their errors.
func concurrently(n int, f func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = f(i)
		}()
	}
	close(start)
	wg.Wait()
	return errs
}
