package dockerd

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"gantry/bench/internal/proc"
)

// Config says where and how to run dockerd.
type Config struct {
	// Dir holds the socket, data root, exec root, client config and dockerd.log.
	Dir string
	// Bridge is created with BridgeCIDR (such as 10.213.251.1/24) as dockerd's default
	// bridge; Start's caller deletes it through the cleanup it registers.
	Bridge, BridgeCIDR string
	// Namespace is the containerd namespace, apart from the host's ("moby").
	Namespace string
}

// Daemon is a running dockerd.
type Daemon struct {
	dir, host string
	cmd       *exec.Cmd
	exited    chan struct{}
	stopped   bool
}

// Client is Debian's docker client; a newer one may shadow it in /usr/local/bin.
const Client = "/usr/bin/docker"

// Start creates the bridge, starts dockerd with --iptables=false --ip-masq=false
// --ip-forward=false and waits until it answers. It registers the bridge's removal and
// Stop with cleanup before making either, so that a failure leaves nothing behind.
func Start(ctx context.Context, cfg Config, cleanup func(name string, fn func() error)) (*Daemon, error) {
	for _, p := range []string{"/usr/sbin/dockerd", Client} {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("%s is missing: install Debian's docker.io package", p)
		}
	}
	if err := os.MkdirAll(filepath.Join(cfg.Dir, "client"), 0o700); err != nil {
		return nil, err
	}
	cleanup("docker bridge "+cfg.Bridge, func() error {
		if _, err := os.Stat("/sys/class/net/" + cfg.Bridge); err == nil {
			return ip("link", "del", cfg.Bridge)
		}
		return nil
	})
	for _, s := range [][]string{
		{"link", "add", cfg.Bridge, "type", "bridge"},
		{"addr", "add", cfg.BridgeCIDR, "dev", cfg.Bridge},
		{"link", "set", cfg.Bridge, "up"},
	} {
		if err := ip(s...); err != nil {
			return nil, err
		}
	}
	d := &Daemon{dir: cfg.Dir, host: "unix://" + filepath.Join(cfg.Dir, "docker.sock"), exited: make(chan struct{})}
	d.cmd = exec.Command("/usr/sbin/dockerd",
		"--data-root", filepath.Join(cfg.Dir, "data"), "--exec-root", filepath.Join(cfg.Dir, "exec"),
		"--pidfile", filepath.Join(cfg.Dir, "docker.pid"), "-H", d.host,
		"--bridge", cfg.Bridge, "--iptables=false", "--ip-masq=false", "--ip-forward=false",
		"--containerd-namespace", cfg.Namespace, "--containerd-plugins-namespace", cfg.Namespace+"-plugins")
	log, err := os.Create(filepath.Join(cfg.Dir, "dockerd.log"))
	if err != nil {
		return nil, err
	}
	d.cmd.Stdout, d.cmd.Stderr = log, log
	if err := d.cmd.Start(); err != nil {
		log.Close()
		return nil, err
	}
	go func() { d.cmd.Wait(); log.Close(); close(d.exited) }()
	cleanup("dockerd", d.Stop)
	return d, d.waitReady(ctx)
}

func (d *Daemon) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if _, err := d.Docker(ctx, "", "version"); err == nil {
			return nil
		}
		select {
		case <-d.exited:
			return fmt.Errorf("dockerd exited: %s", d.logTail())
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("dockerd did not answer in 30 s: %s", d.logTail())
}

// Stop removes every container, then stops dockerd (which stops its containerd). It may
// be called more than once.
func (d *Daemon) Stop() error {
	if d.stopped {
		return nil
	}
	d.stopped = true
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if out, err := d.Docker(ctx, "", "ps", "-aq"); err == nil && strings.TrimSpace(out) != "" {
		d.Docker(ctx, "", append([]string{"rm", "-f"}, strings.Fields(out)...)...)
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(30 * time.Second):
		d.cmd.Process.Kill()
		<-d.exited
		return fmt.Errorf("dockerd did not stop in 30 s; killed")
	}
	return nil
}

// Docker runs the docker client against this dockerd; stdin is a file or "".
func (d *Daemon) Docker(ctx context.Context, stdin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, Client, append([]string{"-H", d.host}, args...)...)
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+filepath.Join(d.dir, "client"))
	if stdin != "" {
		f, err := os.Open(stdin)
		if err != nil {
			return "", err
		}
		defer f.Close()
		cmd.Stdin = f
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("docker %s: %v: %s", strings.Join(args, " "), err, proc.Tail(out.Bytes()))
	}
	return out.String(), nil
}

// RSS is the resident memory of dockerd and its descendants (containerd, and shims while
// containers run), in bytes.
func (d *Daemon) RSS() (int64, error) { return proc.TreeRSS(d.cmd.Process.Pid) }

func (d *Daemon) logTail() string {
	b, _ := os.ReadFile(filepath.Join(d.dir, "dockerd.log"))
	return proc.Tail(b)
}

func ip(args ...string) error {
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
