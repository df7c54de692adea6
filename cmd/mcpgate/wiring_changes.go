package main

import (
	"context"
	"time"

	"github.com/mcpgate/mcpgate"
)

// resyncInterval is the safety net behind the change feed: even if a
// notification is lost, no cache is older than this.
const resyncInterval = 30 * time.Second

// followChanges keeps this replica's caches in step with the others through
// the store's change feed (PostgreSQL). With SQLite there is one process and
// nothing to follow.
func (a *App) followChanges(ctx context.Context) {
	feed, ok := a.store.(mcpgate.ChangeFeed)
	if !ok {
		return
	}
	go func() {
		t := time.NewTicker(resyncInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				a.resync(ctx)
			}
		}
	}()
	feed.Subscribe(ctx, func(c mcpgate.Change) { a.applyChange(ctx, c) }, func() { a.resync(ctx) })
}

func (a *App) applyChange(ctx context.Context, c mcpgate.Change) {
	switch c.Kind {
	case mcpgate.ChangeGrant:
		a.grants.ForgetToken(c.Key)
	case mcpgate.ChangeServer:
		if err := a.registry.Reload(ctx); err != nil {
			a.log.Warn("reloading servers after a change elsewhere failed", "err", err)
		}
		a.sessions.ForgetServer(c.Key)
		a.oauth.Forget(c.Key)
	case mcpgate.ChangeConnection:
		server, user, _ := cutKey(c.Key)
		a.oauth.Invalidate(server, user)
	case mcpgate.ChangeSession:
		a.sessions.Drop(c.Key)
	case mcpgate.ChangePolicy:
		if _, err := a.policy.Reload(); err != nil {
			a.log.Error("policy reload requested elsewhere was refused here; the previous policy stays in force", "err", err)
		}
	}
}

// resync drops everything cached, after the feed (re)connects or on the timer.
func (a *App) resync(ctx context.Context) {
	a.grants.Forget()
	a.sessions.DropAll()
	a.oauth.InvalidateAll()
	if err := a.registry.Reload(ctx); err != nil && ctx.Err() == nil {
		a.log.Warn("resync: reloading servers failed", "err", err)
	}
}

func cutKey(k string) (string, string, bool) {
	for i := 0; i < len(k); i++ {
		if k[i] == 0 {
			return k[:i], k[i+1:], true
		}
	}
	return k, "", false
}
