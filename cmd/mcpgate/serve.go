package main

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/mcpgate/mcpgate/internal/config"
	"github.com/mcpgate/mcpgate/internal/telemetry"
)

func newServeCmd() *cobra.Command {
	var (
		configPath  string
		checkConfig bool
		flagCfg     = config.Default()
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the gateway",
		Long: `Run the gateway. Configuration comes from the YAML file given with --config,
then MCPGATE_* environment variables, then flags. With no configuration at all,
the gateway keeps an SQLite database, a sealing key and a bootstrap admin token
in ./mcpgate-data and listens on 127.0.0.1:8080.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := config.Default()
			if configPath == "" {
				configPath = os.Getenv("MCPGATE_CONFIG")
			}
			if configPath != "" {
				if err := cfg.LoadFile(configPath); err != nil {
					return err
				}
			}
			if err := cfg.ApplyEnv(os.Getenv); err != nil {
				return err
			}
			flags := cmd.Flags()
			if flags.Changed("addr") {
				cfg.Addr = flagCfg.Addr
			}
			if flags.Changed("data-dir") {
				cfg.DataDir = flagCfg.DataDir
			}
			if flags.Changed("public-url") {
				cfg.PublicURL = flagCfg.PublicURL
			}
			if flags.Changed("log-format") {
				cfg.Log.Format = flagCfg.Log.Format
			}
			if err := cfg.Validate(); err != nil {
				return fmt.Errorf("invalid configuration: %w", err)
			}
			if checkConfig {
				if _, err := declaredServers(cfg); err != nil {
					return fmt.Errorf("invalid configuration: %w", err)
				}
				if _, err := loadPolicy(cfg, slog.New(slog.DiscardHandler), nil); err != nil {
					return fmt.Errorf("invalid configuration: %w", err)
				}
				fmt.Fprintln(cmd.OutOrStdout(), "configuration is valid")
				return nil
			}
			logOut := telemetry.NewLogWriter(cmd.ErrOrStderr(), 100*time.Millisecond)
			defer logOut.Close()
			log := newLogger(cfg.Log, logOut)
			app, err := NewApp(cmd.Context(), cfg, log, cmd.OutOrStdout())
			if err != nil {
				return err
			}
			return app.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&configPath, "config", "", "YAML configuration file (MCPGATE_CONFIG)")
	f.BoolVar(&checkConfig, "check-config", false, "validate the configuration and exit")
	f.StringVar(&flagCfg.Addr, "addr", config.DefaultAddr, "listen address (MCPGATE_ADDR)")
	f.StringVar(&flagCfg.DataDir, "data-dir", config.DefaultDataDir, "data directory (MCPGATE_DATA_DIR)")
	f.StringVar(&flagCfg.PublicURL, "public-url", "", "URL clients use to reach the gateway (MCPGATE_PUBLIC_URL)")
	f.StringVar(&flagCfg.Log.Format, "log-format", "text", "log format: text or json (MCPGATE_LOG_FORMAT)")
	return cmd
}

func newLogger(c config.LogConfig, w interface{ Write([]byte) (int, error) }) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
