package main

import (
	"context"
	"fmt"
	"gantry/bench/internal/dockerd"
	"gantry/bench/internal/rootfs"
	"gantry/bench/internal/sweep"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// docker is a dockerd started by the bench in its own directory: own socket, data root,
// exec root and containerd namespace. Its default bridge is gbenchd0 (10.213.241.1/24),
// which the bench creates; it runs with --iptables=false --ip-masq=false
// --ip-forward=false, so it leaves the host's iptables alone. A port published on
// 127.0.0.1 is then served by docker-proxy, which is what serves 127.0.0.1 with
// docker's iptables rules too (its DNAT rule in OUTPUT skips 127.0.0.0/8).
type docker struct{ *dockerd.Daemon }

func setupDocker(ctx context.Context, work string, fs rootfs.Rootfs, cfg config, cl *sweep.Cleanup) *engine {
	e := &engine{name: "docker"}
	if cfg.skip["docker"] {
		e.skipOneShot, e.skipServe = "skipped by -skip", "skipped by -skip"
		return e
	}
	var d docker
	var err error
	if _, err = os.Stat("/usr/sbin/docker-proxy"); err != nil {
		err = fmt.Errorf("/usr/sbin/docker-proxy is missing: install Debian's docker.io package")
	} else {
		d.Daemon, err = dockerd.Start(ctx, dockerd.Config{Dir: filepath.Join(work, "docker"), Bridge: dockerBridge, BridgeCIDR: dockerBridgeIP, Namespace: "gbench"}, cl.Add)
	}
	if err == nil {
		_, err = d.Docker(ctx, fs.Tarball, "import", "-", imageRef)
	}
	if err != nil {
		reason := "not measured: " + err.Error()
		fmt.Println("docker:", reason)
		e.skipOneShot, e.skipServe = reason, reason
		return e
	}
	e.oneShot, e.serve = d.oneShot, d.serve
	return e
}

// oneShot: `docker run --rm --network none IMAGE /bin/true`.
func (d docker) oneShot(ctx context.Context, _ int) (time.Duration, []phase, error) {
	t0 := time.Now()
	_, err := d.Docker(ctx, "", "run", "--rm", "--network", "none", imageRef, "/bin/true")
	return time.Since(t0), nil, err
}

// serve: `docker run -d -p 127.0.0.1:PORT:80 IMAGE httpd` until the first 200 from
// 127.0.0.1:PORT; then `docker rm -f`.
func (d docker) serve(ctx context.Context, _ int) (time.Duration, []phase, error) {
	port, err := freePort()
	if err != nil {
		return 0, nil, err
	}
	t0 := time.Now()
	out, err := d.Docker(ctx, "", "run", "-d", "-p", fmt.Sprintf("127.0.0.1:%d:80", port), imageRef, "/bin/httpd", "-f", "-p", "80", "-h", "/www")
	if err != nil {
		return 0, nil, err
	}
	id := strings.TrimSpace(out)
	err = waitServing(ctx, fmt.Sprintf("http://127.0.0.1:%d/", port))
	dur := time.Since(t0)
	if _, rerr := d.Docker(context.WithoutCancel(ctx), "", "rm", "-f", id); err == nil {
		err = rerr
	}
	return dur, nil, err
}

func ipCmd(args ...string) error {
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// tail returns the last lines of a log or command output, for error messages.
func tail(b []byte) string {
	lines := splitLines(strings.TrimSpace(string(b)))
	if len(lines) > 8 {
		lines = lines[len(lines)-8:]
	}
	return strings.Join(lines, "\n")
}
