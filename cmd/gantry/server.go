package main

import (
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"gantry/internal/ecs"
	"gantry/internal/runtime"
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
			if cfg.HeartbeatInterval <= 0 || cfg.AssignmentResync <= 0 {
				return fmt.Errorf("--heartbeat-interval (%s) and --assignment-resync (%s) must be positive durations such as 5s", cfg.HeartbeatInterval, cfg.AssignmentResync)
			}
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
	f.BoolVar(&cfg.Agent.Disabled, "no-agent", false, "run no agent in this process: this machine runs no tasks (other machines join with 'gantry agent')")
	f.StringVar(&cfg.Agent.Cluster, "cluster", "default", "cluster the in-process agent's instance joins")
	f.StringVar(&cfg.Agent.RunDir, "run-dir", "/run/gantry", "volatile node state: OCI runtime root, shims, network namespaces")
	f.StringVar(&cfg.Agent.Bridge, "bridge", "gantry0", "bridge that task networks attach to")
	f.StringVar(&cfg.Agent.Subnet, "subnet", "10.213.0.0/16", "IPv4 subnet tasks get addresses from")
	f.StringVar(&cfg.Agent.AvailabilityZone, "availability-zone", "", "the instance's ecs.availability-zone attribute (for spread placement)")
	f.StringToStringVar(&cfg.Agent.Attributes, "attribute", nil, "custom instance attribute NAME=VALUE (repeatable), for memberOf constraints")
	f.IntVar(&cfg.Agent.ReservedMemoryMiB, "reserved-memory", 256, "MiB of this machine's memory that tasks may not book")
	f.StringVar(&cfg.Agent.OCIRuntime, "runtime", "runc", "OCI runtime binary that runs containers")
	f.StringVar(&cfg.Agent.CgroupParent, "cgroup-parent", runtime.DefaultCgroupParent, "cgroup (relative to each hierarchy's root) that containers are created under")
	f.StringSliceVar(&cfg.Agent.CNIPluginDirs, "cni-plugin-dir", nil, "directory with the CNI plugins (bridge, host-local); repeatable; /usr/lib/cni when none")
	f.StringVar(&cfg.AgentListen, "agent-listen", "", "TLS address for agents on other machines to join (e.g. 0.0.0.0:8701); none when empty")
	f.DurationVar(&cfg.HeartbeatInterval, "heartbeat-interval", 5*time.Second, "how often agents are pinged; one silent for three intervals is disconnected")
	f.DurationVar(&cfg.AssignmentResync, "assignment-resync", ecs.DefaultAssignmentResync, "how often each agent is sent its full set of tasks again (changes go out as they happen; this repairs what went astray)")
	f.BoolVar(&debug, "debug", false, "log debug messages")
	f.StringVar(&cfg.DebugListen, "debug-listen", "", "loopback address (127.0.0.1:PORT) serving Go's profiler under /debug/pprof/; none when empty")
	return cmd
}

// tuneGC trades memory for CPU unless GOGC says otherwise: the server's live heap is small
// (tens of MiB), yet under write load profiles showed a quarter of its CPU in the garbage
// collector at the default of 100. So that the trade never costs a small machine its
// memory, the heap's soft limit is a quarter of the machine's RAM unless GOMEMLIMIT says
// otherwise (a scale run with 50,000 tasks reached 1.5 GiB resident at GOGC 400).
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	var si syscall.Sysinfo_t
	if os.Getenv("GOMEMLIMIT") == "" && syscall.Sysinfo(&si) == nil {
		debug.SetMemoryLimit(int64(si.Totalram) * int64(si.Unit) / 4)
	}
}
