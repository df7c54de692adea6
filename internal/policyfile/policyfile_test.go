package policyfile

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/policy"
)

const allowAll = "defaults:\n  \"*\": allow\n"
const denyAll = "defaults:\n  \"*\": deny\n"

func decide(l *Loader) bool {
	return l.Current().Evaluate(policy.Input{Server: "s", Name: "t"}).Allow
}

func TestWatchReloadsOnChangeAndKeepsOldOnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	os.WriteFile(path, []byte(allowAll), 0o600)
	l, err := New(path, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil || !decide(l) {
		t.Fatalf("initial load: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go l.Watch(ctx, 10*time.Millisecond)

	wait := func(want bool) {
		t.Helper()
		for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if decide(l) == want {
				return
			}
		}
		t.Fatalf("policy did not become allow=%v", want)
	}
	os.WriteFile(path, []byte(denyAll), 0o600)
	wait(false)
	os.WriteFile(path, []byte("defaults: [broken"), 0o600)
	time.Sleep(50 * time.Millisecond)
	if decide(l) {
		t.Fatal("a broken file must leave the previous policy in force")
	}
	// Editors often replace the file by rename.
	tmp := path + ".tmp"
	os.WriteFile(tmp, []byte(allowAll), 0o600)
	os.Rename(tmp, path)
	wait(true)
}

func TestNewRefusesABadFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	os.WriteFile(path, []byte("rules:\n  - id: a\n    effect: sometimes\n"), 0o600)
	if _, err := New(path, slog.Default()); err == nil {
		t.Fatal("a bad file must stop the start")
	}
	if _, err := New(filepath.Join(t.TempDir(), "missing.yaml"), slog.Default()); err == nil {
		t.Fatal("a missing file must stop the start")
	}
	l, err := New("", slog.Default())
	if err != nil || l.Current() != nil {
		t.Fatalf("no file: %v %v", l.Current(), err)
	}
	if changed, err := l.Reload(); changed || err != nil {
		t.Fatalf("reload without a file: %v %v", changed, err)
	}
}
