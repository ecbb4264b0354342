// Command gantry is Gantry's single binary: the server, and the client commands.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"gantry/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	root := cli.NewRoot()
	root.AddCommand(serverCommand(), agentCommand())
	code := cli.Execute(ctx, root)
	stop()
	os.Exit(code)
}
