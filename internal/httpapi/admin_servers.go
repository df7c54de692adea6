package httpapi

import (
	"net/http"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/internal/adminapi"
	"github.com/mcpgate/mcpgate/internal/registry"
)

func serverView(s mcpgate.Server) adminapi.Server {
	v := adminapi.Server{
		Name: s.Name, URL: s.URL, Headers: []string{}, OAuthClientID: s.OAuthClientID,
		HasOAuthClientSecret: len(s.OAuthClientSecret) > 0, Source: s.Source,
		OAuthAuthMethod: s.OAuthAuthMethod, OAuthScopes: s.OAuthScopes,
		CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt,
	}
	for _, hd := range s.Headers {
		v.Headers = append(v.Headers, hd.Name)
	}
	return v
}

func (h *Handler) listServers(w http.ResponseWriter, r *http.Request) error {
	all, err := h.Registry.List(r.Context())
	if err != nil {
		return err
	}
	out := adminapi.ServerList{Servers: []adminapi.Server{}}
	for _, s := range all {
		out.Servers = append(out.Servers, serverView(s))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *Handler) createServer(w http.ResponseWriter, r *http.Request) error {
	var req adminapi.CreateServerRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	s, err := h.Registry.Add(r.Context(), registry.Input{
		Name: req.Name, URL: req.URL, Headers: req.Headers,
		OAuthClientID: req.OAuthClientID, OAuthClientSecret: req.OAuthClientSecret,
		OAuthAuthMethod: req.OAuthAuthMethod, OAuthScopes: req.OAuthScopes, OAuthPrivateKey: req.OAuthPrivateKey,
		Source: mcpgate.SourceAPI,
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, serverView(s))
	return nil
}

func (h *Handler) getServer(w http.ResponseWriter, r *http.Request) error {
	s, err := h.Registry.Get(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, serverView(s))
	return nil
}

func (h *Handler) deleteServer(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if _, err := h.Registry.Get(r.Context(), name); err != nil {
		return err
	}
	// Revoke the server's tokens at the provider before the rows go.
	if _, err := h.OAuth.RemoveAll(r.Context(), name, ""); err != nil {
		h.Logger.Warn("provider revocation failed while removing server", "server", name, "err", err)
	}
	if err := h.Registry.Remove(r.Context(), name); err != nil {
		return err
	}
	h.Sessions.ForgetServer(name)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
