package httpapi_test

import (
	"net/http"
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
// as in production. The difference in cpu-ns/op between the two is what
// policy and audit cost a call (client and canned upstream are in both).
func BenchmarkPolicyOverhead(b *testing.B) {
	up := cannedUpstream(b)
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
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			cpu0 := processCPU(b)
			postCalls(b, client, gw.mcpURL("bench"), tok, body)
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
