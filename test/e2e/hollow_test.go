package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"gantry/internal/agent"
	"gantry/internal/agentconn"
	"gantry/internal/network"
)

// A real server with dozens of hollow agents (the agent with the hollow engine, in this
// process): every task placed reaches its agent and RUNNING, the agents hold exactly the
// tasks the server says they run, and stopping half of them gives back exactly what they
// booked. It guards the placement, assignment and report pipeline end to end (batched
// commits, merged pushes, batched reports, frequent full resends) at a size CI can afford.
func TestHollowAgentsRunEveryTask(t *testing.T) {
	const agents, calls, perCall = 100, 200, 10 // 2,000 tasks
	ctx, cancel := context.WithCancel(context.Background())
	// Full assignment sets every 100 ms, so that they interleave with the changes.
	s := &server{t: t, dataDir: t.TempDir(), addr: freeAddr(t), output: &syncBuffer{}, args: []string{"--no-agent", "--assignment-resync", "100ms"}}
	s.Endpoint = "http://" + s.addr
	s.start()
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	hc := &http.Client{Timeout: time.Minute}
	runtimes := make([]*agent.HollowRuntime, agents)
	for i := range agents {
		runtimes[i] = agent.NewHollowRuntime()
		a, err := agent.New(agent.Config{
			StateDir: filepath.Join(t.TempDir(), "agent"), NodeName: fmt.Sprint("hollow-", i), CPU: 4096, MemoryMiB: 1024,
			Conn:    &agentconn.Client{Server: s.Endpoint, Region: "us-east-1", HTTP: hc, Credentials: aws.Credentials{AccessKeyID: s.KeyID, SecretAccessKey: s.Secret}},
			Runtime: runtimes[i], Images: agent.NewHollowImages(), Network: agent.NewHollowNetwork(),
			Log: slog.New(slog.DiscardHandler),
		})
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() { a.Run(ctx) })
	}
	waitConnected(t, s, agents)
	td := s.registerTD(`{"family": "hollow", "networkMode": "bridge", "containerDefinitions": [
		{"name": "c", "image": "hollow:1", "memory": 16, "cpu": 8}]}`)

	client := s.ecs()
	var mu sync.Mutex
	var arns []string
	var calling sync.WaitGroup
	for w := range 8 {
		calling.Go(func() {
			for range calls / 8 {
				out, err := client.RunTask(ctx, &ecs.RunTaskInput{TaskDefinition: aws.String(td), Count: aws.Int32(perCall),
					PlacementStrategy: []types.PlacementStrategy{{Type: types.PlacementStrategyTypeSpread, Field: aws.String("instanceId")}}})
				if err != nil || len(out.Tasks) != perCall {
					t.Errorf("RunTask (client %d): %v, %d placed", w, err, len(out.Tasks))
					return
				}
				mu.Lock()
				for _, task := range out.Tasks {
					arns = append(arns, aws.ToString(task.TaskArn))
				}
				mu.Unlock()
			}
		})
	}
	calling.Wait()
	placed := len(arns)
	if t.Failed() || placed != calls/8*8*perCall {
		t.Fatalf("placed %d tasks", placed)
	}
	waitRunningCount(t, s, placed)
	if held := hollowContainers(t, runtimes); held != placed {
		t.Fatalf("the hollow agents hold %d containers for %d running tasks", held, placed)
	}

	for _, arn := range arns[:placed/2] {
		if _, err := client.StopTask(ctx, &ecs.StopTaskInput{Task: aws.String(arn)}); err != nil {
			t.Fatal(err)
		}
	}
	waitRunningCount(t, s, placed-placed/2)
	list, err := client.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{})
	if err != nil {
		t.Fatal(err)
	}
	freeMemory, registeredMemory := 0, 0
	for batch := range chunk(list.ContainerInstanceArns, 100) {
		out, err := client.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{ContainerInstances: batch})
		if err != nil {
			t.Fatal(err)
		}
		for _, ci := range out.ContainerInstances {
			freeMemory += int(ci.RemainingResources[1].IntegerValue)
			registeredMemory += int(ci.RegisteredResources[1].IntegerValue)
		}
	}
	if want := registeredMemory - 16*(placed-placed/2); freeMemory != want {
		t.Fatalf("memory left over all instances: %d MiB, want %d", freeMemory, want)
	}
}

// waitRunningCount waits until the instances count want tasks RUNNING and none pending.
func waitRunningCount(t *testing.T, s *server, want int) {
	t.Helper()
	ctx := context.Background()
	running, pending := 0, 0
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		list, err := s.ecs().ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{})
		if err != nil {
			t.Fatal(err)
		}
		running, pending = 0, 0
		for batch := range chunk(list.ContainerInstanceArns, 100) {
			out, err := s.ecs().DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{ContainerInstances: batch})
			if err != nil {
				t.Fatal(err)
			}
			for _, ci := range out.ContainerInstances {
				running += int(ci.RunningTasksCount)
				pending += int(ci.PendingTasksCount)
			}
		}
		if running == want && pending == 0 {
			return
		}
	}
	t.Fatalf("after 90 s: %d tasks RUNNING and %d pending, want %d RUNNING; server output:\n%s", running, pending, want, s.output)
}

// hollowContainers counts the containers the hollow runtimes hold that have not exited.
func hollowContainers(t *testing.T, runtimes []*agent.HollowRuntime) int {
	t.Helper()
	n := 0
	for _, rt := range runtimes {
		cs, err := rt.List(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			if c.Exit == nil {
				n++
			}
		}
	}
	return n
}

func chunk(s []string, n int) func(func([]string) bool) {
	return func(yield func([]string) bool) {
		for len(s) > 0 {
			b := s[:min(n, len(s))]
			s = s[len(b):]
			if !yield(b) {
				return
			}
		}
	}
}

// stuckConnect is a task network whose CNI attach never finishes: the agent using it
// stays in the middle of a launch until it is stopped.
type stuckConnect struct{ agent.Network }

func (stuckConnect) Connect(ctx context.Context, _ string) (*network.Attachment, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestRestartedAgentRemovesANetworkWithoutContainers stops an agent after it prepared a
// task's network namespace but before the task had any container (as a kill at that moment
// leaves it). Its successor on the same instance finds no container of the task, but must
// still remove the namespace before it launches the task again; it used to fail the task
// with "network attachment already exists".
func TestRestartedAgentRemovesANetworkWithoutContainers(t *testing.T) {
	t.Parallel()
	s := &server{t: t, dataDir: t.TempDir(), addr: freeAddr(t), output: &syncBuffer{}, args: []string{"--no-agent"}}
	s.Endpoint = "http://" + s.addr
	s.start()
	stateDir, net := filepath.Join(t.TempDir(), "agent"), agent.NewHollowNetwork()
	start := func(nw agent.Network) (stop func()) {
		ctx, cancel := context.WithCancel(context.Background())
		a, err := agent.New(agent.Config{
			StateDir: stateDir, NodeName: "crashy", CPU: 1024, MemoryMiB: 1024,
			Conn:    &agentconn.Client{Server: s.Endpoint, Region: "us-east-1", HTTP: &http.Client{Timeout: time.Minute}, Credentials: aws.Credentials{AccessKeyID: s.KeyID, SecretAccessKey: s.Secret}},
			Runtime: agent.NewHollowRuntime(), Images: agent.NewHollowImages(), Network: nw,
			Log: slog.New(slog.DiscardHandler),
		})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { a.Run(ctx); close(done) }()
		return func() { cancel(); <-done }
	}
	stop := start(stuckConnect{net})
	waitConnected(t, s, 1)
	td := s.registerTD(`{"family": "half-made", "networkMode": "awsvpc", "containerDefinitions": [
		{"name": "c", "image": "hollow:1", "memory": 16}]}`)
	out, err := s.ecs().RunTask(context.Background(), &ecs.RunTaskInput{TaskDefinition: aws.String(td)})
	if err != nil || len(out.Tasks) != 1 {
		t.Fatalf("RunTask: %v, %+v", err, out)
	}
	arn := aws.ToString(out.Tasks[0].TaskArn)
	id := arn[strings.LastIndexByte(arn, '/')+1:]
	waitFor(t, "the task's namespace to be prepared", func() bool { _, ok := net.Get(id); return ok })
	stop()
	t.Cleanup(start(net))
	if task := s.waitTaskStatus(arn, "RUNNING"); task.StopCode != "" {
		t.Fatalf("task %s: stopCode %s, %s", arn, task.StopCode, aws.ToString(task.StoppedReason))
	}
}
