// Package sqlite is the embedded mcpgate.Store: a single SQLite file in WAL
// mode, driven by modernc.org/sqlite so the binary needs no cgo. All writes
// go through one connection, because SQLite admits one writer at a time and
// queueing in Go is cheaper and more predictable than retrying SQLITE_BUSY;
// reads use a separate pool, since WAL readers block neither the writer nor
// each other.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/mcpgate/mcpgate"
)

// DB is a mcpgate.Store backed by one SQLite file.
type DB struct {
	write *sql.DB // exactly one connection
	read  *sql.DB // query_only connections

	// auditInserts are the prepared audit INSERTs by row count (see
	// auditStmt): parsing a 64-row statement each time took about 7% of an
	// insert's CPU.
	auditMu      sync.Mutex
	auditInserts [auditRowsPerInsert + 1]*sql.Stmt
}

var _ mcpgate.Store = (*DB)(nil)

// busyTimeoutMS bounds how long a statement waits for a lock held by another
// process on the same file (our own writers queue on the single connection).
const busyTimeoutMS = 10_000

// Open opens (creating if needed) the database file at path and applies any
// pending migrations. path must name a file: an in-memory database would be
// a different database on each connection.
func Open(ctx context.Context, path string) (*DB, error) {
	if path == "" || strings.ContainsRune(path, '?') || strings.Contains(path, ":memory:") || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("sqlite: path %q: want a plain file path", path)
	}
	common := fmt.Sprintf("_pragma=busy_timeout(%d)&_pragma=foreign_keys(1)", busyTimeoutMS)

	// BEGIN IMMEDIATE takes the write lock at the start of a transaction,
	// so a transaction never fails half-way when upgrading a read lock.
	// Statement journals (multi-row INSERTs need them) stay in memory
	// instead of going to a temporary file (temp_store=MEMORY).
	write, err := sql.Open("sqlite", path+"?"+common+"&_pragma=journal_mode(WAL)&_pragma=temp_store(2)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	write.SetConnMaxIdleTime(0)
	if err := migrate(ctx, write); err != nil {
		write.Close()
		return nil, fmt.Errorf("sqlite: %s: %w", path, err)
	}

	read, err := sql.Open("sqlite", path+"?"+common+"&_pragma=query_only(1)")
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("sqlite: open %s for reading: %w", path, err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	read.SetMaxOpenConns(n)
	read.SetMaxIdleConns(n)
	db := &DB{write: write, read: read}
	if err := db.Ping(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// Ping checks both pools.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.write.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping writer: %w", err)
	}
	if err := db.read.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping readers: %w", err)
	}
	return nil
}

// Close closes both pools.
func (db *DB) Close() error {
	db.auditMu.Lock()
	var errs []error
	for i, st := range db.auditInserts {
		if st != nil {
			errs = append(errs, st.Close())
			db.auditInserts[i] = nil
		}
	}
	db.auditMu.Unlock()
	return errors.Join(append(errs, db.read.Close(), db.write.Close())...)
}

// isConstraint reports whether err is one of the given extended SQLite
// constraint codes.
func isConstraint(err error, codes ...int) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	for _, c := range codes {
		if se.Code() == c {
			return true
		}
	}
	return false
}

func isUnique(err error) bool {
	return isConstraint(err, sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
}

func isForeignKey(err error) bool {
	return isConstraint(err, sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY)
}

// toMicros stores t as unix microseconds; the zero time is NULL.
func toMicros(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMicro(), Valid: true}
}

// fromMicros is the inverse of toMicros, in UTC.
func fromMicros(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.UnixMicro(n.Int64).UTC()
}

// rowScanner is what *sql.Row and *sql.Rows have in common.
type rowScanner interface {
	Scan(dest ...any) error
}

// affected returns the number of rows res changed.
func affected(res sql.Result) (int64, error) {
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("rows affected: %w", err)
	}
	return n, nil
}
