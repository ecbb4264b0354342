package agent

import (
	"fmt"
	"log/slog"
	"path/filepath"

	"gantry/internal/image"
	"gantry/internal/network"
	"gantry/internal/runtime"
)

// EngineConfig says where a node's engine keeps its state.
type EngineConfig struct {
	// DataDir keeps images/ and containers/ (bundles and logs).
	DataDir string
	// RunDir keeps volatile state: runtime/ (the OCI runtime's root, shims) and network/.
	RunDir string
	// Bridge and Subnet of the task network; the network package's defaults when empty.
	Bridge, Subnet string
	// OCIRuntime is the runtime binary, "runc" when empty.
	OCIRuntime string
	// CgroupParent is the cgroup containers go under, runtime.DefaultCgroupParent when empty.
	CgroupParent string
	// CNIPluginDirs are searched for the CNI plugins, the network package's default
	// (/usr/lib/cni) when empty.
	CNIPluginDirs []string
	Log           *slog.Logger
}

// Engine is a node's image store, network manager and container runtime.
type Engine struct {
	Images  *image.Store
	Network *network.Manager
	Runtime *runtime.Runtime
}

// OpenEngine opens the node engine and checks it can work here (runtime binary, cgroups,
// CNI plugins, iptables).
func OpenEngine(cfg EngineConfig) (*Engine, error) {
	images, err := image.Open(filepath.Join(cfg.DataDir, "images"))
	if err != nil {
		return nil, fmt.Errorf("image store: %w", err)
	}
	rt, err := runtime.New(runtime.Config{
		Runtime:  cfg.OCIRuntime,
		StateDir: filepath.Join(cfg.RunDir, "runtime"),
		DataDir:  filepath.Join(cfg.DataDir, "containers"),
		// Logs of a task's containers stay readable after it stops, as docker's do.
		LogArchiveDir: filepath.Join(cfg.DataDir, "logs"),
		CgroupParent:  cfg.CgroupParent,
	})
	if err != nil {
		return nil, err
	}
	nm, err := network.New(network.Config{
		Bridge:     cfg.Bridge,
		Subnet:     cfg.Subnet,
		StateDir:   filepath.Join(cfg.RunDir, "network"),
		PluginDirs: cfg.CNIPluginDirs,
		Logger:     cfg.Log,
	})
	if err != nil {
		return nil, err
	}
	return &Engine{Images: images, Network: nm, Runtime: rt}, nil
}
