package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"time"

	"gantry/internal/agentconn"
	"gantry/internal/awsapi"
	"gantry/internal/ecr"
	"gantry/internal/ecs"
	"gantry/internal/iam"
	"gantry/internal/pki"
	"gantry/internal/registry"
	"gantry/internal/store"
)

// Config is what `gantry server` is started with.
type Config struct {
	Listen  string
	DataDir string
	Region  string
	Account string
	// NoCreateOnPush makes registry pushes to repositories not created through ECR fail.
	NoCreateOnPush bool
	// Agent configures the in-process agent.
	Agent AgentConfig
	// AgentListen is the TLS listener for agents on other machines; none when empty.
	AgentListen string
	// HeartbeatInterval is how often the server pings agents; an agent silent for three
	// intervals is disconnected.
	HeartbeatInterval time.Duration
	// DebugListen is a loopback address for Go's profiler; none when empty.
	DebugListen string
	// AssignmentResync is how often each agent is sent its full assignment set again;
	// ecs.DefaultAssignmentResync when zero.
	AssignmentResync time.Duration
}

// Run starts the server and serves until ctx is cancelled, then shuts down cleanly.
// It prints where it listens and how to reach it on out.
func Run(ctx context.Context, cfg Config, log *slog.Logger, out io.Writer) error {
	if err := selfCheck(cfg); err != nil {
		return err
	}
	if cfg.DebugListen != "" {
		dbg, err := serveDebug(cfg.DebugListen, log)
		if err != nil {
			return err
		}
		defer dbg.Close()
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w (is another gantry server running? choose another address with --listen)", cfg.Listen, err)
	}
	defer ln.Close()

	st, err := store.Open(ctx, store.Config{Dir: filepath.Join(cfg.DataDir, "etcd")})
	if err != nil {
		return err
	}
	defer st.Close()
	keys, root, err := iam.Open(ctx, st, cfg.Account)
	if err != nil {
		return err
	}
	credsPath := filepath.Join(cfg.DataDir, "credentials")
	if err := writeCredentials(credsPath, root); err != nil {
		return err
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = agentconn.DefaultPingEvery
	}
	ecsService := ecs.New(ecs.Config{Region: cfg.Region, Account: cfg.Account, HeartbeatTimeout: 3 * cfg.HeartbeatInterval, AssignmentResync: cfg.AssignmentResync}, st, keys)
	if err := ecsService.EnsureDefaultCluster(ctx); err != nil {
		return fmt.Errorf("creating the default cluster: %w", err)
	}

	ecrService := ecr.New(ecr.Config{Region: cfg.Region, Account: cfg.Account, RegistryHost: ln.Addr().String(), NoCreateOnPush: cfg.NoCreateOnPush}, st, keys)
	reg, err := openRegistry(ctx, cfg, st, keys, ecrService, log)
	if err != nil {
		return err
	}
	ecrService.SetRegistry(reg)
	ecrService.SetInUse(ecsService.ImagesInUse)

	var ready atomic.Bool
	verifier := &awsapi.Verifier{Region: cfg.Region, Keys: keys}
	api := awsapi.NewJSONServer(verifier, log, ecsService.API(), ecrService.API())
	api.Authorize = authorizeAPI(keys)
	users := userAuthenticator(verifier, keys)
	hub := agentconn.NewHub(ctx, agentconn.HubConfig{Control: ecsService, Authenticate: agentPrincipal(verifier, keys), Name: ln.Addr().String(), PingEvery: cfg.HeartbeatInterval, Log: log})
	nodes := &agentconn.Proxy{Hub: hub, Tasks: ecsService, Authenticate: users}
	ca, err := pki.LoadOrCreateCA(filepath.Join(cfg.DataDir, "pki"))
	if err != nil {
		return fmt.Errorf("cluster CA: %w", err)
	}
	handler := routes(api, reg, hub, nodes, &ready, tokenHandler(keys, ca, users), taskWaitHandler(ecsService, users))
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	if cfg.AgentListen != "" {
		agentSrv, err := serveAgents(cfg, ca, keys, handler, log, serveErr)
		if err != nil {
			return err
		}
		defer agentSrv.Close()
	}
	go every(ctx, registryUpkeepEvery, func(ctx context.Context) { maintainRegistry(ctx, reg, ecrService, log) })
	go every(ctx, time.Minute, func(ctx context.Context) { expireTasks(ctx, ecsService, log) })
	idle := newIdleReleaser(idleAllocBytes)
	go every(ctx, idleCheckEvery, func(context.Context) { idle.check() })
	agentDone := make(chan struct{})
	if cfg.Agent.Disabled {
		close(agentDone)
	} else {
		go func() {
			defer close(agentDone)
			runAgent(ctx, cfg, ln.Addr().String(), root, log)
		}()
	}
	printBanner(out, cfg, ln.Addr().String(), credsPath)
	ready.Store(true)

	select {
	case err := <-serveErr:
		return fmt.Errorf("serving on %s: %w", cfg.Listen, err)
	case <-ctx.Done():
	}
	ready.Store(false)
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	<-agentDone
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutting down the listener: %w", err)
	}
	return nil
}

// openRegistry opens the registry's blob store under the data dir and checks it can
// write there.
func openRegistry(ctx context.Context, cfg Config, st *store.Store, keys *iam.Directory, policy registry.Policy, log *slog.Logger) (*registry.Registry, error) {
	blobs, err := registry.NewFSBlobs(filepath.Join(cfg.DataDir, "registry"))
	if err != nil {
		return nil, err
	}
	if err := blobs.SelfCheck(); err != nil {
		return nil, fmt.Errorf("self-check: registry storage: %w", err)
	}
	return registry.New(ctx, registry.Config{Blobs: blobs, Store: st, Auth: keys, Policy: policy, ReadOnly: iam.IsAgentPrincipal, Log: log})
}

// The server counts as idle when it allocated less than idleAllocBytes in the last
// idleCheckEvery; an idle all-in-one server with its agent was measured allocating
// about 15 KiB/s.
const (
	idleCheckEvery = 2 * time.Second
	idleAllocBytes = 1 << 20
)

// Registry upkeep (lifecycle policies, stale uploads, garbage): how often it runs, how long abandoned uploads are kept and how young
// an unreferenced blob may be and still be spared.
const (
	registryUpkeepEvery = time.Hour
	uploadRetention     = 24 * time.Hour
	gcGrace             = time.Hour
)

// maintainRegistry applies lifecycle policies, purges abandoned uploads and collects
// unreferenced blobs.
func maintainRegistry(ctx context.Context, reg *registry.Registry, ecrService *ecr.Service, log *slog.Logger) {
	if err := ecrService.ApplyLifecyclePolicies(ctx); err != nil {
		log.Warn("applying lifecycle policies", "err", err)
	}
	if n, err := reg.PurgeUploads(ctx, time.Now().Add(-uploadRetention)); err != nil {
		log.Warn("purging stale registry uploads", "err", err)
	} else if n > 0 {
		log.Info("purged stale registry uploads", "count", n)
	}
	stats, err := reg.CollectGarbage(ctx, gcGrace)
	if err != nil {
		log.Warn("registry garbage collection", "err", err)
	} else if stats.Deleted > 0 {
		log.Info("registry garbage collection", "deleted", stats.Deleted, "freed_bytes", stats.FreedBytes)
	}
}

// every runs job each interval until ctx ends.
func every(ctx context.Context, interval time.Duration, job func(context.Context)) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			job(ctx)
		}
	}
}

// routes puts every API on the one listener.
func routes(api *awsapi.JSONServer, reg *registry.Registry, hub *agentconn.Hub, nodes *agentconn.Proxy, ready *atomic.Bool, tokens, taskWait http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle(tokensPath, tokens)
	mux.Handle(taskWaitPath, taskWait)
	mux.Handle("/v2/", reg)
	mux.Handle("/gantry/v1/agent/", hub)
	mux.Handle(agentconn.LogsPath, nodes)
	mux.Handle(agentconn.ExecPath, nodes)
	mux.Handle(agentconn.NodeImages, nodes)
	mux.Handle(agentconn.NodeImages+"/", nodes)
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("POST /{$}", func(w http.ResponseWriter, r *http.Request) {
		if !api.Accepts(r) {
			http.Error(w, "missing X-Amz-Target: Gantry serves AWS JSON 1.1 APIs on POST /", http.StatusBadRequest)
			return
		}
		api.ServeHTTP(w, r)
	})
	return mux
}

func printBanner(out io.Writer, cfg Config, addr, credsPath string) {
	url := "http://" + addr
	fmt.Fprintf(out, "gantry server: listening on %s (data in %s)\n", url, cfg.DataDir)
	fmt.Fprintf(out, "credentials: %s  (AWS_SHARED_CREDENTIALS_FILE=%s aws --endpoint-url %s --region %s ecs list-clusters)\n",
		credsPath, credsPath, url, cfg.Region)
}
