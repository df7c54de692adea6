package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
)

// A sibling scenario's gateway can hold the port this one was given; it is
// ready but refuses this gateway's admin token, so it must not pass as ours.
func TestAnswersOnlyForTheGatewayWithOurAdminToken(t *testing.T) {
	const ours = "ours"
	cases := []struct {
		name       string
		ready      int
		adminToken string
		want       bool
	}{
		{"ours, ready", http.StatusOK, ours, true},
		{"ours, not ready", http.StatusServiceUnavailable, ours, false},
		{"a sibling's gateway", http.StatusOK, "theirs", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case "/readyz":
					w.WriteHeader(tc.ready)
				case "/api/v1/servers":
					if r.Header.Get("Authorization") != "Bearer "+tc.adminToken {
						w.WriteHeader(http.StatusUnauthorized)
						return
					}
					w.Write([]byte(`{"servers":[]}`))
				default:
					http.NotFound(w, r)
				}
			}))
			defer srv.Close()
			g := &gateway{BaseURL: srv.URL, adminToken: ours}
			if got := g.answers(context.Background(), srv.Client()); got != tc.want {
				t.Fatalf("answers = %v, want %v", got, tc.want)
			}
		})
	}
}
