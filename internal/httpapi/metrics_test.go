package httpapi_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestMetricsCountRequestsAndUpstreamErrors(t *testing.T) {
	gw := newGateway(t, gatewayOptions{})
	gw.addServer("a", sdkUpstream(t, false).URL, nil)
	gw.addServer("dead", "http://127.0.0.1:1/", nil)
	tok := gw.grant("alice", "", "a", "dead").Token
	for range 2 {
		gw.post("a", tok, initBody, nil)
	}
	gw.post("dead", tok, initBody, nil)
	resp, err := http.Get(gw.srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`mcpgate_requests_total{code="200",method="initialize",server="a"} 2`,
		`mcpgate_requests_total{code="502",method="initialize",server="dead"} 1`,
		`mcpgate_upstream_errors_total{kind="unreachable",server="dead"} 1`,
		`mcpgate_request_duration_seconds_count{method="initialize",server="a"} 2`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
