package main

import (
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// runEtcdPeer runs a standalone single-member etcd in dir with its client API (gRPC and
// the HTTP/JSON gateway) on a free loopback port, printing the address, until SIGTERM.
func runEtcdPeer(dir string) {
	addr, err := freeAddr()
	if err != nil {
		fmt.Fprintln(os.Stderr, "etcd peer:", err)
		os.Exit(1)
	}
	cfg := embed.NewConfig()
	cfg.Dir = dir
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	client, _ := url.Parse("http://" + addr) // the gateway dials this, so it needs a real port
	peer, _ := url.Parse("unix:" + filepath.Join(dir, "peer.sock"))
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*client}, []url.URL{*client}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*peer}, []url.URL{*peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "etcd peer:", err)
		os.Exit(1)
	}
	<-e.Server.ReadyNotify()
	fmt.Println(addr)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	e.Close()
}
