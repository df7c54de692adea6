package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mcpgate/mcpgate"
)

// Changes travel as PostgreSQL notifications, "kind:key", sent by the store
// after every write that a cache may hold. A notification is delivered to
// every listening connection after the sender's transaction commits; a
// replica that was disconnected resyncs instead.
//
// Channels are database-wide while tables live in a schema, so the channel
// is named after the schema: two deployments sharing a database in separate
// schemas must not invalidate each other's caches.
func changeChannel(ctx context.Context, pool *pgxpool.Pool) (string, error) {
	var schema string
	if err := pool.QueryRow(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		return "", fmt.Errorf("current schema: %w", err)
	}
	sum := sha256.Sum256([]byte(schema))
	// Hashed: a channel name is limited to 63 bytes, a schema name is not
	// limited to safe characters.
	return "mcpgate_changes_" + hex.EncodeToString(sum[:8]), nil
}

var _ mcpgate.ChangeFeed = (*DB)(nil)

// notify publishes changes; failures are not errors of the write that
// caused them: subscribers resync periodically.
func (db *DB) notify(ctx context.Context, kind mcpgate.ChangeKind, keys ...string) {
	for _, k := range keys {
		db.pool.Exec(context.WithoutCancel(ctx), "SELECT pg_notify($1, $2)", db.channel, string(kind)+":"+k)
	}
}

// Publish implements mcpgate.ChangeFeed.
func (db *DB) Publish(ctx context.Context, c mcpgate.Change) error {
	_, err := db.pool.Exec(ctx, "SELECT pg_notify($1, $2)", db.channel, string(c.Kind)+":"+c.Key)
	return err
}

// Reconnection backoff of the feed. While it is down this process learns
// of no change, and after the database is back it keeps serving what it
// cached until the feed reconnects and resyncs: the wait is capped low so
// that a change made right after an outage is still seen within about a
// second, and it starts over once the feed has worked.
const (
	feedRetryMin = 100 * time.Millisecond
	feedRetryMax = 500 * time.Millisecond
)

// Subscribe implements mcpgate.ChangeFeed with a dedicated connection that
// LISTENs, reconnecting with backoff when it drops.
func (db *DB) Subscribe(ctx context.Context, fn func(mcpgate.Change), resync func()) {
	backoff := feedRetryMin
	for ctx.Err() == nil {
		listened, err := db.listen(ctx, fn, resync)
		if ctx.Err() != nil {
			return
		}
		_ = err // the connection dropped; retry
		if listened {
			backoff = feedRetryMin
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, feedRetryMax)
	}
}

// listen LISTENs until the connection fails; listened reports whether it
// got as far as listening.
func (db *DB) listen(ctx context.Context, fn func(mcpgate.Change), resync func()) (listened bool, err error) {
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return false, err
	}
	// The listening connection leaves the pool for good: LISTEN state must
	// not leak to other users of the pool.
	raw := conn.Hijack()
	defer raw.Close(context.WithoutCancel(ctx))
	if _, err := raw.Exec(ctx, "LISTEN "+pgx.Identifier{db.channel}.Sanitize()); err != nil {
		return false, err
	}
	resync() // anything may have changed while we were not listening
	for {
		n, err := raw.WaitForNotification(ctx)
		if err != nil {
			return true, err
		}
		kind, key, _ := strings.Cut(n.Payload, ":")
		fn(mcpgate.Change{Kind: mcpgate.ChangeKind(kind), Key: key})
	}
}
