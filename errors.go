package mcpgate

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every store backend and service returns these (wrapped with
// %w and context) so that one function can map them to HTTP statuses.
var (
	// ErrNotFound: the named object does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the object already exists, or a compare-and-swap lost.
	ErrConflict = errors.New("conflict")
	// ErrInvalid: the caller supplied an invalid value.
	ErrInvalid = errors.New("invalid")
	// ErrUnavailable: the store could not be reached in time (a database
	// restarting or cut off); the same request may succeed later.
	ErrUnavailable = errors.New("store unavailable")
)

// Errorf returns an error that matches kind with errors.Is but reads only as
// the formatted, user-facing message.
func Errorf(kind error, format string, args ...any) error {
	return &kindError{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// Invalidf is Errorf(ErrInvalid, …).
func Invalidf(format string, args ...any) error { return Errorf(ErrInvalid, format, args...) }

type kindError struct {
	kind error
	msg  string
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }
