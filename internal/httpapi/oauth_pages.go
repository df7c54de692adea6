package httpapi

import (
	"encoding/json"
	"errors"
	"html/template"
	"net/http"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/internal/oauth"
)

var resultPage = template.Must(template.New("result").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>mcpgate: {{.Title}}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#1f2328}
h1{font-size:1.4rem}.ok{color:#1a7f37}.err{color:#cf222e}code{background:#f6f8fa;padding:.1rem .3rem;border-radius:4px}</style>
</head><body><h1 class="{{.Class}}">{{.Title}}</h1><p>{{.Message}}</p>{{if .Hint}}<p>{{.Hint}}</p>{{end}}</body></html>
`))

type pageData struct {
	Title, Class, Message, Hint string
}

// page writes a small self-contained result page that cannot be framed.
func page(w http.ResponseWriter, status int, d pageData) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	resultPage.Execute(w, d)
}

// oauthCallback completes an upstream authorization.
func (h *Handler) oauthCallback(w http.ResponseWriter, r *http.Request) {
	c, err := h.OAuth.Complete(r.Context(), r.URL.Query())
	if err != nil {
		status := http.StatusBadRequest
		msg := err.Error()
		var te *oauth.TokenError
		switch {
		case errors.Is(err, oauth.ErrUnknownState), errors.Is(err, oauth.ErrStateExpired),
			errors.Is(err, oauth.ErrIssuer), errors.Is(err, oauth.ErrDenied):
		case errors.As(err, &te), errors.Is(err, oauth.ErrDiscovery), errors.Is(err, oauth.ErrRegistration):
			status = http.StatusBadGateway
		default:
			h.Logger.Error("oauth callback failed", "err", err)
			status, msg = http.StatusInternalServerError, "the gateway could not complete the authorization; see its log"
		}
		h.Logger.Warn("oauth callback refused", "status", status, "reason", msg)
		page(w, status, pageData{Title: "Authorization failed", Class: "err", Message: msg})
		return
	}
	who := "user " + c.User
	if c.Shared() {
		who = "every user (shared connection)"
	}
	h.Logger.Info("upstream connected", "server", c.Server, "user", c.User, "connection", c.ID)
	page(w, http.StatusOK, pageData{Title: "Connected", Class: "ok",
		Message: "mcpgate is now connected to " + c.Server + " for " + who + ".",
		Hint:    "You can close this window; your MCP clients can use the server right away."})
}

// oauthConnect starts an authorization from a signed connect link.
func (h *Handler) oauthConnect(w http.ResponseWriter, r *http.Request) {
	server, user, err := h.OAuth.ParseTicket(r.URL.Query().Get("ticket"))
	if err != nil {
		page(w, http.StatusBadRequest, pageData{Title: "Cannot connect", Class: "err", Message: err.Error()})
		return
	}
	started, err := h.OAuth.Start(r.Context(), server, user)
	if err != nil {
		status := http.StatusBadGateway
		if errors.Is(err, mcpgate.ErrNotFound) || errors.Is(err, mcpgate.ErrInvalid) {
			status = http.StatusBadRequest
		}
		h.Logger.Warn("connect link failed", "server", server, "err", err)
		page(w, status, pageData{Title: "Cannot connect", Class: "err", Message: err.Error()})
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, started.AuthorizationURL, http.StatusFound)
}

// clientMetadata serves the gateway's Client ID Metadata Document.
func (h *Handler) clientMetadata(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	json.NewEncoder(w).Encode(map[string]any{
		"client_id":                  h.OAuth.ClientMetadataURL(),
		"client_name":                "mcpgate",
		"redirect_uris":              []string{h.OAuth.CallbackURL()},
		"grant_types":                []string{"authorization_code", "refresh_token"},
		"response_types":             []string{"code"},
		"token_endpoint_auth_method": "none",
	})
}
