package main

import (
	"context"
	"errors"
	"fmt"
	"gantry/bench/internal/rootfs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"gantry/bench/internal/dockerd"
	"gantry/bench/internal/sweep"
)

// Goal of the issue for idle memory.
const goalIdleRSS = 100 << 20

// lockPath serializes runs of this bench: two would share its bridges and subnets and
// skew each other's figures.
const lockPath = "/run/lock/gantry-bench-tasks.lock"

// lock takes the bench's lock, or says who holds it.
func lock() (*os.File, error) {
	f, err := os.OpenFile(lockPath, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(lockPath)
		f.Close()
		return nil, fmt.Errorf("another run of bench/tasks holds %s (pid %s); wait for it to end", lockPath, strings.TrimSpace(string(holder)))
	}
	f.Truncate(0)
	fmt.Fprintln(f, os.Getpid())
	return f, nil
}

func run(ctx context.Context, cfg config) (err error) {
	lf, err := lock()
	if err != nil {
		return err
	}
	defer lf.Close()
	for _, l := range sweepConfig.Links {
		if _, err := os.Stat("/sys/class/net/" + l); err == nil {
			return fmt.Errorf("link %s exists: a run that was killed left it, or something else uses it; remove it (ip link del %s) if it is a leftover", l, l)
		}
	}
	work, err := os.MkdirTemp("", "gantry-bench-tasks-")
	if err != nil {
		return err
	}
	cl := sweep.Start(sweepConfig)
	defer func() {
		if err != nil || cfg.keepLogs {
			saveLogs(work)
		}
		// Cleanup must run even when ctx was cancelled by a signal.
		if cerr := cl.Run(work); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}()
	fmt.Printf("Gantry tasks benchmark: parts %v, %d cores, work dir %s\n", cfg.partList(), runtime.NumCPU(), work)
	printLoad()
	b, err := buildBinaries(ctx, work)
	if err != nil {
		return err
	}
	sum := &summary{}
	if cfg.parts["launch"] || cfg.parts["oneshot"] || cfg.parts["idle"] {
		if err := runNode(ctx, cfg, b, work, cl, sum); err != nil {
			return err
		}
	}
	if cfg.parts["scale"] {
		if err := runScale(ctx, cfg, b, work, cl, sum); err != nil {
			return fmt.Errorf("scale: %w", err)
		}
	}
	sum.print()
	return nil
}

// saveLogs copies the servers' and dockerd's logs out of the work dir, which cleanup
// removes, so that a failure (or, with -keep-logs, any run) can be looked into.
func saveLogs(work string) {
	logs, _ := filepath.Glob(filepath.Join(work, "*", "*.log"))
	if len(logs) == 0 {
		return
	}
	dir, err := os.MkdirTemp("", "gantry-bench-tasks-logs-")
	if err != nil {
		return
	}
	for _, l := range logs {
		if b, err := os.ReadFile(l); err == nil {
			name := filepath.Base(filepath.Dir(l)) + "-" + filepath.Base(l)
			os.WriteFile(filepath.Join(dir, name), b, 0o600)
		}
	}
	fmt.Println("logs kept in", dir)
}

func (c config) partList() []string {
	var out []string
	for _, p := range allParts {
		if c.parts[p] {
			out = append(out, p)
		}
	}
	return out
}

// printLoad shows the load average, as other work on the machine skews the figures.
func printLoad() {
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Printf("load average before the bench: %s", b)
	}
}

// runNode runs the parts that use a server with its in-process agent: idle memory first
// (and again after the load), launch latency, then one-shot runs.
func runNode(ctx context.Context, cfg config, b bins, work string, cl *sweep.Cleanup, sum *summary) error {
	fs, err := rootfs.Build(work)
	if err != nil {
		return err
	}
	fmt.Println("starting gantry server with its agent ...")
	s, err := startServer(ctx, b, filepath.Join(work, "node"), true, cl)
	if err != nil {
		return fmt.Errorf("gantry server: %w", err)
	}
	if _, err := s.cli(ctx, "image", "import", fs.Tarball, imageRef); err != nil {
		return err
	}
	var d *dockerd.Daemon
	dockerWhy := "skipped by -skip-docker"
	if (cfg.parts["oneshot"] || cfg.parts["idle"]) && !cfg.skipDocker {
		fmt.Println("starting dockerd ...")
		if d, err = startDocker(ctx, work, fs, cl); err != nil {
			dockerWhy = err.Error()
			fmt.Println("docker: not measured:", dockerWhy)
			d = nil
		}
	}
	var idleAtStart memReading
	if cfg.parts["idle"] {
		idleAtStart = readIdle(ctx, cfg.idle, s, d)
	}
	if cfg.parts["launch"] {
		if err := runLaunches(ctx, cfg, s, sum); err != nil {
			return fmt.Errorf("launch: %w", err)
		}
	}
	if cfg.parts["oneshot"] {
		if err := runOneShots(ctx, cfg, s, fs, d, dockerWhy, work, cl, sum); err != nil {
			return fmt.Errorf("oneshot: %w", err)
		}
	}
	if cfg.parts["idle"] {
		after := idleAtStart
		if cfg.parts["launch"] || cfg.parts["oneshot"] {
			after = readIdle(ctx, cfg.idle, s, d)
		}
		printIdle(cfg, idleAtStart, after, d != nil, dockerWhy, sum)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	// Free the machine for the scale part.
	var errs []error
	if d != nil {
		errs = append(errs, d.Stop())
	}
	errs = append(errs, s.cleanup())
	return errors.Join(errs...)
}

// startDocker starts a throwaway dockerd (bridge gbenchd1) and imports the rootfs.
func startDocker(ctx context.Context, work string, fs rootfs.Rootfs, cl *sweep.Cleanup) (*dockerd.Daemon, error) {
	d, err := dockerd.Start(ctx, dockerd.Config{Dir: filepath.Join(work, "docker"), Bridge: dockerBridge,
		BridgeCIDR: dockerBridgeIP, Namespace: "gbench-tasks"}, cl.Add)
	if err != nil {
		return nil, err
	}
	if _, err := d.Docker(ctx, fs.Tarball, "import", "-", imageRef); err != nil {
		return nil, err
	}
	return d, nil
}

// memReading is the resident memory of the server and of dockerd with its children.
type memReading struct {
	server, docker int64
	err            error
}

// readIdle waits idle, then reads both engines' resident memory.
func readIdle(ctx context.Context, idle time.Duration, s *gantryServer, d *dockerd.Daemon) memReading {
	fmt.Printf("idle: waiting %s with no task ...\n", idle)
	select {
	case <-time.After(idle):
	case <-ctx.Done():
	}
	var m memReading
	m.server, m.err = s.rss()
	if d != nil && m.err == nil {
		m.docker, m.err = d.RSS()
	}
	return m
}

func printIdle(cfg config, start, after memReading, docker bool, dockerWhy string, sum *summary) {
	fmt.Println()
	fmt.Printf("resident memory (VmRSS) after %s idle with no task\n", cfg.idle)
	if err := errors.Join(start.err, after.err); err != nil {
		fmt.Println("  not measured:", err)
		sum.add("idle: not measured: %v", err)
		return
	}
	dk := func(m memReading) string {
		if !docker {
			return "— (" + dockerWhy + ")"
		}
		return mib(m.docker)
	}
	fmt.Printf("  %-44s | %14s | %s\n", "", "gantry server", "dockerd + containerd")
	fmt.Printf("  %-44s | %14s | %s\n", "after start and image import", mib(start.server), dk(start))
	fmt.Printf("  %-44s | %14s | %s\n", "after the launch and oneshot runs", mib(after.server), dk(after))
	fmt.Println("  gantry server: one process holding the API, embedded etcd, registry and node agent; docker: dockerd and")
	fmt.Println("  its containerd (and their shims while containers run). Both idle, with the same image imported.")
	worst := max(start.server, after.server)
	line := fmt.Sprintf("idle: server RSS ≤ %d MiB: %s at start, %s after load", goalIdleRSS>>20, mib(start.server), mib(after.server))
	if docker {
		line += fmt.Sprintf(" (dockerd + containerd: %s, %s)", mib(start.docker), mib(after.docker))
	}
	sum.add("%s — %s", line, verdict(worst <= goalIdleRSS))
}
