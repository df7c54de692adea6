package main

import (
	"bufio"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestProxyInjectsTokenKeepsHostAndHeaders(t *testing.T) {
	type seen struct {
		host, auth, origin, method, body, path string
	}
	got := make(chan seen, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Host, r.Header.Get("Authorization"), r.Header.Get("Origin"),
			r.Header.Get("Mcp-Method"), string(b), r.URL.RequestURI()}
		w.Header().Set("Mcp-Session-Id", "s1")
		w.WriteHeader(http.StatusAccepted)
	}))
	defer up.Close()
	u, _ := url.Parse(up.URL)
	px := httptest.NewServer(newProxy(u, "tok123", false))
	defer px.Close()

	req, _ := http.NewRequest("POST", px.URL+"/mcp/everything?x=1", strings.NewReader(`{"jsonrpc":"2.0"}`))
	req.Host = "evil.example.com"
	req.Header.Set("Origin", "http://evil.example.com")
	req.Header.Set("Mcp-Method", "tools/list")
	req.Header.Set("Authorization", "Bearer client-supplied")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || resp.Header.Get("Mcp-Session-Id") != "s1" {
		t.Errorf("response: %d %v", resp.StatusCode, resp.Header)
	}
	s := <-got
	want := seen{"evil.example.com", "Bearer tok123", "http://evil.example.com", "tools/list", `{"jsonrpc":"2.0"}`, "/mcp/everything?x=1"}
	if s != want {
		t.Errorf("upstream saw %+v, want %+v", s, want)
	}
}

func TestProxyStreamsSSEImmediately(t *testing.T) {
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "event: message\ndata: first\n\n")
		w.(http.Flusher).Flush()
		<-release
		io.WriteString(w, "event: message\ndata: second\n\n")
	}))
	defer up.Close()
	defer close(release)
	u, _ := url.Parse(up.URL)
	px := httptest.NewServer(newProxy(u, "tok", false))
	defer px.Close()

	resp, err := http.Get(px.URL + "/mcp/x")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line := make(chan string, 1)
	go func() {
		br := bufio.NewReader(resp.Body)
		br.ReadString('\n')
		l, _ := br.ReadString('\n')
		line <- l
	}()
	select {
	case l := <-line:
		if l != "data: first\n" {
			t.Errorf("got %q", l)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("first SSE event was not flushed before the stream ended")
	}
}

func TestLoadToken(t *testing.T) {
	f := filepath.Join(t.TempDir(), "tok")
	os.WriteFile(f, []byte("  abc\n"), 0o600)
	if tok, err := loadToken(f); err != nil || tok != "abc" {
		t.Errorf("loadToken(file) = %q, %v", tok, err)
	}
	t.Setenv(tokenEnv, "fromenv")
	if tok, err := loadToken(""); err != nil || tok != "fromenv" {
		t.Errorf("loadToken(env) = %q, %v", tok, err)
	}
	t.Setenv(tokenEnv, "")
	if _, err := loadToken(""); err == nil {
		t.Error("no token: want an error")
	}
}
