package adminclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/mcpgate/mcpgate/internal/adminapi"
)

// Connect starts an upstream OAuth connection. An authorization-code flow
// answers 202 and comes back as started: the user must open its
// AuthorizationURL. A client-credentials connection is made at once (201)
// and comes back as conn. Exactly one of the two is non-nil when err is nil.
func (c *Client) Connect(ctx context.Context, req adminapi.ConnectRequest) (started *adminapi.ConnectStarted, conn *adminapi.Connection, err error) {
	const method, path = http.MethodPost, "/connections"
	status, raw, err := c.send(ctx, method, path, req)
	if err != nil {
		return nil, nil, err
	}
	switch status {
	case http.StatusAccepted:
		var s adminapi.ConnectStarted
		if err := decodeAnswer(method, path, raw, &s); err != nil {
			return nil, nil, err
		}
		if s.AuthorizationURL == "" {
			return nil, nil, errors.New("admin API answered POST /connections without an authorization URL")
		}
		return &s, nil, nil
	case http.StatusCreated:
		var cn adminapi.Connection
		if err := decodeAnswer(method, path, raw, &cn); err != nil {
			return nil, nil, err
		}
		return nil, &cn, nil
	}
	return nil, nil, fmt.Errorf("admin API answered %d %s to POST /connections; want 201 or 202", status, http.StatusText(status))
}

// ListConnections returns every upstream connection, without tokens.
func (c *Client) ListConnections(ctx context.Context) ([]adminapi.Connection, error) {
	var list adminapi.ConnectionList
	if err := c.do(ctx, http.MethodGet, "/connections", nil, &list); err != nil {
		return nil, err
	}
	return list.Connections, nil
}

// GetConnection returns one connection by id.
func (c *Client) GetConnection(ctx context.Context, id string) (adminapi.Connection, error) {
	var cn adminapi.Connection
	err := c.do(ctx, http.MethodGet, "/connections/"+url.PathEscape(id), nil, &cn)
	return cn, err
}

// RevokeConnection deletes a connection's tokens at the gateway and revokes
// them at the provider. A provider that could not be reached is reported in
// the result's ProviderError, not as an error: the gateway's copy is gone
// regardless.
func (c *Client) RevokeConnection(ctx context.Context, id string) (adminapi.RevokeResult, error) {
	var r adminapi.RevokeResult
	err := c.do(ctx, http.MethodDelete, "/connections/"+url.PathEscape(id), nil, &r)
	return r, err
}
