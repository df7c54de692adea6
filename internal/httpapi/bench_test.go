package httpapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// BenchmarkToolsCall measures one tools/call on a real SDK upstream over
// loopback, straight to the upstream, through a bare httputil.ReverseProxy
// (the floor of any Go proxy) and through the gateway (grant check, envelope
// parse, session binding). Compare ns/op between the sub-benchmarks of one run.
func BenchmarkToolsCall(b *testing.B) {
	up := sdkUpstream(b, false)
	gw := newGateway(b, gatewayOptions{})
	gw.addServer("everything", up.URL, nil)
	gr := gw.grant("bench", "", "everything")

	target, _ := url.Parse(up.URL)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = &http.Transport{MaxIdleConnsPerHost: 256}
	rp.FlushInterval = -1
	bare := httptest.NewServer(rp)
	b.Cleanup(bare.Close)

	for _, tc := range []struct{ name, url string }{
		{"direct", up.URL},
		{"reverseproxy", bare.URL},
		{"gateway", gw.mcpURL("everything")},
	} {
		for _, par := range []int{1, 16} {
			b.Run(tc.name+"/sessions="+itoa(par), func(b *testing.B) {
				sessions := make(chan *mcp.ClientSession, par)
				for range par {
					cs, err := connect(b, tc.url, gr.Token)
					if err != nil {
						b.Fatal(err)
					}
					b.Cleanup(func() { cs.Close() })
					sessions <- cs
				}
				var failed atomic.Int64
				b.SetParallelism((par + 1) / 2) // GOMAXPROCS=2 on the reference machine
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					cs := <-sessions
					defer func() { sessions <- cs }()
					args := map[string]any{"text": "x"}
					for pb.Next() {
						if _, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: args}); err != nil {
							failed.Add(1)
						}
					}
				})
				if n := failed.Load(); n > 0 {
					b.Fatalf("%d calls failed", n)
				}
			})
		}
	}
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}
