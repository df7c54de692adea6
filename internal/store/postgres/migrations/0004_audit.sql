-- The decision log: one row per policy decision on a proxied call; latency
-- is in microseconds. Rows refer to servers and grants by name only: the
-- log outlives what it describes.
CREATE TABLE audit_events (
    id              bigserial PRIMARY KEY,
    time            timestamptz NOT NULL,
    grant_id        text NOT NULL DEFAULT '',
    user_name       text COLLATE "C" NOT NULL DEFAULT '',
    client_name     text NOT NULL DEFAULT '',
    server          text COLLATE "C" NOT NULL DEFAULT '',
    method          text NOT NULL DEFAULT '',
    tool            text NOT NULL DEFAULT '',
    decision        text NOT NULL,
    rule_id         text NOT NULL DEFAULT '',
    reason          text NOT NULL DEFAULT '',
    latency         bigint NOT NULL DEFAULT 0,
    upstream_status integer NOT NULL DEFAULT 0,
    arguments       text NOT NULL DEFAULT '' -- JSON, redacted before it gets here
);

CREATE INDEX audit_events_time ON audit_events (time);
CREATE INDEX audit_events_server_time ON audit_events (server, time);
CREATE INDEX audit_events_user_name_time ON audit_events (user_name, time);
CREATE INDEX audit_events_decision ON audit_events (decision);
