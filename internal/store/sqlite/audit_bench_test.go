package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
)

// BenchmarkAppendAudit appends batches of 256 decision records, the audit
// writer's default batch; ns/op is per event.
func BenchmarkAppendAudit(b *testing.B) {
	db, err := Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	batch := make([]mcpgate.AuditEvent, 256)
	for i := range batch {
		batch[i] = mcpgate.AuditEvent{
			Time: time.Now(), GrantID: "gr_1", User: fmt.Sprint("user", i%16), ClientName: "claude-code",
			Server: "github", Method: "tools/call", Tool: "create_issue", Decision: mcpgate.DecisionAllow,
			RuleID: "r7", Reason: "allowed by r7", Latency: time.Millisecond, UpstreamStatus: 200,
			Arguments: `{"repo":"acme/api","title":"Fix the login bug","labels":["bug","p1"],"api_key":"[REDACTED]"}`,
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; n < b.N; n += len(batch) {
		if err := db.AppendAudit(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
}
