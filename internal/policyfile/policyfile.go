// Package policyfile keeps the policy in force, loaded from a YAML file and
// reloaded when the file changes, on SIGHUP or on request. A reload swaps
// one immutable *policy.Policy for another atomically: calls in flight keep
// the rules they started with, and a file that does not parse is refused
// with its line and column while the old policy stays in force.
package policyfile

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcpgate/mcpgate/internal/policy"
)

// Loader holds the current policy.
type Loader struct {
	path string
	log  *slog.Logger
	opts []policy.Option // for every parse

	mu      sync.Mutex // serialises reloads
	current atomic.Pointer[policy.Policy]
	digest  [32]byte
	loaded  atomic.Int64 // unix nanos of the last successful load
}

// New loads path; an unreadable or invalid file is an error. An empty path
// gives a Loader with no policy (every call allowed, nothing filtered). The
// options apply to every policy the Loader parses.
func New(path string, log *slog.Logger, opts ...policy.Option) (*Loader, error) {
	l := &Loader{path: path, log: log, opts: opts}
	if path == "" {
		return l, nil
	}
	if _, err := l.Reload(); err != nil {
		return nil, err
	}
	return l, nil
}

// FromBytes returns a Loader for a policy given inline (no file to watch).
func FromBytes(data []byte, log *slog.Logger, opts ...policy.Option) (*Loader, error) {
	p, err := policy.Parse(data, opts...)
	if err != nil {
		return nil, err
	}
	l := &Loader{log: log, opts: opts}
	l.current.Store(p)
	l.loaded.Store(time.Now().UnixNano())
	return l, nil
}

// Current is the policy in force, nil when none is configured.
func (l *Loader) Current() *policy.Policy { return l.current.Load() }

// Path is the watched file ("" when none).
func (l *Loader) Path() string { return l.path }

// LoadedAt is when the policy in force was loaded.
func (l *Loader) LoadedAt() time.Time { return time.Unix(0, l.loaded.Load()) }

// Reload re-reads the file. It reports whether the policy changed; on error
// the old policy stays in force.
func (l *Loader) Reload() (bool, error) {
	if l.path == "" {
		return false, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	data, err := os.ReadFile(l.path)
	if err != nil {
		return false, fmt.Errorf("policy file: %w", err)
	}
	sum := sha256.Sum256(data)
	if sum == l.digest && l.current.Load() != nil {
		return false, nil
	}
	p, err := policy.Parse(data, l.opts...)
	if err != nil {
		return false, fmt.Errorf("%s: %w", l.path, err)
	}
	l.current.Store(p)
	l.digest = sum
	l.loaded.Store(time.Now().UnixNano())
	return true, nil
}

// Watch reloads when the file's contents change (checked every interval)
// until ctx ends. Refused files are logged once per distinct content.
func (l *Loader) Watch(ctx context.Context, interval time.Duration) {
	if l.path == "" {
		return
	}
	var lastBad []byte
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		changed, err := l.Reload()
		switch {
		case err != nil:
			msg := []byte(err.Error())
			if !bytes.Equal(msg, lastBad) {
				l.log.Error("policy reload refused; the previous policy stays in force", "err", err)
				lastBad = msg
			}
		case changed:
			lastBad = nil
			l.log.Info("policy reloaded", "path", l.path)
		}
	}
}
