// Package audit is the decision log's write side: a Writer the proxy hands
// every policy decision to without waiting (events are batched into the
// store in the background, dropped and counted when the store falls
// behind), a Redactor that removes secrets from call arguments before they
// are stored or mirrored, an optional JSON-lines mirror, and retention.
package audit

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mcpgate/mcpgate"
)

// Appender is the part of the store the Writer needs.
type Appender interface {
	AppendAudit(ctx context.Context, events []mcpgate.AuditEvent) error
}

// Defaults of Options.
const (
	DefaultBufferSize    = 8192
	DefaultBatchSize     = 256
	DefaultFlushInterval = 500 * time.Millisecond
)

// Drop reasons, the values of the reason label of mcpgate_audit_dropped_total.
const (
	dropBufferFull = "buffer_full" // the store fell behind and the buffer filled
	dropStoreError = "store_error" // the store refused a batch after retries
	dropClosed     = "closed"      // recorded after Close, or cut by its deadline
)

// Store retries: a batch the store refuses is tried again after each delay,
// then dropped.
var retryDelays = []time.Duration{100 * time.Millisecond, time.Second}

// storeTimeout bounds one AppendAudit.
const storeTimeout = 10 * time.Second

// warnEvery is the least time between two warnings of the same kind.
const warnEvery = 10 * time.Second

// Options configure a Writer.
type Options struct {
	// Store receives the batches. Required.
	Store Appender
	// Redactor is applied to each event's Arguments before it is stored or
	// mirrored; nil means the default secret keys only.
	Redactor *Redactor
	// Mirror, if not nil, receives each event as one JSON object per line
	// once its batch is stored (or dropped). Close closes it if it is an
	// io.Closer.
	Mirror io.Writer
	// Registerer receives mcpgate_audit_dropped_total; nil registers nothing.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
	// BufferSize is how many events Record queues while the writer is busy
	// (default DefaultBufferSize; the writer holds two such buffers). A
	// batch is written when BatchSize events are waiting (default
	// DefaultBatchSize) or every FlushInterval (default DefaultFlushInterval).
	BufferSize    int
	BatchSize     int
	FlushInterval time.Duration
}

// Writer records audit events off the hot path. Record appends to a
// bounded buffer under a mutex (no goroutine is woken per event); a
// goroutine takes the whole buffer every FlushInterval, or as soon as a
// batch is waiting, and writes it in batches. Close flushes what remains.
type Writer struct {
	store      Appender
	redactor   *Redactor
	mirror     io.Writer
	log        *slog.Logger
	batchMax   int
	bufferSize int
	interval   time.Duration

	mu     sync.Mutex
	buf    []mcpgate.AuditEvent // pending; cap is the buffer size
	closed bool
	// partial is how many events the run goroutine holds in an unfinished
	// batch: with those, a batch is full before buf alone is.
	partial int
	kick    chan struct{} // a batch is waiting (capacity 1)

	drops          dropCounters
	lastDropWarn   atomic.Int64 // unix nanos
	lastMirrorWarn time.Time    // run goroutine only

	ctx       context.Context // cancelled when Close's deadline passes
	cancel    context.CancelFunc
	stop      chan struct{}
	stopOnce  sync.Once
	done      chan struct{}
	spare     []mcpgate.AuditEvent // run goroutine only: the other buffer
	batch     []mcpgate.AuditEvent // run goroutine only
	mirrorBuf []byte               // run goroutine only
}

// dropCounters are plain atomics, so that dropping costs Record nothing;
// they are exported as mcpgate_audit_dropped_total{reason}.
type dropCounters struct {
	full, store, closed atomic.Uint64
}

var droppedDesc = prometheus.NewDesc("mcpgate_audit_dropped_total",
	"Audit events not recorded, by reason: buffer_full (the store fell behind), store_error (refused after retries), closed (after or cut by shutdown).",
	[]string{"reason"}, nil)

func (d *dropCounters) Describe(ch chan<- *prometheus.Desc) { ch <- droppedDesc }

func (d *dropCounters) Collect(ch chan<- prometheus.Metric) {
	for _, c := range []struct {
		reason string
		n      *atomic.Uint64
	}{{dropBufferFull, &d.full}, {dropStoreError, &d.store}, {dropClosed, &d.closed}} {
		ch <- prometheus.MustNewConstMetric(droppedDesc, prometheus.CounterValue, float64(c.n.Load()), c.reason)
	}
}

// NewWriter starts a Writer; call Close to stop it.
func NewWriter(o Options) (*Writer, error) {
	if o.Store == nil {
		return nil, fmt.Errorf("audit: a store is required")
	}
	if o.Redactor == nil {
		r, err := NewRedactor(nil, nil, nil)
		if err != nil {
			return nil, err
		}
		o.Redactor = r
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.BufferSize <= 0 {
		o.BufferSize = DefaultBufferSize
	}
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	o.BatchSize = min(o.BatchSize, o.BufferSize)
	if o.FlushInterval <= 0 {
		o.FlushInterval = DefaultFlushInterval
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &Writer{
		store: o.Store, redactor: o.Redactor, mirror: o.Mirror, log: o.Logger,
		batchMax: o.BatchSize, bufferSize: o.BufferSize, interval: o.FlushInterval,
		buf:   make([]mcpgate.AuditEvent, 0, o.BufferSize),
		spare: make([]mcpgate.AuditEvent, 0, o.BufferSize),
		batch: make([]mcpgate.AuditEvent, 0, o.BatchSize),
		kick:  make(chan struct{}, 1),
		ctx:   ctx, cancel: cancel,
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	if o.Registerer != nil {
		if err := o.Registerer.Register(&w.drops); err != nil {
			cancel()
			return nil, fmt.Errorf("audit: register metrics: %w", err)
		}
	}
	go w.run()
	return w, nil
}

// Record queues e and returns at once. e.Arguments may hold the call's raw
// arguments JSON: they are redacted (and truncated) before being stored or
// mirrored. A zero e.Time means now (callers that have the time at hand
// should set it: reading the clock can cost more than Record). When the
// buffer is full the event is dropped and counted, never waited for.
func (w *Writer) Record(e mcpgate.AuditEvent) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	w.mu.Lock()
	if w.closed || len(w.buf) == cap(w.buf) {
		closed := w.closed
		w.mu.Unlock()
		if closed {
			w.drops.closed.Add(1)
		} else if n := w.drops.full.Add(1); n%64 == 1 { // the clock is not free
			w.warnDropped(n)
		}
		return
	}
	w.buf = append(w.buf, e)
	kick := len(w.buf)+w.partial == w.batchMax
	w.mu.Unlock()
	if kick {
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
}

// warnDropped logs at most once per warnEvery.
func (w *Writer) warnDropped(total uint64) {
	now := time.Now().UnixNano()
	last := w.lastDropWarn.Load()
	if last != 0 && now-last < int64(warnEvery) || !w.lastDropWarn.CompareAndSwap(last, now) {
		return
	}
	// Not cap(w.buf): the buffers change hands under mu.
	w.log.Warn("audit: buffer full, dropping events: the store is not keeping up",
		"buffer", w.bufferSize, "dropped_since_start", total)
}

// Close stops accepting events and writes those still buffered. If ctx ends
// first, the write in progress is abandoned, what is left is counted as
// dropped, and Close returns ctx's error.
func (w *Writer) Close(ctx context.Context) error {
	w.stopOnce.Do(func() {
		w.mu.Lock()
		w.closed = true
		w.mu.Unlock()
		close(w.stop)
	})
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		w.cancel()
		return fmt.Errorf("audit: close: events still buffered are lost: %w", ctx.Err())
	}
}

func (w *Writer) run() {
	defer close(w.done)
	defer w.cancel()
	tick := time.NewTicker(w.interval)
	defer tick.Stop()
	for {
		select {
		case <-w.kick:
			w.take()
		case <-tick.C:
			w.take()
			w.flush()
		case <-w.stop:
			w.take() // closed is set: these are the last events
			w.flush()
			if c, ok := w.mirror.(io.Closer); ok {
				if err := c.Close(); err != nil {
					w.log.Warn("audit: close mirror", "err", err)
				}
			}
			return
		}
	}
}

// take moves the buffer into batches, leaving Record the spare buffer,
// and writes every full batch; a partial one waits for the next take.
func (w *Writer) take() {
	w.mu.Lock()
	taken := w.buf
	w.buf = w.spare[:0]
	w.mu.Unlock()
	for _, e := range taken {
		if e.Arguments != "" {
			e.Arguments = w.redactor.Redact([]byte(e.Arguments))
		}
		w.batch = append(w.batch, e)
		if len(w.batch) == w.batchMax {
			w.flush()
		}
	}
	clear(taken) // drop references to the events' strings
	w.spare = taken[:0]
	// Records made while this take ran compared against the old partial
	// count and may have missed a full batch: check again.
	w.mu.Lock()
	w.partial = len(w.batch)
	full := len(w.buf)+w.partial >= w.batchMax
	w.mu.Unlock()
	if full {
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
}

// flush writes the batch, retrying a refusal, then mirrors it.
func (w *Writer) flush() {
	if len(w.batch) == 0 {
		return
	}
	err := w.append()
	for i := 0; err != nil && i < len(retryDelays) && w.ctx.Err() == nil; i++ {
		w.log.Warn("audit: store refused a batch; retrying", "events", len(w.batch), "in", retryDelays[i], "err", err)
		select {
		case <-time.After(retryDelays[i]):
		case <-w.ctx.Done():
		}
		err = w.append()
	}
	if err != nil {
		n := uint64(len(w.batch))
		if w.ctx.Err() != nil {
			w.drops.closed.Add(n)
		} else {
			w.drops.store.Add(n)
		}
		if w.ctx.Err() == nil { // else Close reports it
			w.log.Error("audit: events lost: the store refused them", "events", len(w.batch), "err", err)
		}
	}
	w.writeMirror()
	clear(w.batch)
	w.batch = w.batch[:0]
	w.mu.Lock()
	w.partial = 0
	w.mu.Unlock()
}

func (w *Writer) append() error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(w.ctx, storeTimeout)
	defer cancel()
	return w.store.AppendAudit(ctx, w.batch)
}
