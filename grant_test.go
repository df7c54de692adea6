package mcpgate_test

import (
	"errors"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
)

func TestGrantCheck(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	base := mcpgate.Grant{ID: "gr_1", User: "alice", Servers: []string{"github", "linear"}}
	tests := []struct {
		name   string
		mod    func(*mcpgate.Grant)
		server string
		want   error
	}{
		{"active", func(*mcpgate.Grant) {}, "github", nil},
		{"second server", func(*mcpgate.Grant) {}, "linear", nil},
		{"other server", func(*mcpgate.Grant) {}, "slack", mcpgate.ErrGrantWrongServer},
		{"not yet expired", func(g *mcpgate.Grant) { g.ExpiresAt = now.Add(time.Second) }, "github", nil},
		{"expires exactly now", func(g *mcpgate.Grant) { g.ExpiresAt = now }, "github", mcpgate.ErrGrantExpired},
		{"revoked beats expired", func(g *mcpgate.Grant) { g.ExpiresAt = now.Add(-time.Hour); g.RevokedAt = now }, "github", mcpgate.ErrGrantRevoked},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := base
			tt.mod(&g)
			if err := g.Check(tt.server, now); !errors.Is(err, tt.want) {
				t.Errorf("Check = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestServerValidate(t *testing.T) {
	ok := mcpgate.Server{Name: "github", URL: "https://api.example.com/mcp", Source: mcpgate.SourceAPI}
	tests := []struct {
		name string
		mod  func(*mcpgate.Server)
		bad  bool
	}{
		{"valid", func(*mcpgate.Server) {}, false},
		{"uppercase name", func(s *mcpgate.Server) { s.Name = "GitHub" }, true},
		{"slash in name", func(s *mcpgate.Server) { s.Name = "a/b" }, true},
		{"empty name", func(s *mcpgate.Server) { s.Name = "" }, true},
		{"ftp url", func(s *mcpgate.Server) { s.URL = "ftp://x" }, true},
		{"relative url", func(s *mcpgate.Server) { s.URL = "/mcp" }, true},
		{"credentials in url", func(s *mcpgate.Server) { s.URL = "https://u:p@x/mcp" }, true},
		{"static header", func(s *mcpgate.Server) { s.Headers = []mcpgate.Header{{Name: "X-Api-Key"}} }, false},
		{"managed header", func(s *mcpgate.Server) { s.Headers = []mcpgate.Header{{Name: "Mcp-Session-Id"}} }, true},
		{"param header", func(s *mcpgate.Server) { s.Headers = []mcpgate.Header{{Name: "Mcp-Param-X"}} }, true},
		{"header twice", func(s *mcpgate.Server) {
			s.Headers = []mcpgate.Header{{Name: "X-A"}, {Name: "x-a"}}
		}, true},
		{"bad header char", func(s *mcpgate.Server) { s.Headers = []mcpgate.Header{{Name: "X A"}} }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ok
			tt.mod(&s)
			err := s.Validate()
			if tt.bad != (err != nil) {
				t.Fatalf("Validate = %v, want error: %v", err, tt.bad)
			}
			if err != nil && !errors.Is(err, mcpgate.ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
		})
	}
}
