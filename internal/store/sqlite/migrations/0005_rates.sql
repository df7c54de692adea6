-- Policy rate windows (see the PostgreSQL migration of the same name):
-- calls counted per key in a window ending at window_end (unix microseconds).
CREATE TABLE rate_windows (
    key        TEXT NOT NULL,
    window_end INTEGER NOT NULL,
    n          INTEGER NOT NULL,
    PRIMARY KEY (key, window_end)
) STRICT, WITHOUT ROWID;

CREATE INDEX rate_windows_end ON rate_windows (window_end);
