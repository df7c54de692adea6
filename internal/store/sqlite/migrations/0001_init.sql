-- Times are INTEGER unix microseconds (the precision PostgreSQL keeps too);
-- NULL stands for the zero time.Time ("never", "not yet").

CREATE TABLE servers (
    name                TEXT PRIMARY KEY,
    url                 TEXT NOT NULL,
    headers             TEXT NOT NULL DEFAULT '[]', -- JSON [{"name","value"(base64, sealed)}]
    oauth_client_id     TEXT NOT NULL DEFAULT '',
    oauth_client_secret BLOB,                       -- sealed
    source              TEXT NOT NULL,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    version             INTEGER NOT NULL
) STRICT;

CREATE TABLE grants (
    id           TEXT PRIMARY KEY,
    user_name    TEXT NOT NULL,
    servers      TEXT NOT NULL DEFAULT '[]', -- JSON array of server names
    label        TEXT NOT NULL DEFAULT '',
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    revoked_at   INTEGER,
    last_used_at INTEGER,
    version      INTEGER NOT NULL
) STRICT;

CREATE INDEX grants_created_at ON grants (created_at);

-- Sessions go with their server: deleting it must not leave bindings behind.
CREATE TABLE sessions (
    id_hash    TEXT PRIMARY KEY,
    server     TEXT NOT NULL REFERENCES servers (name) ON DELETE CASCADE,
    grant_id   TEXT NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

CREATE INDEX sessions_server ON sessions (server);
CREATE INDEX sessions_created_at ON sessions (created_at);

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;
