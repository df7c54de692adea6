package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// TakeRate implements mcpgate.Store: one upsert that counts the call only
// while the window is under its limit.
func (db *DB) TakeRate(ctx context.Context, key string, end time.Time, limit int) (bool, error) {
	var n int
	err := db.write.QueryRowContext(ctx, `INSERT INTO rate_windows (key, window_end, n) VALUES (?, ?, 1)
		ON CONFLICT (key, window_end) DO UPDATE SET n = n + 1 WHERE n < ?
		RETURNING n`, key, end.UnixMicro(), limit).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil // the window is full
	}
	if err != nil {
		return false, fmt.Errorf("take rate: %w", err)
	}
	return n <= limit, nil
}

// RefundRate implements mcpgate.Store.
func (db *DB) RefundRate(ctx context.Context, key string, end time.Time) error {
	if _, err := db.write.ExecContext(ctx, `UPDATE rate_windows SET n = n - 1 WHERE key = ? AND window_end = ? AND n > 0`, key, end.UnixMicro()); err != nil {
		return fmt.Errorf("refund rate: %w", err)
	}
	return nil
}

// DeleteRatesBefore implements mcpgate.Store.
func (db *DB) DeleteRatesBefore(ctx context.Context, t time.Time) (int, error) {
	res, err := db.write.ExecContext(ctx, `DELETE FROM rate_windows WHERE window_end < ?`, t.UnixMicro())
	if err != nil {
		return 0, fmt.Errorf("delete rate windows before %v: %w", t, err)
	}
	n, err := affected(res)
	if err != nil {
		return 0, fmt.Errorf("delete rate windows before %v: %w", t, err)
	}
	return int(n), nil
}
