package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/internal/audit"
	"github.com/mcpgate/mcpgate/internal/config"
)

// auditCloseTimeout bounds writing the buffered audit events at shutdown.
const auditCloseTimeout = 10 * time.Second

// newAuditWriter starts the decision log's writer: redaction and mirror
// from the configuration ("stdout" is stdout), metrics on reg.
func newAuditWriter(cfg config.AuditConfig, st mcpgate.AuditStore, reg prometheus.Registerer, log *slog.Logger, stdout io.Writer) (*audit.Writer, error) {
	redactor, err := audit.NewRedactor(cfg.RedactKeys, cfg.RedactPaths, cfg.RedactPatterns)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	mirror, err := audit.OpenMirror(cfg.Mirror, stdout)
	if err != nil {
		return nil, err
	}
	w, err := audit.NewWriter(audit.Options{Store: st, Redactor: redactor, Mirror: mirror, Registerer: reg, Logger: log})
	if err != nil {
		if c, ok := mirror.(io.Closer); ok {
			c.Close()
		}
		return nil, err
	}
	return w, nil
}

// closeAudit writes the audit events still buffered; call it once no
// request can record more.
func (a *App) closeAudit() {
	ctx, cancel := context.WithTimeout(context.Background(), auditCloseTimeout)
	defer cancel()
	if err := a.audit.Close(ctx); err != nil {
		a.log.Error("audit log: not every event was written", "err", err)
	}
}
