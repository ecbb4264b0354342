package main

import (
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"gantry/internal/agent"
	"gantry/internal/runtime"
)

func agentCommand() *cobra.Command {
	cfg := agent.NodeConfig{}
	var debug bool
	cmd := &cobra.Command{
		Use:   "agent --server https://HOST:PORT --token TOKEN",
		Short: "Join this machine to a Gantry server as a container instance and run its tasks",
		Long: `Run a node agent in the foreground. It dials out to the server's agent listener
(gantry server --agent-listen), so this machine needs no inbound port. On the first
start it redeems the join token that 'gantry token create' printed on the server for a
client certificate of the cluster CA and an access key, kept in DATA-DIR/agent; later
starts need no token. Running containers survive a restart of the agent and are
adopted again.

Example:
  gantry agent --server https://10.0.0.5:8701 --token gtj1.… --availability-zone rack-2`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			level := slog.LevelInfo
			if debug {
				level = slog.LevelDebug
			}
			cfg.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			return agent.RunNode(cmd.Context(), cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Server, "server", "", "the server's agent listener, https://HOST:PORT (required)")
	f.StringVar(&cfg.Token, "token", "", "join token from 'gantry token create' (first start only)")
	f.StringVar(&cfg.Name, "name", "", "this machine's name in the cluster (default: the host name)")
	f.StringVar(&cfg.DataDir, "data-dir", "/var/lib/gantry", "where images, containers, logs and the agent's credentials are kept")
	f.StringVar(&cfg.RunDir, "run-dir", "/run/gantry", "volatile node state: OCI runtime root, shims, network namespaces")
	f.StringVar(&cfg.Cluster, "cluster", "default", "cluster to join")
	f.StringVar(&cfg.Bridge, "bridge", "gantry0", "bridge that task networks attach to")
	f.StringVar(&cfg.Subnet, "subnet", "10.213.0.0/16", "IPv4 subnet tasks on this machine get addresses from")
	f.StringVar(&cfg.AvailabilityZone, "availability-zone", "", "the instance's ecs.availability-zone attribute (for spread placement)")
	f.StringToStringVar(&cfg.Attributes, "attribute", nil, "custom instance attribute NAME=VALUE (repeatable), for memberOf constraints")
	f.IntVar(&cfg.ReservedMemoryMiB, "reserved-memory", 256, "MiB of this machine's memory that tasks may not book")
	f.StringVar(&cfg.OCIRuntime, "runtime", "runc", "OCI runtime binary that runs containers")
	f.StringVar(&cfg.CgroupParent, "cgroup-parent", runtime.DefaultCgroupParent, "cgroup (relative to each hierarchy's root) that containers are created under")
	f.StringSliceVar(&cfg.CNIPluginDirs, "cni-plugin-dir", nil, "directory with the CNI plugins (bridge, host-local); repeatable; /usr/lib/cni when none")
	f.BoolVar(&debug, "debug", false, "log debug messages")
	cmd.MarkFlagRequired("server")
	return cmd
}
