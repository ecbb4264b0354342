// Command tasks measures Gantry's task path end to end, each part beside a peer or a goal
// on the same machine in the same run:
//
// launch: RunTask → RUNNING latency of a cached image on the in-process agent, with
// launches at fixed rates (open loop), p50/p90/p99/max per rate.
//
// oneshot: wall time of the CLI `gantry run --rm IMAGE true` beside raw `runc run` of the
// same root filesystem and `docker run --rm` (when dockerd can be started).
//
// scale: placements/s of RunTask (count 10, C clients) over N hollow container instances
// (internal/agent's fake engine, all in this process), the time until every task is
// RUNNING, and the scheduler's pure placement rate.
//
// idle: resident memory of the server with its agent after 10 s idle, beside dockerd
// with its containerd.
//
//	go run ./bench/tasks                                 # everything, default sizes
//	go run ./bench/tasks -parts launch -rates 20:200
//	go run ./bench/tasks -parts scale -instances 1000 -tasks 50000
//
// It must run as root from the repository root.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// config is what the flags ask for.
type config struct {
	parts map[string]bool

	rates  []rate // launch
	warmup int
	// stopAtRunning stops each launched task as soon as it is seen RUNNING (launches
	// and stops interleave); otherwise the rate's tasks keep running until all of them
	// are, and are stopped after the measured window.
	stopAtRunning bool

	runs       int // oneshot
	skipDocker bool

	instances, tasks, clients int // scale
	strategy                  string
	scaleTimeout              time.Duration
	pure                      bool

	idle time.Duration // idle

	keepLogs bool
}

// rate is one launch run: count launches at perSecond.
type rate struct {
	perSecond float64
	count     int
}

var allParts = []string{"launch", "oneshot", "scale", "idle"}

func main() {
	parts := flag.String("parts", strings.Join(allParts, ","), "comma-separated parts to run: launch, oneshot, scale, idle")
	rates := flag.String("rates", "1:60,20:200", "launch: comma-separated RATE:COUNT, COUNT launches at RATE per second (open loop)")
	warmup := flag.Int("warmup", 2, "launch and oneshot: unmeasured runs first")
	stopWhen := flag.String("stop", "after", "launch: when to stop the measured tasks: after (once every task of the rate is RUNNING, outside the measured window) or running (each as soon as it is seen RUNNING, so launches and stops share the machine)")
	runs := flag.Int("runs", 30, "oneshot: measured runs of each engine")
	skipDocker := flag.Bool("skip-docker", false, "oneshot and idle: leave docker out")
	instances := flag.Int("instances", 100, "scale: hollow container instances (the issue's size: 1000)")
	tasks := flag.Int("tasks", 5000, "scale: tasks to place (the issue's size: 50000)")
	clients := flag.Int("clients", 16, "scale: concurrent RunTask clients")
	strategy := flag.String("strategy", "spread:instanceId", "scale: placement strategy TYPE:FIELD (spread:instanceId, binpack:memory, random:)")
	scaleTimeout := flag.Duration("scale-timeout", 10*time.Minute, "scale: give up placing, or waiting for RUNNING, after this long")
	pure := flag.Bool("pure", true, "scale: also run the scheduler's BenchmarkPlace (go test) for the pure placement rate")
	idle := flag.Duration("idle", 10*time.Second, "idle: how long the server sits idle before its memory is read")
	keepLogs := flag.Bool("keep-logs", false, "copy the servers' and dockerd's logs out of the work dir before it is removed")
	flag.StringVar(&debugListen, "debug-listen", "", "serve the servers' Go profiler on this loopback address (go tool pprof http://ADDR/debug/pprof/profile)")
	cpuProfile := flag.String("cpuprofile", "", "write this process's CPU profile (clients and hollow agents) to this file")
	flag.Parse()

	cfg := config{parts: map[string]bool{}, warmup: *warmup, runs: *runs, skipDocker: *skipDocker,
		instances: *instances, tasks: *tasks, clients: *clients, strategy: *strategy,
		scaleTimeout: *scaleTimeout, pure: *pure, idle: *idle, keepLogs: *keepLogs}
	for _, p := range strings.Split(*parts, ",") {
		p = strings.TrimSpace(p)
		if !slices.Contains(allParts, p) {
			usage("-parts %q: want some of %s", *parts, strings.Join(allParts, ", "))
		}
		cfg.parts[p] = true
	}
	for _, s := range strings.Split(*rates, ",") {
		r, c, ok := strings.Cut(strings.TrimSpace(s), ":")
		perSecond, err1 := strconv.ParseFloat(r, 64)
		count, err2 := strconv.Atoi(c)
		if !ok || err1 != nil || err2 != nil || perSecond <= 0 || count < 1 {
			usage("-rates %q: want RATE:COUNT pairs such as 1:60,20:200", *rates)
		}
		cfg.rates = append(cfg.rates, rate{perSecond, count})
	}
	if cfg.runs < 1 || cfg.warmup < 0 || cfg.instances < 1 || cfg.tasks < 1 || cfg.clients < 1 || cfg.idle < 0 {
		usage("-runs, -instances, -tasks and -clients must be positive, -warmup and -idle not negative")
	}
	if _, _, ok := strings.Cut(cfg.strategy, ":"); !ok {
		usage("-strategy %q: want TYPE:FIELD", cfg.strategy)
	}
	switch *stopWhen {
	case "after":
	case "running":
		cfg.stopAtRunning = true
	default:
		usage("-stop %q: want after or running", *stopWhen)
	}
	if os.Geteuid() != 0 {
		usage("run as root (containers, overlay mounts, network namespaces, iptables)")
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			usage("-cpuprofile: %v", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			usage("-cpuprofile: %v", err)
		}
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE)
	err := run(ctx, cfg)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func usage(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
	os.Exit(2)
}
