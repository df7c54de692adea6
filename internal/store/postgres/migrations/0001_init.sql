-- Keys use COLLATE "C": listings are in byte order on every installation,
-- whatever the database's locale, matching the SQLite backend.
-- NULL in a timestamptz column stands for the zero time.Time.

CREATE TABLE servers (
    name                text COLLATE "C" PRIMARY KEY,
    url                 text NOT NULL,
    headers             jsonb NOT NULL DEFAULT '[]', -- [{"name","value"(base64, sealed)}]
    oauth_client_id     text NOT NULL DEFAULT '',
    oauth_client_secret bytea,                       -- sealed
    source              text NOT NULL,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    version             bigint NOT NULL
);

CREATE TABLE grants (
    id           text COLLATE "C" PRIMARY KEY,
    user_name    text NOT NULL,
    servers      text[] NOT NULL DEFAULT '{}',
    label        text NOT NULL DEFAULT '',
    token_hash   text NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz,
    revoked_at   timestamptz,
    last_used_at timestamptz,
    version      bigint NOT NULL
);

CREATE INDEX grants_created_at ON grants (created_at);

-- Sessions go with their server: deleting it must not leave bindings behind.
CREATE TABLE sessions (
    id_hash    text PRIMARY KEY,
    server     text COLLATE "C" NOT NULL REFERENCES servers (name) ON DELETE CASCADE,
    grant_id   text NOT NULL,
    created_at timestamptz NOT NULL
);

CREATE INDEX sessions_server ON sessions (server);
CREATE INDEX sessions_created_at ON sessions (created_at);

CREATE TABLE meta (
    key   text PRIMARY KEY,
    value text NOT NULL
);
