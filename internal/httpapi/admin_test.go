package httpapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/internal/adminapi"
)

func TestAdminAPIErrors(t *testing.T) {
	gw := newGateway(t, gatewayOptions{})
	gw.addServer("a", "http://127.0.0.1:1/", map[string]string{"X-Key": "v"})
	tests := []struct {
		name, method, path, token, body string
		status                          int
		code, says                      string
	}{
		{"no admin token", "GET", "/api/v1/servers", "", "", 401, "unauthorized", "admin token"},
		{"wrong admin token", "GET", "/api/v1/servers", "nope", "", 401, "unauthorized", "admin token"},
		{"grant token is not an admin token", "GET", "/api/v1/grants", gw.grant("u", "", "a").Token, "", 401, "unauthorized", "admin token"},
		{"duplicate server", "POST", "/api/v1/servers", adminToken, `{"name":"a","url":"http://x/"}`, 409, "conflict", `server "a" already exists`},
		{"bad server name", "POST", "/api/v1/servers", adminToken, `{"name":"A B","url":"http://x/"}`, 400, "invalid", "server name"},
		{"bad url", "POST", "/api/v1/servers", adminToken, `{"name":"b","url":"file:///etc/passwd"}`, 400, "invalid", "scheme"},
		{"managed header", "POST", "/api/v1/servers", adminToken, `{"name":"b","url":"http://x/","headers":{"Mcp-Session-Id":"1"}}`, 400, "invalid", "managed"},
		{"header with newline", "POST", "/api/v1/servers", adminToken, `{"name":"b","url":"http://x/","headers":{"X-A":"1\r\nX-B: 2"}}`, 400, "invalid", "control character"},
		{"unknown field", "POST", "/api/v1/servers", adminToken, `{"name":"b","url":"http://x/","urll":"y"}`, 400, "invalid", "urll"},
		{"not JSON", "POST", "/api/v1/servers", adminToken, `name=b`, 400, "invalid", "invalid JSON"},
		{"trailing data", "POST", "/api/v1/servers", adminToken, `{"name":"b","url":"http://x/"} {}`, 400, "invalid", "after the object"},
		{"too large", "POST", "/api/v1/servers", adminToken, `{"name":"` + strings.Repeat("b", 2<<20) + `"}`, 413, "too_large", "too large"},
		{"unknown server", "GET", "/api/v1/servers/zzz", adminToken, "", 404, "not_found", `server "zzz" does not exist`},
		{"remove unknown server", "DELETE", "/api/v1/servers/zzz", adminToken, "", 404, "not_found", `server "zzz" does not exist`},
		{"grant for unknown server", "POST", "/api/v1/grants", adminToken, `{"user":"u","servers":["zzz"]}`, 400, "invalid", `server "zzz" does not exist`},
		{"grant without user", "POST", "/api/v1/grants", adminToken, `{"servers":["a"]}`, 400, "invalid", "user"},
		{"grant without server", "POST", "/api/v1/grants", adminToken, `{"user":"u","servers":[]}`, 400, "invalid", "server"},
		{"bad ttl", "POST", "/api/v1/grants", adminToken, `{"user":"u","servers":["a"],"ttl":"tomorrow"}`, 400, "invalid", "ttl"},
		{"negative ttl", "POST", "/api/v1/grants", adminToken, `{"user":"u","servers":["a"],"ttl":"-1h"}`, 400, "invalid", "ttl"},
		{"unknown grant", "GET", "/api/v1/grants/gr_nope", adminToken, "", 404, "not_found", `grant "gr_nope" does not exist`},
		{"revoke unknown grant", "POST", "/api/v1/grants/gr_nope/revoke", adminToken, "", 404, "not_found", "does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, gw.srv.URL+tt.path, bytes.NewBufferString(tt.body))
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, b)
			}
			var e adminapi.ErrorBody
			if err := json.Unmarshal(b, &e); err != nil {
				t.Fatalf("body %s: %v", b, err)
			}
			if e.Error.Code != tt.code || !strings.Contains(e.Error.Message, tt.says) {
				t.Errorf("error %+v: want code %q saying %q", e.Error, tt.code, tt.says)
			}
		})
	}
}

func TestAdminServerLifecycle(t *testing.T) {
	gw := newGateway(t, gatewayOptions{})
	gw.addServer("a", sdkUpstream(t, false).URL, map[string]string{"X-Key": "sekret"})
	tok := gw.grant("alice", "", "a").Token
	if resp := gw.post("a", tok, initBody, nil); resp.StatusCode != 200 {
		t.Fatalf("before removal: %d", resp.StatusCode)
	}
	var got adminapi.Server
	if gw.admin("GET", "/api/v1/servers/a", nil, &got); got.Name != "a" || len(got.Headers) != 1 || got.Headers[0] != "X-Key" {
		t.Fatalf("get: %+v", got)
	}
	if code := gw.admin("DELETE", "/api/v1/servers/a", nil, nil); code != http.StatusNoContent {
		t.Fatalf("delete: %d", code)
	}
	if resp := gw.post("a", tok, initBody, nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("after removal: %d, want 404", resp.StatusCode)
	}
	var list adminapi.GrantList
	gw.admin("GET", "/api/v1/grants", nil, &list)
	if len(list.Grants) != 1 || list.Grants[0].LastUsedAt == nil || list.Grants[0].Status != "active" {
		t.Fatalf("grant list after use: %+v", list)
	}
}
