package agent

import (
	"context"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"

	"gantry/internal/image"
)

// NodeConfig is how `gantry agent` runs a machine that joins a server elsewhere.
type NodeConfig struct {
	// Server is the server's agent listener, https://HOST:PORT.
	Server string
	// Token is the join token, needed on the first start only.
	Token             string
	Name              string
	DataDir, RunDir   string
	Cluster           string
	Bridge, Subnet    string
	AvailabilityZone  string
	Attributes        map[string]string
	ReservedMemoryMiB int
	OCIRuntime        string
	CgroupParent      string
	CNIPluginDirs     []string
	Log               *slog.Logger
}

// RunNode joins (or rejoins) the server and runs the agent until ctx ends.
func RunNode(ctx context.Context, cfg NodeConfig) error {
	if cfg.Name == "" {
		cfg.Name, _ = os.Hostname()
	}
	stateDir := filepath.Join(cfg.DataDir, "agent")
	conn, err := RemoteClient(ctx, stateDir, cfg.Server, cfg.Token, cfg.Name)
	if err != nil {
		return err
	}
	eng, err := OpenEngine(EngineConfig{DataDir: cfg.DataDir, RunDir: cfg.RunDir, Bridge: cfg.Bridge, Subnet: cfg.Subnet, OCIRuntime: cfg.OCIRuntime, CgroupParent: cfg.CgroupParent, CNIPluginDirs: cfg.CNIPluginDirs, Log: cfg.Log})
	if err != nil {
		return err
	}
	a, err := New(Config{
		Cluster:           cfg.Cluster,
		StateDir:          stateDir,
		NodeName:          cfg.Name,
		AvailabilityZone:  cfg.AvailabilityZone,
		Attributes:        cfg.Attributes,
		ReservedMemoryMiB: cfg.ReservedMemoryMiB,
		ReservedPorts:     []int{22},
		Conn:              conn,
		Runtime:           eng.Runtime,
		Images:            eng.Images,
		Network:           eng.Network,
		PullOptions:       PullOptionsFor(conn.Server, conn.Credentials.AccessKeyID, conn.Credentials.SecretAccessKey),
		LogMaxBytes:       10 << 20,
		LogMaxFiles:       3,
		Log:               cfg.Log,
	})
	if err != nil {
		return err
	}
	return a.Run(ctx)
}

// PullOptionsFor gives the agent's access key to the registry of the server it talks to
// (same host), and plain HTTP to registries on loopback addresses.
func PullOptionsFor(server, keyID, secret string) func(string) image.PullOptions {
	serverHost := ""
	if u, err := url.Parse(server); err == nil {
		serverHost = u.Hostname()
	}
	return func(ref string) image.PullOptions {
		var opts image.PullOptions
		r, err := name.ParseReference(ref)
		if err != nil {
			return opts
		}
		host := r.Context().RegistryStr()
		h, _, err := net.SplitHostPort(host)
		if err != nil {
			h = host
		}
		if h == serverHost {
			opts.Auth = &authn.Basic{Username: keyID, Password: secret}
		}
		if ip := net.ParseIP(h); h == "localhost" || (ip != nil && ip.IsLoopback()) {
			opts.Insecure = true
		}
		return opts
	}
}
