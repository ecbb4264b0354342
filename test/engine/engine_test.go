package engine

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gantry/internal/image"
	"gantry/internal/network"
	"gantry/internal/runtime"
)

// shimBin is the per-container shim, built once.
var shimBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gantry-engine-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	shimBin = filepath.Join(dir, "gantry-shim")
	build := exec.Command("go", "build", "-o", shimBin, "gantry/cmd/gantry-shim")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building gantry-shim:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if err := runtime.RemoveCgroupParent(testCgroupParent); err != nil {
		fmt.Fprintln(os.Stderr, "removing the tests' cgroups:", err)
	}
	os.Exit(code)
}

// testCgroupParent keeps the tests' containers apart from a real node's (and lets
// TestMain remove the parent cgroup afterwards without racing anyone).
const testCgroupParent = "gantry-test-engine"

// node is one machine's engine: image store, network and runtime, in temp dirs, with a
// bridge and subnet of its own.
type node struct {
	images *image.Store
	net    *network.Manager
	rt     *runtime.Runtime
}

func newNode(t *testing.T, bridge, subnet string) *node {
	t.Helper()
	for _, bin := range []string{"runc", "iptables"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s is missing: install Debian's %s package (the README's setup command does)", bin, bin)
		}
	}
	dir := t.TempDir()
	images, err := image.Open(filepath.Join(dir, "images"))
	if err != nil {
		t.Fatal(err)
	}
	nm, err := network.New(network.Config{Bridge: bridge, Subnet: subnet, StateDir: filepath.Join(dir, "net"), PortRange: [2]int{64000, 64999}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nm.Destroy(context.Background()) })
	rt, err := runtime.New(runtime.Config{StateDir: filepath.Join(dir, "run"), DataDir: filepath.Join(dir, "containers"), ShimCmd: []string{shimBin}, CgroupParent: testCgroupParent})
	if err != nil {
		t.Fatal(err)
	}
	return &node{images: images, net: nm, rt: rt}
}

// busyboxImage imports a root filesystem holding static busybox, its applets as
// symlinks, and a web root, with CMD set the way a Dockerfile would.
func (n *node) busyboxImage(t *testing.T) *image.Image {
	t.Helper()
	bb, err := os.ReadFile("/usr/bin/busybox")
	if err != nil {
		t.Fatal("busybox-static is missing: install Debian's busybox-static package")
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, dir := range []string{"bin", "etc", "tmp", "www"} {
		tw.WriteHeader(&tar.Header{Name: dir + "/", Typeflag: tar.TypeDir, Mode: 0o755})
	}
	tw.WriteHeader(&tar.Header{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(bb))})
	tw.Write(bb)
	for _, applet := range []string{"sh", "httpd", "wget", "cat", "hostname", "sleep", "echo", "true", "id"} {
		tw.WriteHeader(&tar.Header{Name: "bin/" + applet, Typeflag: tar.TypeSymlink, Linkname: "busybox"})
	}
	for name, body := range map[string]string{"www/index.html": "hello from gantry\n", "etc/passwd": "root:x:0:0:root:/root:/bin/sh\nweb:x:1000:1000::/tmp:/bin/sh\n", "etc/group": "root:x:0:\nweb:x:1000:\n"} {
		tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))})
		tw.Write([]byte(body))
	}
	tw.Close()
	img, err := n.images.Import(context.Background(), &buf, "test/busybox:1")
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// task is a running container with its mount and network attachment.
type task struct {
	id  string
	att *network.Attachment
}

// run starts a container of img in a new task network with the given command and ports.
func (n *node) run(t *testing.T, img *image.Image, id string, cmd []string, ports []network.PortMapping) *task {
	t.Helper()
	ctx := context.Background()
	rootfs, err := n.images.Mount(ctx, img, id)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.images.Unmount(id) })
	att, err := n.net.Setup(ctx, id, network.ModeBridge, ports)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.net.Teardown(context.Background(), id) })
	spec := runtime.ContainerSpec{ID: id, Image: img.Ref, Rootfs: rootfs, Hostname: id, NetNS: att.NetNS,
		Hosts: network.HostsFile(id, att.IP, nil), ResolvConf: network.ResolvConf(nil, nil)}
	cfg := img.Config.Config
	if err := runtime.ApplyImageConfig(&spec, runtime.ImageConfig{Entrypoint: cfg.Entrypoint, Cmd: cfg.Cmd, Env: cfg.Env, User: cfg.User, WorkingDir: cfg.WorkingDir},
		runtime.Overrides{Command: cmd, Env: []string{"TASK=" + id}}); err != nil {
		t.Fatal(err)
	}
	if err := n.rt.Create(ctx, spec); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.rt.Delete(context.Background(), id) })
	if err := n.rt.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	return &task{id: id, att: att}
}

// get polls url until it answers 200 or the deadline passes.
func get(t *testing.T, url string) string {
	t.Helper()
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := client.Get(url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return string(body)
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %v", url, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestWebServerOnPublishedPort(t *testing.T) {
	n := newNode(t, "gteng1", "10.213.231.0/24")
	img := n.busyboxImage(t)
	web := n.run(t, img, "web", []string{"httpd", "-f", "-p", "80", "-h", "/www"}, []network.PortMapping{{ContainerPort: 80, Protocol: "tcp"}})
	port := web.att.Ports[0].HostPort
	if body := get(t, fmt.Sprintf("http://127.0.0.1:%d/", port)); body != "hello from gantry\n" {
		t.Fatalf("published port served %q", body)
	}
	if body := get(t, fmt.Sprintf("http://%s/", web.att.IP)); body != "hello from gantry\n" {
		t.Fatalf("task IP served %q", body)
	}

	// exec sees the task's hostname, environment and user.
	var out bytes.Buffer
	code, err := n.rt.Exec(context.Background(), "web", runtime.ExecSpec{Args: []string{"sh", "-c", "hostname; echo $TASK; id -u"}, Stdout: &out, Stderr: &out})
	if err != nil || code != 0 || out.String() != "web\nweb\n0\n" {
		t.Fatalf("exec: code %d err %v output %q", code, err, out.String())
	}

	// httpd runs as PID 1, which ignores SIGTERM without a handler (as under docker), so
	// Stop ends it with SIGKILL once the timeout passes.
	start := time.Now()
	if err := n.rt.Stop(context.Background(), "web", time.Second); err != nil {
		t.Fatal(err)
	}
	st, err := n.rt.Wait(context.Background(), "web")
	if err != nil || st.Signal != "SIGKILL" || st.Code != 137 || time.Since(start) < time.Second {
		t.Fatalf("exit after stop: %+v %v after %s", st, err, time.Since(start))
	}
}

func TestTasksReachEachOtherByIP(t *testing.T) {
	n := newNode(t, "gteng2", "10.213.232.0/24")
	img := n.busyboxImage(t)
	server := n.run(t, img, "server", []string{"httpd", "-f", "-p", "8080", "-h", "/www"}, nil)
	get(t, fmt.Sprintf("http://%s:8080/", server.att.IP)) // wait until it serves
	n.run(t, img, "client", []string{"sh", "-c", "wget -q -O- http://" + server.att.IP.String() + ":8080/ && echo fetched-ok"}, nil)
	st, err := n.rt.Wait(context.Background(), "client")
	if err != nil || st.Code != 0 {
		t.Fatalf("client exit: %+v %v", st, err)
	}
	logs, _ := os.ReadFile(n.rt.LogPath("client"))
	if !strings.Contains(string(logs), "hello from gantry") || !strings.Contains(string(logs), `"stream":"stdout"`) {
		t.Fatalf("client logs:\n%s", logs)
	}
	// The server's namespace saw the requests: its stats count bytes both ways.
	if st, err := n.rt.Stats(context.Background(), "server"); err != nil || st.NetRxBytes == 0 || st.NetTxBytes == 0 {
		t.Errorf("server stats %+v, %v: want network bytes received and sent", st, err)
	}
}

func TestStaticGoServerFromScratch(t *testing.T) {
	n := newNode(t, "gteng3", "10.213.233.0/24")
	// A FROM-scratch image: one static binary and nothing else.
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	os.WriteFile(src, []byte(`package main

import ("fmt"; "net/http"; "os")

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintf(w, "go server as uid %d\n", os.Getuid()) })
	http.ListenAndServe(":8000", nil)
}
`), 0o644)
	bin := filepath.Join(dir, "server")
	build := exec.Command("go", "build", "-o", bin, src)
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the static server: %v\n%s", err, out)
	}
	data, _ := os.ReadFile(bin)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "server", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(data))})
	tw.Write(data)
	tw.Close()
	img, err := n.images.Import(context.Background(), &buf, "test/goserver:1")
	if err != nil {
		t.Fatal(err)
	}
	// A numeric user needs no /etc/passwd, as in docker.
	ctx := context.Background()
	rootfs, err := n.images.Mount(ctx, img, "gosrv")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.images.Unmount("gosrv") })
	att, err := n.net.Setup(ctx, "gosrv", network.ModeBridge, []network.PortMapping{{ContainerPort: 8000, Protocol: "tcp"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.net.Teardown(context.Background(), "gosrv") })
	spec := runtime.ContainerSpec{ID: "gosrv", Rootfs: rootfs, NetNS: att.NetNS, Hostname: "gosrv"}
	if err := runtime.ApplyImageConfig(&spec, runtime.ImageConfig{}, runtime.Overrides{Command: []string{"/server"}, User: "1000:1000"}); err != nil {
		t.Fatal(err)
	}
	if err := n.rt.Create(ctx, spec); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.rt.Delete(context.Background(), "gosrv") })
	if err := n.rt.Start(ctx, "gosrv"); err != nil {
		t.Fatal(err)
	}
	if body := get(t, fmt.Sprintf("http://127.0.0.1:%d/", att.Ports[0].HostPort)); body != "go server as uid 1000\n" {
		t.Fatalf("static server said %q", body)
	}
}
