package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Tools of the harness's own upstream (the hidden -upstream mode).
const (
	toolWork   = "work"   // sleeps -work, then answers "ok"
	toolNoop   = "noop"   // answers "ok" at once; takes any arguments
	toolStream = "stream" // emits n progress notifications, interval_ms apart
)

// runUpstream serves a small Go SDK MCP server on addr: the upstream for M1
// (work), M4 (noop with arguments) and the SSE measurement (stream). It
// answers MCP on every path, like the everything-server.
func runUpstream(addr string, work time.Duration, stateless bool) error {
	server := mcp.NewServer(&mcp.Implementation{Name: "mcpgate-bench-upstream", Version: "1.0.0"}, nil)
	anyObject := map[string]any{"type": "object"}
	ok := &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "ok"}}}
	server.AddTool(&mcp.Tool{Name: toolWork, Description: "Waits the configured work time (as an upstream waiting on its own backend would), then answers ok.", InputSchema: anyObject},
		func(ctx context.Context, _ *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			t := time.NewTimer(work)
			defer t.Stop()
			select {
			case <-t.C:
				return ok, nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		})
	server.AddTool(&mcp.Tool{Name: toolNoop, Description: "Answers ok at once; accepts any arguments.", InputSchema: anyObject},
		func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) { return ok, nil })
	server.AddTool(&mcp.Tool{Name: toolStream, Description: "Emits n progress notifications interval_ms apart, each carrying its emission time (Unix ns) as its message.", InputSchema: anyObject},
		func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			var args struct {
				N          int `json:"n"`
				IntervalMS int `json:"interval_ms"`
			}
			if err := unmarshalArgs(req.Params.Arguments, &args); err != nil {
				return nil, err
			}
			tok := req.Params.GetProgressToken()
			if tok == nil {
				return nil, errors.New("stream needs a progress token")
			}
			interval := time.Duration(args.IntervalMS) * time.Millisecond
			next := time.Now()
			for i := range args.N {
				next = next.Add(interval)
				time.Sleep(time.Until(next))
				err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{
					ProgressToken: tok, Progress: float64(i + 1), Total: float64(args.N),
					Message: strconv.FormatInt(time.Now().UnixNano(), 10),
				})
				if err != nil {
					return nil, err
				}
			}
			return ok, nil
		})
	handler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server },
		&mcp.StreamableHTTPOptions{Stateless: stateless})
	srv := &http.Server{Addr: addr, Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	log.Printf("mcpgate-bench upstream on %s (work %v, stateless %v)", addr, work, stateless)
	return srv.ListenAndServe()
}

// runReverseProxy serves a bare httputil.ReverseProxy from addr to target:
// the floor any Go proxy starts from. Its transport keeps as many idle
// connections per host as the gateway's (internal/egress).
func runReverseProxy(addr, target string) error {
	u, err := url.Parse(target)
	if err != nil || u.Host == "" {
		return fmt.Errorf("-reverseproxy target %q: not an absolute URL", target)
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(u) },
		Transport: &http.Transport{
			MaxIdleConns:        1024,
			MaxIdleConnsPerHost: 256,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
	}
	srv := &http.Server{Addr: addr, Handler: rp, ReadHeaderTimeout: 10 * time.Second}
	log.Printf("mcpgate-bench reverse proxy on %s to %s", addr, target)
	return srv.ListenAndServe()
}

func unmarshalArgs(raw json.RawMessage, v any) error {
	if len(raw) == 0 {
		return nil
	}
	return json.Unmarshal(raw, v)
}
