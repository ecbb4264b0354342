package main

import (
	"bytes"
	"context"
	"fmt"
	"gantry/bench/internal/rootfs"
	"gantry/bench/internal/sweep"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// podman runs Debian's podman 4.3 with all its state in the work dir (--root, --runroot,
// --tmpdir, --network-config-dir) and the flags this machine needs: cgroupfs, file events,
// runc, and explicit ulimits no higher than the current hard limits (the VM lacks
// CAP_SYS_RESOURCE). Its published port goes through a dedicated CNI network, gbenchp
// (10.213.243.0/24 on the next free cni-podmanN bridge), removed at the end.
type podman struct {
	global  []string
	ulimits []string
	bridge  string // the network's bridge, cni-podmanN: podman 4.3 cannot name it
}

func setupPodman(ctx context.Context, work string, fs rootfs.Rootfs, cfg config, cl *sweep.Cleanup) *engine {
	e := &engine{name: "podman"}
	if cfg.skip["podman"] {
		e.skipOneShot, e.skipServe = "skipped by -skip", "skipped by -skip"
		return e
	}
	p, err := startPodman(ctx, work, fs, cl)
	if err != nil {
		reason := "not measured: " + err.Error()
		fmt.Println("podman:", reason)
		e.skipOneShot, e.skipServe = reason, reason
		return e
	}
	e.oneShot, e.serve = p.oneShot, p.serve
	if err := p.createNetwork(ctx); err != nil {
		e.skipServe = "not measured: " + err.Error()
		fmt.Println("podman:", e.skipServe)
	}
	return e
}

func startPodman(ctx context.Context, work string, fs rootfs.Rootfs, cl *sweep.Cleanup) (*podman, error) {
	if err := ensurePodman(ctx); err != nil {
		return nil, err
	}
	dir := filepath.Join(work, "podman")
	p := &podman{global: []string{
		"--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(dir, "run"),
		"--tmpdir", filepath.Join(dir, "tmp"), "--network-config-dir", filepath.Join(dir, "net"),
		"--storage-driver", "overlay",
		"--cgroup-manager=cgroupfs", "--events-backend=file", "--runtime", "runc",
	}}
	// nofile as Gantry's default (the host's hard limit); nproc well below it: here runc
	// init under conmon fails to set nproc to the hard limit of the bench's own process
	// (EPERM), while 4096 works.
	for _, l := range []struct {
		name string
		res  int
		max  uint64
	}{{"nofile", unix.RLIMIT_NOFILE, 1 << 20}, {"nproc", unix.RLIMIT_NPROC, 4096}} {
		var rl unix.Rlimit
		if err := unix.Getrlimit(l.res, &rl); err != nil {
			return nil, err
		}
		n := min(rl.Max, l.max)
		p.ulimits = append(p.ulimits, "--ulimit", fmt.Sprintf("%s=%d:%d", l.name, n, n))
	}
	for _, d := range []string{"root", "run", "tmp", "net"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return nil, err
		}
	}
	cl.Add("podman containers, network and storage", p.removeAll)
	if _, err := p.podman(ctx, "import", fs.Tarball, "localhost/"+imageRef); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *podman) createNetwork(ctx context.Context) error {
	if _, err := p.podman(ctx, "network", "create", "--subnet", podmanSubnet, podmanNet); err != nil {
		return err
	}
	out, err := p.podman(ctx, "network", "inspect", "--format", "{{.NetworkInterface}}", podmanNet)
	if err != nil {
		return err
	}
	p.bridge = strings.TrimSpace(out)
	if p.bridge == "" || exists("/sys/class/net/"+p.bridge) {
		return fmt.Errorf("network %s: bridge %q is empty or already in use", podmanNet, p.bridge)
	}
	return nil
}

// ensurePodman installs Debian's podman (without recommends) when it is missing.
func ensurePodman(ctx context.Context) error {
	if _, err := exec.LookPath("podman"); err == nil {
		return nil
	}
	fmt.Println("podman: not installed; running apt-get install -y --no-install-recommends podman")
	install := func() ([]byte, error) {
		cmd := exec.CommandContext(ctx, "apt-get", "install", "-y", "--no-install-recommends", "podman")
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		return cmd.CombinedOutput()
	}
	out, err := install()
	if err != nil {
		exec.CommandContext(ctx, "apt-get", "update").Run()
		out, err = install()
	}
	if err != nil {
		return fmt.Errorf("apt-get install podman: %v: %s", err, tail(out))
	}
	fmt.Println("podman: installed packages:", newPackages(out))
	return nil
}

// newPackages extracts apt-get's "The following NEW packages will be installed" list.
func newPackages(aptOut []byte) string {
	var pkgs []string
	in := false
	for _, l := range splitLines(string(aptOut)) {
		switch {
		case strings.HasPrefix(l, "The following NEW packages"):
			in = true
		case in && strings.HasPrefix(l, " "):
			pkgs = append(pkgs, strings.Fields(l)...)
		default:
			in = false
		}
	}
	return strings.Join(pkgs, " ")
}

func (p *podman) podman(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "podman", append(append([]string{}, p.global...), args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("podman %s: %v: %s", strings.Join(args, " "), err, tail(out.Bytes()))
	}
	return out.String(), nil
}

func (p *podman) run(ctx context.Context, args ...string) (string, error) {
	a := append([]string{"run"}, p.ulimits...)
	return p.podman(ctx, append(a, args...)...)
}

// oneShot: `podman run --rm --network none IMAGE /bin/true`.
func (p *podman) oneShot(ctx context.Context, _ int) (time.Duration, []phase, error) {
	t0 := time.Now()
	_, err := p.run(ctx, "--rm", "--network", "none", "localhost/"+imageRef, "/bin/true")
	return time.Since(t0), nil, err
}

// serve: `podman run -d --network gbenchp -p 127.0.0.1:PORT:80 IMAGE httpd` until the
// first 200 from 127.0.0.1:PORT (CNI portmap DNAT); then `podman rm -f -t 0`.
func (p *podman) serve(ctx context.Context, _ int) (time.Duration, []phase, error) {
	port, err := freePort()
	if err != nil {
		return 0, nil, err
	}
	t0 := time.Now()
	out, err := p.run(ctx, "-d", "--network", podmanNet, "-p", fmt.Sprintf("127.0.0.1:%d:80", port),
		"localhost/"+imageRef, "/bin/httpd", "-f", "-p", "80", "-h", "/www")
	if err != nil {
		return 0, nil, err
	}
	id := strings.TrimSpace(out)
	err = waitServing(ctx, fmt.Sprintf("http://127.0.0.1:%d/", port))
	dur := time.Since(t0)
	if _, rerr := p.podman(context.WithoutCancel(ctx), "rm", "-f", "-t", "0", id); err == nil {
		err = rerr
	}
	return dur, nil, err
}

// removeAll removes every container (tearing down their CNI attachments), the network
// and its bridge, and unmounts podman's storage.
func (p *podman) removeAll() error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p.podman(ctx, "rm", "-a", "-f", "-t", "0")
	p.podman(ctx, "network", "rm", "-f", podmanNet)
	if p.bridge != "" && exists("/sys/class/net/"+p.bridge) {
		ipCmd("link", "del", p.bridge)
	}
	_, err := p.podman(ctx, "system", "reset", "-f")
	return err
}
