package e2e

import (
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// dockerd is a Docker engine started for one test, isolated in a temporary directory:
// its own socket, data root and containerd namespace, no bridge and no iptables rules.
type dockerd struct {
	dir  string
	cmd  *exec.Cmd
	host string
}

func startDockerd(t *testing.T) *dockerd {
	t.Helper()
	if _, err := os.Stat("/usr/sbin/dockerd"); err != nil {
		t.Fatal("/usr/sbin/dockerd is missing: install Debian's docker.io package (the README's setup command does)")
	}
	// Docker's data root must not be on an overlay or nested too deep; /tmp is fine here.
	dir, err := os.MkdirTemp("", "gantry-dockerd-")
	if err != nil {
		t.Fatal(err)
	}
	d := &dockerd{dir: dir, host: "unix://" + filepath.Join(dir, "docker.sock")}
	d.cmd = exec.Command("/usr/sbin/dockerd",
		"--data-root", filepath.Join(dir, "data"), "--exec-root", filepath.Join(dir, "exec"),
		"--pidfile", filepath.Join(dir, "docker.pid"), "-H", d.host,
		"--bridge=none", "--iptables=false", "--ip-masq=false",
		"--containerd-namespace", "gantry-e2e", "--containerd-plugins-namespace", "gantry-e2e-plugins")
	log, _ := os.Create(filepath.Join(dir, "dockerd.log"))
	d.cmd.Stdout, d.cmd.Stderr = log, log
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.stop)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if exec.Command("/usr/bin/docker", "-H", d.host, "version").Run() == nil {
			return d
		}
		time.Sleep(200 * time.Millisecond)
	}
	out, _ := os.ReadFile(filepath.Join(dir, "dockerd.log"))
	t.Fatalf("dockerd did not start in 30s:\n%s", out)
	return nil
}

// stop shuts dockerd down (it stops the containerd it started) and removes its files.
func (d *dockerd) stop() {
	d.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { d.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		d.cmd.Process.Kill()
		<-done
	}
	exec.Command("umount", "-R", filepath.Join(d.dir, "data")).Run()
	os.RemoveAll(d.dir)
}

// docker runs the docker client against this engine with its own client config.
func (d *dockerd) docker(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command("/usr/bin/docker", append([]string{"-H", d.host}, args...)...)
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+filepath.Join(d.dir, "client"))
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestDockerLoginPushPull(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "")
	d := startDockerd(t)
	host := srv.registryHost()
	// Docker treats 127.0.0.0/8 registries as insecure, so plain HTTP works without flags.
	if out := d.docker(t, srv.Secret, "login", "-u", srv.KeyID, "--password-stdin", host); !strings.Contains(out, "Login Succeeded") {
		t.Fatalf("docker login:\n%s", out)
	}
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "bin"), 0o755)
	data, err := os.ReadFile("/usr/bin/busybox")
	if err != nil {
		t.Fatal("busybox-static is missing: install Debian's busybox-static package")
	}
	os.WriteFile(filepath.Join(root, "bin", "busybox"), data, 0o755)
	tarball, err := exec.Command("tar", "-C", root, "-c", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	ref := host + "/docker/busybox:v1"
	d.docker(t, string(tarball), "import", "-", ref)
	if out := d.docker(t, "", "push", ref); !strings.Contains(out, "digest: sha256:") {
		t.Fatalf("docker push:\n%s", out)
	}
	d.docker(t, "", "rmi", ref)
	if out := d.docker(t, "", "pull", ref); !strings.Contains(out, "Downloaded newer image") {
		t.Fatalf("docker pull:\n%s", out)
	}

	// An ECR token works as docker's password too (docker login -u AWS).
	var token struct {
		AuthorizationData []struct {
			AuthorizationToken string `json:"authorizationToken"`
		} `json:"authorizationData"`
	}
	srv.awsCLI(t, &token, "ecr", "get-authorization-token")
	raw, _ := base64.StdEncoding.DecodeString(token.AuthorizationData[0].AuthorizationToken)
	_, password, _ := strings.Cut(string(raw), ":")
	d.docker(t, "", "logout", host)
	d.docker(t, password, "login", "-u", "AWS", "--password-stdin", host)
	d.docker(t, "", "tag", ref, host+"/docker/busybox:v2")
	if out := d.docker(t, "", "push", host+"/docker/busybox:v2"); !strings.Contains(out, "digest: sha256:") {
		t.Fatalf("docker push with the ECR token:\n%s", out)
	}
}
