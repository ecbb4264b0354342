package main

import (
	"github.com/spf13/cobra"

	"gantry/internal/runtime"
)

// shimCommand is the per-container shim that internal/runtime starts detached; it is not
// meant to be run by hand.
func shimCommand() *cobra.Command {
	return &cobra.Command{
		Use:          "shim BUNDLE",
		Short:        "Supervise one container (started by the node runtime)",
		Hidden:       true,
		Args:         cobra.ExactArgs(1),
		SilenceUsage: true,
		RunE: func(_ *cobra.Command, args []string) error {
			return runtime.RunShim(args[0])
		},
	}
}
