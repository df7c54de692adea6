-- Shared policy rate windows: calls counted per key (a digest of rule,
-- grant and name) in a window ending at window_end. The counts are worth
-- keeping only for the length of a window, so the table is UNLOGGED: no WAL,
-- cheap to write, emptied by a crash (which at worst grants one window's
-- calls again).
CREATE UNLOGGED TABLE rate_windows (
    key        text NOT NULL,
    window_end timestamptz NOT NULL,
    n          integer NOT NULL,
    PRIMARY KEY (key, window_end)
);

CREATE INDEX rate_windows_end ON rate_windows (window_end);
