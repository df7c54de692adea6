package httpapi_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/mcpgate/mcpgate/internal/audit"
	"github.com/mcpgate/mcpgate/internal/policy/policygen"
)

// BenchmarkPolicyOverhead is M4 in one process: the same tools/call with
// arguments through a gateway without policy and through one enforcing
// policygen's 100 rules (the call meets seven), each writing its audit log
// as in production. The difference in ns/op between the two is what policy
// and audit cost a call (client and canned upstream included in both).
func BenchmarkPolicyOverhead(b *testing.B) {
	const answer = "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"ok\"}]}}\n\n"
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		io.WriteString(w, answer)
	}))
	b.Cleanup(up.Close)
	src, _, _ := policygen.Hundred("bench", "noop")
	file := filepath.Join(b.TempDir(), "policy.yaml")
	if err := os.WriteFile(file, []byte(src), 0o600); err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"noop","arguments":` + policygen.Args + `}}`)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	for _, tc := range []struct{ name, policy string }{{"off", ""}, {"on", file}} {
		gw := newGateway(b, gatewayOptions{policyFile: tc.policy, auditInterval: audit.DefaultFlushInterval})
		gw.addServer("bench", up.URL, nil)
		tok := gw.grant("bench", "", "bench").Token
		url := gw.mcpURL("bench")
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			cpu0 := processCPU(b)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
					req.Header.Set("Authorization", "Bearer "+tok)
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("Accept", "application/json, text/event-stream")
					req.Header.Set("MCP-Protocol-Version", "2025-11-25")
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					got, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 || !bytes.Contains(got, []byte(`"text":"ok"`)) {
						b.Errorf("status %d: %s", resp.StatusCode, got)
						return
					}
				}
			})
			// CPU rather than wall time: on a shared machine it counts the
			// work, not the waits for a core.
			b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// processCPU is the CPU time this process has used (user and system).
func processCPU(tb testing.TB) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
