package adminclient

import (
	"context"
	"net/http"
	"net/url"

	"github.com/mcpgate/mcpgate/internal/adminapi"
)

// ListServers returns every upstream server.
func (c *Client) ListServers(ctx context.Context) ([]adminapi.Server, error) {
	var list adminapi.ServerList
	if err := c.do(ctx, http.MethodGet, "/servers", nil, &list); err != nil {
		return nil, err
	}
	return list.Servers, nil
}

// CreateServer adds an upstream server.
func (c *Client) CreateServer(ctx context.Context, req adminapi.CreateServerRequest) (adminapi.Server, error) {
	var s adminapi.Server
	err := c.do(ctx, http.MethodPost, "/servers", req, &s)
	return s, err
}

// GetServer returns one upstream server by name.
func (c *Client) GetServer(ctx context.Context, name string) (adminapi.Server, error) {
	var s adminapi.Server
	err := c.do(ctx, http.MethodGet, "/servers/"+url.PathEscape(name), nil, &s)
	return s, err
}

// DeleteServer removes an upstream server by name.
func (c *Client) DeleteServer(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/servers/"+url.PathEscape(name), nil, nil)
}
