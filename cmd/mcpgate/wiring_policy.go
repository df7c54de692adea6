package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"go.yaml.in/yaml/v3"

	"github.com/mcpgate/mcpgate/internal/config"
	"github.com/mcpgate/mcpgate/internal/policy"
	"github.com/mcpgate/mcpgate/internal/policyfile"
)

// loadPolicy loads the policy file, or the inline policy of the config.
// Rates are counted in rates when it is not nil.
func loadPolicy(cfg config.Config, log *slog.Logger, rates policy.SharedRates) (*policyfile.Loader, error) {
	var opts []policy.Option
	if rates != nil {
		opts = append(opts, policy.WithSharedRates(rates, log))
	}
	if cfg.Policy.IsZero() {
		return policyfile.New(cfg.PolicyFile, log, opts...)
	}
	data, err := yaml.Marshal(&cfg.Policy)
	if err != nil {
		return nil, fmt.Errorf("inline policy: %w", err)
	}
	l, err := policyfile.FromBytes(data, log, opts...)
	if err != nil {
		return nil, fmt.Errorf("inline policy (line numbers count from its policy: key): %w", err)
	}
	return l, nil
}

// reloadOnSIGHUP reloads the policy file on SIGHUP until ctx ends.
func (a *App) reloadOnSIGHUP(ctx context.Context) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			changed, err := a.policy.Reload()
			switch {
			case err != nil:
				a.log.Error("policy reload on SIGHUP refused; the previous policy stays in force", "err", err)
			case changed:
				a.log.Info("policy reloaded on SIGHUP", "path", a.policy.Path())
			default:
				a.log.Info("policy unchanged on SIGHUP", "path", a.policy.Path())
			}
		}
	}
}
