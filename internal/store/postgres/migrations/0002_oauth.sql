-- Upstream OAuth state. Keys use COLLATE "C" (byte order, as in SQLite);
-- NULL in a timestamptz column stands for the zero time.Time, NULL in a
-- bytea column for a nil sealed value.

-- A connection is the gateway's authorization at one server for one user,
-- or for every user (user_name = '', the shared connection): at most one
-- per (server, user_name). Connections go with their server.
CREATE TABLE connections (
    id               text COLLATE "C" PRIMARY KEY,
    server           text COLLATE "C" NOT NULL REFERENCES servers (name) ON DELETE CASCADE,
    user_name        text COLLATE "C" NOT NULL, -- '' for the shared connection
    state            text NOT NULL,
    issuer           text NOT NULL DEFAULT '',
    client_id        text NOT NULL DEFAULT '',
    grant_type       text NOT NULL DEFAULT '',
    resource         text NOT NULL DEFAULT '',
    scopes           text[] NOT NULL DEFAULT '{}',
    step_up_scopes   text[] NOT NULL DEFAULT '{}',
    access_token     bytea,                     -- sealed
    refresh_token    bytea,                     -- sealed; NULL when none was issued
    token_type       text NOT NULL DEFAULT '',
    expires_at       timestamptz,
    issued_at        timestamptz,
    generation       bigint NOT NULL DEFAULT 0,
    lease_owner      text NOT NULL DEFAULT '',
    lease_until      timestamptz,
    last_refresh_at  timestamptz,
    last_used_at     timestamptz,
    refresh_failures integer NOT NULL DEFAULT 0,
    last_error       text NOT NULL DEFAULT '',
    last_error_at    timestamptz,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    version          bigint NOT NULL,
    UNIQUE (server, user_name) -- also the listing order and the cascade's index
);

CREATE INDEX connections_user_name ON connections (user_name);

-- The gateway's client registration at each authorization server.
CREATE TABLE oauth_clients (
    issuer        text COLLATE "C" PRIMARY KEY,
    client_id     text NOT NULL,
    client_secret bytea, -- sealed; NULL for a public client
    method        text NOT NULL DEFAULT '',
    auth_method   text NOT NULL DEFAULT '',
    redirect_uri  text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL
);

-- Authorizations in progress, keyed by the hash of their state parameter;
-- each is taken once by its callback or removed when it expires.
CREATE TABLE auth_requests (
    state_hash    text PRIMARY KEY,
    server        text COLLATE "C" NOT NULL,
    user_name     text COLLATE "C" NOT NULL, -- '' for a shared connection
    issuer        text NOT NULL DEFAULT '',
    client_id     text NOT NULL DEFAULT '',
    code_verifier bytea,                     -- sealed
    redirect_uri  text NOT NULL DEFAULT '',
    resource      text NOT NULL DEFAULT '',
    scopes        text[] NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL
);

CREATE INDEX auth_requests_expires_at ON auth_requests (expires_at);
