package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mcpgate/mcpgate/internal/adminapi"
	"github.com/mcpgate/mcpgate/internal/adminclient"
)

const adminTimeout = 30 * time.Second

// gateway is a running `mcpgate serve` in its default configuration (SQLite
// in a fresh data directory, info logs to a file), allowed to dial loopback.
type gateway struct {
	*child
	base    string // http://127.0.0.1:PORT, also its public URL
	dataDir string
	admin   *adminclient.Client
}

// startGateway starts bin (the gateway, or its profiling build) with env
// added and waits for /readyz.
func startGateway(name, bin string, env ...string) (*gateway, error) {
	dataDir := filepath.Join(runDir, name+"-data")
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	token := randomHex(32)
	c, addr, err := startListening(name, bin,
		func(addr string) ([]string, []string) {
			return []string{"serve", "--addr", addr, "--data-dir", dataDir},
				append([]string{
					"MCPGATE_EGRESS_ALLOW=127.0.0.0/8",
					"MCPGATE_ADMIN_TOKEN=" + token,
					"MCPGATE_PUBLIC_URL=http://" + addr,
					"MCPGATE_SHUTDOWN_TIMEOUT=2s",
				}, env...)
		},
		func(addr string) bool { return httpReady("http://" + addr + "/readyz") })
	if err != nil {
		return nil, err
	}
	g := &gateway{child: c, base: "http://" + addr, dataDir: dataDir}
	g.admin = adminclient.New(g.base, token, &http.Client{Timeout: adminTimeout})
	return g, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func adminCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), adminTimeout)
}

// addServer registers an upstream.
func (g *gateway) addServer(name, url string) error {
	ctx, cancel := adminCtx()
	defer cancel()
	if _, err := g.admin.CreateServer(ctx, adminapi.CreateServerRequest{Name: name, URL: url}); err != nil {
		return fmt.Errorf("%s: add server %s (%s): %w", g.name, name, url, err)
	}
	return nil
}

// grant creates a grant for user on servers and returns its token.
func (g *gateway) grant(user string, servers ...string) (string, error) {
	ctx, cancel := adminCtx()
	defer cancel()
	cg, err := g.admin.CreateGrant(ctx, adminapi.CreateGrantRequest{User: user, Servers: servers})
	if err != nil {
		return "", fmt.Errorf("%s: grant for %s on %v: %w", g.name, user, servers, err)
	}
	return cg.Token, nil
}

// mcpURL is the gateway's endpoint for server.
func (g *gateway) mcpURL(server string) string { return g.base + "/mcp/" + server }

// startEverything starts the Go SDK everything-server (stateful: sessions,
// standalone GET streams) and returns it with its MCP URL.
func startEverything(name string, bins binaries) (*child, string, error) {
	c, addr, err := startListening(name, bins.everything,
		func(addr string) ([]string, []string) { return []string{"-http", addr, "-stateless=false"}, nil },
		tcpReady)
	if err != nil {
		return nil, "", err
	}
	return c, "http://" + addr + "/mcp", nil
}

// startHarnessUpstream starts this binary's -upstream mode.
func startHarnessUpstream(name string, bins binaries, work time.Duration) (*child, string, error) {
	c, addr, err := startListening(name, bins.self,
		func(addr string) ([]string, []string) {
			return []string{"-upstream", addr, "-work", work.String()}, nil
		},
		tcpReady)
	if err != nil {
		return nil, "", err
	}
	return c, "http://" + addr + "/mcp", nil
}

// startReverseProxy starts this binary's -reverseproxy mode in front of
// upstreamURL and returns it with the URL clients use (same path).
func startReverseProxy(name string, bins binaries, upstreamURL string) (*child, string, error) {
	host, path, _ := strings.Cut(strings.TrimPrefix(upstreamURL, "http://"), "/")
	c, addr, err := startListening(name, bins.self,
		func(addr string) ([]string, []string) {
			return []string{"-reverseproxy", addr, "http://" + host + "/"}, nil
		},
		tcpReady)
	if err != nil {
		return nil, "", err
	}
	return c, "http://" + addr + "/" + path, nil
}
