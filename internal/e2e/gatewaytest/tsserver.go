package gatewaytest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// tsOAuthServerScript is the TypeScript SDK's example Streamable HTTP server
// in the installed @modelcontextprotocol/sdk (e2e/node/package.json pins it).
const tsOAuthServerScript = "node_modules/@modelcontextprotocol/sdk/dist/esm/examples/server/simpleStreamableHttp.js"

// TSOAuthServer is the TypeScript SDK example server run with --oauth
// --oauth-strict: an MCP endpoint and, on a second port, its demo
// authorization server (dynamic registration, PKCE, an /authorize that
// approves at once with a 302, token introspection; no refresh tokens,
// one-hour access tokens). With --oauth-strict it accepts only tokens issued
// for its own URL (RFC 8707 audience).
type TSOAuthServer struct {
	// URL is the MCP endpoint, http://localhost:PORT/mcp: the example names
	// itself by localhost, and its resource metadata must match the URL the
	// gateway is given.
	URL string
	// Issuer is its authorization server, http://localhost:PORT/.
	Issuer string
	proc   *process
}

// Output returns what the server printed so far.
func (s *TSOAuthServer) Output() string { return s.proc.out.String() }

// StartTSOAuthServer starts the example server on two free ports and waits
// until both listen. It is stopped in t.Cleanup.
func StartTSOAuthServer(t testing.TB) *TSOAuthServer {
	t.Helper()
	node := NodeModules(t)
	script := filepath.Join(node.Dir, tsOAuthServerScript)
	if _, err := os.Stat(script); err != nil {
		t.Fatalf("the TypeScript SDK example server is not where @modelcontextprotocol/sdk 1.32.2 has it: %v", err)
	}
	listening := func(port int) bool {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
		if err != nil {
			return false
		}
		c.Close()
		return true
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		mcpPort, authPort := freePort(t), freePort(t)
		if mcpPort == authPort {
			continue
		}
		cmd := exec.Command(node.Bin, script, "--oauth", "--oauth-strict")
		cmd.Dir = node.Dir
		cmd.Env = append(os.Environ(), "MCP_PORT="+strconv.Itoa(mcpPort), "MCP_AUTH_PORT="+strconv.Itoa(authPort))
		p, err := startProcess("ts-sdk simpleStreamableHttp --oauth --oauth-strict", cmd)
		if err != nil {
			t.Fatal(err)
		}
		err = waitUntil(p, readyTimeout, func() bool { return listening(mcpPort) && listening(authPort) })
		if err == nil {
			p.stopInCleanup(t)
			return &TSOAuthServer{
				URL:    fmt.Sprintf("http://localhost:%d/mcp", mcpPort),
				Issuer: fmt.Sprintf("http://localhost:%d/", authPort),
				proc:   p,
			}
		}
		p.stop()
		lastErr = fmt.Errorf("%w\n---- output ----\n%s", err, p.out.String())
		if !strings.Contains(p.out.String(), "EADDRINUSE") {
			break
		}
	}
	t.Fatalf("start the TypeScript SDK example server: %v", lastErr)
	return nil
}
