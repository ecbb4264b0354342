package main

import (
	"log/slog"
	"os"
	"runtime/debug"

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
			tuneGC()
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
	f.BoolVar(&cfg.NoCreateOnPush, "no-create-on-push", false, "refuse registry pushes to repositories not created first (aws ecr create-repository, gantry repo create)")
	f.BoolVar(&debug, "debug", false, "log debug messages")
	return cmd
}

// tuneGC trades memory for CPU unless GOGC says otherwise: the server's live heap is small
// (tens of MiB), yet under write load profiles showed a quarter of its CPU in the garbage
// collector at the default of 100.
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
}
