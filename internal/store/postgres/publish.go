package postgres

import (
	"context"

	"github.com/mcpgate/mcpgate"
)

// The exported writes below publish a change once the write has succeeded,
// so every replica's caches learn of it whichever code path made it.

// CreateGrant implements mcpgate.Store.
func (db *DB) CreateGrant(ctx context.Context, g mcpgate.Grant) error {
	return db.published(ctx, db.createGrant(ctx, g), mcpgate.ChangeGrant, g.TokenHash)
}

// UpdateGrant implements mcpgate.Store.
func (db *DB) UpdateGrant(ctx context.Context, g mcpgate.Grant) (mcpgate.Grant, error) {
	out, err := db.updateGrant(ctx, g)
	return out, db.published(ctx, err, mcpgate.ChangeGrant, g.TokenHash)
}

// CreateServer implements mcpgate.Store.
func (db *DB) CreateServer(ctx context.Context, s mcpgate.Server) error {
	return db.published(ctx, db.createServer(ctx, s), mcpgate.ChangeServer, s.Name)
}

// UpdateServer implements mcpgate.Store.
func (db *DB) UpdateServer(ctx context.Context, s mcpgate.Server) (mcpgate.Server, error) {
	out, err := db.updateServer(ctx, s)
	return out, db.published(ctx, err, mcpgate.ChangeServer, s.Name)
}

// DeleteServer implements mcpgate.Store; its sessions and connections go
// with it, which the server change implies.
func (db *DB) DeleteServer(ctx context.Context, name string) error {
	return db.published(ctx, db.deleteServer(ctx, name), mcpgate.ChangeServer, name)
}

// CreateConnection implements mcpgate.OAuthStore.
func (db *DB) CreateConnection(ctx context.Context, c mcpgate.Connection) error {
	return db.published(ctx, db.createConnection(ctx, c), mcpgate.ChangeConnection, mcpgate.ConnectionKey(c.Server, c.User))
}

// UpdateConnection implements mcpgate.OAuthStore.
func (db *DB) UpdateConnection(ctx context.Context, c mcpgate.Connection) (mcpgate.Connection, error) {
	out, err := db.updateConnection(ctx, c)
	return out, db.published(ctx, err, mcpgate.ChangeConnection, mcpgate.ConnectionKey(c.Server, c.User))
}

// DeleteConnection implements mcpgate.OAuthStore.
func (db *DB) DeleteConnection(ctx context.Context, id string) error {
	c, err := db.GetConnection(ctx, id)
	if err != nil {
		return err
	}
	return db.published(ctx, db.deleteConnection(ctx, id), mcpgate.ChangeConnection, mcpgate.ConnectionKey(c.Server, c.User))
}

// DeleteConnectionsOf implements mcpgate.OAuthStore.
func (db *DB) DeleteConnectionsOf(ctx context.Context, server, user string) ([]mcpgate.Connection, error) {
	out, err := db.deleteConnectionsOf(ctx, server, user)
	keys := make([]string, 0, len(out))
	for _, c := range out {
		keys = append(keys, mcpgate.ConnectionKey(c.Server, c.User))
	}
	return out, db.published(ctx, err, mcpgate.ChangeConnection, keys...)
}

// DeleteSession implements mcpgate.Store.
func (db *DB) DeleteSession(ctx context.Context, idHash string) error {
	return db.published(ctx, db.deleteSession(ctx, idHash), mcpgate.ChangeSession, idHash)
}

// published notifies keys when err is nil and returns err.
func (db *DB) published(ctx context.Context, err error, kind mcpgate.ChangeKind, keys ...string) error {
	if err == nil {
		db.notify(ctx, kind, keys...)
	}
	return err
}
