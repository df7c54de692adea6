package httpapi

import (
	"net/http"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/internal/adminapi"
)

func connectionView(c mcpgate.Connection) adminapi.Connection {
	scopes := c.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	return adminapi.Connection{
		ID: c.ID, Server: c.Server, User: c.User, Shared: c.Shared(), State: string(c.State),
		GrantType: c.GrantType, Issuer: c.Issuer, ClientID: c.ClientID, Scopes: scopes,
		StepUpScopes: c.StepUpScopes, HasRefreshToken: len(c.RefreshToken) > 0,
		ExpiresAt: timePtr(c.ExpiresAt), Generation: c.Generation, LastRefreshAt: timePtr(c.LastRefreshAt),
		LastUsedAt: timePtr(c.LastUsedAt), RefreshFailures: c.RefreshFailures, LastError: c.LastError,
		LastErrorAt: timePtr(c.LastErrorAt), CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt,
	}
}

func (h *Handler) listConnections(w http.ResponseWriter, r *http.Request) error {
	all, err := h.Store.ListConnections(r.Context())
	if err != nil {
		return err
	}
	out := adminapi.ConnectionList{Connections: []adminapi.Connection{}}
	for _, c := range all {
		out.Connections = append(out.Connections, connectionView(c))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *Handler) getConnection(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	c, err := h.Store.GetConnection(r.Context(), id)
	if err != nil {
		return notFoundAs(err, "connection %q does not exist", id)
	}
	writeJSON(w, http.StatusOK, connectionView(c))
	return nil
}

func (h *Handler) connect(w http.ResponseWriter, r *http.Request) error {
	var req adminapi.ConnectRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	direct := 0
	for _, set := range []bool{req.ClientCredentials, req.Assertion != "", req.IDToken != "", req.WorkloadIdentity} {
		if set {
			direct++
		}
	}
	switch {
	case req.Shared == (req.User != ""):
		return mcpgate.Invalidf("name a user, or ask for the shared connection (one of user and shared)")
	case direct > 1:
		return mcpgate.Invalidf("use one of client_credentials, assertion, id_token and workload_identity")
	case req.ClientCredentials && !req.Shared:
		return mcpgate.Invalidf("client credentials give a shared (service) connection; set shared")
	case req.WorkloadIdentity && !req.Shared:
		return mcpgate.Invalidf("the workload identity is the gateway's own: it gives a shared connection; set shared")
	case req.IDToken != "" && req.Shared:
		return mcpgate.Invalidf("an ID token is a user's; name the user")
	}
	if direct > 0 {
		var (
			c   mcpgate.Connection
			err error
		)
		switch {
		case req.ClientCredentials:
			c, err = h.OAuth.ConnectService(r.Context(), req.Server)
		case req.Assertion != "":
			c, err = h.OAuth.ConnectAssertion(r.Context(), req.Server, req.User, req.Assertion)
		case req.WorkloadIdentity:
			c, err = h.OAuth.ConnectWorkloadIdentity(r.Context(), req.Server)
		default:
			c, err = h.OAuth.ConnectEnterprise(r.Context(), req.Server, req.User, req.IDToken)
		}
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusCreated, connectionView(c))
		return nil
	}
	started, err := h.OAuth.Start(r.Context(), req.Server, req.User)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, adminapi.ConnectStarted{AuthorizationURL: started.AuthorizationURL, ExpiresAt: started.ExpiresAt})
	return nil
}

func (h *Handler) revokeConnection(w http.ResponseWriter, r *http.Request) error {
	c, err := h.OAuth.Revoke(r.Context(), r.PathValue("id"))
	if c.ID == "" && err != nil {
		return err
	}
	res := adminapi.RevokeResult{Connection: connectionView(c)}
	if err != nil {
		h.Logger.Warn("provider revocation failed", "connection", c.ID, "err", err)
		res.ProviderError = err.Error()
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

func (h *Handler) removeUser(w http.ResponseWriter, r *http.Request) error {
	user := r.PathValue("user")
	removed, perr := h.OAuth.RemoveAll(r.Context(), "", user)
	if removed == nil && perr != nil {
		return perr
	}
	out := adminapi.UserRemoval{User: user, RemovedConnections: []string{}, RevokedGrants: []string{}}
	for _, c := range removed {
		out.RemovedConnections = append(out.RemovedConnections, c.ID)
	}
	if perr != nil {
		out.ProviderError = perr.Error()
	}
	grants, err := h.Grants.List(r.Context())
	if err != nil {
		return err
	}
	for _, g := range grants {
		if g.User == user && g.RevokedAt.IsZero() {
			if _, err := h.Grants.Revoke(r.Context(), g.ID); err != nil {
				return err
			}
			out.RevokedGrants = append(out.RevokedGrants, g.ID)
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
