-- The decision log: one row per policy decision on a proxied call. Times
-- are INTEGER unix microseconds, latency is in microseconds. Rows refer to
-- servers and grants by name only: the log outlives what it describes.
CREATE TABLE audit_events (
    id              INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused, even after retention
    time            INTEGER NOT NULL,
    grant_id        TEXT NOT NULL DEFAULT '',
    user_name       TEXT NOT NULL DEFAULT '',
    client_name     TEXT NOT NULL DEFAULT '',
    server          TEXT NOT NULL DEFAULT '',
    method          TEXT NOT NULL DEFAULT '',
    tool            TEXT NOT NULL DEFAULT '',
    decision        TEXT NOT NULL,
    rule_id         TEXT NOT NULL DEFAULT '',
    reason          TEXT NOT NULL DEFAULT '',
    latency         INTEGER NOT NULL DEFAULT 0,
    upstream_status INTEGER NOT NULL DEFAULT 0,
    arguments       TEXT NOT NULL DEFAULT '' -- JSON, redacted before it gets here
) STRICT;

CREATE INDEX audit_events_time ON audit_events (time);
CREATE INDEX audit_events_server_time ON audit_events (server, time);
CREATE INDEX audit_events_user_name_time ON audit_events (user_name, time);
CREATE INDEX audit_events_decision ON audit_events (decision);
