package postgres

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/store/postgres/pgtest"
)

// BenchmarkTakeRate is the cost a rated call pays on PostgreSQL: one upsert
// into a shared window (64 keys, so rows are reused as in steady traffic).
func BenchmarkTakeRate(b *testing.B) {
	db, err := Open(context.Background(), pgtest.Schema(b))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	end := time.Now().Truncate(time.Hour).Add(time.Hour)
	keys := make([]string, 64)
	for i := range keys {
		keys[i] = "key-" + strconv.Itoa(i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := db.TakeRate(context.Background(), keys[i%len(keys)], end, 1<<30); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
