package adminclient

import (
	"context"
	"net/http"
	"net/url"

	"github.com/mcpgate/mcpgate/internal/adminapi"
)

// ListGrants returns every grant, without tokens.
func (c *Client) ListGrants(ctx context.Context) ([]adminapi.Grant, error) {
	var list adminapi.GrantList
	if err := c.do(ctx, http.MethodGet, "/grants", nil, &list); err != nil {
		return nil, err
	}
	return list.Grants, nil
}

// CreateGrant creates a grant. The answer is the only place its token appears.
func (c *Client) CreateGrant(ctx context.Context, req adminapi.CreateGrantRequest) (adminapi.CreatedGrant, error) {
	var g adminapi.CreatedGrant
	err := c.do(ctx, http.MethodPost, "/grants", req, &g)
	return g, err
}

// GetGrant returns one grant by id.
func (c *Client) GetGrant(ctx context.Context, id string) (adminapi.Grant, error) {
	var g adminapi.Grant
	err := c.do(ctx, http.MethodGet, "/grants/"+url.PathEscape(id), nil, &g)
	return g, err
}

// RevokeGrant revokes a grant; revoking a revoked grant is not an error.
func (c *Client) RevokeGrant(ctx context.Context, id string) (adminapi.Grant, error) {
	var g adminapi.Grant
	err := c.do(ctx, http.MethodPost, "/grants/"+url.PathEscape(id)+"/revoke", nil, &g)
	return g, err
}
