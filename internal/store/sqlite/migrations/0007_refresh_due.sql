-- When each connection is refreshed ahead of expiry (unix microseconds); see
-- the PostgreSQL migration of the same name.
ALTER TABLE connections ADD COLUMN refresh_due_at INTEGER;

UPDATE connections
   SET refresh_due_at = issued_at + (expires_at - issued_at) * 3 / 4
 WHERE expires_at IS NOT NULL AND issued_at IS NOT NULL AND state <> 'reauth_required'
   AND (refresh_token IS NOT NULL OR grant_type IN ('client_credentials', 'jwt_bearer', 'id_jag'));

CREATE INDEX connections_refresh_due ON connections (refresh_due_at) WHERE refresh_due_at IS NOT NULL;
