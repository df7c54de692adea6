package httpapi

import (
	"net/http"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/internal/adminapi"
	"github.com/mcpgate/mcpgate/internal/grants"
)

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func (h *Handler) grantView(g mcpgate.Grant) adminapi.Grant {
	status := adminapi.GrantActive
	switch {
	case !g.RevokedAt.IsZero():
		status = adminapi.GrantRevoked
	case !g.ExpiresAt.IsZero() && !h.Now().Before(g.ExpiresAt):
		status = adminapi.GrantExpired
	}
	return adminapi.Grant{
		ID: g.ID, User: g.User, Servers: g.Servers, Label: g.Label, Status: status,
		CreatedAt: g.CreatedAt, ExpiresAt: timePtr(g.ExpiresAt), RevokedAt: timePtr(g.RevokedAt),
		LastUsedAt: timePtr(g.LastUsedAt),
	}
}

func (h *Handler) listGrants(w http.ResponseWriter, r *http.Request) error {
	if err := h.Grants.FlushLastUsed(r.Context()); err != nil {
		h.Logger.Warn("grant last-use flush failed", "err", err)
	}
	all, err := h.Grants.List(r.Context())
	if err != nil {
		return err
	}
	out := adminapi.GrantList{Grants: []adminapi.Grant{}}
	for _, g := range all {
		out.Grants = append(out.Grants, h.grantView(g))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *Handler) createGrant(w http.ResponseWriter, r *http.Request) error {
	var req adminapi.CreateGrantRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	var ttl time.Duration
	if req.TTL != "" {
		d, err := time.ParseDuration(req.TTL)
		if err != nil || d <= 0 {
			return mcpgate.Invalidf("ttl %q: use a positive duration such as 24h or 90m", req.TTL)
		}
		ttl = d
	}
	g, token, err := h.Grants.Create(r.Context(), grants.CreateInput{User: req.User, Servers: req.Servers, TTL: ttl, Label: req.Label})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, adminapi.CreatedGrant{Grant: h.grantView(g), Token: token})
	return nil
}

func (h *Handler) getGrant(w http.ResponseWriter, r *http.Request) error {
	if err := h.Grants.FlushLastUsed(r.Context()); err != nil {
		h.Logger.Warn("grant last-use flush failed", "err", err)
	}
	g, err := h.Grants.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, h.grantView(g))
	return nil
}

func (h *Handler) revokeGrant(w http.ResponseWriter, r *http.Request) error {
	g, err := h.Grants.Revoke(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, h.grantView(g))
	return nil
}
