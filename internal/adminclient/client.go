// Package adminclient is a small typed HTTP client for the mcpgate admin API
// (the shapes live in internal/adminapi). Non-2xx answers come back as
// *APIError carrying the server's user-safe message; a gateway that cannot be
// reached comes back as an error wrapping ErrUnreachable.
package adminclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"

	"github.com/mcpgate/mcpgate/internal/adminapi"
)

// maxBody bounds how much of an answer the client reads.
const maxBody = 8 << 20

// ErrUnreachable is wrapped by the error returned when no connection to the
// gateway could be made.
var ErrUnreachable = errors.New("gateway is not reachable")

// Client calls the admin API of one gateway.
type Client struct {
	base  string
	token string
	hc    *http.Client
}

// New returns a client for the gateway at baseURL (for example
// "http://127.0.0.1:8080") authenticating with adminToken. A nil hc means
// http.DefaultClient.
func New(baseURL, adminToken string, hc *http.Client) *Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), token: adminToken, hc: hc}
}

// APIError is a non-2xx answer from the admin API.
type APIError struct {
	Status  int    // HTTP status code
	Code    string // machine-readable code: not_found, conflict, invalid, unauthorized, …
	Message string // user-safe message from the server
}

// Error returns the server's message.
func (e *APIError) Error() string {
	if e.Message != "" {
		return e.Message
	}
	return fmt.Sprintf("admin API answered %d %s", e.Status, http.StatusText(e.Status))
}

// unreachableError reports a refused connection without the transport's
// noise, while still wrapping it.
type unreachableError struct {
	url string
	err error
}

func (e *unreachableError) Error() string {
	return fmt.Sprintf("%v at %s (is it running? check MCPGATE_URL)", ErrUnreachable, e.url)
}

func (e *unreachableError) Unwrap() []error { return []error{ErrUnreachable, e.err} }

// do sends a request to /api/v1+path with in (if not nil) as the JSON body and
// decodes a 2xx answer into out (if not nil).
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	_, raw, err := c.send(ctx, method, path, in)
	if err != nil || out == nil {
		return err
	}
	return decodeAnswer(method, path, raw, out)
}

// decodeAnswer decodes the body of a 2xx answer into out.
func decodeAnswer(method, path string, raw []byte, out any) error {
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("decode admin API answer to %s %s: %w", method, path, err)
	}
	return nil
}

// send sends a request to /api/v1+path with in (if not nil) as the JSON body
// and returns the status and body of a 2xx answer; any other answer is an
// *APIError.
func (c *Client) send(ctx context.Context, method, path string, in any) (int, []byte, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, nil, fmt.Errorf("encode %s %s request: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+"/api/v1"+path, body)
	if err != nil {
		return 0, nil, fmt.Errorf("admin API request %s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if isUnreachable(err) {
			return 0, nil, &unreachableError{url: c.base, err: err}
		}
		return 0, nil, fmt.Errorf("admin API request %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return 0, nil, fmt.Errorf("read admin API answer to %s %s: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return 0, nil, decodeError(resp.StatusCode, resp.Header.Get("Content-Type"), raw)
	}
	return resp.StatusCode, raw, nil
}

// decodeError turns a non-2xx answer into an *APIError. An answer that is not
// the API's error JSON (say, from a proxy in front of the gateway) keeps a
// short plain-text body as its message.
func decodeError(status int, contentType string, raw []byte) *APIError {
	var eb adminapi.ErrorBody
	if json.Unmarshal(raw, &eb) == nil && eb.Error.Message != "" {
		return &APIError{Status: status, Code: eb.Error.Code, Message: eb.Error.Message}
	}
	e := &APIError{Status: status}
	text := strings.TrimSpace(string(raw))
	if strings.HasPrefix(contentType, "text/plain") && text != "" && len(text) <= 200 {
		e.Message = fmt.Sprintf("admin API answered %d: %s", status, text)
	}
	return e
}

// isUnreachable reports whether err means nothing answered at the address.
func isUnreachable(err error) bool {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return true
	}
	var dnsErr *net.DNSError
	return errors.As(err, &dnsErr) && dnsErr.IsNotFound
}
