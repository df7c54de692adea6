-- When each connection is refreshed ahead of expiry, so that the refresh
-- sweep reads only the connections that are due. Rows written before this
-- column existed get the default point (75% of the token's lifetime); the
-- gateway recomputes it, with its jitter, at the next refresh.
ALTER TABLE connections ADD COLUMN refresh_due_at timestamptz;

UPDATE connections
   SET refresh_due_at = issued_at + (expires_at - issued_at) * 0.75
 WHERE expires_at IS NOT NULL AND issued_at IS NOT NULL AND state <> 'reauth_required'
   AND (refresh_token IS NOT NULL OR grant_type IN ('client_credentials', 'jwt_bearer', 'id_jag'));

CREATE INDEX connections_refresh_due ON connections (refresh_due_at) WHERE refresh_due_at IS NOT NULL;
