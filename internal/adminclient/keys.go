package adminclient

import (
	"context"
	"net/http"

	"github.com/mcpgate/mcpgate/internal/adminapi"
)

// RotateKeys re-wraps every sealed value under the gateway's primary key.
func (c *Client) RotateKeys(ctx context.Context) (adminapi.KeyRotation, error) {
	var r adminapi.KeyRotation
	err := c.do(ctx, http.MethodPost, "/keys/rotate", nil, &r)
	return r, err
}
