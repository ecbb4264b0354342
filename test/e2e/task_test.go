package e2e

import (
	"context"
	"errors"
	"fmt"
	"gantry/internal/image"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// TestTaskLifecycle runs a task through the ECS API on the in-process agent and checks
// the lifecycle ECS documents: RUNNING with its timestamps and address, resources booked
// on the instance while it runs, StopTask's stop code, and everything released after.
func TestTaskLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	n := startNode(t)
	n.gantry("image", "import", busyboxRootfs(t), "busybox:e2e")
	td := n.register(`{"family": "lifecycle", "networkMode": "awsvpc", "containerDefinitions": [
		{"name": "web", "image": "busybox:e2e", "memory": 64, "cpu": 256, "stopTimeout": 2,
		 "command": ["sh", "-c", "trap 'exit 0' TERM; httpd -f -p 80 -h /www & wait"]}]}`)
	task := n.runTask(&ecs.RunTaskInput{TaskDefinition: aws.String(td), StartedBy: aws.String("e2e")})[0]
	if aws.ToString(task.LastStatus) != "PROVISIONING" || aws.ToString(task.DesiredStatus) != "RUNNING" || aws.ToString(task.Group) != "family:lifecycle" {
		t.Fatalf("RunTask returned lastStatus %s desired %s group %s", aws.ToString(task.LastStatus), aws.ToString(task.DesiredStatus), aws.ToString(task.Group))
	}
	arn := aws.ToString(task.TaskArn)
	running := n.waitTask(arn, "RUNNING", statusIs("RUNNING"))
	for name, ts := range map[string]*time.Time{"createdAt": running.CreatedAt, "pullStartedAt": running.PullStartedAt, "pullStoppedAt": running.PullStoppedAt, "startedAt": running.StartedAt} {
		if ts == nil {
			t.Errorf("RUNNING task has no %s", name)
		}
	}
	ip := ""
	if ni := running.Containers[0].NetworkInterfaces; len(ni) == 1 {
		ip = aws.ToString(ni[0].PrivateIpv4Address)
	}
	if !strings.HasPrefix(ip, strings.TrimSuffix(n.subnet, "0/24")) {
		t.Fatalf("task address %q is not in the node's subnet %s", ip, n.subnet)
	}
	body := httpGet(t, "http://"+ip+"/")
	if body != "hello from gantry\n" {
		t.Fatalf("GET the task's address = %q", body)
	}
	inst := n.waitInstance()
	if inst.RunningTasksCount != 1 || remaining(inst, "MEMORY")+64 != registered(inst, "MEMORY") || remaining(inst, "CPU")+256 != registered(inst, "CPU") {
		t.Fatalf("instance while the task runs: running %d, memory %d of %d, cpu %d of %d", inst.RunningTasksCount,
			remaining(inst, "MEMORY"), registered(inst, "MEMORY"), remaining(inst, "CPU"), registered(inst, "CPU"))
	}
	listed, err := n.ecs().ListTasks(ctx, &ecs.ListTasksInput{Family: aws.String("lifecycle"), StartedBy: aws.String("e2e")})
	if err != nil || len(listed.TaskArns) != 1 || listed.TaskArns[0] != arn {
		t.Fatalf("ListTasks = %v, %v", listed, err)
	}

	if _, err := n.ecs().StopTask(ctx, &ecs.StopTaskInput{Task: aws.String(arn), Reason: aws.String("e2e says stop")}); err != nil {
		t.Fatal(err)
	}
	stopped := n.waitTask(arn, "STOPPED", statusIs("STOPPED"))
	if stopped.StopCode != types.TaskStopCodeUserInitiated || aws.ToString(stopped.StoppedReason) != "e2e says stop" {
		t.Fatalf("stopCode %s, stoppedReason %q", stopped.StopCode, aws.ToString(stopped.StoppedReason))
	}
	if c := stopped.Containers[0]; aws.ToInt32(c.ExitCode) != 0 || aws.ToString(c.LastStatus) != "STOPPED" {
		t.Fatalf("container after stop: exit %v, lastStatus %s", c.ExitCode, aws.ToString(c.LastStatus))
	}
	if !stopped.StoppingAt.Before(*stopped.StoppedAt) && !stopped.StoppingAt.Equal(*stopped.StoppedAt) || stopped.ExecutionStoppedAt == nil {
		t.Fatalf("stoppingAt %v, executionStoppedAt %v, stoppedAt %v", stopped.StoppingAt, stopped.ExecutionStoppedAt, stopped.StoppedAt)
	}
	inst = n.waitInstance()
	if inst.RunningTasksCount != 0 || remaining(inst, "MEMORY") != registered(inst, "MEMORY") {
		t.Fatalf("instance after the task stopped: running %d, memory %d of %d", inst.RunningTasksCount, remaining(inst, "MEMORY"), registered(inst, "MEMORY"))
	}
	listed, _ = n.ecs().ListTasks(ctx, &ecs.ListTasksInput{DesiredStatus: types.DesiredStatusStopped})
	if len(listed.TaskArns) != 1 {
		t.Fatalf("ListTasks STOPPED = %v", listed.TaskArns)
	}
}

// TestGantryRun checks docker habits: output streamed, exit code passed on, -e and
// -p honoured, names usable with ps, logs and stop.
func TestGantryRun(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	n.gantry("image", "import", busyboxRootfs(t), "busybox:e2e")
	out := n.gantry("run", "--rm", "--name", "hello", "-e", "WHO=gantry", "busybox:e2e", "sh", "-c", "echo hello $WHO")
	if out != "hello gantry\n" {
		t.Fatalf("gantry run output %q", out)
	}
	// The log of a stopped task's container is kept, as docker keeps a stopped container's.
	if logs := n.gantry("logs", "hello"); logs != "hello gantry\n" {
		t.Fatalf("gantry logs of a stopped task: %q", logs)
	}
	_, errOut, err := n.gantryResult("run", "busybox:e2e", "sh", "-c", "echo oops >&2; exit 7")
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 7 || errOut != "oops\n" {
		t.Fatalf("exit %v, stderr %q", err, errOut)
	}

	port := freePort(t)
	n.gantry("run", "-d", "--name", "web", "-p", port+":80", "busybox:e2e", "httpd", "-f", "-p", "80", "-h", "/www")
	if body := httpGet(t, "http://127.0.0.1:"+port+"/"); body != "hello from gantry\n" {
		t.Fatalf("published port answered %q", body)
	}
	ps := n.gantry("ps")
	if !strings.Contains(ps, "web") || !strings.Contains(ps, port+"->80/tcp") {
		t.Fatalf("gantry ps:\n%s", ps)
	}
	if out := n.gantry("exec", "web", "cat", "/www/index.html"); out != "hello from gantry\n" {
		t.Fatalf("gantry exec: %q", out)
	}
	if _, _, err := n.gantryResult("exec", "web", "sh", "-c", "exit 3"); !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Fatalf("gantry exec exit code: %v", err)
	}
	n.gantry("stop", "web")
	// httpd as PID 1 ignores SIGTERM: the task keeps its port until the stop timeout
	// kills it, and ps shows it meanwhile.
	if ps = n.gantry("ps"); !strings.Contains(ps, "web") || !strings.Contains(ps, "(stopping)") {
		t.Fatalf("gantry ps right after stop:\n%s", ps)
	}
	ps = n.gantry("ps", "-a")
	if !strings.Contains(ps, "web") {
		t.Fatalf("gantry ps -a after stop:\n%s", ps)
	}
}

// TestRunTaskBadRequests checks ECS's errors for requests that cannot run, and that a
// request that does not fit gets failures[] instead of an error.
func TestRunTaskBadRequests(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	n := startNode(t)
	client := n.ecs()
	td := n.register(`{"family": "fixed-port", "networkMode": "bridge", "containerDefinitions": [
		{"name": "c", "image": "busybox:e2e", "memory": 16, "portMappings": [{"containerPort": 80, "hostPort": 18999}]}]}`)
	for name, in := range map[string]*ecs.RunTaskInput{
		"count 11":          {TaskDefinition: aws.String(td), Count: aws.Int32(11)},
		"unknown family":    {TaskDefinition: aws.String("no-such-family")},
		"missing cluster":   {TaskDefinition: aws.String(td), Cluster: aws.String("nope")},
		"unknown container": {TaskDefinition: aws.String(td), Overrides: &types.TaskOverride{ContainerOverrides: []types.ContainerOverride{{Name: aws.String("x")}}}},
	} {
		_, err := client.RunTask(ctx, in)
		var apiErr smithy.APIError
		if !errors.As(err, &apiErr) {
			t.Errorf("%s: err = %v, want an ECS error", name, err)
			continue
		}
		want := map[string]string{"count 11": "InvalidParameterException", "unknown family": "ClientException",
			"missing cluster": "ClusterNotFoundException", "unknown container": "InvalidParameterException"}[name]
		if apiErr.ErrorCode() != want {
			t.Errorf("%s: %s (%s), want %s", name, apiErr.ErrorCode(), apiErr.ErrorMessage(), want)
		}
	}
	// Two tasks want host port 18999 on the only instance: one is placed, the other
	// fails with RESOURCE:PORTS. The image does not exist, so the placed one stops with
	// CannotPullContainerError.
	out, err := client.RunTask(ctx, &ecs.RunTaskInput{TaskDefinition: aws.String(td), Count: aws.Int32(2)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Tasks) != 1 || len(out.Failures) != 1 || aws.ToString(out.Failures[0].Reason) != "RESOURCE:PORTS" {
		t.Fatalf("RunTask count 2 on one port: %d tasks, failures %+v", len(out.Tasks), out.Failures)
	}
	stopped := n.waitTask(aws.ToString(out.Tasks[0].TaskArn), "STOPPED", statusIs("STOPPED"))
	if stopped.StopCode != types.TaskStopCodeTaskFailedToStart || !strings.Contains(aws.ToString(stopped.StoppedReason), "CannotPullContainerError") {
		t.Fatalf("stopCode %s, reason %q", stopped.StopCode, aws.ToString(stopped.StoppedReason))
	}
}

// TestEssentialAndDependsOn runs an init container that must succeed before the main one
// starts, and checks the task stops when its essential container exits.
func TestEssentialAndDependsOn(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	n.gantry("image", "import", busyboxRootfs(t), "busybox:e2e")
	td := n.register(`{"family": "ordered", "networkMode": "awsvpc", "volumes": [{"name": "shared"}], "containerDefinitions": [
		{"name": "init", "image": "busybox:e2e", "memory": 16, "essential": false,
		 "mountPoints": [{"sourceVolume": "shared", "containerPath": "/shared"}],
		 "command": ["sh", "-c", "echo ready > /shared/flag"]},
		{"name": "main", "image": "busybox:e2e", "memory": 16,
		 "mountPoints": [{"sourceVolume": "shared", "containerPath": "/shared"}],
		 "dependsOn": [{"containerName": "init", "condition": "SUCCESS"}],
		 "command": ["sh", "-c", "test \"$(cat /shared/flag)\" = ready && exit 42"]}]}`)
	task := n.runTask(&ecs.RunTaskInput{TaskDefinition: aws.String(td)})[0]
	stopped := n.waitTask(aws.ToString(task.TaskArn), "STOPPED", statusIs("STOPPED"))
	if stopped.StopCode != types.TaskStopCodeEssentialContainerExited {
		t.Fatalf("stopCode %s (%s)", stopped.StopCode, aws.ToString(stopped.StoppedReason))
	}
	codes := map[string]int32{}
	for _, c := range stopped.Containers {
		codes[aws.ToString(c.Name)] = aws.ToInt32(c.ExitCode)
	}
	if codes["init"] != 0 || codes["main"] != 42 {
		t.Fatalf("exit codes %v, want init 0 and main 42 (main saw init's file)", codes)
	}
}

// TestAgentRestartAdoptsTasks kills the server (and its agent) with SIGKILL while a task
// runs: the container keeps running, and the restarted agent adopts it and can stop it.
func TestAgentRestartAdoptsTasks(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	n.gantry("image", "import", busyboxRootfs(t), "busybox:e2e")
	port := freePort(t)
	id := strings.TrimSpace(n.gantry("run", "-d", "--name", "survivor", "-p", port+":80", "busybox:e2e",
		"sh", "-c", "httpd -p 80 -h /www; trap 'exit 0' TERM; while true; do sleep 0.1; done"))
	arn := n.waitTask(id, "RUNNING", statusIs("RUNNING")).TaskArn
	n.kill9()
	n.start()
	n.waitInstance()
	task := n.waitTask(aws.ToString(arn), "RUNNING after restart", statusIs("RUNNING"))
	if task.Connectivity != types.ConnectivityConnected {
		t.Fatalf("connectivity %s after the agent came back", task.Connectivity)
	}
	// Its published port survived the restart (the ports chain is not flushed on start).
	if body := httpGet(t, "http://127.0.0.1:"+port+"/"); body != "hello from gantry\n" {
		t.Fatalf("published port after the restart answered %q", body)
	}
	n.gantry("stop", "survivor")
	stopped := n.waitTask(aws.ToString(arn), "STOPPED", statusIs("STOPPED"))
	if c := stopped.Containers[0]; aws.ToInt32(c.ExitCode) != 0 {
		t.Fatalf("adopted container exit code %d, want 0 from its TERM trap", aws.ToInt32(c.ExitCode))
	}
}

func remaining(ci types.ContainerInstance, name string) int32 {
	return resource(ci.RemainingResources, name)
}
func registered(ci types.ContainerInstance, name string) int32 {
	return resource(ci.RegisteredResources, name)
}

func resource(rs []types.Resource, name string) int32 {
	for _, r := range rs {
		if aws.ToString(r.Name) == name {
			return r.IntegerValue
		}
	}
	return -1
}

// httpGet fetches url, retrying briefly while the server in the container starts.
func httpGet(t *testing.T, url string) string {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	var lastErr error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		resp, err := client.Get(url)
		if err != nil {
			lastErr = err
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return string(b)
	}
	t.Fatalf("GET %s: %v", url, lastErr)
	return ""
}

func freePort(t *testing.T) string {
	addr := freeAddr(t)
	return addr[strings.LastIndexByte(addr, ':')+1:]
}

// TestHealthChecks runs a container whose health check passes, one that depends on it
// being HEALTHY, and a task whose check fails: container and task healthStatus follow.
func TestHealthChecks(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	n.gantry("image", "import", busyboxRootfs(t), "busybox:e2e")
	loop := `["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done"]`
	good := n.register(`{"family": "healthy", "networkMode": "awsvpc", "containerDefinitions": [
		{"name": "db", "image": "busybox:e2e", "memory": 16, "stopTimeout": 2, "command": ` + loop + `,
		 "healthCheck": {"command": ["CMD-SHELL", "test -d /bin"], "interval": 5, "retries": 1}},
		{"name": "app", "image": "busybox:e2e", "memory": 16, "stopTimeout": 2, "command": ` + loop + `,
		 "dependsOn": [{"containerName": "db", "condition": "HEALTHY"}]}]}`)
	bad := n.register(`{"family": "unhealthy", "networkMode": "awsvpc", "containerDefinitions": [
		{"name": "c", "image": "busybox:e2e", "memory": 16, "stopTimeout": 2, "command": ` + loop + `,
		 "healthCheck": {"command": ["CMD", "false"], "interval": 5, "retries": 1}}]}`)
	g := n.runTask(&ecs.RunTaskInput{TaskDefinition: aws.String(good)})[0]
	b := n.runTask(&ecs.RunTaskInput{TaskDefinition: aws.String(bad)})[0]
	healthy := n.waitTask(aws.ToString(g.TaskArn), "HEALTHY and RUNNING", func(t types.Task) bool {
		return t.HealthStatus == types.HealthStatusHealthy && aws.ToString(t.LastStatus) == "RUNNING"
	})
	for _, c := range healthy.Containers {
		if aws.ToString(c.LastStatus) != "RUNNING" {
			t.Fatalf("container %s is %s once db is HEALTHY", aws.ToString(c.Name), aws.ToString(c.LastStatus))
		}
	}
	n.waitTask(aws.ToString(b.TaskArn), "UNHEALTHY", func(t types.Task) bool { return t.HealthStatus == types.HealthStatusUnhealthy })
}

// TestTaskFailsWhenItsNetworkCannotAttach fills a /29 node subnet (five task addresses)
// and runs one more task: its CNI attach fails while runc is creating its container, so
// the container's process must never run, the task must stop with the reason, and the
// five others keep running.
func TestTaskFailsWhenItsNetworkCannotAttach(t *testing.T) {
	t.Parallel()
	n := startNodeWithPrefix(t, 29)
	n.gantry("image", "import", busyboxRootfs(t), "busybox:e2e")
	ctl := t.TempDir()
	filler := n.register(`{"family": "filler", "containerDefinitions": [
		{"name": "sleep", "image": "busybox:e2e", "memory": 16, "command": ["sleep", "300"]}]}`)
	late := n.register(`{"family": "late", "volumes": [{"name": "ctl", "host": {"sourcePath": "` + ctl + `"}}],
		"containerDefinitions": [{"name": "marker", "image": "busybox:e2e", "memory": 16,
		 "mountPoints": [{"sourceVolume": "ctl", "containerPath": "/ctl"}],
		 "command": ["sh", "-c", "touch /ctl/ran; sleep 300"]}]}`)
	fillers := n.runTask(&ecs.RunTaskInput{TaskDefinition: aws.String(filler), Count: aws.Int32(5)})
	for _, f := range fillers {
		n.waitTask(aws.ToString(f.TaskArn), "RUNNING", statusIs("RUNNING"))
	}
	task := n.runTask(&ecs.RunTaskInput{TaskDefinition: aws.String(late)})[0]
	stopped := n.waitTask(aws.ToString(task.TaskArn), "STOPPED", statusIs("STOPPED"))
	reason := aws.ToString(stopped.StoppedReason)
	if stopped.StopCode != types.TaskStopCodeTaskFailedToStart || !strings.Contains(reason, "connecting the task network") {
		t.Fatalf("stopCode %s, reason %q; want TaskFailedToStart naming the network", stopped.StopCode, reason)
	}
	if _, err := os.Stat(filepath.Join(ctl, "ran")); err == nil {
		t.Fatal("the container's process ran although its network never attached")
	}
	for _, f := range fillers {
		out, err := n.ecs().DescribeTasks(context.Background(), &ecs.DescribeTasksInput{Tasks: []string{aws.ToString(f.TaskArn)}})
		if err != nil || len(out.Tasks) != 1 || aws.ToString(out.Tasks[0].LastStatus) != "RUNNING" {
			t.Fatalf("a task that had its address is no longer RUNNING: %+v, %v", out.Tasks, err)
		}
	}
}

// TestOOMKilledTaskSaysSo runs a task whose container outgrows its 16 MiB limit: ECS's
// reason for that container (OutOfMemoryError) and exit code 137 must reach DescribeTasks.
func TestOOMKilledTaskSaysSo(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	n.gantry("image", "import", busyboxRootfs(t), "busybox:e2e")
	td := n.register(`{"family": "greedy", "networkMode": "awsvpc", "containerDefinitions": [
		{"name": "hog", "image": "busybox:e2e", "memory": 16, "command": ["sh", "-c", "x=a; while :; do x=$x$x; done"]}]}`)
	task := n.runTask(&ecs.RunTaskInput{TaskDefinition: aws.String(td)})[0]
	stopped := n.waitTask(aws.ToString(task.TaskArn), "STOPPED", statusIs("STOPPED"))
	c := stopped.Containers[0]
	if aws.ToInt32(c.ExitCode) != 137 || !strings.HasPrefix(aws.ToString(c.Reason), "OutOfMemoryError") {
		t.Fatalf("container exit code %d, reason %q; want 137 and OutOfMemoryError", aws.ToInt32(c.ExitCode), aws.ToString(c.Reason))
	}
	if stopped.StopCode != types.TaskStopCodeEssentialContainerExited {
		t.Errorf("stopCode %s, want EssentialContainerExited", stopped.StopCode)
	}
}

// TestContainersOfATaskShareItsNetwork: one container serves on the task's loopback only,
// and another container of the same task fetches from it there (one namespace per task,
// as in awsvpc mode).
func TestContainersOfATaskShareItsNetwork(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	n.gantry("image", "import", busyboxRootfs(t), "busybox:e2e")
	td := n.register(`{"family": "pair", "networkMode": "awsvpc", "containerDefinitions": [
		{"name": "web", "image": "busybox:e2e", "memory": 16, "essential": false, "stopTimeout": 2,
		 "command": ["httpd", "-f", "-p", "127.0.0.1:8080", "-h", "/www"]},
		{"name": "client", "image": "busybox:e2e", "memory": 16,
		 "dependsOn": [{"containerName": "web", "condition": "START"}],
		 "command": ["sh", "-c", "i=0; while test $i -lt 100; do test \"$(wget -q -O - http://127.0.0.1:8080/)\" = 'hello from gantry' && exit 0; i=$((i+1)); sleep 0.1; done; exit 1"]}]}`)
	task := n.runTask(&ecs.RunTaskInput{TaskDefinition: aws.String(td)})[0]
	stopped := n.waitTask(aws.ToString(task.TaskArn), "STOPPED", statusIs("STOPPED"))
	for _, c := range stopped.Containers {
		if aws.ToString(c.Name) == "client" && aws.ToInt32(c.ExitCode) != 0 {
			t.Fatalf("client exit code %d: it could not reach web on the task's loopback", aws.ToInt32(c.ExitCode))
		}
	}
}

// TestHostAndNoneNetworkModes runs a task in each mode without an attach: "none" sees only
// loopback, "host" sees the node's own interfaces.
func TestHostAndNoneNetworkModes(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	n.gantry("image", "import", busyboxRootfs(t), "busybox:e2e")
	none := n.register(`{"family": "isolated", "networkMode": "none", "containerDefinitions": [
		{"name": "c", "image": "busybox:e2e", "memory": 16, "command": ["sh", "-c", "test \"$(ls /sys/class/net)\" = lo"]}]}`)
	host := n.register(`{"family": "on-host", "networkMode": "host", "containerDefinitions": [
		{"name": "c", "image": "busybox:e2e", "memory": 16, "command": ["sh", "-c", "test \"$(ls /sys/class/net)\" != lo"]}]}`)
	for _, td := range []string{none, host} {
		task := n.runTask(&ecs.RunTaskInput{TaskDefinition: aws.String(td)})[0]
		stopped := n.waitTask(aws.ToString(task.TaskArn), "STOPPED", statusIs("STOPPED"))
		if c := stopped.Containers[0]; c.ExitCode == nil || *c.ExitCode != 0 {
			t.Errorf("%s: exit code %d (%s), want 0", td, aws.ToInt32(c.ExitCode), aws.ToString(stopped.StoppedReason))
		}
	}
}

// TestAgentKilledWhileAContainerIsHeld kills the server (and its agent) while a task's
// container is held before exec, waiting for the task's CNI attach (which a wrapper of the
// bridge plugin holds up). The task never got to RUNNING, so the restarted agent removes
// what the crash left and launches it again: the held container must go at once (not after
// the hold's 3-minute timeout), its attachment must be released, and the container's
// command must run exactly once, in the new launch.
func TestAgentKilledWhileAContainerIsHeld(t *testing.T) {
	t.Parallel()
	plugins := t.TempDir()
	held, release := filepath.Join(plugins, "held"), filepath.Join(plugins, "release")
	wrapperPath := filepath.Join(plugins, "bridge") // on the wrapper's command line, not the server's
	wrapper := "#!/bin/sh\n" +
		"if [ \"$CNI_COMMAND\" = ADD ] && [ ! -e " + release + " ]; then\n" +
		"  touch " + held + "\n" +
		"  while [ ! -e " + release + " ]; do sleep 0.05; done\n" +
		"fi\n" +
		"exec /usr/lib/cni/bridge \"$@\"\n"
	if err := os.WriteFile(wrapperPath, []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/usr/lib/cni/host-local", filepath.Join(plugins, "host-local")); err != nil {
		t.Fatal(err)
	}
	// Whatever happens, no wrapper is left waiting (cleanups run last-in first-out: this
	// one before the node's removal).
	n := startNode(t, "--cni-plugin-dir", plugins)
	t.Cleanup(func() {
		os.WriteFile(release, nil, 0o644)
		waitFor(t, "the CNI wrapper to finish", func() bool { return !processWith(wrapperPath) })
	})
	n.gantry("image", "import", busyboxRootfs(t), "busybox:e2e")
	ctl := t.TempDir()
	td := n.register(`{"family": "held", "networkMode": "awsvpc", "volumes": [{"name": "ctl", "host": {"sourcePath": "` + ctl + `"}}],
		"containerDefinitions": [{"name": "marker", "image": "busybox:e2e", "memory": 16,
		 "mountPoints": [{"sourceVolume": "ctl", "containerPath": "/ctl"}],
		 "command": ["sh", "-c", "echo ran >> /ctl/runs; sleep 300"]}]}`)
	task := n.runTask(&ecs.RunTaskInput{TaskDefinition: aws.String(td)})[0]
	waitFor(t, "the CNI attach to be held", func() bool { _, err := os.Stat(held); return err == nil })
	waitFor(t, "runc to hold the container at its gate", func() bool { return processWith(n.dataDir, "\x00gate\x00") })
	n.kill9()
	// The attach the dead agent started goes on and completes, as a real one would.
	os.WriteFile(release, nil, 0o644)
	waitFor(t, "the orphaned CNI attach to finish", func() bool { return !processWith(wrapperPath) })
	n.start()
	n.waitInstance()
	running := n.waitTask(aws.ToString(task.TaskArn), "RUNNING after the restart", statusIs("RUNNING"))
	if processWith(n.dataDir, "\x00gate\x00") {
		t.Error("the held container's gate hook still waits")
	}
	waitFor(t, "the relaunched container to run", func() bool { _, err := os.Stat(filepath.Join(ctl, "runs")); return err == nil })
	if b, _ := os.ReadFile(filepath.Join(ctl, "runs")); string(b) != "ran\n" {
		t.Errorf("the container's command ran %d times, want once (the held one must never run)", strings.Count(string(b), "ran"))
	}
	leases, _ := filepath.Glob(filepath.Join(n.runDir, "network", "ipam", "*", "10.*"))
	if ip := running.Attachments[0].Details; len(leases) != 1 {
		t.Errorf("IP leases %v, want only the relaunch's (%v)", leases, ip)
	}
}

// waitFor polls cond for up to 30 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// processWith tells whether a live process's command line contains every one of parts.
func processWith(parts ...string) bool {
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range cmdlines {
		b, err := os.ReadFile(p)
		if err != nil || len(b) == 0 {
			continue
		}
		all := true
		for _, part := range parts {
			all = all && strings.Contains(string(b), part)
		}
		if all {
			return true
		}
	}
	return false
}

// TestImageRmFreesContentNotInUse: removing an image deletes its layers and blobs (as
// docker rmi does), except what a running task's root filesystem still uses.
func TestImageRmFreesContentNotInUse(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	n.gantry("image", "import", busyboxRootfs(t), "keep:1")
	other := filepath.Join(t.TempDir(), "other.tar")
	os.WriteFile(other, busyboxTar(t, map[string]string{"www/index.html": "another image\n"}), 0o644)
	n.gantry("image", "import", other, "drop:1")
	layers := func() int {
		ents, _ := os.ReadDir(filepath.Join(n.dataDir, "images", "layers"))
		return len(ents)
	}
	if got := layers(); got != 2 {
		t.Fatalf("%d unpacked layers after two imports, want 2", got)
	}
	td := n.register(`{"family": "user", "networkMode": "awsvpc", "containerDefinitions": [
		{"name": "c", "image": "keep:1", "memory": 16, "command": ["sleep", "300"]}]}`)
	task := n.runTask(&ecs.RunTaskInput{TaskDefinition: aws.String(td)})[0]
	n.waitTask(aws.ToString(task.TaskArn), "RUNNING", statusIs("RUNNING"))
	n.gantry("image", "rm", "drop:1")
	if got := layers(); got != 1 {
		t.Fatalf("%d unpacked layers after removing an unused image, want 1", got)
	}
	n.gantry("image", "rm", "keep:1")
	if got := layers(); got != 1 {
		t.Fatalf("%d unpacked layers after removing the image a running task uses, want its layer kept", got)
	}
}

// TestRunPublishAllPublishesExposedPorts: `gantry run -P` publishes the port the image
// EXPOSEs on a dynamic host port, which the task reports and which serves.
func TestRunPublishAllPublishesExposedPorts(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	img, _ := mutate.AppendLayers(empty.Image, layerFromBytes(t, busyboxTar(t, map[string]string{"www/index.html": "hello from gantry\n"})))
	cfg, _ := img.ConfigFile()
	cfg.OS, cfg.Architecture = "linux", "amd64"
	cfg.Config.Cmd = []string{"httpd", "-f", "-p", "80", "-h", "/www"}
	cfg.Config.ExposedPorts = map[string]struct{}{"80/tcp": {}}
	img, err := mutate.ConfigFile(img, cfg)
	if err != nil {
		t.Fatal(err)
	}
	tag, _ := name.NewTag("exposed:1")
	archive := filepath.Join(t.TempDir(), "exposed.tar")
	if err := tarball.WriteToFile(archive, tag, img); err != nil {
		t.Fatal(err)
	}
	n.gantry("image", "load", "-i", archive)
	id := strings.TrimSpace(n.gantry("run", "-d", "-P", "--name", "exposed", "exposed:1"))
	task := n.waitTask(id, "RUNNING", statusIs("RUNNING"))
	bindings := task.Containers[0].NetworkBindings
	if len(bindings) != 1 || aws.ToInt32(bindings[0].ContainerPort) != 80 || aws.ToInt32(bindings[0].HostPort) == 0 {
		t.Fatalf("network bindings %+v, want 80/tcp on a dynamic host port", bindings)
	}
	if body := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", aws.ToInt32(bindings[0].HostPort))); body != "hello from gantry\n" {
		t.Fatalf("the exposed port answered %q", body)
	}
	n.gantry("stop", "exposed")
}

// TestImageSaveLoadsBack: `gantry image save` writes an archive that `gantry image load`
// (and docker load) reads; an unknown image is an error and leaves no file.
func TestImageSaveLoadsBack(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	n.gantry("image", "import", busyboxRootfs(t), "saved:1")
	archive := filepath.Join(t.TempDir(), "saved.tar")
	n.gantry("image", "save", "-o", archive, "saved:1")
	n.gantry("image", "rm", "saved:1")
	if out := n.gantry("image", "load", "-i", archive); !strings.Contains(out, "Loaded image: ") || !strings.Contains(out, "saved:1") {
		t.Fatalf("load of the saved archive printed %q", out)
	}
	task := n.runTask(&ecs.RunTaskInput{TaskDefinition: aws.String(n.register(`{"family": "from-archive", "networkMode": "awsvpc", "containerDefinitions": [
		{"name": "c", "image": "saved:1", "memory": 16, "command": ["cat", "/www/index.html"]}]}`))})[0]
	if st := n.waitTask(aws.ToString(task.TaskArn), "STOPPED", statusIs("STOPPED")); aws.ToInt32(st.Containers[0].ExitCode) != 0 {
		t.Fatalf("a task from the loaded image exited %d", aws.ToInt32(st.Containers[0].ExitCode))
	}
	missing := filepath.Join(t.TempDir(), "missing.tar")
	if _, stderr, err := n.gantryResult("image", "save", "-o", missing, "nosuch:1"); err == nil || !strings.Contains(stderr, "nosuch") {
		t.Fatalf("save of an unknown image: %v, %q; want an error naming it", err, stderr)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Error("a failed save left its archive")
	}
}

// TestRestartRemovesAStrayMount: an agent killed between mounting a container's root
// filesystem and creating the container leaves a mount no container points to; if the
// server no longer has the task, the restarted agent must still remove it.
func TestRestartRemovesAStrayMount(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	n.gantry("image", "import", busyboxRootfs(t), "busybox:e2e")
	n.kill9()
	store, err := image.Open(filepath.Join(n.dataDir, "images"))
	if err != nil {
		t.Fatal(err)
	}
	img, err := store.Get("busybox:e2e")
	if err != nil {
		t.Fatal(err)
	}
	const stray = "0123456789abcdef0123456789abcdef-web" // a task the server never had
	if _, err := store.Mount(context.Background(), img, stray); err != nil {
		t.Fatal(err)
	}
	n.start()
	n.waitInstance()
	waitFor(t, "the restarted agent to remove the stray mount", func() bool {
		_, err := os.Stat(filepath.Join(n.dataDir, "images", "mounts", stray))
		return errors.Is(err, os.ErrNotExist)
	})
}

// TestNamedVolumeOutlivesItsTask: a named volume (gantry run -v NAME:/path, a shared
// dockerVolumeConfiguration) keeps what one task wrote for the next, as docker volumes do.
func TestNamedVolumeOutlivesItsTask(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	n.gantry("image", "import", busyboxRootfs(t), "busybox:e2e")
	n.gantry("run", "--rm", "-v", "notes:/notes", "busybox:e2e", "sh", "-c", "echo kept > /notes/f")
	if out := n.gantry("run", "--rm", "-v", "notes:/notes", "busybox:e2e", "cat", "/notes/f"); out != "kept\n" {
		t.Fatalf("the second task read %q from the named volume", out)
	}
	if b, err := os.ReadFile(filepath.Join(n.dataDir, "agent", "named-volumes", "notes", "f")); err != nil || string(b) != "kept\n" {
		t.Errorf("the volume on the instance: %q, %v; want it under the data dir", b, err)
	}
}
