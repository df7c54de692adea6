package adminclient

import (
	"context"
	"net/http"

	"github.com/mcpgate/mcpgate/internal/adminapi"
)

// PolicyStatus reports the policy in force.
func (c *Client) PolicyStatus(ctx context.Context) (adminapi.PolicyStatus, error) {
	var s adminapi.PolicyStatus
	err := c.do(ctx, http.MethodGet, "/policy", nil, &s)
	return s, err
}

// ReloadPolicy re-reads the policy file; a bad file is refused and the
// policy in force stays.
func (c *Client) ReloadPolicy(ctx context.Context) (adminapi.PolicyStatus, error) {
	var s adminapi.PolicyStatus
	err := c.do(ctx, http.MethodPost, "/policy/reload", nil, &s)
	return s, err
}

// TestPolicy asks how the policy in force decides a call.
func (c *Client) TestPolicy(ctx context.Context, req adminapi.PolicyTestRequest) (adminapi.PolicyDecision, error) {
	var d adminapi.PolicyDecision
	err := c.do(ctx, http.MethodPost, "/policy/test", req, &d)
	return d, err
}
