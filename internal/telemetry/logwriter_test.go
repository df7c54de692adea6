package telemetry

import (
	"bytes"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestLogWriterFlushesOnTimeAndClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		out := &lockedBuffer{}
		w := NewLogWriter(out, 100*time.Millisecond)
		w.Write([]byte("line 1\n"))
		if out.String() != "" {
			t.Fatal("written through before the interval")
		}
		time.Sleep(150 * time.Millisecond)
		synctest.Wait()
		if out.String() != "line 1\n" {
			t.Fatalf("after the interval: %q", out.String())
		}
		w.Write([]byte("line 2\n"))
		w.Close()
		if out.String() != "line 1\nline 2\n" {
			t.Fatalf("after Close: %q", out.String())
		}
		w.Close() // twice is fine
	})
}
