// Package httpapi is the gateway's HTTP surface: the /mcp/<server> front door
// (origin check, grant authentication, then the transparent proxy), the JSON
// admin API, health checks and metrics. Errors are mapped to HTTP statuses in
// one place (errors.go).
package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/internal/grants"
	"github.com/mcpgate/mcpgate/internal/oauth"
	"github.com/mcpgate/mcpgate/internal/policyfile"
	"github.com/mcpgate/mcpgate/internal/proxy"
	"github.com/mcpgate/mcpgate/internal/registry"
)

// Deps are what the handlers need.
type Deps struct {
	Store    mcpgate.Store
	Registry *registry.Registry
	Grants   *grants.Service
	Proxy    *proxy.Proxy
	Sessions *proxy.Sessions
	OAuth    *oauth.Manager
	Policy   *policyfile.Loader
	// Rotator serves POST /api/v1/keys/rotate; nil answers 404.
	Rotator Rotator
	// AdminToken guards /api/.
	AdminToken string
	Origins    *OriginPolicy
	Gatherer   prometheus.Gatherer
	Logger     *slog.Logger
	Now        func() time.Time
}

// Handler serves every route.
type Handler struct {
	Deps
	adminDigest [32]byte
	mux         *http.ServeMux
	draining    atomic.Bool
}

// SetDraining makes /readyz fail so load balancers stop sending traffic.
func (h *Handler) SetDraining() { h.draining.Store(true) }

// New returns the gateway's root handler.
func New(d Deps) *Handler {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Policy == nil {
		d.Policy, _ = policyfile.New("", d.Logger)
	}
	h := &Handler{Deps: d, adminDigest: sha256.Sum256([]byte(d.AdminToken)), mux: http.NewServeMux()}
	h.mux.HandleFunc("/mcp/{server}", h.serveMCP)
	h.mux.HandleFunc("/mcp/{server}/{$}", h.serveMCP)

	h.mux.HandleFunc("GET /oauth/callback", h.oauthCallback)
	h.mux.HandleFunc("GET /oauth/connect", h.oauthConnect)
	h.mux.HandleFunc("GET /oauth/client-metadata.json", h.clientMetadata)

	h.mux.HandleFunc("GET /healthz", h.healthz)
	h.mux.HandleFunc("GET /readyz", h.readyz)
	h.mux.Handle("GET /metrics", promhttp.HandlerFor(d.Gatherer, promhttp.HandlerOpts{}))

	h.admin("GET /api/v1/servers", h.listServers)
	h.admin("POST /api/v1/servers", h.createServer)
	h.admin("GET /api/v1/servers/{name}", h.getServer)
	h.admin("DELETE /api/v1/servers/{name}", h.deleteServer)
	h.admin("GET /api/v1/grants", h.listGrants)
	h.admin("POST /api/v1/grants", h.createGrant)
	h.admin("GET /api/v1/grants/{id}", h.getGrant)
	h.admin("POST /api/v1/grants/{id}/revoke", h.revokeGrant)
	h.admin("DELETE /api/v1/grants/{id}", h.revokeGrant)
	h.admin("GET /api/v1/connections", h.listConnections)
	h.admin("POST /api/v1/connections", h.connect)
	h.admin("GET /api/v1/connections/{id}", h.getConnection)
	h.admin("DELETE /api/v1/connections/{id}", h.revokeConnection)
	h.admin("DELETE /api/v1/users/{user}", h.removeUser)
	h.admin("GET /api/v1/policy", h.getPolicy)
	h.admin("POST /api/v1/policy/reload", h.reloadPolicy)
	h.admin("POST /api/v1/policy/test", h.testPolicy)
	h.admin("POST /api/v1/keys/rotate", h.rotateKeys)
	h.admin("GET /api/v1/audit", h.listAudit)
	return h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// admin registers an admin endpoint: admin token required, errors mapped.
func (h *Handler) admin(pattern string, fn func(http.ResponseWriter, *http.Request) error) {
	h.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if !h.isAdmin(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="mcpgate-admin"`)
			writeAPIError(w, http.StatusUnauthorized, "unauthorized", "admin token missing or wrong: send Authorization: Bearer <admin token>")
			return
		}
		if err := fn(w, r); err != nil {
			h.writeError(w, r, err)
		}
	})
}

func (h *Handler) isAdmin(r *http.Request) bool {
	tok, ok := bearer(r)
	if !ok || h.AdminToken == "" {
		return false
	}
	d := sha256.Sum256([]byte(tok))
	return subtle.ConstantTimeCompare(d[:], h.adminDigest[:]) == 1
}

func (h *Handler) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok\n"))
}

func (h *Handler) readyz(w http.ResponseWriter, r *http.Request) {
	if h.draining.Load() {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("draining\n"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := h.Store.Ping(ctx); err != nil {
		h.Logger.Warn("readiness: store unreachable", "err", err)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("store unreachable\n"))
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ready\n"))
}
