package httpapi

import (
	"errors"
	"net/http"
	"strings"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/internal/proxy"
)

// CodeUnauthorized is the JSON-RPC code in the body of a 401 for a bad grant.
const CodeUnauthorized = -32052

// serveMCP is the client-facing endpoint: origin, grant, server, then proxy.
func (h *Handler) serveMCP(w http.ResponseWriter, r *http.Request) {
	if err := h.Origins.Check(r); err != nil {
		proxy.WriteError(w, http.StatusForbidden, nil, proxy.CodeInvalidRequest, err.Error())
		return
	}
	name := r.PathValue("server")
	tok, _ := bearer(r)
	g, err := h.Grants.Authenticate(r.Context(), tok, name)
	switch {
	case err == nil:
	case errors.Is(err, mcpgate.ErrGrantWrongServer) && h.Registry.Lookup(name) == nil:
		// A valid grant asking for a server that does not exist.
		proxy.WriteError(w, http.StatusNotFound, nil, proxy.CodeInvalidRequest, "unknown server "+quote(name))
		return
	case isGrantError(err):
		// Deliberately no resource_metadata: the gateway does not offer OAuth
		// to its clients, and advertising it makes some clients ignore their
		// configured header.
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="`+err.Error()+`"`)
		proxy.WriteError(w, http.StatusUnauthorized, nil, CodeUnauthorized, "unauthorized: "+err.Error())
		return
	default:
		h.Logger.Error("grant check failed", "server", name, "err", err)
		proxy.WriteError(w, http.StatusServiceUnavailable, nil, proxy.CodeInternal, "the gateway could not check the grant; try again")
		return
	}
	up := h.Registry.Lookup(name)
	if up == nil {
		proxy.WriteError(w, http.StatusNotFound, nil, proxy.CodeInvalidRequest, "unknown server "+quote(name))
		return
	}
	h.Proxy.Serve(w, r, up, g)
}

func isGrantError(err error) bool {
	for _, e := range []error{mcpgate.ErrGrantMissing, mcpgate.ErrGrantMalformed, mcpgate.ErrGrantUnknown,
		mcpgate.ErrGrantExpired, mcpgate.ErrGrantRevoked, mcpgate.ErrGrantWrongServer} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// bearer extracts a bearer token; the scheme is case-insensitive (RFC 9110 §11.1).
func bearer(r *http.Request) (string, bool) {
	v := r.Header.Get("Authorization")
	if len(v) < 7 || !strings.EqualFold(v[:7], "bearer ") {
		return "", false
	}
	tok := strings.TrimSpace(v[7:])
	return tok, tok != ""
}

func quote(s string) string {
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return `"` + strings.ToValidUTF8(s, "") + `"`
}
