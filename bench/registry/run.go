package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

// config is what the flags select.
type config struct {
	size   int64 // random bytes in the image
	layers int
	runs   int
	keep   bool
}

// tag names the image in every OCI layout and repository.
const tag = "bench"

// phase is one measured transfer, run cfg.runs times.
type phase struct {
	name    string
	mibps   []float64
	peakRSS int64 // highest server VmHWM over the runs, bytes; 0 when no server is involved
	idleRSS int64 // highest server VmRSS once ready, before the transfer
}

// bench holds what every run needs.
type bench struct {
	ctx    context.Context
	cfg    config
	work   string // temporary directory holding everything the benchmark writes
	gantry string // built server binary
	skopeo string
	src    string // OCI layout of the generated image
}

func run(ctx context.Context, cfg config) error {
	skopeo, err := exec.LookPath("skopeo")
	if err != nil {
		return errors.New("skopeo is missing: install Debian's skopeo package")
	}
	work, err := os.MkdirTemp("", "gantry-bench-registry-")
	if err != nil {
		return err
	}
	defer func() {
		if cfg.keep {
			fmt.Fprintln(os.Stderr, "bench: kept", work)
		} else {
			os.RemoveAll(work)
		}
	}()
	b := &bench{ctx: ctx, cfg: cfg, work: work, gantry: filepath.Join(work, "gantry"), skopeo: skopeo, src: filepath.Join(work, "image")}
	build := exec.CommandContext(ctx, "go", "build", "-o", b.gantry, "./cmd/gantry")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("building gantry (run from the repository root): %w", err)
	}
	start := time.Now()
	if err := writeImage(b.src, tag, cfg.size, cfg.layers); err != nil {
		return fmt.Errorf("generating the image: %w", err)
	}
	fmt.Printf("Gantry registry benchmark: %d cores, %s image of random bytes in %d layers (generated in %.1fs), %d runs per phase; peer: skopeo oci→oci copy\n",
		runtime.NumCPU(), mib(cfg.size), cfg.layers, time.Since(start).Seconds(), cfg.runs)

	var phases []phase
	for _, p := range []struct {
		name string
		run  func(i int) (float64, *server, error)
	}{
		{"floor: skopeo oci→oci", b.floorRun},
		{"push: skopeo oci→gantry", b.pushRun},
		{"pull: skopeo gantry→oci", b.pullRun},
	} {
		ph := phase{name: p.name}
		for i := 1; i <= cfg.runs; i++ {
			mibps, srv, err := p.run(i)
			if err != nil {
				return err
			}
			ph.mibps = append(ph.mibps, mibps)
			line := fmt.Sprintf("  %-24s run %d: %7.1f MiB/s", p.name, i, mibps)
			if srv != nil {
				ph.peakRSS, ph.idleRSS = max(ph.peakRSS, srv.peakRSS), max(ph.idleRSS, srv.idleRSS)
				line += fmt.Sprintf("  server peak RSS %s (%s once ready)", mb(srv.peakRSS), mb(srv.idleRSS))
			}
			fmt.Println(line)
		}
		phases = append(phases, ph)
	}
	printTable(phases)
	return nil
}

// floorRun copies the image between two local OCI layouts: the cost of reading, verifying
// and writing the bytes with no registry in between.
func (b *bench) floorRun(i int) (float64, *server, error) {
	dst := filepath.Join(b.work, fmt.Sprintf("floor-%d", i))
	d, err := b.copy("oci:"+b.src+":"+tag, "oci:"+dst+":"+tag)
	if err != nil {
		return 0, nil, fmt.Errorf("floor run %d: %w", i, err)
	}
	return b.mibps(d), nil, os.RemoveAll(dst)
}

// pushRun pushes the image into a server with an empty data dir, so no blob can be mounted
// or skipped and every byte crosses the wire; it checks the server stored them all.
func (b *bench) pushRun(i int) (float64, *server, error) {
	dataDir := filepath.Join(b.work, fmt.Sprintf("data-%d", i))
	var d time.Duration
	srv, err := b.withServer(dataDir, "push", i, func(srv *server) (err error) {
		d, err = b.copy("--dest-tls-verify=false", "--dest-creds", srv.creds,
			"oci:"+b.src+":"+tag, "docker://"+srv.host+"/"+pushRepo(i)+":"+tag)
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	stored, err := treeSize(filepath.Join(dataDir, "registry", "blobs"))
	if err != nil {
		return 0, nil, err
	}
	if stored < b.cfg.size {
		return 0, nil, fmt.Errorf("push run %d: the server holds %s of blobs for a %s image: it did not receive every layer", i, mib(stored), mib(b.cfg.size))
	}
	if i > 1 && !b.cfg.keep { // the pull phase reads the first run's data dir
		err = os.RemoveAll(dataDir)
	}
	return b.mibps(d), srv, err
}

// pullRun pulls the first push run's image from a freshly started server into an empty
// OCI layout.
func (b *bench) pullRun(i int) (float64, *server, error) {
	dst := filepath.Join(b.work, fmt.Sprintf("pull-%d", i))
	var d time.Duration
	srv, err := b.withServer(filepath.Join(b.work, "data-1"), "pull", i, func(srv *server) (err error) {
		d, err = b.copy("--src-tls-verify=false", "--src-creds", srv.creds,
			"docker://"+srv.host+"/"+pushRepo(1)+":"+tag, "oci:"+dst+":"+tag)
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	got, err := treeSize(filepath.Join(dst, "blobs"))
	if err != nil {
		return 0, nil, err
	}
	if got < b.cfg.size {
		return 0, nil, fmt.Errorf("pull run %d: got %s of blobs for a %s image", i, mib(got), mib(b.cfg.size))
	}
	return b.mibps(d), srv, os.RemoveAll(dst)
}

// pushRepo is a repository name no earlier run has used.
func pushRepo(i int) string { return fmt.Sprintf("bench/big-r%d", i) }

// withServer runs transfer against a gantry server started for it on dataDir, reads the
// server's peak RSS and stops it, on every path. The stopped server is returned so the
// caller can report its memory figures.
func (b *bench) withServer(dataDir, phase string, i int, transfer func(*server) error) (*server, error) {
	srv, err := startServer(b.ctx, b.gantry, dataDir, filepath.Join(b.work, fmt.Sprintf("server-%s-%d.log", phase, i)))
	if err != nil {
		return nil, fmt.Errorf("%s run %d: %w", phase, i, err)
	}
	defer srv.stop()
	if err := transfer(srv); err != nil {
		if b.ctx.Err() != nil {
			return nil, fmt.Errorf("%s run %d: %w", phase, i, err)
		}
		return nil, fmt.Errorf("%s run %d: %w\n%s", phase, i, err, srv.logTail(30))
	}
	peak, _, err := srv.rss()
	if err != nil {
		return nil, err
	}
	srv.peakRSS = peak
	return srv, nil
}

// copy runs `skopeo copy args...` and returns its wall time. Dirty pages left by the
// previous run are flushed first so each run starts from the same state.
func (b *bench) copy(args ...string) (time.Duration, error) {
	syscall.Sync()
	cmd := exec.CommandContext(b.ctx, b.skopeo, append([]string{"--insecure-policy", "copy"}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if b.ctx.Err() != nil {
		return 0, fmt.Errorf("interrupted: %w", b.ctx.Err())
	}
	if err != nil {
		return 0, fmt.Errorf("skopeo copy %s: %w\n%s", strings.Join(redact(args), " "), err, bytes.TrimSpace(out.Bytes()))
	}
	return d, nil
}

// redact hides the value of credential flags.
func redact(args []string) []string {
	out := slices.Clone(args)
	for i := 1; i < len(out); i++ {
		if strings.HasSuffix(out[i-1], "-creds") {
			out[i] = "<redacted>"
		}
	}
	return out
}

func (b *bench) mibps(d time.Duration) float64 {
	return float64(b.cfg.size) / (1 << 20) / d.Seconds()
}

// treeSize is the total size of the regular files under dir.
func treeSize(dir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(_ string, e fs.DirEntry, err error) error {
		if err != nil || !e.Type().IsRegular() {
			return err
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		total += info.Size()
		return nil
	})
	return total, err
}
