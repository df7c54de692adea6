package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/store/postgres/pgtest"
)

// PostgreSQL going away under load. The machine's PostgreSQL is shared with
// other tests, so it is never restarted: the gateways reach it through a
// TCP proxy in the test (pgProxy), which plays two outages:
//
//   - restart: every connection closed, new ones refused, as while the
//     server restarts;
//   - partition: nothing closed, nothing answered — connections stay open
//     and silent, new ones are accepted and never served — as when the
//     network between gateway and database fails or the server hangs.
const (
	restartFor   = 3500 * time.Millisecond
	partitionFor = 4 * time.Second
	// Every request must answer within these while the database is away:
	// fail (or succeed from cache), not hang. A refused connection fails at
	// once; a silent database makes the store give up after its
	// per-operation deadline (3 s).
	restartAnswerBound   = 2 * time.Second
	partitionAnswerBound = 5 * time.Second
	// The admin API's grant list makes two store operations (flush the
	// grants' last use, then list), each bounded.
	partitionAdminBound = 8 * time.Second
	// outageRecoveryBound is how long after the database is back every
	// replica must answer calls again, without a restart.
	outageRecoveryBound = 10 * time.Second
)

// outageCall is one request during the run, classified.
type outageCall struct {
	replica int
	start   time.Time
	took    time.Duration
	kind    string // ok, 503 (with a JSON-RPC error), rpc-error (JSON-RPC error, HTTP 200), transport, other
	detail  string
}

// outage is one phase of the test: the database away from start to end.
type outage struct {
	name          string
	planned       time.Duration // how long the database is away
	probeFor      time.Duration // how long to keep sending requests that need it
	start, end    time.Time
	answerBound   time.Duration
	adminBound    time.Duration   // for GET /api/v1/grants
	recovered     []time.Duration // per replica: from end to the first successful call
	probes        []dbProbe
	revocations   *revocations
	revokeStarted time.Duration // from end to the first revocation
}

// dbProbe is a request that needs the database, sent while it is away.
type dbProbe struct {
	what   string
	took   time.Duration
	status int
	body   string
}

// TestPostgresOutage: two replicas on one schema behind the proxy, an OAuth
// upstream with two-second access tokens, client load throughout, two
// outages one after the other. While the database is away:
//   - every request answers within the phase's bound — no hang;
//   - requests that need the database (a grant the replica has not seen, a
//     new session, an unknown session id, a token that needs its refresh)
//     get HTTP 503 with a JSON-RPC error that does not describe the
//     database; /readyz says 503; the admin API answers 503;
//   - calls that only need what is cached (grant, session binding, a valid
//     upstream token) keep succeeding.
//
// Once it is back, without a restart: every replica answers calls again
// within outageRecoveryBound, the gateways reconnect, and the change feed
// works — grants revoked through one replica right after the recovery are
// refused by the other within 1 s (p99).
func TestPostgresOutage(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	proxy, viaProxy := startPGProxy(t, pgtest.Schema(t))
	c := startOAuthCluster(t, 2, chaosTTL, viaProxy, "alice")
	set := newReplicaSet(c.gws)

	// Load: four clients, each with a session it uses on both replicas in
	// turn, so grant and session binding are cached on both.
	type worker struct {
		hc  *http.Client
		sid string
	}
	var workers []*worker
	for i := range 4 {
		w := &worker{hc: newClient()}
		sid, err := startRawSession(ctx, w.hc, c.gws[i%2].URL(upstreamName), c.grants[0])
		if err != nil {
			t.Fatalf("worker %d: %v", i, err)
		}
		w.sid = sid
		workers = append(workers, w)
	}

	var (
		mu    sync.Mutex
		calls []outageCall
	)
	whoamiParams := map[string]any{"name": "whoami", "arguments": map[string]any{}}
	loadCtx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for wi, w := range workers {
		wg.Go(func() {
			for n := wi; loadCtx.Err() == nil; n++ {
				i := n % len(c.gws)
				oc := classify(i, set.do(ctx, w.hc, i, upstreamName, c.grants[0], w.sid, "tools/call", whoamiParams))
				mu.Lock()
				calls = append(calls, oc)
				mu.Unlock()
				time.Sleep(50 * time.Millisecond)
			}
		})
	}

	hc := newClient()
	phase := func(o *outage, down, up func()) {
		// Grants the replicas have never seen: using them needs the database.
		fresh := make([]string, len(c.gws))
		for i := range fresh {
			_, fresh[i] = c.gws[0].CreateGrant(t, "alice", upstreamName)
		}
		time.Sleep(2 * time.Second)
		accepted := proxy.Accepted()
		o.start = time.Now()
		down()
		t.Logf("%s: PostgreSQL away for %v", o.name, o.planned)
		var pmu sync.Mutex
		var pwg sync.WaitGroup
		for round := 0; time.Since(o.start) < o.probeFor; round++ {
			for i, gw := range c.gws {
				add := func(what string, status int, body string, took time.Duration) {
					pmu.Lock()
					o.probes = append(o.probes, dbProbe{what: fmt.Sprintf("%s on replica %d", what, i), took: took, status: status, body: body})
					pmu.Unlock()
				}
				pwg.Go(func() {
					a := set.do(ctx, hc, i, upstreamName, fresh[i], "", "ping", nil)
					add("a grant the replica has not seen", a.reply.Status, a.String(), a.took)
				})
				pwg.Go(func() {
					t0 := time.Now()
					r, err := mcpPost(ctx, hc, gw.URL(upstreamName), c.grants[0], "", "initialize", map[string]any{
						"protocolVersion": chaosProtocol, "capabilities": map[string]any{}, "clientInfo": map[string]any{"name": "probe", "version": "1"},
					}, false)
					add("a new session", r.Status, fmt.Sprintf("%v %v", r, err), time.Since(t0))
				})
				pwg.Go(func() {
					a := set.do(ctx, hc, i, upstreamName, c.grants[0], randomSessionID(), "ping", nil)
					add("an unknown session id", a.reply.Status, a.String(), a.took)
				})
				pwg.Go(func() {
					status, body, took := httpGet(ctx, hc, gw.BaseURL+"/readyz", "")
					add("/readyz", status, body, took)
				})
				pwg.Go(func() {
					status, body, took := httpGet(ctx, hc, gw.BaseURL+"/api/v1/grants", gw.AdminToken)
					add("GET /api/v1/grants", status, body, took)
				})
			}
			time.Sleep(300 * time.Millisecond)
		}
		pwg.Wait()
		time.Sleep(time.Until(o.start.Add(o.planned)))
		up()
		o.end = time.Now()
		t.Logf("%s: PostgreSQL back after %v", o.name, o.end.Sub(o.start).Round(time.Millisecond))

		// Recovery: each replica answers calls again; then revocations.
		o.recovered = make([]time.Duration, len(c.gws))
		for i := range c.gws {
			for {
				a := set.do(ctx, hc, i, upstreamName, c.grants[0], workers[0].sid, "tools/call", whoamiParams)
				if a.err == nil && a.reply.ok() {
					o.recovered[i] = time.Since(o.end)
					break
				}
				if time.Since(o.end) > outageRecoveryBound {
					t.Fatalf("%s: replica %d still fails %v after PostgreSQL came back: %v", o.name, i, outageRecoveryBound, a)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		o.revocations = &revocations{}
		o.revokeStarted = time.Since(o.end)
		for round := range 12 {
			o.revocations.round(ctx, c, set, round, func(int) bool { return false })
		}
		if proxy.Accepted() <= accepted {
			t.Errorf("%s: the gateways made no new connection to PostgreSQL after it was back", o.name)
		}
	}

	restart := &outage{name: "restart (connections closed, new ones refused)", planned: restartFor, probeFor: restartFor - 500*time.Millisecond, answerBound: restartAnswerBound, adminBound: restartAnswerBound}
	phase(restart, proxy.Cut, func() { proxy.Restore(t) })
	partition := &outage{name: "partition (connections open and silent)", planned: partitionFor, probeFor: 500 * time.Millisecond, answerBound: partitionAnswerBound, adminBound: partitionAdminBound}
	phase(partition, proxy.Freeze, proxy.Thaw)
	time.Sleep(2 * time.Second)
	stopLoad()
	wg.Wait()

	for _, o := range []*outage{restart, partition} {
		checkOutage(t, o, calls, proxy.addr)
	}
	for _, oc := range calls {
		if oc.kind != "ok" && !inOutage(oc, restart, partition) {
			t.Errorf("a call failed while PostgreSQL was up and the replica recovered: %s", oc.detail)
		}
	}
}

// inOutage: the call started while the database was away, or before the
// replica answered again after it.
func inOutage(oc outageCall, os ...*outage) bool {
	for _, o := range os {
		if !oc.start.Before(o.start) && oc.start.Before(o.end.Add(o.recovered[oc.replica])) {
			return true
		}
	}
	return false
}

func classify(i int, a attempt) outageCall {
	oc := outageCall{replica: i, start: a.start, took: a.took, kind: "other", detail: a.String()}
	switch {
	case a.err != nil:
		oc.kind = "transport"
	case a.reply.ok():
		oc.kind = "ok"
	case a.reply.Status == http.StatusServiceUnavailable && a.reply.Error != nil:
		oc.kind = "503"
	case a.reply.Status == http.StatusOK && a.reply.Error != nil:
		oc.kind = "rpc-error"
	}
	return oc
}

// checkOutage reports and checks what the clients saw during one outage.
func checkOutage(t *testing.T, o *outage, calls []outageCall, dbAddr string) {
	t.Helper()
	byKind := map[string]int{}
	answers := map[string]int{}
	var slowest time.Duration
	n := 0
	for _, oc := range calls {
		if oc.start.Before(o.start) || !oc.start.Before(o.end) {
			continue
		}
		n++
		byKind[oc.kind]++
		slowest = max(slowest, oc.took)
		answers[answerKind(oc)]++
		if oc.took > o.answerBound {
			t.Errorf("%s: a call took %v while PostgreSQL was away (want ≤ %v): %s", o.name, oc.took.Round(time.Millisecond), o.answerBound, oc.detail)
		}
		switch oc.kind {
		case "ok":
		case "503":
			if leaks(oc.detail, dbAddr) {
				t.Errorf("%s: a 503 tells the client about the database: %s", o.name, oc.detail)
			}
		default:
			// A token that needs its refresh needs the database too: that is
			// a 503 as well, not a JSON-RPC error saying the connection's
			// refresh is failing (which would stop the client's retry).
			t.Errorf("%s: a call got neither an answer nor a 503 with a JSON-RPC error: %s", o.name, oc.detail)
		}
	}
	t.Logf("%s: %d calls while PostgreSQL was away, by outcome %v, slowest %v; answers %v", o.name, n, byKind, slowest.Round(time.Millisecond), answers)
	if byKind["ok"] == 0 {
		t.Errorf("%s: no call succeeded from what the replicas had cached", o.name)
	}

	var slowestProbe time.Duration
	statuses := map[string][]int{}
	for _, p := range o.probes {
		slowestProbe = max(slowestProbe, p.took)
		what, _, _ := strings.Cut(p.what, " on replica")
		if !slices.Contains(statuses[what], p.status) {
			statuses[what] = append(statuses[what], p.status)
		}
		bound, admin := o.answerBound, what == "GET /api/v1/grants"
		if admin {
			bound = o.adminBound
		}
		want := http.StatusServiceUnavailable
		if p.took > bound {
			t.Errorf("%s: %s took %v (want ≤ %v)", o.name, p.what, p.took.Round(time.Millisecond), bound)
		}
		if p.status != want {
			t.Errorf("%s: %s answered %d (%s), want %d", o.name, p.what, p.status, p.body, want)
		}
		if admin && !strings.Contains(p.body, "database is unavailable") {
			t.Errorf("%s: %s answered %s, want an API error saying the database is unavailable", o.name, p.what, p.body)
		}
		if !admin && what != "/readyz" && !strings.Contains(p.body, "JSON-RPC error") {
			t.Errorf("%s: %s answered %s, want a JSON-RPC error", o.name, p.what, p.body)
		}
		if leaks(p.body, dbAddr) {
			t.Errorf("%s: %s tells the client about the database: %s", o.name, p.what, p.body)
		}
	}
	t.Logf("%s: %d requests that need the database: statuses %v, slowest %v", o.name, len(o.probes), statuses, slowestProbe.Round(time.Millisecond))
	t.Logf("%s: recovered without restart, replicas answered calls again %v after PostgreSQL was back", o.name, o.recovered)
	o.revocations.report(t, fmt.Sprintf("%s, the first %v after PostgreSQL was back", o.name, o.revokeStarted.Round(time.Millisecond)))
}

func answerKind(oc outageCall) string {
	if oc.kind == "ok" {
		return "ok"
	}
	_, what, _ := strings.Cut(oc.detail, ": ")
	return oc.kind + ": " + what[:min(len(what), 160)]
}

// leaks reports whether an answer to a client names the database (its
// address, user or driver errors).
func leaks(answer, dbAddr string) bool {
	for _, s := range []string{dbAddr, "user=", "postgres", "dial "} {
		if strings.Contains(answer, s) {
			return true
		}
	}
	return false
}

func randomSessionID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// httpGet GETs u (with an admin token when given) and returns the status,
// the start of the body and how long it took.
func httpGet(ctx context.Context, hc *http.Client, u, adminToken string) (int, string, time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, attemptTimeout)
	defer cancel()
	t0 := time.Now()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if adminToken != "" {
		req.Header.Set("Authorization", "Bearer "+adminToken)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err.Error(), time.Since(t0)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
	return resp.StatusCode, strings.TrimSpace(string(b)), time.Since(t0)
}
