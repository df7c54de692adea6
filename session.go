package mcpgate

import "time"

// Session binds an upstream Mcp-Session-Id to the grant that created it, so
// that no other grant can use it: sessions are never a credential.
type Session struct {
	// IDHash is the hex SHA-256 of the Mcp-Session-Id.
	IDHash    string
	Server    string
	GrantID   string
	CreatedAt time.Time
}
