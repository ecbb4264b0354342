package server

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"gantry/internal/agent"
	"gantry/internal/agentconn"
	"gantry/internal/ecs"
	"gantry/internal/iam"
)

// AgentConfig is the in-process agent's part of the server's configuration.
type AgentConfig struct {
	// Disabled runs the server without an agent (--no-agent).
	Disabled          bool
	Cluster           string
	RunDir            string
	Bridge, Subnet    string
	AvailabilityZone  string
	Attributes        map[string]string
	ReservedMemoryMiB int
	OCIRuntime        string
	CgroupParent      string
	CNIPluginDirs     []string
}

// runAgent runs the all-in-one agent against this server's own listener until ctx ends.
func runAgent(ctx context.Context, cfg Config, addr string, root iam.AccessKey, log *slog.Logger) {
	log = log.With("component", "agent")
	eng, err := agent.OpenEngine(agent.EngineConfig{
		DataDir: cfg.DataDir, RunDir: cfg.Agent.RunDir, Bridge: cfg.Agent.Bridge, Subnet: cfg.Agent.Subnet,
		OCIRuntime: cfg.Agent.OCIRuntime, CgroupParent: cfg.Agent.CgroupParent, CNIPluginDirs: cfg.Agent.CNIPluginDirs, Log: log,
	})
	if err != nil {
		log.Error("the node engine cannot run here; this server runs no tasks (fix the cause, or pass --no-agent)", "err", err)
		return
	}
	_, port, _ := net.SplitHostPort(addr)
	reserved := []int{22}
	if p, err := strconv.Atoi(port); err == nil {
		reserved = append(reserved, p)
	}
	a, err := agent.New(agent.Config{
		Cluster:           cfg.Agent.Cluster,
		StateDir:          filepath.Join(cfg.DataDir, "agent"),
		AvailabilityZone:  cfg.Agent.AvailabilityZone,
		Attributes:        cfg.Agent.Attributes,
		ReservedMemoryMiB: cfg.Agent.ReservedMemoryMiB,
		ReservedPorts:     reserved,
		Conn: &agentconn.Client{
			Server:      "http://" + addr,
			Credentials: aws.Credentials{AccessKeyID: root.ID, SecretAccessKey: root.Secret},
			Region:      cfg.Region,
			HTTP:        &http.Client{Timeout: time.Minute},
		},
		Runtime:     eng.Runtime,
		Images:      eng.Images,
		Network:     eng.Network,
		PullOptions: agent.PullOptionsFor("http://"+addr, root.ID, root.Secret),
		LogMaxBytes: 10 << 20,
		LogMaxFiles: 3,
		Log:         log,
	})
	if err != nil {
		log.Error("starting the agent", "err", err)
		return
	}
	if err := a.Run(ctx); err != nil {
		log.Error("agent stopped", "err", err)
	}
}

// expireTasks removes STOPPED tasks past their retention.
func expireTasks(ctx context.Context, svc *ecs.Service, log *slog.Logger) {
	if n, err := svc.ExpireStoppedTasks(ctx); err != nil {
		log.Warn("expiring stopped tasks", "err", err)
	} else if n > 0 {
		log.Debug("expired stopped tasks", "count", n)
	}
}
