-- Every proxied call writes an audit row, and each index makes that insert
-- dearer. A server filter matches a large share of rows (deployments have
-- few servers), so scanning newest-first finds its page quickly without an
-- index of its own. Denials are rare and worth finding fast: they get a
-- partial index that allowed calls, the bulk of the log, never touch.
DROP INDEX audit_events_server_time;
DROP INDEX audit_events_decision;
CREATE INDEX audit_events_not_allowed ON audit_events (decision, id) WHERE decision <> 'allow';
