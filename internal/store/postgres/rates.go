package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// TakeRate implements mcpgate.Store: one upsert that counts the call only
// while the window is under its limit, atomic across replicas.
func (db *DB) TakeRate(ctx context.Context, key string, end time.Time, limit int) (bool, error) {
	var n int
	err := db.pool.QueryRow(ctx, `INSERT INTO rate_windows AS w (key, window_end, n) VALUES ($1, $2, 1)
		ON CONFLICT (key, window_end) DO UPDATE SET n = w.n + 1 WHERE w.n < $3
		RETURNING n`, key, end, limit).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil // the window is full
	}
	if err != nil {
		return false, fmt.Errorf("take rate: %w", err)
	}
	return n <= limit, nil
}

// RefundRate implements mcpgate.Store.
func (db *DB) RefundRate(ctx context.Context, key string, end time.Time) error {
	if _, err := db.pool.Exec(ctx, `UPDATE rate_windows SET n = n - 1 WHERE key = $1 AND window_end = $2 AND n > 0`, key, end); err != nil {
		return fmt.Errorf("refund rate: %w", err)
	}
	return nil
}

// DeleteRatesBefore implements mcpgate.Store.
func (db *DB) DeleteRatesBefore(ctx context.Context, t time.Time) (int, error) {
	tag, err := db.pool.Pool.Exec(ctx, `DELETE FROM rate_windows WHERE window_end < $1`, t) // may take long: no opTimeout
	if err != nil {
		return 0, fmt.Errorf("delete rate windows before %v: %w", t, err)
	}
	return int(tag.RowsAffected()), nil
}
