package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/internal/adminapi"
	"github.com/mcpgate/mcpgate/internal/httpapi"
)

// TestAdminKeyRotate: the wired rotator answers with the primary key id; on
// a fresh gateway everything is already under it.
func TestAdminKeyRotate(t *testing.T) {
	gw := newGateway(t, gatewayOptions{})
	gw.addServer("a", "http://127.0.0.1:1/", map[string]string{"X-Key": "v"})
	var got adminapi.KeyRotation
	if code := gw.admin("POST", "/api/v1/keys/rotate", nil, &got); code != http.StatusOK {
		t.Fatalf("rotate: status %d", code)
	}
	if len(got.PrimaryKeyID) != 16 || got.Rewrapped != 0 {
		t.Errorf("rotate = %+v, want a 16-char key id and nothing rewrapped", got)
	}
}

type fakeRotator struct {
	n   int
	err error
}

func (f fakeRotator) Rotate(context.Context) (string, int, error) {
	return "0123456789abcdef", f.n, f.err
}

func TestAdminKeyRotateStatuses(t *testing.T) {
	tests := []struct {
		name    string
		rotator httpapi.Rotator
		token   string
		status  int
		says    string
	}{
		{"rewrapped", fakeRotator{n: 7}, adminToken, 200, `"rewrapped": 7`},
		{"values left behind", fakeRotator{n: 3, err: mcpgate.Errorf(mcpgate.ErrConflict, "rewrapped 3 sealed values, but 1 could not be")}, adminToken, 409, "1 could not be"},
		{"store failure", fakeRotator{err: fmt.Errorf("key rotation: %w", errors.New("disk on fire"))}, adminToken, 500, "see the gateway log"},
		{"not wired", nil, adminToken, 404, "not available"},
		{"no admin token", fakeRotator{}, "", 401, "admin token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := httpapi.New(httpapi.Deps{Rotator: tt.rotator, AdminToken: adminToken,
				Gatherer: prometheus.NewRegistry(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			req := httptest.NewRequest("POST", "/api/v1/keys/rotate", nil)
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.status || !strings.Contains(rec.Body.String(), tt.says) {
				t.Errorf("status %d, body %s; want %d saying %q", rec.Code, rec.Body, tt.status, tt.says)
			}
			if rec.Code == 200 {
				var kr adminapi.KeyRotation
				if err := json.Unmarshal(rec.Body.Bytes(), &kr); err != nil || kr.PrimaryKeyID != "0123456789abcdef" {
					t.Errorf("body %s: %+v, %v", rec.Body, kr, err)
				}
			}
		})
	}
}
