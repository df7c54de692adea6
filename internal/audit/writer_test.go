package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mcpgate/mcpgate"
)

// fakeStore records batches, assigning IDs. With stall set, AppendAudit
// waits for release (or its context); fail makes the next calls fail.
type fakeStore struct {
	mu      sync.Mutex
	batches [][]mcpgate.AuditEvent
	nextID  int64
	calls   int
	fail    int // the next fail calls return an error
	stall   chan struct{}
}

func (s *fakeStore) AppendAudit(ctx context.Context, events []mcpgate.AuditEvent) error {
	s.mu.Lock()
	s.calls++
	stall := s.stall
	if s.fail > 0 {
		s.fail--
		s.mu.Unlock()
		return errors.New("database is on fire")
	}
	s.mu.Unlock()
	if stall != nil {
		select {
		case <-stall:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	batch := make([]mcpgate.AuditEvent, len(events))
	for i := range events {
		s.nextID++
		events[i].ID = s.nextID
		batch[i] = events[i]
	}
	s.batches = append(s.batches, batch)
	return nil
}

func (s *fakeStore) stored() []mcpgate.AuditEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	var all []mcpgate.AuditEvent
	for _, b := range s.batches {
		all = append(all, b...)
	}
	return all
}

func (s *fakeStore) batchSizes() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n []int
	for _, b := range s.batches {
		n = append(n, len(b))
	}
	return n
}

// logs collects log records.
type logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logs) count(msg string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.buf.String(), msg)
}

type fixture struct {
	w     *Writer
	store *fakeStore
	reg   *prometheus.Registry
	logs  *logs
}

func newFixture(t *testing.T, o Options) *fixture {
	t.Helper()
	f := &fixture{store: &fakeStore{}, reg: prometheus.NewRegistry(), logs: &logs{}}
	if o.Store == nil {
		o.Store = f.store
	}
	o.Registerer = f.reg
	o.Logger = slog.New(slog.NewTextHandler(f.logs, nil))
	w, err := NewWriter(o)
	if err != nil {
		t.Fatalf("NewWriter: %v", err)
	}
	f.w = w
	return f
}

func (f *fixture) close(t *testing.T) {
	t.Helper()
	if err := f.w.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// dropped reads mcpgate_audit_dropped_total{reason}.
func (f *fixture) dropped(t *testing.T, reason string) int {
	t.Helper()
	mfs, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "mcpgate_audit_dropped_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == reason {
					return int(m.GetCounter().GetValue())
				}
			}
		}
	}
	return 0
}

var evTime = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func event(i int) mcpgate.AuditEvent {
	return mcpgate.AuditEvent{
		Time: evTime.Add(time.Duration(i) * time.Millisecond), GrantID: "g1", User: "alice", ClientName: "claude-code",
		Server: "github", Method: "tools/call", Tool: fmt.Sprint("tool_", i), Decision: mcpgate.DecisionAllow,
		RuleID: "r1", Reason: "allowed by r1", Latency: 1500 * time.Microsecond, UpstreamStatus: 200,
	}
}

// TestWriterBatches: events recorded faster than the interval go to the
// store in full batches, in order.
func TestWriterBatches(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, Options{BatchSize: 256, FlushInterval: 500 * time.Millisecond})
		const n = 1000
		for i := range n {
			f.w.Record(event(i))
		}
		synctest.Wait()
		// How the writer's wake-ups interleave with Record is up to the
		// scheduler; what holds is that no batch exceeds BatchSize and that
		// fewer than a batch of events wait for the interval.
		sum := func(sizes []int) (n int) {
			for _, s := range sizes {
				if s > 256 {
					t.Errorf("batch of %d events, more than BatchSize", s)
				}
				n += s
			}
			return n
		}
		if got := sum(f.store.batchSizes()); got <= n-256 || got > n {
			t.Errorf("before the interval %d events stored (batches %v), want more than %d", got, f.store.batchSizes(), n-256)
		}
		time.Sleep(500 * time.Millisecond)
		synctest.Wait()
		if got := sum(f.store.batchSizes()); got != n {
			t.Errorf("after the interval %d events stored (batches %v), want %d", got, f.store.batchSizes(), n)
		}
		f.close(t)
		stored := f.store.stored()
		for i, e := range stored {
			if e.Tool != fmt.Sprint("tool_", i) || e.ID != int64(i+1) {
				t.Fatalf("event %d stored as %s with ID %d: out of order", i, e.Tool, e.ID)
			}
		}
		if len(stored) != n || f.dropped(t, "buffer_full") != 0 {
			t.Errorf("stored %d events, dropped %d; want %d, 0", len(stored), f.dropped(t, "buffer_full"), n)
		}
	})
}

// TestWriterFlushInterval: a partial batch waits for the interval, not longer.
func TestWriterFlushInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, Options{})
		defer f.close(t)
		for i := range 3 {
			f.w.Record(event(i))
		}
		time.Sleep(DefaultFlushInterval - time.Millisecond)
		synctest.Wait()
		if n := len(f.store.stored()); n != 0 {
			t.Fatalf("%d events stored before the flush interval, want 0", n)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if got := f.store.batchSizes(); !cmp.Equal(got, []int{3}) {
			t.Fatalf("batches after the flush interval = %v, want [3]", got)
		}
		time.Sleep(10 * DefaultFlushInterval) // nothing new: no empty batches
		synctest.Wait()
		if got := f.store.batchSizes(); !cmp.Equal(got, []int{3}) {
			t.Errorf("batches later = %v, want [3]", got)
		}
	})
}

// TestWriterNeverBlocks: with the store stalled, Record still returns at
// once; what does not fit is dropped, counted and warned about at most once
// per 10 s. Inside synctest a Record that blocked would be a deadlock.
func TestWriterNeverBlocks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := &fakeStore{stall: make(chan struct{})}
		f := newFixture(t, Options{Store: store, BufferSize: 16, BatchSize: 4})
		const n = 1000
		for i := range 4 {
			f.w.Record(event(i))
		}
		synctest.Wait() // the writer is stuck in the store with a batch of 4
		for i := 4; i < n; i++ {
			f.w.Record(event(i))
		}
		// The buffer holds 16 more.
		if got := f.dropped(t, "buffer_full"); got != n-4-16 {
			t.Errorf("dropped %d, want %d", got, n-4-16)
		}
		if got := f.logs.count("audit: buffer full"); got != 1 {
			t.Errorf("%d buffer-full warnings, want 1", got)
		}
		// Drops look at the clock only now and then: 64 drops surely do.
		time.Sleep(warnEvery - time.Millisecond)
		for i := range 64 {
			f.w.Record(event(n + i))
		}
		if got := f.logs.count("audit: buffer full"); got != 1 {
			t.Errorf("%d buffer-full warnings before 10 s passed, want 1", got)
		}
		time.Sleep(time.Millisecond)
		for i := range 64 {
			f.w.Record(event(n + 64 + i))
		}
		if got := f.logs.count("audit: buffer full"); got != 2 {
			t.Errorf("%d buffer-full warnings after 10 s, want 2", got)
		}

		close(store.stall)
		f.close(t)
		if stored, dropped := len(store.stored()), f.dropped(t, "buffer_full"); stored != 20 || stored+dropped != n+128 {
			t.Errorf("stored %d, dropped %d; want 20 stored and none lost uncounted (%d)", stored, dropped, n+128)
		}
	})
}

// TestWriterNeverBlocksRealTime: the same outside the bubble, from many
// goroutines. A Record that waited for the stalled store would never return.
func TestWriterNeverBlocksRealTime(t *testing.T) {
	store := &fakeStore{stall: make(chan struct{})}
	f := newFixture(t, Options{Store: store, BufferSize: 64})
	const goroutines, each = 8, 5000
	const n = goroutines * each
	e := event(0)
	done := make(chan struct{})
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		for range goroutines {
			wg.Go(func() {
				for range each {
					f.w.Record(e)
				}
			})
		}
		wg.Wait()
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Record blocked on a stalled store")
	}
	close(store.stall)
	f.close(t)
	if stored, dropped := len(store.stored()), f.dropped(t, "buffer_full"); stored+dropped != n || dropped == 0 {
		t.Errorf("stored %d, dropped %d; want both adding up to %d", stored, dropped, n)
	}
}

// TestWriterClose: Close flushes a partial batch at once and closes the
// mirror; later events are counted as dropped; Close is idempotent.
func TestWriterClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mirror := &closeRecorder{}
		f := newFixture(t, Options{FlushInterval: time.Hour, Mirror: mirror})
		for i := range 10 {
			f.w.Record(event(i))
		}
		f.close(t)
		if got := f.store.batchSizes(); !cmp.Equal(got, []int{10}) {
			t.Errorf("batches after Close = %v, want [10]", got)
		}
		if !mirror.closed || strings.Count(mirror.String(), "\n") != 10 {
			t.Errorf("mirror closed %v with %d lines; want closed with 10", mirror.closed, strings.Count(mirror.String(), "\n"))
		}
		f.w.Record(event(10))
		f.close(t)
		if n := len(f.store.stored()); n != 10 || f.dropped(t, "closed") != 1 {
			t.Errorf("after Close: %d stored, %d dropped as closed; want 10, 1", n, f.dropped(t, "closed"))
		}
	})
}

// TestWriterCloseDeadline: a store that never answers cannot hold Close
// past its context; the events are counted as lost.
func TestWriterCloseDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := &fakeStore{stall: make(chan struct{})}
		f := newFixture(t, Options{Store: store})
		for i := range 5 {
			f.w.Record(event(i))
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		start := time.Now()
		if err := f.w.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Close = %v, want DeadlineExceeded", err)
		}
		if d := time.Since(start); d != time.Second {
			t.Errorf("Close took %v, want 1s", d)
		}
		synctest.Wait()
		if got := f.dropped(t, "closed"); got != 5 {
			t.Errorf("dropped as closed = %d, want 5", got)
		}
	})
}

// TestWriterStoreErrors: a refused batch is retried, then dropped, counted
// and logged; the mirror gets the events either way.
func TestWriterStoreErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mirror bytes.Buffer
		f := newFixture(t, Options{Mirror: &mirror})
		f.store.fail = len(retryDelays) // fails every attempt but the last
		f.w.Record(event(0))
		time.Sleep(DefaultFlushInterval + 2*time.Second)
		synctest.Wait()
		if n := len(f.store.stored()); n != 1 || f.dropped(t, "store_error") != 0 {
			t.Fatalf("after transient failures: %d stored, %d dropped; want 1, 0", n, f.dropped(t, "store_error"))
		}

		f.store.mu.Lock()
		f.store.fail = 1 + len(retryDelays)
		f.store.mu.Unlock()
		f.w.Record(event(1))
		f.w.Record(event(2))
		time.Sleep(DefaultFlushInterval + 2*time.Second)
		synctest.Wait()
		if got := f.dropped(t, "store_error"); got != 2 {
			t.Errorf("dropped as store_error = %d, want 2", got)
		}
		if got := f.logs.count("audit: events lost"); got != 1 {
			t.Errorf("%d 'events lost' errors logged, want 1", got)
		}
		f.close(t)
		lines := strings.Split(strings.TrimSpace(mirror.String()), "\n")
		if len(lines) != 3 || !strings.HasPrefix(lines[0], `{"id":1,`) || !strings.HasPrefix(lines[2], `{"time":`) {
			t.Errorf("mirror = %q; want 3 lines, the stored one with its id", lines)
		}
	})
}

// TestWriterRedactsAndMirrors: arguments are redacted before the store and
// the mirror see them; the mirror has one snake_case object per line.
func TestWriterRedactsAndMirrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mirror bytes.Buffer
		f := newFixture(t, Options{Mirror: &mirror, Redactor: mustRedactor(t, nil, []string{"$.payment.card_number"}, nil)})
		e := event(0)
		e.Arguments = `{"query":"is:open","token":"ghp_secret","payment":{"card_number":"4111"}}`
		f.w.Record(e)
		d := event(1)
		d.Decision, d.RuleID, d.Reason, d.UpstreamStatus, d.Latency, d.ClientName = mcpgate.DecisionDeny, "no-delete", "deletes are blocked", 0, 250*time.Microsecond, ""
		f.w.Record(d)
		f.close(t)

		stored := f.store.stored()
		wantArgs := `{"query":"is:open","token":"[REDACTED]","payment":{"card_number":"[REDACTED]"}}`
		if len(stored) != 2 || stored[0].Arguments != wantArgs || stored[1].Arguments != "" {
			t.Fatalf("stored %+v; want the arguments %s", stored, wantArgs)
		}
		want := `{"id":1,"time":"2025-06-01T12:00:00Z","grant_id":"g1","user":"alice","client_name":"claude-code","server":"github","method":"tools/call","tool":"tool_0","decision":"allow","rule_id":"r1","reason":"allowed by r1","latency_ms":1.5,"upstream_status":200,"arguments":` + wantArgs + "}\n" +
			`{"id":2,"time":"2025-06-01T12:00:00.001Z","grant_id":"g1","user":"alice","client_name":"","server":"github","method":"tools/call","tool":"tool_1","decision":"deny","rule_id":"no-delete","reason":"deletes are blocked","latency_ms":0.25,"upstream_status":0}` + "\n"
		if got := mirror.String(); got != want {
			t.Errorf("mirror:\n%s\nwant:\n%s", got, want)
		}
		for _, line := range strings.Split(strings.TrimSpace(mirror.String()), "\n") {
			var l MirrorLine
			dec := json.NewDecoder(strings.NewReader(line))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&l); err != nil {
				t.Errorf("mirror line %s: %v", line, err)
			}
		}
	})
}

// TestWriterStampsTime: a zero Time is the time of Record.
func TestWriterStampsTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, Options{})
		now := time.Now()
		f.w.Record(mcpgate.AuditEvent{Decision: mcpgate.DecisionAllow})
		f.close(t)
		if got := f.store.stored(); len(got) != 1 || !got[0].Time.Equal(now) {
			t.Errorf("stored %+v, want Time %v", got, now)
		}
	})
}

func TestNewWriterErrors(t *testing.T) {
	if _, err := NewWriter(Options{}); err == nil {
		t.Error("NewWriter without a store succeeded")
	}
	reg := prometheus.NewRegistry()
	w, err := NewWriter(Options{Store: &fakeStore{}, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(context.Background())
	if _, err := NewWriter(Options{Store: &fakeStore{}, Registerer: reg}); err == nil {
		t.Error("a second Writer on the same registry succeeded; want a registration error")
	}
}

func TestOpenMirror(t *testing.T) {
	if w, err := OpenMirror("", nil); w != nil || err != nil {
		t.Errorf(`OpenMirror("") = %v, %v; want nil, nil`, w, err)
	}
	var stdout closeRecorder
	w, err := OpenMirror("stdout", &stdout)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := w.(interface{ Close() error }); ok {
		t.Error(`OpenMirror("stdout") can be closed: Writer.Close would close stdout`)
	}
	w.Write([]byte("x\n"))
	if stdout.String() != "x\n" {
		t.Errorf("stdout mirror wrote %q", stdout.String())
	}

	path := filepath.Join(t.TempDir(), "audit.jsonl")
	if err := os.WriteFile(path, []byte("old\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fw, err := OpenMirror(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write([]byte("new\n"))
	fw.(interface{ Close() error }).Close()
	if b, _ := os.ReadFile(path); string(b) != "old\nnew\n" {
		t.Errorf("file mirror holds %q, want it appended to", b)
	}
	if _, err := OpenMirror(filepath.Join(t.TempDir(), "missing", "audit.jsonl"), nil); err == nil {
		t.Error("OpenMirror in a missing directory succeeded")
	}
	fresh := filepath.Join(t.TempDir(), "fresh.jsonl")
	fw, err = OpenMirror(fresh, nil)
	if err != nil {
		t.Fatal(err)
	}
	fw.(interface{ Close() error }).Close()
	if fi, err := os.Stat(fresh); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("new mirror file: %v, %v; want mode 0600", fi.Mode(), err)
	}
}

// closeRecorder is a buffer that records Close.
type closeRecorder struct {
	bytes.Buffer
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return nil }

// BenchmarkRecord measures the proxy's cost of recording an event:
// accepted (the writer keeps up with an instant store), dropped (the store
// is stalled and the buffer full), and from parallel callers.
func BenchmarkRecord(b *testing.B) {
	e := event(0)
	run := func(b *testing.B, store Appender, parallel bool) {
		w, err := NewWriter(Options{Store: store, Registerer: prometheus.NewRegistry()})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		if parallel {
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					w.Record(e)
				}
			})
		} else {
			for b.Loop() {
				w.Record(e)
			}
		}
		b.StopTimer()
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		defer cancel()
		w.Close(ctx)
	}
	stalled := func() Appender { return &fakeStore{stall: make(chan struct{})} }
	b.Run("accepted", func(b *testing.B) { run(b, nopStore{}, false) })
	b.Run("dropped", func(b *testing.B) { run(b, stalled(), false) })
	b.Run("parallel", func(b *testing.B) { run(b, nopStore{}, true) })
}

type nopStore struct{}

func (nopStore) AppendAudit(context.Context, []mcpgate.AuditEvent) error { return nil }
