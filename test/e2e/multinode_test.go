package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"
	"golang.org/x/sys/unix"

	"gantry/internal/agentconn"
	ecsapi "gantry/internal/ecs"
	"gantry/internal/image"
	"gantry/internal/network"
	gruntime "gantry/internal/runtime"
)

// remoteAgent is a `gantry agent` process in a network namespace of its own, joined to
// a server over the agent listener, as a second machine would be.
type remoteAgent struct {
	name, netns, hostVeth string
	dataDir, runDir       string
	bridge, subnet        string
	cmd                   *exec.Cmd
	output                *syncBuffer
}

// testLAN is a bridge on the host with one veth per agent namespace: the network the
// test's machines share. Addresses are 10.213.90.0/24, the server on .1.
type testLAN struct {
	t      *testing.T
	bridge string
	agents []*remoteAgent
}

func run(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func newTestLAN(t *testing.T) *testLAN {
	lan := &testLAN{t: t, bridge: "gtlan0"}
	exec.Command("ip", "link", "del", lan.bridge).Run() // a crashed run's leftover
	run(t, "ip", "link", "add", lan.bridge, "type", "bridge")
	run(t, "ip", "addr", "add", "10.213.90.1/24", "dev", lan.bridge)
	run(t, "ip", "link", "set", lan.bridge, "up")
	t.Cleanup(func() { exec.Command("ip", "link", "del", lan.bridge).Run() })
	return lan
}

// addAgent makes a namespace with an address on the LAN and starts `gantry agent` in it.
func (lan *testLAN) addAgent(server, token string, i int) *remoteAgent {
	t := lan.t
	a := &remoteAgent{
		name: fmt.Sprintf("node-%c", 'a'+i), netns: fmt.Sprintf("gtlan-%d", i), hostVeth: fmt.Sprintf("gtlanv%d", i),
		dataDir: t.TempDir(), runDir: t.TempDir(), bridge: "gtnode0", subnet: fmt.Sprintf("10.213.%d.0/24", 91+i), output: &syncBuffer{},
	}
	exec.Command("ip", "netns", "del", a.netns).Run()
	run(t, "ip", "netns", "add", a.netns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", a.netns).Run() })
	run(t, "ip", "link", "add", a.hostVeth, "type", "veth", "peer", "name", "eth0", "netns", a.netns)
	run(t, "ip", "link", "set", a.hostVeth, "master", lan.bridge, "up")
	run(t, "ip", "netns", "exec", a.netns, "ip", "addr", "add", fmt.Sprintf("10.213.90.%d/24", 10+i), "dev", "eth0")
	run(t, "ip", "netns", "exec", a.netns, "ip", "link", "set", "eth0", "up")
	run(t, "ip", "netns", "exec", a.netns, "ip", "link", "set", "lo", "up")
	t.Cleanup(func() { a.removeEverything(t) })
	lan.agents = append(lan.agents, a)
	a.start(t, server, token)
	return a
}

func (a *remoteAgent) start(t *testing.T, server, token string) {
	// nsenter joins only the network namespace; "ip netns exec" would also remount /sys
	// and hide the cgroup mounts.
	a.cmd = exec.Command("nsenter", "--net=/var/run/netns/"+a.netns, gantryBin, "agent", "--server", server, "--token", token,
		"--name", a.name, "--data-dir", a.dataDir, "--run-dir", a.runDir, "--bridge", a.bridge, "--subnet", a.subnet,
		"--availability-zone", "az-"+a.name, "--cgroup-parent", testCgroupParent)
	a.cmd.Stdout, a.cmd.Stderr = a.output, a.output
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("agent %s output:\n%s", a.name, a.output)
		}
	})
}

// removeEverything kills the agent and removes its containers, mounts and task networks
// (the latter from inside its namespace, where its bridge lives).
func (a *remoteAgent) removeEverything(t *testing.T) {
	if a.cmd != nil && a.cmd.ProcessState == nil {
		a.cmd.Process.Kill()
		a.cmd.Wait()
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if rt, err := gruntime.New(gruntime.Config{StateDir: filepath.Join(a.runDir, "runtime"), DataDir: filepath.Join(a.dataDir, "containers"), ShimCmd: []string{shimBin}, CgroupParent: testCgroupParent}); err == nil {
		cs, _ := rt.List(ctx)
		for _, c := range cs {
			rt.Delete(ctx, c.ID)
		}
	}
	if store, err := image.Open(filepath.Join(a.dataDir, "images")); err == nil {
		mounts, _ := os.ReadDir(filepath.Join(a.dataDir, "images", "mounts"))
		for _, m := range mounts {
			store.Unmount(m.Name())
		}
	}
	inNetns(t, "/var/run/netns/"+a.netns, func() {
		if nm, err := network.New(network.Config{Bridge: a.bridge, Subnet: a.subnet, StateDir: filepath.Join(a.runDir, "network")}); err == nil {
			nm.Destroy(ctx)
		}
	})
}

// inNetns runs fn on a thread that has entered the network namespace at path.
func inNetns(t *testing.T, path string, fn func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		f, err := os.Open(path)
		if err != nil {
			return
		}
		defer f.Close()
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			return
		}
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			t.Logf("entering %s: %v", path, err)
			return
		}
		fn()
	}()
	<-done
}

// TestAgentsJoinSpreadAndReconcile joins two agents from their own network namespaces
// with join tokens over mutual TLS, spreads tasks across them, cuts one off (it shows
// disconnected, as do its tasks), stops one of its tasks meanwhile, and lets it rejoin:
// the stopped task is stopped on the node, the other keeps running.
func TestAgentsJoinSpreadAndReconcile(t *testing.T) {
	ctx := context.Background()
	lan := newTestLAN(t)
	port := freePort(t)
	s := &server{t: t, dataDir: t.TempDir(), addr: freeAddr(t), output: &syncBuffer{},
		args: []string{"--no-agent", "--agent-listen", "10.213.90.1:" + port, "--heartbeat-interval", "500ms"}}
	s.Endpoint = "http://" + s.addr
	s.start()
	rootfs := busyboxRootfs(t)
	var agents []*remoteAgent
	var used string
	for i := range 2 {
		used = strings.TrimSpace(s.gantry("token", "create", "--ttl", "10m"))
		agents = append(agents, lan.addAgent("https://10.213.90.1:"+port, used, i))
	}
	waitConnected(t, s, 2)
	for _, a := range agents {
		s.gantry("image", "import", "--instance", a.name, rootfs, "busybox:e2e")
	}
	// A token works once: a second machine presenting it is turned away.
	again := exec.Command(gantryBin, "agent", "--server", "https://10.213.90.1:"+port, "--token", used, "--data-dir", t.TempDir(), "--run-dir", t.TempDir())
	if out, err := again.CombinedOutput(); err == nil || !strings.Contains(string(out), "join token is invalid") {
		t.Fatalf("joining with a used token: %v\n%s", err, out)
	}

	td := s.registerTD(`{"family": "spread", "networkMode": "awsvpc", "containerDefinitions": [
		{"name": "c", "image": "busybox:e2e", "memory": 16, "stopTimeout": 2,
		 "command": ["sh", "-c", "echo started on $(hostname); trap 'exit 0' TERM; while true; do sleep 0.1; done"]}]}`)
	out, err := s.ecs().RunTask(ctx, &ecs.RunTaskInput{TaskDefinition: aws.String(td), Count: aws.Int32(4),
		PlacementStrategy: []types.PlacementStrategy{{Type: types.PlacementStrategyTypeSpread, Field: aws.String("attribute:ecs.availability-zone")}}})
	if err != nil || len(out.Failures) > 0 {
		t.Fatalf("RunTask: %v %+v", err, out.Failures)
	}
	byNode := map[string][]string{}
	for _, task := range out.Tasks {
		byNode[aws.ToString(task.ContainerInstanceArn)] = append(byNode[aws.ToString(task.ContainerInstanceArn)], aws.ToString(task.TaskArn))
		s.waitTaskStatus(aws.ToString(task.TaskArn), "RUNNING")
	}
	if len(byNode) != 2 {
		t.Fatalf("tasks not spread over both instances: %v", byNode)
	}
	var cutArn string
	for arn, tasks := range byNode {
		if len(tasks) != 2 {
			t.Fatalf("spread placed %d tasks on %s, want 2", len(tasks), arn)
		}
	}
	cut := agents[1]
	for arn := range byNode {
		ci := describeInstance(t, s, arn)
		if aws.ToString(ci.Ec2InstanceId) == cut.name {
			cutArn = arn
		}
	}

	run(t, "ip", "link", "set", cut.hostVeth, "down")
	waitInstance(t, s, cutArn, "disconnected", func(ci types.ContainerInstance) bool { return !ci.AgentConnected })
	cutTasks := byNode[cutArn]
	if task := s.describeTask(cutTasks[0]); task.Connectivity != types.ConnectivityDisconnected {
		t.Fatalf("a task of the cut-off instance shows connectivity %q", task.Connectivity)
	}
	if _, err := s.ecs().StopTask(ctx, &ecs.StopTaskInput{Task: aws.String(cutTasks[0])}); err != nil {
		t.Fatal(err)
	}
	run(t, "ip", "link", "set", cut.hostVeth, "up")
	waitInstance(t, s, cutArn, "reconnected", func(ci types.ContainerInstance) bool { return ci.AgentConnected })
	s.waitTaskStatus(cutTasks[0], "STOPPED")
	if task := s.describeTask(cutTasks[1]); aws.ToString(task.LastStatus) != "RUNNING" || task.Connectivity != types.ConnectivityConnected {
		t.Fatalf("the other task of the rejoined instance: %s, %s", aws.ToString(task.LastStatus), task.Connectivity)
	}
	// Logs come from the remote node through its tunnel.
	if logs := s.gantry("logs", cutTasks[1]); !strings.HasPrefix(logs, "started on ") {
		t.Fatalf("logs of a task on a remote node: %q", logs)
	}
	checkAgentKeysAreConfined(t, s, agents[0], cutArn, cutTasks[1])
	var keptArn string
	for arn := range byNode {
		if arn != cutArn {
			keptArn = arn
		}
	}
	checkDraining(t, s, td, aws.ToString(describeInstance(t, s, keptArn).Ec2InstanceId), keptArn, byNode[keptArn], cutArn)
}

// checkDraining drains the instance drained (whose tasks are tasks): as in ECS its tasks
// keep running and new ones go elsewhere (to other); with --stop-tasks they are stopped;
// once active again it takes tasks.
func checkDraining(t *testing.T, s *server, td, drained, drainedArn string, tasks []string, other string) {
	ctx := context.Background()
	s.gantry("instance", "drain", drained)
	if ci := describeInstance(t, s, drainedArn); aws.ToString(ci.Status) != "DRAINING" {
		t.Fatalf("drained instance shows status %s", aws.ToString(ci.Status))
	}
	out, err := s.ecs().RunTask(ctx, &ecs.RunTaskInput{TaskDefinition: aws.String(td), Count: aws.Int32(2)})
	if err != nil || len(out.Tasks) != 2 {
		t.Fatalf("RunTask while one instance drains: %v %+v", err, out)
	}
	for _, task := range out.Tasks {
		if aws.ToString(task.ContainerInstanceArn) != other {
			t.Fatalf("a task was placed on %s while it drains", aws.ToString(task.ContainerInstanceArn))
		}
		s.ecs().StopTask(ctx, &ecs.StopTaskInput{Task: task.TaskArn})
	}
	for _, arn := range tasks {
		if task := s.describeTask(arn); aws.ToString(task.DesiredStatus) != "RUNNING" || aws.ToString(task.LastStatus) != "RUNNING" {
			t.Fatalf("a task of the draining instance is %s (desired %s); ECS keeps standalone tasks running", aws.ToString(task.LastStatus), aws.ToString(task.DesiredStatus))
		}
	}
	_, errOut, err := s.gantryResult("instance", "drain", "--stop-tasks", drained)
	if err != nil || !strings.Contains(errOut, fmt.Sprintf("stopping %d tasks on %s", len(tasks), drained)) {
		t.Fatalf("gantry instance drain --stop-tasks: %v\n%s", err, errOut)
	}
	for _, arn := range tasks {
		if task := s.waitTaskStatus(arn, "STOPPED"); !strings.Contains(aws.ToString(task.StoppedReason), "draining") {
			t.Fatalf("a task stopped by drain --stop-tasks has stoppedReason %q", aws.ToString(task.StoppedReason))
		}
	}
	s.gantry("instance", "activate", drained)
	out, err = s.ecs().RunTask(ctx, &ecs.RunTaskInput{TaskDefinition: aws.String(td),
		PlacementConstraints: []types.PlacementConstraint{{Type: types.PlacementConstraintTypeMemberOf, Expression: aws.String("ec2InstanceId == " + drained)}}})
	if err != nil || len(out.Tasks) != 1 {
		t.Fatalf("RunTask onto the instance made active again: %v %+v", err, out)
	}
	s.waitTaskStatus(aws.ToString(out.Tasks[0].TaskArn), "RUNNING")
}

// checkAgentKeysAreConfined uses one agent's key as a thief who took it from the node
// would: it may not run tasks, use the node endpoints, push images, or report on (or
// serve) another instance's tasks.
func checkAgentKeysAreConfined(t *testing.T, s *server, a *remoteAgent, otherInstance, otherTask string) {
	ctx := context.Background()
	raw, err := os.ReadFile(filepath.Join(a.dataDir, "agent", "credentials.json"))
	if err != nil {
		t.Fatal(err)
	}
	var creds agentconn.Credentials
	if err := json.Unmarshal(raw, &creds); err != nil {
		t.Fatal(err)
	}
	thief := s.ecsWith(creds.AccessKeyID, creds.SecretAccessKey)
	_, err = thief.ListTasks(ctx, &ecs.ListTasksInput{})
	if apiErr, ok := errors.AsType[smithy.APIError](err); !ok || apiErr.ErrorCode() != "AccessDeniedException" {
		t.Fatalf("ListTasks with an agent's key: %v, want AccessDeniedException", err)
	}
	client := &agentconn.Client{Server: s.Endpoint, Region: "us-east-1",
		Credentials: aws.Credentials{AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey}}
	_, err = client.Report(ctx, otherInstance, []*ecsapi.Task{{TaskArn: otherTask, LastStatus: "STOPPED", StopCode: "EssentialContainerExited"}})
	if rerr, ok := errors.AsType[*agentconn.ReportError](err); !ok || rerr.Status != http.StatusForbidden {
		t.Fatalf("a report on another instance's task with an agent's key: %v, want 403", err)
	}
	if task := s.describeTask(otherTask); aws.ToString(task.LastStatus) != "RUNNING" {
		t.Fatalf("the other instance's task after the refused report: %s", aws.ToString(task.LastStatus))
	}
	push := exec.Command(gantryBin, "push", "--instance", a.name, "busybox:e2e")
	push.Env = envWithout("AWS_", "GANTRY_ENDPOINT="+s.Endpoint, "AWS_ACCESS_KEY_ID="+creds.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+creds.SecretAccessKey)
	if out, err := push.CombinedOutput(); err == nil || !strings.Contains(string(out), "AccessDenied") {
		t.Fatalf("gantry push with an agent's key: %v\n%s", err, out)
	}
	// Straight to the registry: pulls are the agent's business, pushes are not.
	req, _ := http.NewRequest(http.MethodPost, s.Endpoint+"/v2/stolen/blobs/uploads/", nil)
	req.SetBasicAuth(creds.AccessKeyID, creds.SecretAccessKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a registry upload with an agent's key: %s, want 403 Forbidden", resp.Status)
	}
}

func (s *server) registerTD(js string) string {
	s.t.Helper()
	n := &node{server: s}
	return n.register(js)
}

func (s *server) describeTask(arn string) types.Task {
	s.t.Helper()
	out, err := s.ecs().DescribeTasks(context.Background(), &ecs.DescribeTasksInput{Tasks: []string{arn}})
	if err != nil || len(out.Tasks) != 1 {
		s.t.Fatalf("DescribeTasks %s: %v %+v", arn, err, out)
	}
	return out.Tasks[0]
}

func (s *server) waitTaskStatus(arn, status string) types.Task {
	s.t.Helper()
	return (&node{server: s}).waitTask(arn, status, statusIs(status))
}

func describeInstance(t *testing.T, s *server, arn string) types.ContainerInstance {
	t.Helper()
	out, err := s.ecs().DescribeContainerInstances(context.Background(), &ecs.DescribeContainerInstancesInput{ContainerInstances: []string{arn}})
	if err != nil || len(out.ContainerInstances) != 1 {
		t.Fatalf("DescribeContainerInstances: %v", err)
	}
	return out.ContainerInstances[0]
}

func waitInstance(t *testing.T, s *server, arn, what string, cond func(types.ContainerInstance) bool) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if cond(describeInstance(t, s, arn)) {
			return
		}
	}
	t.Fatalf("instance %s not %s after 60s; server output:\n%s", arn, what, s.output)
}

func waitConnected(t *testing.T, s *server, want int) {
	t.Helper()
	ctx := context.Background()
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		list, err := s.ecs().ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{})
		if err != nil || len(list.ContainerInstanceArns) < want {
			continue
		}
		out, err := s.ecs().DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{ContainerInstances: list.ContainerInstanceArns})
		connected := 0
		for _, ci := range out.ContainerInstances {
			if ci.AgentConnected {
				connected++
			}
		}
		if err == nil && connected == want {
			return
		}
	}
	t.Fatalf("%d agents not connected after 60s; server output:\n%s", want, s.output)
}
