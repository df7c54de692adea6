// Package telemetry turns proxied requests into Prometheus metrics and one
// structured log line each. Nothing it logs can carry a token: it only sees
// the proxy's Record (grant id, user, server, method, tool, status).
package telemetry

import (
	"context"
	"log/slog"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mcpgate/mcpgate/internal/proxy"
)

// Recorder implements proxy.Observer.
type Recorder struct {
	log      *slog.Logger
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	upErrors *prometheus.CounterVec
	// series caches the metric children of each label set, sparing the
	// label hashing of WithLabelValues on every request.
	series sync.Map // seriesKey → *series
}

type seriesKey struct {
	server, method string
	code           int
}

type series struct {
	requests prometheus.Counter
	latency  prometheus.Observer
}

// New registers the gateway's metrics with reg.
func New(reg prometheus.Registerer, log *slog.Logger) *Recorder {
	r := &Recorder{
		log: log,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mcpgate_requests_total",
			Help: "Proxied MCP requests by server, JSON-RPC method and HTTP status.",
		}, []string{"server", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mcpgate_request_duration_seconds",
			Help:    "Time to serve a proxied MCP request, streams included.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"server", "method"}),
		upErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mcpgate_upstream_errors_total",
			Help: "Upstream failures by server and kind (unreachable, timeout, reset, unauthorized).",
		}, []string{"server", "kind"}),
	}
	reg.MustRegister(r.requests, r.latency, r.upErrors)
	return r
}

// methodLabel keeps the metric cardinality bounded: unknown methods share a label.
func methodLabel(httpMethod, rpc string) string {
	switch rpc {
	case "":
		return httpMethod
	case "initialize", "ping", "tools/list", "tools/call", "resources/list", "resources/read",
		"resources/templates/list", "resources/subscribe", "resources/unsubscribe",
		"prompts/list", "prompts/get", "completion/complete", "logging/setLevel",
		"server/discover", "batch":
		return rpc
	}
	if len(rpc) > 14 && rpc[:14] == "notifications/" {
		return "notification"
	}
	return "other"
}

// ObserveRequest records rec.
func (r *Recorder) ObserveRequest(ctx context.Context, rec proxy.Record) {
	m := methodLabel(rec.HTTPMethod, rec.RPCMethod)
	k := seriesKey{rec.Server, m, rec.Status}
	v, ok := r.series.Load(k)
	if !ok {
		v, _ = r.series.LoadOrStore(k, &series{
			requests: r.requests.WithLabelValues(rec.Server, m, strconv.Itoa(rec.Status)),
			latency:  r.latency.WithLabelValues(rec.Server, m),
		})
	}
	sr := v.(*series)
	sr.requests.Inc()
	sr.latency.Observe(rec.Duration.Seconds())
	if rec.UpstreamError != "" {
		r.upErrors.WithLabelValues(rec.Server, rec.UpstreamError).Inc()
	}
	if !r.log.Enabled(ctx, slog.LevelInfo) {
		return
	}
	attrs := []slog.Attr{
		slog.String("grant", rec.GrantID),
		slog.String("user", rec.User),
		slog.String("server", rec.Server),
		slog.String("http_method", rec.HTTPMethod),
		slog.String("rpc_method", rec.RPCMethod),
		slog.String("tool", rec.Tool),
		slog.Int("status", rec.Status),
		slog.Duration("duration", rec.Duration),
	}
	if rec.UpstreamError != "" {
		attrs = append(attrs, slog.String("upstream_error", rec.UpstreamError))
	}
	r.log.LogAttrs(ctx, slog.LevelInfo, "mcp request", attrs...)
}
