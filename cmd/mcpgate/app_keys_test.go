package main

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/mcpgate/mcpgate/internal/adminapi"
	"github.com/mcpgate/mcpgate/internal/config"
	"github.com/mcpgate/mcpgate/internal/seal"
)

// rotateKeys calls POST /api/v1/keys/rotate on a.
func rotateKeys(t *testing.T, a *App) adminapi.KeyRotation {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://"+a.Addr()+"/api/v1/keys/rotate", nil)
	req.Header.Set("Authorization", "Bearer "+appAdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out adminapi.KeyRotation
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("rotate: status %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestKeyRotationOfAGateway: a gateway started with the key file [B, A]
// moves what was sealed under A to B, after which B alone starts it: the
// seal check, the connect link key and the servers' headers all open.
func TestKeyRotationOfAGateway(t *testing.T) {
	a, b := seal.EncodeKey(seal.GenerateKey()), seal.EncodeKey(seal.GenerateKey())
	kB, err := seal.NewKeyring(mustParseKey(t, b))
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.DataDir = t.TempDir()

	cfg.SealKey = config.Secret{Value: a}
	_, stop := bootApp(t, cfg)
	mustRun(t, "server", "add", "up", "--url", "https://up.example/mcp", "--header", "X-Key: v")
	stop()

	cfg.SealKey = config.Secret{Value: b + "," + a}
	app, stop := bootApp(t, cfg)
	// The header, the seal check and the connect link key.
	if got := rotateKeys(t, app); got.PrimaryKeyID != kB.PrimaryID() || got.Rewrapped != 3 {
		t.Errorf("rotate = %+v, want primary %s and 3 values rewrapped", got, kB.PrimaryID())
	}
	if got := rotateKeys(t, app); got.Rewrapped != 0 {
		t.Errorf("second rotate = %+v, want nothing left to rewrap", got)
	}
	stop()

	cfg.SealKey = config.Secret{Value: b}
	app, _ = bootApp(t, cfg) // fails unless the seal check and link key open under B
	if r := app.handler.Registry.Lookup("up"); r == nil || r.Headers.Get("X-Key") != "v" {
		t.Errorf("server after rotation: %+v", r)
	}
}

func mustParseKey(t *testing.T, s string) []byte {
	t.Helper()
	k, err := seal.ParseKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
