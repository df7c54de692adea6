package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/internal/adminapi"
	"github.com/mcpgate/mcpgate/internal/oauth"
)

// notFoundAs rewrites a store's not-found error into a readable one.
func notFoundAs(err error, format string, args ...any) error {
	if errors.Is(err, mcpgate.ErrNotFound) {
		return mcpgate.Errorf(mcpgate.ErrNotFound, format, args...)
	}
	return err
}

// writeError is the one place admin errors become HTTP statuses. Messages of
// classified errors are user-safe; anything else is logged and hidden.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var tooLarge *http.MaxBytesError
	var tokenErr *oauth.TokenError
	switch {
	case errors.Is(err, mcpgate.ErrNotFound):
		writeAPIError(w, http.StatusNotFound, "not_found", err.Error())
	case errors.Is(err, mcpgate.ErrConflict):
		writeAPIError(w, http.StatusConflict, "conflict", err.Error())
	case errors.Is(err, mcpgate.ErrInvalid):
		writeAPIError(w, http.StatusBadRequest, "invalid", err.Error())
	case errors.Is(err, oauth.ErrDiscovery), errors.Is(err, oauth.ErrRegistration), errors.As(err, &tokenErr):
		// The upstream's authorization server failed us: not the caller's fault.
		writeAPIError(w, http.StatusBadGateway, "upstream", err.Error())
	case errors.Is(err, mcpgate.ErrUnavailable):
		h.Logger.Error("admin request failed: store unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
		w.Header().Set("Retry-After", "5")
		writeAPIError(w, http.StatusServiceUnavailable, "unavailable", "the gateway's database is unavailable; try again shortly")
	case errors.As(err, &tooLarge):
		writeAPIError(w, http.StatusRequestEntityTooLarge, "too_large", "request body is too large")
	default:
		h.Logger.Error("admin request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		writeAPIError(w, http.StatusInternalServerError, "internal", "internal error; see the gateway log")
	}
}

func writeAPIError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, adminapi.ErrorBody{Error: adminapi.ErrorDetail{Code: code, Message: msg}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// decodeJSON strictly decodes a request body of at most 1 MiB into v.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return err
		}
		return mcpgate.Invalidf("invalid JSON body: %v", err)
	}
	if dec.More() {
		return mcpgate.Invalidf("invalid JSON body: unexpected data after the object")
	}
	return nil
}
