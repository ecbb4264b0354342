package main

import (
	"context"
	"errors"
	"fmt"
	"gantry/bench/internal/rootfs"
	"os"
	"slices"
	"time"
)

type config struct {
	runs, warmup int
	skip         map[string]bool
}

// Names of the bench's network objects and subnets, all inside 10.213.0.0/16 and apart
// from Gantry's default: the cleanup sweep looks for them.
const (
	gantryBridge   = "gbench0"
	gantrySubnet   = "10.213.240.0/24"
	dockerBridge   = "gbenchd0"
	dockerBridgeIP = "10.213.241.1/24"
	runcNetNS      = "gbench-runc"
	runcHostVeth   = "gbr-h"
	runcCtrVeth    = "gbr-c"
	runcHostIP     = "10.213.242.1/24"
	runcCtrIP      = "10.213.242.2"
	podmanNet      = "gbenchp"
	podmanSubnet   = "10.213.243.0/24"
	imageRef       = "gbench/busybox:latest"
)

// scenario is one way of timing an engine: it returns the headline time and named
// phases (shown in the breakdown). i counts from -warmup; runs with i < 0 are not kept.
type scenario func(ctx context.Context, i int) (time.Duration, []phase, error)

type phase struct {
	name string
	d    time.Duration
}

// engine is one contender with its two scenarios; a nil scenario is not measured, and
// skipped says why an engine or scenario is missing from the table.
type engine struct {
	name          string
	oneShot       scenario
	serve         scenario
	skipOneShot   string
	skipServe     string
	oneShotSample []time.Duration
	serveSample   []time.Duration
	phases        map[string][]time.Duration // "oneshot/mount", "serve/setup", ...
	phaseOrder    []string
}

func (e *engine) record(kind string, total time.Duration, ph []phase) {
	if kind == "oneshot" {
		e.oneShotSample = append(e.oneShotSample, total)
	} else {
		e.serveSample = append(e.serveSample, total)
	}
	if e.phases == nil {
		e.phases = map[string][]time.Duration{}
	}
	for _, p := range ph {
		k := kind + "/" + p.name
		if _, ok := e.phases[k]; !ok {
			e.phaseOrder = append(e.phaseOrder, k)
		}
		e.phases[k] = append(e.phases[k], p.d)
	}
}

func run(ctx context.Context, cfg config) (err error) {
	work, err := os.MkdirTemp("", "gantry-bench-runtime-")
	if err != nil {
		return err
	}
	cl := startCleanup()
	defer func() {
		// Cleanup must run even when ctx was cancelled by a signal.
		if cerr := cl.Run(work); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}()

	fmt.Printf("Gantry node engine benchmark: %d runs (+%d warm-up) per scenario and engine, %d cores, work dir %s\n",
		cfg.runs, cfg.warmup, runtimeCPUs(), work)
	fs, err := rootfs.Build(work)
	if err != nil {
		return err
	}
	var engines []*engine
	g, err := setupGantry(ctx, work, fs, cl)
	if err != nil {
		return fmt.Errorf("gantry: %w", err)
	}
	engines = append(engines, g.engine())
	r, err := setupRunc(ctx, work, fs, g, cl)
	if err != nil {
		return fmt.Errorf("runc: %w", err)
	}
	engines = append(engines, r)
	engines = append(engines, setupDocker(ctx, work, fs, cfg, cl), setupPodman(ctx, work, fs, cfg, cl))
	if ctx.Err() != nil {
		return ctx.Err()
	}

	for _, kind := range []string{"oneshot", "serve"} {
		fmt.Printf("measuring %s ...\n", kindTitle[kind])
		for i := -cfg.warmup; i < cfg.runs; i++ {
			for _, e := range engines {
				sc, skip := e.oneShot, &e.skipOneShot
				if kind == "serve" {
					sc, skip = e.serve, &e.skipServe
				}
				if sc == nil || *skip != "" {
					continue
				}
				// Let the previous run's asynchronous clean-up (dockerd's, containerd's,
				// podman's, the kernel's freeing of namespaces and cgroups) finish first, so
				// it is not charged to the next engine.
				time.Sleep(settle)
				total, ph, err := sc(ctx, i)
				if ctx.Err() != nil {
					return ctx.Err()
				}
				if err != nil {
					*skip = fmt.Sprintf("failed in run %d: %v", i, err)
					fmt.Printf("  %s %s: %s\n", e.name, kind, *skip)
					continue
				}
				if i >= 0 {
					e.record(kind, total, ph)
				}
			}
		}
	}
	printTable(engines, cfg)
	return nil
}

// settle is the pause before each measured run.
const settle = 150 * time.Millisecond

var kindTitle = map[string]string{
	"oneshot": "one-shot create + start + wait for exit of /bin/true",
	"serve":   "start until busybox httpd answers 200",
}

func runtimeCPUs() int {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return 0
	}
	n := 0
	for _, l := range splitLines(string(b)) {
		if len(l) >= 9 && l[:9] == "processor" {
			n++
		}
	}
	return n
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(d))
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d.Microseconds())/1000) }
