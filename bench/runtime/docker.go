package main

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
)

// docker is a dockerd started by the bench in its own directory: own socket, data root,
// exec root and containerd namespace. Its default bridge is gbenchd0 (10.213.241.1/24),
// which the bench creates; it runs with --iptables=false --ip-masq=false
// --ip-forward=false, so it leaves the host's iptables alone. A port published on
// 127.0.0.1 is then served by docker-proxy, which is what serves 127.0.0.1 with
// docker's iptables rules too (its DNAT rule in OUTPUT skips 127.0.0.0/8).
type docker struct {
	dir, host string
	cmd       *exec.Cmd
	exited    chan struct{}
}

const dockerClient = "/usr/bin/docker" // Debian's; a newer client may shadow it in /usr/local/bin

func setupDocker(ctx context.Context, work string, fs rootfs, cfg config, cl *cleanups) *engine {
	e := &engine{name: "docker"}
	if cfg.skip["docker"] {
		e.skipOneShot, e.skipServe = "skipped by -skip", "skipped by -skip"
		return e
	}
	d, err := startDocker(ctx, work, cl)
	if err == nil {
		_, err = d.docker(ctx, fs.tarball, "import", "-", imageRef)
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

func startDocker(ctx context.Context, work string, cl *cleanups) (*docker, error) {
	for _, p := range []string{"/usr/sbin/dockerd", dockerClient, "/usr/sbin/docker-proxy"} {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("%s is missing: install Debian's docker.io package", p)
		}
	}
	dir := filepath.Join(work, "docker")
	if err := os.MkdirAll(filepath.Join(dir, "client"), 0o700); err != nil {
		return nil, err
	}
	cl.add("docker bridge "+dockerBridge, func() error {
		if exists("/sys/class/net/" + dockerBridge) {
			return ipCmd("link", "del", dockerBridge)
		}
		return nil
	})
	for _, s := range [][]string{
		{"link", "add", dockerBridge, "type", "bridge"},
		{"addr", "add", dockerBridgeIP, "dev", dockerBridge},
		{"link", "set", dockerBridge, "up"},
	} {
		if err := ipCmd(s...); err != nil {
			return nil, err
		}
	}
	d := &docker{dir: dir, host: "unix://" + filepath.Join(dir, "docker.sock"), exited: make(chan struct{})}
	d.cmd = exec.Command("/usr/sbin/dockerd",
		"--data-root", filepath.Join(dir, "data"), "--exec-root", filepath.Join(dir, "exec"),
		"--pidfile", filepath.Join(dir, "docker.pid"), "-H", d.host,
		"--bridge", dockerBridge, "--iptables=false", "--ip-masq=false", "--ip-forward=false",
		"--containerd-namespace", "gbench", "--containerd-plugins-namespace", "gbench-plugins")
	log, err := os.Create(filepath.Join(dir, "dockerd.log"))
	if err != nil {
		return nil, err
	}
	d.cmd.Stdout, d.cmd.Stderr = log, log
	if err := d.cmd.Start(); err != nil {
		log.Close()
		return nil, err
	}
	go func() { d.cmd.Wait(); log.Close(); close(d.exited) }()
	cl.add("dockerd", d.stop)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if _, err := d.docker(ctx, "", "version"); err == nil {
			return d, nil
		}
		select {
		case <-d.exited:
			out, _ := os.ReadFile(filepath.Join(dir, "dockerd.log"))
			return nil, fmt.Errorf("dockerd exited: %s", tail(out))
		case <-time.After(200 * time.Millisecond):
		}
	}
	out, _ := os.ReadFile(filepath.Join(dir, "dockerd.log"))
	return nil, fmt.Errorf("dockerd did not answer in 30 s: %s", tail(out))
}

// stop removes every container, then stops dockerd (which stops its containerd).
func (d *docker) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if out, err := d.docker(ctx, "", "ps", "-aq"); err == nil && strings.TrimSpace(out) != "" {
		d.docker(ctx, "", append([]string{"rm", "-f"}, strings.Fields(out)...)...)
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

// docker runs Debian's docker client against this dockerd; stdin is a file or "".
func (d *docker) docker(ctx context.Context, stdin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, dockerClient, append([]string{"-H", d.host}, args...)...)
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
		return out.String(), fmt.Errorf("docker %s: %v: %s", strings.Join(args, " "), err, tail(out.Bytes()))
	}
	return out.String(), nil
}

// oneShot: `docker run --rm --network none IMAGE /bin/true`.
func (d *docker) oneShot(ctx context.Context, _ int) (time.Duration, []phase, error) {
	t0 := time.Now()
	_, err := d.docker(ctx, "", "run", "--rm", "--network", "none", imageRef, "/bin/true")
	return time.Since(t0), nil, err
}

// serve: `docker run -d -p 127.0.0.1:PORT:80 IMAGE httpd` until the first 200 from
// 127.0.0.1:PORT; then `docker rm -f`.
func (d *docker) serve(ctx context.Context, _ int) (time.Duration, []phase, error) {
	port, err := freePort()
	if err != nil {
		return 0, nil, err
	}
	t0 := time.Now()
	out, err := d.docker(ctx, "", "run", "-d", "-p", fmt.Sprintf("127.0.0.1:%d:80", port), imageRef, "/bin/httpd", "-f", "-p", "80", "-h", "/www")
	if err != nil {
		return 0, nil, err
	}
	id := strings.TrimSpace(out)
	err = waitServing(ctx, fmt.Sprintf("http://127.0.0.1:%d/", port))
	dur := time.Since(t0)
	if _, rerr := d.docker(context.WithoutCancel(ctx), "", "rm", "-f", id); err == nil {
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
