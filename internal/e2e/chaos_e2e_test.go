package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpgate/mcpgate/internal/adminapi"
	"github.com/mcpgate/mcpgate/internal/oauthtest"
	"github.com/mcpgate/mcpgate/internal/store/postgres/pgtest"
)

// The chaos run (issue 6, "Scale out on PostgreSQL"): three gateway
// processes on one PostgreSQL schema, an OAuth upstream whose access tokens
// live chaosTTL and whose refresh tokens rotate with reuse detection, users
// connected through the connect flow, client load spread over the replicas,
// one replica killed with SIGKILL mid-run and grants revoked through one
// replica's admin API while the others are probed.
const (
	chaosTTL       = 2 * time.Second
	chaosLoad      = 24 * time.Second // load phase
	chaosKillAfter = 9 * time.Second  // into the load phase
	chaosVictim    = 1                // the replica killed (not the one whose address is the public URL)
	// chaosSlowCall is how long the upstream's "slow" tool takes: the
	// slow workers keep calls in flight on every replica, so the kill
	// catches some.
	chaosSlowCall = 300 * time.Millisecond
	// revocationBound is the target: a revocation is seen by every
	// replica within a second (p99).
	revocationBound = time.Second
	// probeFor bounds the probing of one replica after a revocation.
	probeFor = 5 * time.Second
)

// TestChaosReplicas is the chaos harness. The clients act like clients
// behind a load balancer: each has its own MCP session (initialized through
// one replica) and sends each call to the next replica round robin; a call
// that meets a connection error or a 5xx is sent once more to another
// replica, and a replica that refuses connections is taken out of the
// rotation. Sessions thus move between replicas on every call, which works
// because the session bindings are in the database.
//
// Asserted, and reported with t.Log:
//   - 0 failed calls; the only retried calls are those whose first attempt
//     went to the killed replica (in flight when it died, or sent before the
//     client noticed);
//   - every refresh token generation presented to the authorization server
//     exactly once (RefreshesPerGeneration all 1) and 0 reuse detections,
//     though a replica died mid-run;
//   - revocation through one replica's admin API refused by every other
//     replica within 1 s (p99), for grants each replica had just used and
//     cached: the cache trusts a grant for 30 s, so only the change feed can
//     make it this fast.
//
// Like the expiry storm, the test is not parallel: it measures times and
// uses two-second tokens, and the package's parallel tests wait for it.
func TestChaosReplicas(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	users := []string{"alice", "bob", "carol"}
	dsn := pgtest.Schema(t)
	c := startOAuthCluster(t, 3, chaosTTL, dsn, users...)
	addSlowTool(c.u.up)
	set := newReplicaSet(c.gws)

	// Three workers per user: two calling whoami (the upstream tells which
	// user's token, which family and generation it received), one calling
	// the slow tool back to back.
	type worker struct {
		user  int
		slow  bool
		sid   string
		hc    *http.Client
		token string
	}
	var workers []*worker
	for u := range users {
		for k := range 3 {
			w := &worker{user: u, slow: k == 2, hc: newClient(), token: c.grants[u]}
			at := len(workers) % len(c.gws)
			sid, err := startRawSession(ctx, w.hc, c.gws[at].URL(upstreamName), w.token)
			if err != nil {
				t.Fatalf("worker %d (%s): session through replica %d: %v", len(workers), users[u], at, err)
			}
			w.sid = sid
			workers = append(workers, w)
		}
	}

	log := &callLog{}
	var (
		familiesMu sync.Mutex
		families   = map[string]map[string]bool{} // user → token families the upstream saw
		perReplica = make([]atomic.Int64, len(c.gws))
		killed     atomic.Bool
		killAt     time.Time // set before killed
	)
	before := c.u.as.Stats()
	monitor := startStallMonitor()
	start := time.Now()
	deadline := start.Add(chaosLoad)
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(func() {
			for time.Now().Before(deadline) && ctx.Err() == nil {
				var params map[string]any
				if w.slow {
					params = map[string]any{"name": "slow", "arguments": map[string]any{"ms": chaosSlowCall.Milliseconds()}}
				} else {
					params = map[string]any{"name": "whoami", "arguments": map[string]any{}}
				}
				as := set.call(ctx, w.hc, upstreamName, w.token, w.sid, "tools/call", params)
				last := &as[len(as)-1]
				perReplica[last.replica].Add(1)
				good := last.err == nil && last.reply.ok()
				if good {
					text, err := toolText(last.reply)
					switch {
					case err != nil:
						good, last.err = false, err
					case !w.slow:
						var who oauthtest.WhoAmI
						if err := json.Unmarshal([]byte(text), &who); err != nil || who.Subject != users[w.user] {
							good, last.err = false, fmt.Errorf("whoami answered %q, want user %s's token (%v)", text, users[w.user], err)
							break
						}
						familiesMu.Lock()
						if families[who.Subject] == nil {
							families[who.Subject] = map[string]bool{}
						}
						families[who.Subject][who.Family] = true
						familiesMu.Unlock()
					}
				}
				log.add(as, good)
				if !w.slow {
					time.Sleep(40*time.Millisecond + time.Duration(w.user*10)*time.Millisecond)
				}
			}
		})
	}

	// Revocations, one round after another through the whole load phase.
	rev := &revocations{}
	wg.Go(func() {
		for round := 0; time.Now().Before(deadline.Add(-time.Second)) && ctx.Err() == nil; round++ {
			rev.round(ctx, c, set, round, func(i int) bool { return i == chaosVictim && killed.Load() })
			time.Sleep(200 * time.Millisecond)
		}
	})

	time.Sleep(time.Until(start.Add(chaosKillAfter)))
	// A kill during the few milliseconds of a token request leaves the
	// connection's refresh lease to run out first (a documented limit,
	// docs/rough_edges.md), which calls with 2 s tokens cannot wait for; this
	// test is about replicas dying between refreshes, so it kills at a
	// moment when no lease is held.
	waitNoLease(ctx, t, dsn)
	killAt = time.Now()
	killed.Store(true)
	c.gws[chaosVictim].Kill(t)
	t.Logf("replica %d (pid %d) killed with SIGKILL %v into the load", chaosVictim, c.gws[chaosVictim].Pid(), killAt.Sub(start).Round(time.Millisecond))
	if orphans := orphanedLeases(ctx, t, dsn); len(orphans) > 0 {
		// A refresh lease outlives its holder until lease_until (at most
		// 6 s, as nothing renews it): the other replicas wait for it
		// before refreshing that connection, and
		// if the provider had already rotated the refresh token, the next
		// refresh presents a used one. The window is the few milliseconds of
		// a token request, so a kill rarely lands in it.
		t.Logf("NOTE: the kill landed in a refresh: the killed replica held the refresh lease of %v; calls of that connection wait for the lease to expire", orphans)
	}
	wg.Wait()
	elapsed := time.Since(start)
	stall := monitor.Stop()

	// Calls.
	var inFlight, afterKill, elsewhere []attempt
	for _, a := range log.firstFailures {
		switch {
		case a.replica != chaosVictim:
			elsewhere = append(elsewhere, a)
		case a.start.Before(killAt):
			inFlight = append(inFlight, a)
		default:
			afterKill = append(afterKill, a)
		}
	}
	var dist []int64
	for i := range perReplica {
		dist = append(dist, perReplica[i].Load())
	}
	t.Logf("calls: %d over %v from %d clients (answered by replica 0/1/2: %v), %d failed, %d retried successfully on another replica "+
		"(%d were in flight on the killed replica, %d sent to it before the client noticed it was gone, %d failed elsewhere); slowest attempt %v; largest scheduling stall %v",
		log.calls, elapsed.Round(time.Millisecond), len(workers), dist, log.failed, log.retried,
		len(inFlight), len(afterKill), len(elsewhere), log.slowest.Round(time.Millisecond), stall.Round(time.Millisecond))
	if log.failed != 0 {
		t.Errorf("%d calls failed; want 0. First ones: %s", log.failed, strings.Join(sample(log.failures, 5), "; "))
	}
	if len(elsewhere) != 0 {
		t.Errorf("%d calls failed on a replica that was not killed (the client's retry hid it); want 0: %s", len(elsewhere), strings.Join(sample(elsewhere, 5), "; "))
	}
	if len(inFlight)+len(afterKill) == 0 {
		t.Errorf("no call met the killed replica: the kill proved nothing")
	}
	if dist[chaosVictim] == 0 || log.calls < 200 {
		t.Errorf("too little load: %d calls, %d answered by the victim before it died", log.calls, dist[chaosVictim])
	}
	for _, u := range users {
		if n := len(families[u]); n != 1 {
			t.Errorf("the upstream saw %d token families for %s, want 1 (her connection kept one authorization)", n, u)
		}
	}

	// Refreshes.
	st := c.u.as.Stats()
	perGen := c.u.as.RefreshesPerGeneration()
	presented, maxPresented := 0, 0
	for _, n := range perGen {
		presented += n
		maxPresented = max(maxPresented, n)
	}
	ratio := 0.0
	if len(perGen) > 0 {
		ratio = float64(presented) / float64(len(perGen))
	}
	t.Logf("refreshes: %d during the load (%d in all) for %d connections with %v access tokens; refresh tokens presented per generation %.2f (%d generations, %d presentations, at most %d for one); reuse detections %d; token errors %d",
		st.Refreshes-before.Refreshes, st.Refreshes, len(users), chaosTTL, ratio, len(perGen), presented, maxPresented, st.ReuseDetections, st.TokenErrors)
	for gen, n := range perGen {
		if n != 1 {
			t.Errorf("refresh token %s was presented %d times; want exactly one refresh per generation", gen, n)
		}
	}
	if st.ReuseDetections != 0 || st.TokenErrors != 0 {
		t.Errorf("reuse detections %d, token errors %d; want 0 and 0", st.ReuseDetections, st.TokenErrors)
	}
	if minimum := len(users) * int(chaosLoad/chaosTTL) / 2; st.Refreshes-before.Refreshes < minimum {
		t.Errorf("only %d refreshes during %v of load with %v tokens; want at least %d", st.Refreshes-before.Refreshes, chaosLoad, chaosTTL, minimum)
	}

	// Revocations.
	rev.report(t, "chaos run")
}

// addSlowTool gives the upstream a tool that takes ms milliseconds.
func addSlowTool(up *oauthtest.ProtectedMCPServer) {
	type slowArgs struct {
		Ms int `json:"ms"`
	}
	mcp.AddTool(up.MCPServer(), &mcp.Tool{Name: "slow", Description: "Answers after ms milliseconds."},
		func(ctx context.Context, _ *mcp.CallToolRequest, args slowArgs) (*mcp.CallToolResult, any, error) {
			select {
			case <-time.After(time.Duration(args.Ms) * time.Millisecond):
			case <-ctx.Done():
				return nil, nil, ctx.Err()
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "slept"}}}, nil, nil
		})
}

// revocations measures how long after a revocation through one replica the
// other replicas refuse the grant.
type revocations struct {
	mu       sync.Mutex
	rounds   int
	samples  []time.Duration // other replicas: revoke call start → first refusal
	self     []time.Duration // the revoking replica
	slowest  string
	problems []string
}

func (r *revocations) problem(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.problems = append(r.problems, fmt.Sprintf(format, args...))
}

// round creates a grant, opens a session with it, uses it on every replica
// that is up (so each has it cached), revokes it through one of them and
// probes all of them until each refuses it. gone says whether a replica was
// killed on purpose: its failures are not problems.
func (r *revocations) round(ctx context.Context, c *oauthCluster, set *replicaSet, round int, gone func(int) bool) {
	ups := set.up()
	if len(ups) < 2 {
		return
	}
	hc := newClient()
	defer hc.CloseIdleConnections()
	via := ups[round%len(ups)]
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	g, err := c.gws[via].Admin().CreateGrant(cctx, adminapi.CreateGrantRequest{User: "alice", Servers: []string{upstreamName}, Label: fmt.Sprintf("probe %d", round)})
	cancel()
	if err != nil {
		if !gone(via) {
			r.problem("round %d: create a grant through replica %d: %v", round, via, err)
		}
		return
	}
	sid, err := startRawSession(ctx, hc, c.gws[via].URL(upstreamName), g.Token)
	if err != nil {
		if !gone(via) {
			r.problem("round %d: session through replica %d: %v", round, via, err)
		}
		return
	}
	ping := func(i int) attempt { return set.do(ctx, hc, i, upstreamName, g.Token, sid, "ping", nil) }
	for _, i := range ups {
		if a := ping(i); (a.err != nil || !a.reply.ok()) && !gone(i) {
			r.problem("round %d: the new grant used on replica %d: %v", round, i, a)
			return
		}
	}
	revoker := ups[(round+1)%len(ups)]
	t0 := time.Now()
	cctx, cancel = context.WithTimeout(ctx, 10*time.Second)
	_, err = c.gws[revoker].Admin().RevokeGrant(cctx, g.ID)
	cancel()
	if err != nil {
		if !gone(revoker) {
			r.problem("round %d: revoke through replica %d: %v", round, revoker, err)
		}
		return
	}
	var wg sync.WaitGroup
	for _, i := range ups {
		wg.Go(func() {
			for {
				a := ping(i)
				d := time.Since(t0)
				switch {
				case a.err != nil && gone(i):
					return
				case a.err == nil && a.reply.Status == http.StatusUnauthorized:
					if a.reply.Error == nil || !strings.Contains(a.reply.Error.Message, "revoked") {
						r.problem("round %d: replica %d refused the revoked grant with %v, want a JSON-RPC error saying it is revoked", round, i, a)
					}
					r.mu.Lock()
					if i == revoker {
						r.self = append(r.self, d)
					} else {
						r.samples = append(r.samples, d)
						if d >= percentile(r.samples, 1) {
							r.slowest = fmt.Sprintf("round %d, revoked through replica %d, seen by replica %d after %v", round, revoker, i, d.Round(time.Millisecond))
						}
					}
					r.mu.Unlock()
					return
				case a.err != nil || !a.reply.ok():
					r.problem("round %d: probing replica %d after the revocation: %v", round, i, a)
					return
				case d > probeFor:
					r.problem("round %d: replica %d still accepts the grant %v after it was revoked through replica %d", round, i, d.Round(time.Millisecond), revoker)
					return
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	r.mu.Lock()
	r.rounds++
	r.mu.Unlock()
}

// report logs the propagation times and fails t unless p99 ≤ 1 s.
func (r *revocations) report(t *testing.T, what string) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	t.Logf("revocations (%s): %d grants, each used on every live replica just before; refused by the other replicas, counting from the start of the revoke call, after p50 %v, p99 %v, max %v (%d samples; slowest: %s); by the revoking replica itself after p99 %v",
		what, r.rounds, percentile(r.samples, 0.5).Round(time.Millisecond), percentile(r.samples, 0.99).Round(time.Millisecond),
		percentile(r.samples, 1).Round(time.Millisecond), len(r.samples), r.slowest, percentile(r.self, 0.99).Round(time.Millisecond))
	for _, p := range r.problems {
		t.Error(p)
	}
	if len(r.samples) < 10 {
		t.Errorf("only %d revocation samples; want at least 10", len(r.samples))
	}
	if p99 := percentile(r.samples, 0.99); p99 > revocationBound {
		t.Errorf("revocation p99 %v; want ≤ %v", p99, revocationBound)
	}
	if slices.ContainsFunc(r.self, func(d time.Duration) bool { return d > revocationBound }) {
		t.Errorf("the revoking replica itself accepted a revoked grant for more than %v", revocationBound)
	}
}

// orphanedLeases lists the connections whose refresh lease stays held,
// unchanged, for 300 ms: a live replica holds one for the milliseconds of a
// token request, so these were held by the process just killed.
// waitNoLease returns at a moment when no refresh lease is held (it polls
// for up to 5 s, then goes ahead).
func waitNoLease(ctx context.Context, t *testing.T, dsn string) {
	t.Helper()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect to the gateways' database: %v", err)
	}
	defer conn.Close(context.Background())
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM connections WHERE lease_owner <> '' AND lease_until > now()`).Scan(&n); err != nil {
			t.Fatalf("read the refresh leases: %v", err)
		}
		if n == 0 {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Logf("a refresh lease was held at every check for 5 s; killing anyway")
}

func orphanedLeases(ctx context.Context, t *testing.T, dsn string) []string {
	t.Helper()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect to the gateways' database: %v", err)
	}
	defer conn.Close(context.Background())
	held := func() map[string]bool {
		rows, err := conn.Query(ctx, `SELECT user_name || '/' || lease_owner || '/' || version FROM connections WHERE lease_owner <> '' AND lease_until > now()`)
		if err != nil {
			t.Fatalf("read the refresh leases: %v", err)
		}
		keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatalf("read the refresh leases: %v", err)
		}
		out := map[string]bool{}
		for _, k := range keys {
			out[k] = true
		}
		return out
	}
	first := held()
	time.Sleep(300 * time.Millisecond)
	var out []string
	for k := range held() {
		if first[k] {
			out = append(out, k)
		}
	}
	return out
}
