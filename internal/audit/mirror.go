package audit

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/mcpgate/mcpgate"
)

// MirrorLine is one line of the mirror: an event with snake_case keys,
// latency in milliseconds and the (redacted) arguments as JSON. ID is 0
// when the store did not take the event.
type MirrorLine struct {
	ID             int64           `json:"id,omitempty"`
	Time           time.Time       `json:"time"`
	GrantID        string          `json:"grant_id"`
	User           string          `json:"user"`
	ClientName     string          `json:"client_name"`
	Server         string          `json:"server"`
	Method         string          `json:"method"`
	Tool           string          `json:"tool"`
	Decision       string          `json:"decision"`
	RuleID         string          `json:"rule_id"`
	Reason         string          `json:"reason"`
	LatencyMS      float64         `json:"latency_ms"`
	UpstreamStatus int             `json:"upstream_status"`
	Arguments      json.RawMessage `json:"arguments,omitempty"`
}

func mirrorLine(e mcpgate.AuditEvent) MirrorLine {
	l := MirrorLine{
		ID: e.ID, Time: e.Time.UTC(), GrantID: e.GrantID, User: e.User, ClientName: e.ClientName,
		Server: e.Server, Method: e.Method, Tool: e.Tool, Decision: e.Decision, RuleID: e.RuleID,
		Reason: e.Reason, LatencyMS: float64(e.Latency.Microseconds()) / 1000, UpstreamStatus: e.UpstreamStatus,
	}
	if e.Arguments != "" {
		l.Arguments = json.RawMessage(e.Arguments)
	}
	return l
}

// OpenMirror opens the mirror a configuration names: "" for none (a nil
// Writer), "stdout" for stdout (never closed), or a file path, appended to
// and created with mode 0600.
func OpenMirror(spec string, stdout io.Writer) (io.Writer, error) {
	switch spec {
	case "":
		return nil, nil
	case "stdout":
		return struct{ io.Writer }{stdout}, nil // hides Close
	}
	f, err := os.OpenFile(spec, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit mirror: %w", err)
	}
	return f, nil
}

// writeMirror writes the batch to the mirror in one Write.
func (w *Writer) writeMirror() {
	if w.mirror == nil {
		return
	}
	buf := w.mirrorBuf[:0]
	for _, e := range w.batch {
		b, err := json.Marshal(mirrorLine(e))
		if err != nil { // arguments that are not JSON: cannot come from the Redactor
			l := mirrorLine(e)
			l.Arguments = json.RawMessage(note("[invalid JSON]"))
			b, _ = json.Marshal(l)
		}
		buf = append(append(buf, b...), '\n')
	}
	w.mirrorBuf = buf
	if _, err := w.mirror.Write(buf); err != nil && time.Since(w.lastMirrorWarn) >= warnEvery {
		w.lastMirrorWarn = time.Now()
		w.log.Warn("audit: mirror write failed", "err", err)
	}
}
