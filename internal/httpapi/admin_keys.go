package httpapi

import (
	"context"
	"net/http"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/internal/adminapi"
)

// Rotator re-wraps every sealed value in the store under the primary
// master key (see internal/rotation).
type Rotator interface {
	Rotate(ctx context.Context) (primaryID string, rewrapped int, err error)
}

// rotateKeys serves POST /api/v1/keys/rotate.
func (h *Handler) rotateKeys(w http.ResponseWriter, r *http.Request) error {
	if h.Rotator == nil {
		return mcpgate.Errorf(mcpgate.ErrNotFound, "key rotation is not available on this gateway")
	}
	id, n, err := h.Rotator.Rotate(r.Context())
	if err != nil {
		return err
	}
	h.Logger.Info("sealed values rewrapped under the primary key", "primary_key_id", id, "rewrapped", n)
	writeJSON(w, http.StatusOK, adminapi.KeyRotation{PrimaryKeyID: id, Rewrapped: n})
	return nil
}
