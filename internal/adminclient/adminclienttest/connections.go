package adminclienttest

import (
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/mcpgate/mcpgate/internal/adminapi"
)

// Values the fake answers with.
const (
	// Issuer is the authorization server of every connection the fake makes.
	Issuer = "https://auth.example.com"
	// PrimaryKeyID is the key POST /keys/rotate reports re-wrapping under.
	PrimaryKeyID = "key-2"
	// AuthorizationTTL is how long a started authorization stays valid.
	AuthorizationTTL = 10 * time.Minute
)

// AuthorizationURL is the URL the fake answers the n-th (from 1) started
// authorization with. It holds an '&' so tests see it is not HTML-escaped.
func AuthorizationURL(n int) string {
	return fmt.Sprintf("%s/authorize?response_type=code&client_id=mcpgate&state=st_%06d", Issuer, n)
}

// AddConnection stores c as if an authorization had completed and returns
// it as the fake will serve it: without an ID it gets the next one, Shared
// follows User, and zero creation and update times become Now.
func (f *Server) AddConnection(c adminapi.Connection) adminapi.Connection {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c.ID == "" {
		c.ID = f.nextConnectionID()
	}
	c.Shared = c.User == ""
	if c.CreatedAt.IsZero() {
		c.CreatedAt = Now
	}
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = Now
	}
	f.connections = append(f.connections, c)
	return c
}

// ConnectRequests returns every POST /connections body the fake decoded,
// rejected ones included, in order.
func (f *Server) ConnectRequests() []adminapi.ConnectRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.connectRequests)
}

// SetProviderError makes later revocations (of a connection, or of a user's
// connections) report that the provider could not be reached with msg; ""
// makes them succeed again.
func (f *Server) SetProviderError(msg string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.providerError = msg
}

func (f *Server) nextConnectionID() string {
	f.connSeq++
	return fmt.Sprintf("conn_%06d", f.connSeq)
}

func (f *Server) listConnections(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	writeJSON(w, http.StatusOK, adminapi.ConnectionList{Connections: append([]adminapi.Connection{}, f.connections...)})
}

func (f *Server) connect(w http.ResponseWriter, r *http.Request) {
	var req adminapi.ConnectRequest
	if !decode(w, r, &req) {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.connectRequests = append(f.connectRequests, req)
	switch {
	case req.Server == "":
		writeError(w, http.StatusBadRequest, "invalid", "invalid: server is required")
		return
	case req.User != "" && req.Shared:
		writeError(w, http.StatusBadRequest, "invalid", "invalid: a connection is either for a user or shared, not both")
		return
	case req.User == "" && !req.Shared:
		writeError(w, http.StatusBadRequest, "invalid", "invalid: user or shared is required")
		return
	case req.ClientCredentials && !req.Shared:
		writeError(w, http.StatusBadRequest, "invalid", "invalid: client credentials make a shared connection")
		return
	}
	s, ok := f.servers[req.Server]
	if !ok {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("not found: server %q", req.Server))
		return
	}
	grantType := "client_credentials"
	switch {
	case req.Assertion != "":
		grantType = "jwt_bearer"
	case req.IDToken != "":
		grantType = "id_jag"
	case req.WorkloadIdentity:
		grantType = "workload_identity"
	case !req.ClientCredentials:
		f.authSeq++
		writeJSON(w, http.StatusAccepted, adminapi.ConnectStarted{
			AuthorizationURL: AuthorizationURL(f.authSeq),
			ExpiresAt:        Now.Add(AuthorizationTTL),
		})
		return
	}
	if req.ClientCredentials && (s.OAuthClientID == "" || !s.HasOAuthClientSecret) {
		writeError(w, http.StatusBadRequest, "invalid",
			fmt.Sprintf("invalid: server %q has no pre-registered OAuth client with a secret for client credentials", req.Server))
		return
	}
	exp := Now.Add(time.Hour)
	c := adminapi.Connection{
		Server: req.Server, User: req.User, Shared: req.Shared, State: "connected", GrantType: grantType,
		Issuer: Issuer, ClientID: s.OAuthClientID, Scopes: []string{},
		ExpiresAt: &exp, Generation: 1, CreatedAt: Now, UpdatedAt: Now,
	}
	// A user, or the server as a whole, has one connection: connecting
	// again replaces its tokens.
	if i := slices.IndexFunc(f.connections, func(c adminapi.Connection) bool {
		return c.Server == req.Server && c.Shared == req.Shared && c.User == req.User
	}); i >= 0 {
		c.ID, c.CreatedAt, c.Generation = f.connections[i].ID, f.connections[i].CreatedAt, f.connections[i].Generation+1
		f.connections[i] = c
	} else {
		c.ID = f.nextConnectionID()
		f.connections = append(f.connections, c)
	}
	writeJSON(w, http.StatusCreated, c)
}

func (f *Server) getConnection(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := f.connectionIndex(r.PathValue("id"))
	if i < 0 {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("not found: connection %q", r.PathValue("id")))
		return
	}
	writeJSON(w, http.StatusOK, f.connections[i])
}

func (f *Server) revokeConnection(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := f.connectionIndex(r.PathValue("id"))
	if i < 0 {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("not found: connection %q", r.PathValue("id")))
		return
	}
	c := f.connections[i]
	f.connections = slices.Delete(f.connections, i, i+1)
	writeJSON(w, http.StatusOK, adminapi.RevokeResult{Connection: c, ProviderError: f.providerError})
}

func (f *Server) removeUser(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	user := r.PathValue("user")
	out := adminapi.UserRemoval{User: user, RemovedConnections: []string{}, RevokedGrants: []string{}}
	f.connections = slices.DeleteFunc(f.connections, func(c adminapi.Connection) bool {
		if c.Shared || c.User != user {
			return false
		}
		out.RemovedConnections = append(out.RemovedConnections, c.ID)
		return true
	})
	if len(out.RemovedConnections) > 0 {
		out.ProviderError = f.providerError
	}
	for i, g := range f.grants {
		if g.User == user && g.RevokedAt == nil {
			at := Now
			f.grants[i].RevokedAt = &at
			f.grants[i].Status = adminapi.GrantRevoked
			out.RevokedGrants = append(out.RevokedGrants, g.ID)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// rotateKeys counts what the real gateway would re-wrap: each server's header
// values and client secret, each connection's access and refresh token.
func (f *Server) rotateKeys(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, s := range f.servers {
		n += len(s.Headers)
		if s.HasOAuthClientSecret {
			n++
		}
	}
	for _, c := range f.connections {
		n++
		if c.HasRefreshToken {
			n++
		}
	}
	writeJSON(w, http.StatusOK, adminapi.KeyRotation{PrimaryKeyID: PrimaryKeyID, Rewrapped: n})
}

func (f *Server) connectionIndex(id string) int {
	return slices.IndexFunc(f.connections, func(c adminapi.Connection) bool { return c.ID == id })
}
