package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"

	"gantry/bench/internal/proc"
	"gantry/bench/internal/sweep"
	"gantry/internal/agent"
	"gantry/internal/agentconn"
)

// Goals of the issue for the scheduler.
const (
	goalPlacementsEndToEnd = 5000.0
	goalPlacementsPure     = 50000.0
	registerBatch          = 50 // agents started before waiting for them to connect
)

// scaleTaskDef is a tiny bridge-mode task with no ports, for hollow instances.
var scaleTaskDef = &ecs.RegisterTaskDefinitionInput{
	Family:      aws.String("gbench-scale"),
	NetworkMode: types.NetworkModeBridge,
	ContainerDefinitions: []types.ContainerDefinition{{
		Name: aws.String("tiny"), Image: aws.String("gbench/hollow:latest"), Essential: aws.Bool(true),
		Memory: aws.Int32(16), Cpu: 8,
	}},
}

// placement is what the RunTask clients of the scale part found.
type placement struct {
	mu       sync.Mutex
	calls    sample
	placed   int
	failures map[string]int // RunTask failures[] by reason
	errors   map[string]int // failed calls by error code
	firstErr string
	// throttled counts ThrottlingException answers (too many conflicting placements)
	// that were retried.
	throttled int
}

// runTask sends one RunTask, again after a backoff when the server says it is busy (as
// the SDKs' standard retryer would), and records the outcome.
func (p *placement) runTask(ctx context.Context, client *ecs.Client, in *ecs.RunTaskInput) {
	backoff := 20 * time.Millisecond
	for try := 1; ; try++ {
		t := time.Now()
		out, err := client.RunTask(ctx, in)
		d := time.Since(t)
		var apiErr smithy.APIError
		if try < maxTries && errors.As(err, &apiErr) && apiErr.ErrorCode() == "ThrottlingException" {
			p.mu.Lock()
			p.throttled++
			p.mu.Unlock()
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		p.record(d, out, err)
		return
	}
}

// maxTries bounds the attempts of one RunTask call.
const maxTries = 10

func (p *placement) record(d time.Duration, out *ecs.RunTaskOutput, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, d)
	if err != nil {
		code := "other"
		var apiErr smithy.APIError
		if errors.As(err, &apiErr) {
			code = apiErr.ErrorCode()
		}
		p.errors[code]++
		if p.firstErr == "" {
			p.firstErr = err.Error()
		}
		return
	}
	p.placed += len(out.Tasks)
	for _, f := range out.Failures {
		p.failures[aws.ToString(f.Reason)]++
	}
}

// runScale starts a server without an agent and cfg.instances hollow agents in this
// process, places cfg.tasks tasks with RunTask (count 10) from cfg.clients clients, and
// waits until all are RUNNING.
func runScale(ctx context.Context, cfg config, b bins, work string, cl *sweep.Cleanup, sum *summary) error {
	typ, field, _ := strings.Cut(cfg.strategy, ":")
	s, err := startServer(ctx, b, filepath.Join(work, "scale"), false, cl)
	if err != nil {
		return err
	}
	defer s.cleanup()

	agentsCtx, stopAgents := context.WithCancel(ctx)
	var agents sync.WaitGroup
	defer func() {
		stopAgents()
		agents.Wait()
	}()
	warns := &warnCounter{}
	fmt.Printf("scale: starting %d hollow agents (%d at a time) ...\n", cfg.instances, registerBatch)
	t0 := time.Now()
	nodes, err := startHollowAgents(agentsCtx, cfg.instances, s, filepath.Join(work, "scale", "agents"), warns, &agents)
	if err != nil {
		return err
	}
	joined := time.Since(t0)
	fmt.Printf("scale: %d hollow agents registered and connected in %.1f s\n", cfg.instances, joined.Seconds())

	out, err := s.ecs.RegisterTaskDefinition(ctx, scaleTaskDef)
	if err != nil {
		return fmt.Errorf("registering %s: %w", aws.ToString(scaleTaskDef.Family), err)
	}
	td := out.TaskDefinition.TaskDefinitionArn
	calls := (cfg.tasks + 9) / 10
	p := &placement{failures: map[string]int{}, errors: map[string]int{}}
	fmt.Printf("scale: placing %d tasks (%d RunTask calls of count 10, %d clients, strategy %s) ...\n", cfg.tasks, calls, cfg.clients, cfg.strategy)
	var next atomic.Int64
	var clients sync.WaitGroup
	placeCtx, stopPlacing := context.WithTimeout(ctx, cfg.scaleTimeout)
	defer stopPlacing()
	start := time.Now()
	for range cfg.clients {
		clients.Go(func() {
			for placeCtx.Err() == nil {
				k := int(next.Add(1) - 1)
				if k >= calls {
					return
				}
				n := min(10, cfg.tasks-10*k)
				in := &ecs.RunTaskInput{TaskDefinition: td, Count: aws.Int32(int32(n)),
					PlacementStrategy: []types.PlacementStrategy{{Type: types.PlacementStrategyType(typ), Field: aws.String(field)}}}
				if field == "" {
					in.PlacementStrategy[0].Field = nil
				}
				p.runTask(placeCtx, s.ecs, in)
			}
		})
	}
	progress := reportProgress(placeCtx, p, start)
	clients.Wait()
	placedIn := time.Since(start)
	progress()
	timedOut := placeCtx.Err() != nil && ctx.Err() == nil

	fmt.Printf("scale: waiting until the %d placed tasks are RUNNING ...\n", p.placed)
	runningIn, running, err := waitRunning(ctx, s, p.placed, start, cfg.scaleTimeout, nodes)
	if err != nil {
		return err
	}
	serverRSS, _ := s.rss()
	benchRSS, _ := proc.RSS(os.Getpid())

	var pure float64
	var pureErr error
	if cfg.pure {
		stopAgents()
		agents.Wait()
		s.stop()
		pure, pureErr = purePlacementRate(ctx)
	}
	printScale(cfg, p, joined, placedIn, timedOut, runningIn, running, serverRSS, benchRSS, warns, pure, pureErr, sum)
	return nil
}

// startHollowAgents runs n agents with the hollow engine, registerBatch at a time, and
// returns once all are registered and connected.
func startHollowAgents(ctx context.Context, n int, s *gantryServer, dir string, warns *warnCounter, wg *sync.WaitGroup) ([]hollowNode, error) {
	// One connection pool for every agent's reports, bounded so that thousands of report
	// workers do not open thousands of connections.
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 512}, Timeout: time.Minute}
	log := slog.New(warns)
	nodes := make([]hollowNode, n)
	for i := range n {
		nodes[i].rt = agent.NewHollowRuntime()
		a, err := agent.New(agent.Config{
			StateDir:  filepath.Join(dir, fmt.Sprint("hollow-", i)),
			NodeName:  fmt.Sprint("hollow-", i),
			CPU:       4096,
			MemoryMiB: 16384,
			Conn:      &agentconn.Client{Server: s.endpoint, Credentials: s.key, Region: "us-east-1", HTTP: hc},
			Runtime:   nodes[i].rt,
			Images:    agent.NewHollowImages(),
			Network:   agent.NewHollowNetwork(),
			Log:       log,
		})
		if err != nil {
			return nil, err
		}
		nodes[i].agent = a
		wg.Go(func() {
			if err := a.Run(ctx); err != nil && ctx.Err() == nil {
				warns.Handle(ctx, slog.NewRecord(time.Now(), slog.LevelError, "hollow agent stopped: "+err.Error(), 0))
			}
		})
		if (i+1)%registerBatch == 0 || i == n-1 {
			if err := s.waitInstances(ctx, i+1, 2*time.Minute); err != nil {
				return nil, fmt.Errorf("hollow agents: %w; agent warnings: %s", err, warns)
			}
		}
	}
	return nodes, nil
}

// hollowNode is one hollow agent and its runtime, for looking into stuck tasks.
type hollowNode struct {
	agent *agent.Agent
	rt    *agent.HollowRuntime
}

// reportProgress prints placements every 10 s until the returned func is called.
func reportProgress(ctx context.Context, p *placement, start time.Time) func() {
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(10 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			p.mu.Lock()
			fmt.Printf("  %4.0f s: %d placed, %d calls failed\n", time.Since(start).Seconds(), p.placed, sumCounts(p.errors))
			p.mu.Unlock()
		}
	}()
	return func() { close(done); <-stopped }
}

// waitRunning polls the instances' runningTasksCount every 500 ms until want tasks run,
// progress stops for a minute, or timeout passes; it returns how many run and when (since
// start) the last of them was first seen RUNNING.
func waitRunning(ctx context.Context, s *gantryServer, want int, start time.Time, timeout time.Duration, nodes []hollowNode) (time.Duration, int, error) {
	deadline := time.Now().Add(timeout)
	last, lastChange := -1, time.Now()
	for ctx.Err() == nil {
		insts, err := s.instances(ctx)
		if err != nil {
			return 0, 0, err
		}
		running := 0
		for _, ci := range insts {
			running += int(ci.RunningTasksCount)
		}
		if running >= want {
			return time.Since(start), running, nil
		}
		if running != last {
			last, lastChange = running, time.Now()
		}
		if time.Since(lastChange) > time.Minute || time.Now().After(deadline) {
			fmt.Printf("scale: gave up waiting: %d of %d RUNNING, no progress since %.0f s\n", running, want, time.Since(lastChange).Seconds())
			describeStragglers(ctx, s, start, nodes)
			return lastChange.Sub(start), running, nil
		}
		time.Sleep(500 * time.Millisecond)
	}
	return 0, 0, ctx.Err()
}

// describeStragglers prints how many tasks are in each state short of RUNNING, and one
// of them in full, to show where they are stuck.
func describeStragglers(ctx context.Context, s *gantryServer, start time.Time, nodes []hollowNode) {
	var arns []string
	p := ecs.NewListTasksPaginator(s.ecs, &ecs.ListTasksInput{MaxResults: aws.Int32(100)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			fmt.Println("  listing tasks:", err)
			return
		}
		arns = append(arns, page.TaskArns...)
	}
	byStatus := map[string]int{}
	var example *types.Task
	for batch := range slices.Chunk(arns, 100) {
		out, err := s.ecs.DescribeTasks(ctx, &ecs.DescribeTasksInput{Tasks: batch})
		if err != nil {
			fmt.Println("  describing tasks:", err)
			return
		}
		for _, t := range out.Tasks {
			if st := aws.ToString(t.LastStatus); st != "RUNNING" {
				byStatus[st]++
				if example == nil {
					example = &t
				}
			}
		}
	}
	fmt.Printf("  tasks short of RUNNING by lastStatus: %s\n", counts(byStatus))
	if example == nil {
		return
	}
	b, _ := json.Marshal(example)
	fmt.Printf("  one of them, created %.3f s after the first RunTask: %s\n", example.CreatedAt.Sub(start).Seconds(), b)
	for _, n := range nodes {
		if n.agent.InstanceArn() != aws.ToString(example.ContainerInstanceArn) {
			continue
		}
		cs, _ := n.rt.List(ctx)
		for _, c := range cs {
			if c.Labels["gantry.task-arn"] == aws.ToString(example.TaskArn) {
				fmt.Printf("  its hollow agent has its container %s, %s: the agent got the task, the server lacks its reports\n", c.ID, c.Status)
				return
			}
		}
		fmt.Printf("  its hollow agent (%d containers) has no container of it: the agent never started the task\n", len(cs))
	}
}

// purePlacementRate runs the scheduler's BenchmarkPlace (1000 instances, count 10, spread
// over zones then binpack memory) and returns the placements/s it reports.
func purePlacementRate(ctx context.Context) (float64, error) {
	fmt.Println("scale: go test -run '^$' -bench '^BenchmarkPlace$' -benchtime 2s ./internal/scheduler ...")
	cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-bench", "^BenchmarkPlace$", "-benchtime", "2s", "./internal/scheduler")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("go test -bench: %v: %s", err, proc.Tail(out.Bytes()))
	}
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		for i := 1; i < len(f); i++ {
			if f[i] == "placements/s" {
				var v float64
				if _, err := fmt.Sscan(f[i-1], &v); err == nil {
					return v, nil
				}
			}
		}
	}
	return 0, fmt.Errorf("no placements/s in the benchmark's output: %s", proc.Tail(out.Bytes()))
}

func printScale(cfg config, p *placement, joined, placedIn time.Duration, timedOut bool, runningIn time.Duration, running int,
	serverRSS, benchRSS int64, warns *warnCounter, pure float64, pureErr error, sum *summary) {
	rate := float64(p.placed) / placedIn.Seconds()
	fmt.Println()
	fmt.Printf("scheduler throughput: %d hollow instances (4096 CPU, 16384 MiB each), %d tasks (cpu 8, memory 16, bridge,\n", cfg.instances, cfg.tasks)
	fmt.Printf("no ports), RunTask count 10 from %d clients, strategy %s\n", cfg.clients, cfg.strategy)
	fmt.Printf("  %d instances registered and connected in %.1f s (%d at a time)\n", cfg.instances, joined.Seconds(), registerBatch)
	fmt.Printf("  placed %d of %d tasks in %.1f s: %.0f placements/s end to end", p.placed, cfg.tasks, placedIn.Seconds(), rate)
	if timedOut {
		fmt.Printf(" (stopped by -scale-timeout %s)", cfg.scaleTimeout)
	}
	fmt.Println()
	fmt.Printf("  RunTask call (ms, the last attempt): p50 %s, p90 %s, p99 %s, max %s over %d calls\n", ms(p.calls.median()), ms(p.calls.pct(90)),
		ms(p.calls.pct(99)), ms(p.calls.max()), len(p.calls))
	if p.throttled > 0 {
		fmt.Printf("  %d ThrottlingException answers (the server gave up after its CAS retries) were retried after a backoff\n", p.throttled)
	}
	if len(p.errors) > 0 {
		fmt.Printf("  failed calls by error code: %s (first: %s)\n", counts(p.errors), p.firstErr)
	}
	if len(p.failures) > 0 {
		fmt.Printf("  placement failures by reason: %s\n", counts(p.failures))
	}
	fmt.Printf("  %d of %d placed tasks RUNNING %.1f s after the first RunTask (%.1f s after the last returned)\n",
		running, p.placed, runningIn.Seconds(), (runningIn - placedIn).Seconds())
	if running < p.placed {
		fmt.Printf("  %d placed tasks never reached RUNNING (see above)\n", p.placed-running)
	}
	fmt.Printf("  resident memory: server %s, this process with %d hollow agents %s\n", mib(serverRSS), cfg.instances, mib(benchRSS))
	if n := warns.count(); n > 0 {
		fmt.Printf("  hollow agents logged %d warnings; first: %s\n", n, warns)
	}
	goal := fmt.Sprintf("scale: ≥ %.0f placements/s end to end (%d instances, %d tasks): %.0f/s", goalPlacementsEndToEnd, cfg.instances, cfg.tasks, rate)
	sum.add("%s — %s", goal, verdict(rate >= goalPlacementsEndToEnd && p.placed == cfg.tasks))
	sum.add("scale: %d of %d placed tasks RUNNING %.1f s after the first RunTask; %d stuck short of RUNNING", running, p.placed, runningIn.Seconds(), p.placed-running)
	switch {
	case !cfg.pure:
	case pureErr != nil:
		sum.add("scale: pure placement rate not measured: %v", pureErr)
	default:
		fmt.Printf("  pure placement (BenchmarkPlace: 1000 instances, count 10, spread by zone then binpack memory): %.0f placements/s\n", pure)
		sum.add("scale: pure placement ≥ %.0f/s: %.0f/s — %s", goalPlacementsPure, pure, verdict(pure >= goalPlacementsPure))
	}
}

func counts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

func sumCounts(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// warnCounter is the hollow agents' log: it counts warnings and errors and keeps the
// first few.
type warnCounter struct {
	mu    sync.Mutex
	n     int
	first []string
}

func (w *warnCounter) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (w *warnCounter) Handle(_ context.Context, r slog.Record) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.n++
	if len(w.first) < 3 {
		msg := r.Message
		r.Attrs(func(a slog.Attr) bool { msg += " " + a.String(); return true })
		w.first = append(w.first, msg)
	}
	return nil
}

func (w *warnCounter) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w *warnCounter) WithGroup(string) slog.Handler      { return w }

func (w *warnCounter) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}

func (w *warnCounter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.n == 0 {
		return "none"
	}
	return strings.Join(w.first, "; ")
}
