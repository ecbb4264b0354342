package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
)

// Defaults a local `gantry server` uses; flags and environment variables override them.
const (
	defaultEndpoint    = "http://127.0.0.1:8700"
	defaultCredentials = "/var/lib/gantry/credentials"
	defaultRegion      = "us-east-1"
)

// globals are the flags every command shares.
type globals struct {
	endpoint    string
	credentials string
	region      string
	output      string
	out         io.Writer
}

// NewRoot returns the `gantry` command with every client subcommand attached.
func NewRoot() *cobra.Command {
	g := &globals{out: os.Stdout}
	root := &cobra.Command{
		Use:   "gantry",
		Short: "Gantry runs containers on your own machines with the ECS and ECR APIs",
		Long: `Gantry is a container platform for your own machines: one binary that serves
AWS-compatible ECS APIs (the aws CLI and SDKs work unchanged) and this CLI.

Start a server with 'gantry server', then talk to it with these commands or with
'aws --endpoint-url http://127.0.0.1:8700 ecs ...'.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			g.out = cmd.OutOrStdout()
			if g.output != "table" && g.output != "json" {
				return fmt.Errorf("--output %q is not supported; use table or json", g.output)
			}
			return nil
		},
	}
	pf := root.PersistentFlags()
	pf.StringVar(&g.endpoint, "endpoint", envOr("GANTRY_ENDPOINT", defaultEndpoint), "Gantry server URL (env GANTRY_ENDPOINT)")
	pf.StringVar(&g.credentials, "credentials", envOr("GANTRY_CREDENTIALS", defaultCredentials), "AWS shared-credentials file with the access key to use (env GANTRY_CREDENTIALS); AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY win when set")
	pf.StringVar(&g.region, "region", envOr("GANTRY_REGION", defaultRegion), "region the server runs as (env GANTRY_REGION)")
	pf.StringVarP(&g.output, "output", "o", "table", "output format: table or json")
	root.AddCommand(newClusterCommand(g), newTaskDefCommand(g), newRepoCommand(g), newLoginCommand(g), newPsCommand(g), newStopCommand(g), newInspectCommand(g), newInstanceCommand(g), newRunCommand(g), newImageCommand(g), newImagesCommand(g), newRmiCommand(g), newLogsCommand(g), newExecCommand(g), newTokenCommand(g), newPullCommand(g), newPushCommand(g))
	return root
}

// Execute runs root and returns the process exit code, printing any error with a hint.
func Execute(ctx context.Context, root *cobra.Command) int {
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var exit *exitError
	if errors.As(err, &exit) && exit.err == nil {
		return exit.code // the command said all it had to say (a container's exit code)
	}
	fmt.Fprintln(os.Stderr, "gantry: "+describeError(err))
	if exit != nil {
		return exit.code
	}
	return 1
}

// exitError carries a specific exit code out of a command; with a nil err nothing more
// is printed.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
