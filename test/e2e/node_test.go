package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"gantry/internal/image"
	"gantry/internal/network"
	"gantry/internal/runtime"
)

// nodeSeq numbers the servers with agents that tests start, so each gets its own bridge
// and subnet (10.213.<100+n>.0/24) and never meets another test's tasks.
var nodeSeq atomic.Int32

// node is a server running its in-process agent, with the engine's directories, bridge
// and subnet of its own.
type node struct {
	*server
	runDir, bridge, subnet string
}

// startNode starts `gantry server` with its agent. It needs root, runc, the CNI plugins
// and iptables, as CI has. At test end the server is killed and everything the node
// made (containers, mounts, network namespaces, the bridge and its rules) is removed.
func startNode(t *testing.T, extra ...string) *node {
	t.Helper()
	return startNodeWithPrefix(t, 24, extra...)
}

// startNodeWithPrefix starts a node whose task subnet is 10.213.<100+n>.0/prefix.
func startNodeWithPrefix(t *testing.T, prefix int, extra ...string) *node {
	t.Helper()
	for _, bin := range []string{"runc", "iptables"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s is missing: run the README's setup command (scripts/deps.sh)", bin)
		}
	}
	n := nodeSeq.Add(1)
	nd := &node{runDir: t.TempDir(), bridge: fmt.Sprintf("gte%d", n), subnet: fmt.Sprintf("10.213.%d.0/%d", 100+n, prefix)}
	dataDir := t.TempDir()
	s := &server{t: t, dataDir: dataDir, addr: freeAddr(t), output: &syncBuffer{}}
	s.Endpoint = "http://" + s.addr
	s.args = append([]string{"--run-dir", nd.runDir, "--bridge", nd.bridge, "--subnet", nd.subnet}, extra...)
	nd.server = s
	t.Cleanup(func() { nd.removeEverything() })
	s.start()
	nd.waitInstance()
	return nd
}

// waitInstance waits until the agent has registered and connected.
func (n *node) waitInstance() types.ContainerInstance {
	n.t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		list, err := n.ecs().ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{})
		if err == nil && len(list.ContainerInstanceArns) > 0 {
			out, err := n.ecs().DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{ContainerInstances: list.ContainerInstanceArns})
			if err == nil && len(out.ContainerInstances) > 0 && out.ContainerInstances[0].AgentConnected {
				return out.ContainerInstances[0]
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	n.t.Fatalf("the agent did not connect in 30s; server output:\n%s", n.output)
	return types.ContainerInstance{}
}

// removeEverything kills the server and deletes what its agent left: as after a crash,
// containers survive the agent, so they are found through the engine's own state.
func (n *node) removeEverything() {
	if n.cmd != nil && n.cmd.ProcessState == nil {
		n.cmd.Process.Kill()
		n.cmd.Wait()
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rt, err := runtime.New(runtime.Config{StateDir: filepath.Join(n.runDir, "runtime"), DataDir: filepath.Join(n.dataDir, "containers"), ShimCmd: []string{shimBin}, CgroupParent: testCgroupParent})
	if err == nil {
		cs, _ := rt.List(ctx)
		for _, c := range cs {
			rt.Delete(ctx, c.ID)
		}
	}
	if store, err := image.Open(filepath.Join(n.dataDir, "images")); err == nil {
		mounts, _ := os.ReadDir(filepath.Join(n.dataDir, "images", "mounts"))
		for _, m := range mounts {
			store.Unmount(m.Name())
		}
	}
	nm, err := network.New(network.Config{Bridge: n.bridge, Subnet: n.subnet, StateDir: filepath.Join(n.runDir, "network")})
	if err == nil {
		nm.Destroy(ctx)
	}
}

// busyboxRootfs is a root filesystem tarball with static busybox, its applets and a web
// root, for `gantry image import`.
func busyboxRootfs(t *testing.T) string {
	t.Helper()
	tarball := busyboxTar(t, map[string]string{
		"www/index.html": "hello from gantry\n",
		"etc/passwd":     "root:x:0:0:root:/root:/bin/sh\nweb:x:1000:1000::/tmp:/bin/sh\n",
		"etc/group":      "root:x:0:\nweb:x:1000:\n",
	})
	path := filepath.Join(t.TempDir(), "busybox-rootfs.tar")
	if err := os.WriteFile(path, tarball, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// busyboxTar is a tar of static busybox with its applets as symlinks, and files.
func busyboxTar(t *testing.T, files map[string]string) []byte {
	t.Helper()
	bb, err := os.ReadFile("/usr/bin/busybox")
	if err != nil {
		t.Fatal("busybox-static is missing: install Debian's busybox-static package")
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, d := range []string{"bin", "etc", "www"} {
		tw.WriteHeader(&tar.Header{Name: d + "/", Typeflag: tar.TypeDir, Mode: 0o755})
	}
	tw.WriteHeader(&tar.Header{Name: "tmp/", Typeflag: tar.TypeDir, Mode: 0o1777})
	tw.WriteHeader(&tar.Header{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(bb))})
	tw.Write(bb)
	for _, a := range []string{"sh", "httpd", "wget", "cat", "echo", "true", "false", "sleep", "id", "hostname", "ls", "unshare", "nc", "ip", "test"} {
		tw.WriteHeader(&tar.Header{Name: "bin/" + a, Typeflag: tar.TypeSymlink, Linkname: "busybox"})
	}
	for name, body := range files {
		tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))})
		tw.Write([]byte(body))
	}
	tw.Close()
	return buf.Bytes()
}

// waitTask polls DescribeTasks until cond holds for the task, and returns it.
func (n *node) waitTask(arn string, what string, cond func(types.Task) bool) types.Task {
	n.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var last types.Task
	for time.Now().Before(deadline) {
		out, err := n.ecs().DescribeTasks(context.Background(), &ecs.DescribeTasksInput{Tasks: []string{arn}, Include: []types.TaskField{types.TaskFieldTags}})
		if err != nil {
			n.t.Fatal(err)
		}
		if len(out.Tasks) == 1 {
			last = out.Tasks[0]
			if cond(last) {
				return last
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	n.t.Fatalf("task %s: not %s after 60s; last lastStatus %s, stoppedReason %q; server output:\n%s", arn, what, aws.ToString(last.LastStatus), aws.ToString(last.StoppedReason), n.output)
	return last
}

func statusIs(s string) func(types.Task) bool {
	return func(t types.Task) bool { return aws.ToString(t.LastStatus) == s }
}

// register registers a task definition from JSON and returns its ARN.
func (n *node) register(js string) string {
	n.t.Helper()
	path := filepath.Join(n.t.TempDir(), "td.json")
	os.WriteFile(path, []byte(js), 0o644)
	out := n.gantry("taskdef", "register", "-f", path, "-o", "json")
	i := strings.Index(out, `"taskDefinitionArn": "`)
	if i < 0 {
		n.t.Fatalf("no taskDefinitionArn in %s", out)
	}
	rest := out[i+len(`"taskDefinitionArn": "`):]
	return rest[:strings.IndexByte(rest, '"')]
}

// runTask runs count tasks of td and fails the test unless all were placed.
func (n *node) runTask(in *ecs.RunTaskInput) []types.Task {
	n.t.Helper()
	out, err := n.ecs().RunTask(context.Background(), in)
	if err != nil {
		n.t.Fatal(err)
	}
	if len(out.Failures) > 0 {
		n.t.Fatalf("RunTask failures: %+v", out.Failures)
	}
	return out.Tasks
}
