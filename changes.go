package mcpgate

import "context"

// Change names a stored object that changed, so that processes sharing the
// store can drop what they cached about it.
type Change struct {
	Kind ChangeKind
	// Key identifies the object: a grant's token hash, a server name, a
	// connection's "server\x00user", a session id hash; empty for policy.
	Key string
}

// ChangeKind is the kind of object that changed.
type ChangeKind string

// Change kinds.
const (
	ChangeGrant      ChangeKind = "grant"
	ChangeServer     ChangeKind = "server"
	ChangeConnection ChangeKind = "connection"
	ChangeSession    ChangeKind = "session"
	ChangePolicy     ChangeKind = "policy"
)

// ConnectionKey is the Change key of the connection of user at server.
func ConnectionKey(server, user string) string { return server + "\x00" + user }

// ChangeFeed is implemented by stores that several processes share. Every
// committed change to a grant, server, connection or session is published
// by the store itself.
type ChangeFeed interface {
	// Subscribe calls fn for each change published by any process until ctx
	// ends. resync is called whenever changes may have been missed (after
	// the feed connects or reconnects): the subscriber then drops all it
	// cached. Subscribe returns when ctx ends.
	Subscribe(ctx context.Context, fn func(Change), resync func())
	// Publish announces a change that is not a store write (e.g. a policy
	// reload requested through one process).
	Publish(ctx context.Context, c Change) error
}
