// Package adminclienttest provides an in-memory fake of the mcpgate admin API
// for tests of the admin client and the CLI. It follows the contract in
// internal/adminapi (paths, statuses, error bodies) and keeps what it was sent
// so tests can check it; it is not the real server (internal/httpapi).
package adminclienttest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/adminapi"
)

// Now is the fake's clock: every timestamp it sets is Now.
var Now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// Server is a running fake admin API. Token is the admin token it accepts.
type Server struct {
	*httptest.Server
	Token string

	mu       sync.Mutex
	servers  map[string]adminapi.Server
	requests map[string]adminapi.CreateServerRequest
	grants   []adminapi.Grant

	connections     []adminapi.Connection
	connectRequests []adminapi.ConnectRequest
	connSeq         int // connection ids handed out
	authSeq         int // authorizations started
	providerError   string

	auditState
}

// New starts a fake admin API accepting token; it is closed when t ends.
func New(t testing.TB, token string) *Server {
	f := &Server{
		Token:    token,
		servers:  map[string]adminapi.Server{},
		requests: map[string]adminapi.CreateServerRequest{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/servers", f.listServers)
	mux.HandleFunc("POST /api/v1/servers", f.createServer)
	mux.HandleFunc("GET /api/v1/servers/{name}", f.getServer)
	mux.HandleFunc("DELETE /api/v1/servers/{name}", f.deleteServer)
	mux.HandleFunc("GET /api/v1/grants", f.listGrants)
	mux.HandleFunc("POST /api/v1/grants", f.createGrant)
	mux.HandleFunc("GET /api/v1/grants/{id}", f.getGrant)
	mux.HandleFunc("POST /api/v1/grants/{id}/revoke", f.revokeGrant)
	mux.HandleFunc("GET /api/v1/connections", f.listConnections)
	mux.HandleFunc("POST /api/v1/connections", f.connect)
	mux.HandleFunc("GET /api/v1/connections/{id}", f.getConnection)
	mux.HandleFunc("DELETE /api/v1/connections/{id}", f.revokeConnection)
	mux.HandleFunc("DELETE /api/v1/users/{user}", f.removeUser)
	mux.HandleFunc("POST /api/v1/keys/rotate", f.rotateKeys)
	mux.HandleFunc("GET /api/v1/audit", f.listAudit)
	f.Server = httptest.NewServer(f.authorize(mux))
	t.Cleanup(f.Close)
	return f
}

// CreateServerRequest returns what the fake was sent to create server name,
// secrets included.
func (f *Server) CreateServerRequest(name string) (adminapi.CreateServerRequest, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	req, ok := f.requests[name]
	return req, ok
}

func (f *Server) authorize(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+f.Token {
			writeError(w, http.StatusUnauthorized, "unauthorized", "unauthorized: missing or wrong admin token")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (f *Server) listServers(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	list := adminapi.ServerList{Servers: []adminapi.Server{}}
	for _, s := range f.servers {
		list.Servers = append(list.Servers, s)
	}
	slices.SortFunc(list.Servers, func(a, b adminapi.Server) int { return strings.Compare(a.Name, b.Name) })
	writeJSON(w, http.StatusOK, list)
}

func (f *Server) createServer(w http.ResponseWriter, r *http.Request) {
	var req adminapi.CreateServerRequest
	if !decode(w, r, &req) {
		return
	}
	if req.Name == "" || req.URL == "" {
		writeError(w, http.StatusBadRequest, "invalid", "invalid: name and url are required")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.servers[req.Name]; ok {
		writeError(w, http.StatusConflict, "conflict", fmt.Sprintf("conflict: server %q already exists", req.Name))
		return
	}
	s := adminapi.Server{
		Name:                 req.Name,
		URL:                  req.URL,
		Headers:              []string{},
		OAuthClientID:        req.OAuthClientID,
		HasOAuthClientSecret: req.OAuthClientSecret != "",
		Source:               "api",
		CreatedAt:            Now,
		UpdatedAt:            Now,
	}
	for name := range req.Headers {
		s.Headers = append(s.Headers, name)
	}
	slices.Sort(s.Headers)
	f.servers[req.Name] = s
	f.requests[req.Name] = req
	writeJSON(w, http.StatusCreated, s)
}

func (f *Server) getServer(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.servers[r.PathValue("name")]
	if !ok {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("not found: server %q", r.PathValue("name")))
		return
	}
	writeJSON(w, http.StatusOK, s)
}

func (f *Server) deleteServer(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	name := r.PathValue("name")
	if _, ok := f.servers[name]; !ok {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("not found: server %q", name))
		return
	}
	delete(f.servers, name)
	delete(f.requests, name)
	w.WriteHeader(http.StatusNoContent)
}

func (f *Server) listGrants(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	writeJSON(w, http.StatusOK, adminapi.GrantList{Grants: append([]adminapi.Grant{}, f.grants...)})
}

func (f *Server) createGrant(w http.ResponseWriter, r *http.Request) {
	var req adminapi.CreateGrantRequest
	if !decode(w, r, &req) {
		return
	}
	if req.User == "" || len(req.Servers) == 0 {
		writeError(w, http.StatusBadRequest, "invalid", "invalid: user and at least one server are required")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, name := range req.Servers {
		if _, ok := f.servers[name]; !ok {
			writeError(w, http.StatusBadRequest, "invalid", fmt.Sprintf("invalid: unknown server %q", name))
			return
		}
	}
	g := adminapi.Grant{
		ID:        fmt.Sprintf("g_%06d", len(f.grants)+1),
		User:      req.User,
		Servers:   req.Servers,
		Label:     req.Label,
		Status:    adminapi.GrantActive,
		CreatedAt: Now,
	}
	if req.TTL != "" {
		ttl, err := time.ParseDuration(req.TTL)
		if err != nil || ttl <= 0 {
			writeError(w, http.StatusBadRequest, "invalid", fmt.Sprintf("invalid: ttl %q", req.TTL))
			return
		}
		exp := Now.Add(ttl)
		g.ExpiresAt = &exp
	}
	f.grants = append(f.grants, g)
	writeJSON(w, http.StatusCreated, adminapi.CreatedGrant{Grant: g, Token: "mgt_test_" + g.ID})
}

func (f *Server) getGrant(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := f.grantIndex(r.PathValue("id"))
	if i < 0 {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("not found: grant %q", r.PathValue("id")))
		return
	}
	writeJSON(w, http.StatusOK, f.grants[i])
}

func (f *Server) revokeGrant(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := f.grantIndex(r.PathValue("id"))
	if i < 0 {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("not found: grant %q", r.PathValue("id")))
		return
	}
	if f.grants[i].RevokedAt == nil {
		at := Now
		f.grants[i].RevokedAt = &at
		f.grants[i].Status = adminapi.GrantRevoked
	}
	writeJSON(w, http.StatusOK, f.grants[i])
}

func (f *Server) grantIndex(id string) int {
	return slices.IndexFunc(f.grants, func(g adminapi.Grant) bool { return g.ID == id })
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "invalid", "invalid: request body: "+err.Error())
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, adminapi.ErrorBody{Error: adminapi.ErrorDetail{Code: code, Message: message}})
}
