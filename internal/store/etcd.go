package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3client"
	"go.uber.org/zap"
)

// Config says where the embedded etcd keeps its data.
type Config struct {
	// Dir is etcd's data directory (created with mode 0700 if missing).
	Dir string
	// StartTimeout bounds how long Open waits for etcd to become ready.
	StartTimeout time.Duration
}

// Store is an open embedded etcd member and a client talking to it in-process.
type Store struct {
	etcd *embed.Etcd
	kv   *clientv3.Client

	// Every call holds mu for reading while it uses etcd, and Close takes it for writing:
	// a call racing with Close fails with ErrClosed instead of reaching a closed
	// backend (which panics in bbolt).
	mu     sync.RWMutex
	closed bool
}

// ErrClosed means the store was closed.
var ErrClosed = errors.New("store: closed")

// enter starts a call; the caller must call s.mu.RUnlock when it no longer uses etcd.
func (s *Store) enter() error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	return nil
}

// Open starts the embedded etcd in cfg.Dir and returns once it serves requests.
// etcd listens only on unix sockets inside its data directory: nothing outside this
// machine can reach it, and two servers on one machine never fight over a port.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating etcd data dir: %w", err)
	}
	ecfg, err := etcdConfig(cfg.Dir)
	if err != nil {
		return nil, err
	}
	e, err := embed.StartEtcd(ecfg)
	if err != nil {
		return nil, fmt.Errorf("starting etcd in %s: %w", cfg.Dir, err)
	}
	timeout := cfg.StartTimeout
	if timeout == 0 {
		timeout = time.Minute
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("etcd in %s failed while starting: %w", cfg.Dir, err)
	case <-time.After(timeout):
		e.Close()
		return nil, fmt.Errorf("etcd in %s not ready after %s", cfg.Dir, timeout)
	case <-ctx.Done():
		e.Close()
		return nil, ctx.Err()
	}
	return &Store{etcd: e, kv: v3client.New(e.Server)}, nil
}

func etcdConfig(dir string) (*embed.Config, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	peer, err := url.Parse("unix:" + filepath.Join(abs, "peer.sock"))
	if err != nil {
		return nil, err
	}
	client, err := url.Parse("unix:" + filepath.Join(abs, "client.sock"))
	if err != nil {
		return nil, err
	}
	c := embed.NewConfig()
	c.Name = "gantry"
	c.Dir = abs
	c.ListenPeerUrls = []url.URL{*peer}
	c.AdvertisePeerUrls = []url.URL{*peer}
	c.ListenClientUrls = []url.URL{*client}
	c.AdvertiseClientUrls = []url.URL{*client}
	c.InitialCluster = c.InitialClusterFromName(c.Name)
	c.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	// Keep history bounded: Gantry needs revisions for compare-and-swap, not a long past.
	c.AutoCompactionMode = embed.CompactorModeRevision
	c.AutoCompactionRetention = "10000"
	// etcd keeps this many applied raft entries in memory between snapshots; task records
	// and bookings make entries of a few KiB, and the default (100,000 in some versions)
	// let an idle server hold hundreds of MiB after a burst of tasks.
	c.SnapshotCount = 5000
	// GetMany reads a cluster's heartbeats (one key per container instance, up to
	// ECS's 2,000 per cluster and more over several clusters) in one transaction;
	// etcd's default allows 128 operations.
	c.MaxTxnOps = 10000
	return c, nil
}

// Close stops etcd. Every write acknowledged before Close is on disk.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.kv.Close()
	s.etcd.Close()
	return nil
}
