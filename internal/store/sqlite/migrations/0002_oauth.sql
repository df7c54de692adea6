-- Upstream OAuth state. Times are INTEGER unix microseconds, NULL for the
-- zero time; sealed values are BLOBs, NULL for nil.

-- A connection is the gateway's authorization at one server for one user,
-- or for every user (user_name = '', the shared connection): at most one
-- per (server, user_name). Connections go with their server.
CREATE TABLE connections (
    id               TEXT PRIMARY KEY,
    server           TEXT NOT NULL REFERENCES servers (name) ON DELETE CASCADE,
    user_name        TEXT NOT NULL, -- '' for the shared connection
    state            TEXT NOT NULL,
    issuer           TEXT NOT NULL DEFAULT '',
    client_id        TEXT NOT NULL DEFAULT '',
    grant_type       TEXT NOT NULL DEFAULT '',
    resource         TEXT NOT NULL DEFAULT '',
    scopes           TEXT NOT NULL DEFAULT '[]', -- JSON array of strings
    step_up_scopes   TEXT NOT NULL DEFAULT '[]', -- JSON array of strings
    access_token     BLOB,                       -- sealed
    refresh_token    BLOB,                       -- sealed; NULL when none was issued
    token_type       TEXT NOT NULL DEFAULT '',
    expires_at       INTEGER,
    issued_at        INTEGER,
    generation       INTEGER NOT NULL DEFAULT 0,
    lease_owner      TEXT NOT NULL DEFAULT '',
    lease_until      INTEGER,
    last_refresh_at  INTEGER,
    last_used_at     INTEGER,
    refresh_failures INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT NOT NULL DEFAULT '',
    last_error_at    INTEGER,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    version          INTEGER NOT NULL,
    UNIQUE (server, user_name) -- also the listing order and the cascade's index
) STRICT;

CREATE INDEX connections_user_name ON connections (user_name);

-- The gateway's client registration at each authorization server.
CREATE TABLE oauth_clients (
    issuer        TEXT PRIMARY KEY,
    client_id     TEXT NOT NULL,
    client_secret BLOB, -- sealed; NULL for a public client
    method        TEXT NOT NULL DEFAULT '',
    auth_method   TEXT NOT NULL DEFAULT '',
    redirect_uri  TEXT NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL
) STRICT;

-- Authorizations in progress, keyed by the hash of their state parameter;
-- each is taken once by its callback or removed when it expires.
CREATE TABLE auth_requests (
    state_hash    TEXT PRIMARY KEY,
    server        TEXT NOT NULL,
    user_name     TEXT NOT NULL, -- '' for a shared connection
    issuer        TEXT NOT NULL DEFAULT '',
    client_id     TEXT NOT NULL DEFAULT '',
    code_verifier BLOB,          -- sealed
    redirect_uri  TEXT NOT NULL DEFAULT '',
    resource      TEXT NOT NULL DEFAULT '',
    scopes        TEXT NOT NULL DEFAULT '[]', -- JSON array of strings
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL
) STRICT;

CREATE INDEX auth_requests_expires_at ON auth_requests (expires_at);
