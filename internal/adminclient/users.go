package adminclient

import (
	"context"
	"net/http"
	"net/url"

	"github.com/mcpgate/mcpgate/internal/adminapi"
)

// RemoveUser removes a user from the gateway: their connections are deleted
// (and revoked at the providers) and their grants revoked.
func (c *Client) RemoveUser(ctx context.Context, user string) (adminapi.UserRemoval, error) {
	var r adminapi.UserRemoval
	err := c.do(ctx, http.MethodDelete, "/users/"+url.PathEscape(user), nil, &r)
	return r, err
}
