-- Every proxied call writes an audit row, and each index makes that insert
-- dearer; on this embedded store the gateway pays for it in its own CPU.
-- The per-user index cost more than everything else together (each user is
-- its own insertion point, so every batch dirtied pages all over it), and
-- servers are few: filters on user or server now walk the log newest-first
-- (narrowed by the time index when a query gives --since). Denials are rare
-- and worth finding fast: they get a partial index that allowed calls, the
-- bulk of the log, never touch. (PostgreSQL keeps its per-user index: there
-- the database server pays, and logs grow larger.)
DROP INDEX audit_events_server_time;
DROP INDEX audit_events_user_name_time;
DROP INDEX audit_events_decision;
CREATE INDEX audit_events_not_allowed ON audit_events (decision, id) WHERE decision <> 'allow';
