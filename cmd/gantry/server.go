package main

import (
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"gantry/internal/server"
)

func serverCommand() *cobra.Command {
	cfg := server.Config{}
	var debug bool
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the Gantry server (API, state store) in the foreground",
		Long: `Run the Gantry server in the foreground. On first start it creates root
credentials and writes them to DATA-DIR/credentials (AWS shared-credentials format).
SIGINT or SIGTERM shut it down cleanly.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			level := slog.LevelInfo
			if debug {
				level = slog.LevelDebug
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			return server.Run(cmd.Context(), cfg, log, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Listen, "listen", "127.0.0.1:8700", "address for the API listener")
	f.StringVar(&cfg.DataDir, "data-dir", "/var/lib/gantry", "where state and credentials are kept")
	f.StringVar(&cfg.Region, "region", "us-east-1", "region in ARNs and SigV4 scopes")
	f.StringVar(&cfg.Account, "account", "000000000000", "12-digit account id in ARNs")
	f.BoolVar(&debug, "debug", false, "log debug messages")
	return cmd
}
