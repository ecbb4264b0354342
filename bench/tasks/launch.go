package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"gantry/bench/internal/proc"
)

// Goal of the issue for launch latency.
const (
	goalLaunchRate = 20.0
	goalLaunchP99  = 150 * time.Millisecond
	// straggle is how long to wait for the last task to run, or to stop, before counting
	// it as failed: longer than the server's periodic resend of assignments (30 s).
	straggle = 40 * time.Second
)

// launchTaskDef runs a shell that sleeps and exits 0 at once on SIGTERM, so that stopping
// a measured task does not keep the node busy for its stopTimeout.
var launchTaskDef = &ecs.RegisterTaskDefinitionInput{
	Family:      aws.String("gbench-launch"),
	NetworkMode: types.NetworkModeAwsvpc,
	ContainerDefinitions: []types.ContainerDefinition{{
		Name: aws.String("sleeper"), Image: aws.String(imageRef), Essential: aws.Bool(true),
		Memory: aws.Int32(16), StopTimeout: aws.Int32(1),
		Command: []string{"sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"},
	}},
}

// launchRun is one rate's measurement.
type launchRun struct {
	rate     rate
	observed sample // RunTask sent → lastStatus RUNNING seen by DescribeTasks
	stamped  sample // the task's createdAt → startedAt, both stamped by Gantry
	call     sample // the RunTask call itself
	lateBy   sample // how late each launch left against its schedule
	failed   []string
	elapsed  time.Duration
	cpu      proc.CPU   // the machine's CPU time over the run
	server   proc.Times // the server process's and its reaped children's over the run
}

// tracker follows launched tasks until they are RUNNING, then stops them: at once, or
// (hold) once the run is over.
type tracker struct {
	client   *ecs.Client
	mu       sync.Mutex
	inflight map[string]time.Time // task ARN → when its RunTask was sent
	all      []string
	run      *launchRun
	stop     chan string
	hold     bool
	held     []string
	// lastSeen is when the latest task was seen RUNNING, lastCPU and lastProc the
	// machine's and the server's CPU times then: the run's window, without the wait for
	// stragglers.
	lastSeen  time.Time
	lastCPU   proc.CPU
	lastProc  proc.Times
	serverPid int
}

func (t *tracker) add(arn string, sent time.Time) {
	t.mu.Lock()
	t.inflight[arn] = sent
	t.all = append(t.all, arn)
	t.mu.Unlock()
}

func (t *tracker) fail(format string, args ...any) {
	t.mu.Lock()
	t.run.failed = append(t.run.failed, fmt.Sprintf(format, args...))
	t.mu.Unlock()
}

func (t *tracker) pending() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.inflight)
}

// follow waits on the server until the task is RUNNING (or past it), describes it and
// observes it; the server wakes the wait when it commits the task's report.
func (t *tracker) follow(ctx context.Context, s *gantryServer, arn string) {
	for ctx.Err() == nil {
		if err := s.waitTask(ctx, arn, "running", time.Minute); err != nil {
			if ctx.Err() == nil {
				t.fail("%v", err)
			}
			return
		}
		out, err := t.client.DescribeTasks(ctx, &ecs.DescribeTasksInput{Tasks: []string{arn}})
		seen := time.Now()
		if err != nil || len(out.Tasks) != 1 {
			if ctx.Err() == nil {
				t.fail("DescribeTasks %s: %v", arn, err)
			}
			return
		}
		if t.observe(out.Tasks[0], seen) {
			return
		}
	}
}

// observe records a task that reached RUNNING (or stopped without) and hands it to the
// stoppers; it tells whether the task was done with.
func (t *tracker) observe(task types.Task, seen time.Time) bool {
	arn, status := aws.ToString(task.TaskArn), aws.ToString(task.LastStatus)
	running := slices.Contains([]string{"RUNNING", "DEACTIVATING", "STOPPING", "DEPROVISIONING"}, status)
	if !running && status != "STOPPED" {
		return false
	}
	t.mu.Lock()
	sent, ok := t.inflight[arn]
	delete(t.inflight, arn)
	if ok && running {
		t.lastSeen, t.lastCPU, t.lastProc = seen, proc.MachineCPU(), proc.ProcessCPU(t.serverPid)
		t.run.observed = append(t.run.observed, seen.Sub(sent))
		if task.CreatedAt != nil && task.StartedAt != nil {
			t.run.stamped = append(t.run.stamped, task.StartedAt.Sub(*task.CreatedAt))
		}
	}
	if ok && !running {
		t.run.failed = append(t.run.failed, fmt.Sprintf("task %s stopped before RUNNING: %s", arn, aws.ToString(task.StoppedReason)))
	}
	if ok && running && t.hold {
		t.held = append(t.held, arn)
		ok = false
	}
	t.mu.Unlock()
	if ok && running {
		t.stop <- arn
	}
	return true
}

// measureLaunches launches r.count tasks of td at r.perSecond, open loop, and measures
// each one's time to RUNNING. Every task is stopped once RUNNING (stopAtRunning), or once
// all of them are; those not RUNNING, or not STOPPED, 40 s after the others are counted
// as failures.
func measureLaunches(ctx context.Context, s *gantryServer, td string, r rate, stopAtRunning bool) (*launchRun, error) {
	run := &launchRun{rate: r}
	t := &tracker{client: s.ecs, inflight: map[string]time.Time{}, run: run, stop: make(chan string, r.count),
		hold: !stopAtRunning, serverPid: s.cmd.Process.Pid}
	followCtx, stopFollowing := context.WithCancel(ctx)
	defer stopFollowing()
	var followers sync.WaitGroup
	var stoppers sync.WaitGroup
	for range 4 {
		stoppers.Go(func() {
			for arn := range t.stop {
				_, err := s.ecs.StopTask(context.WithoutCancel(ctx), &ecs.StopTaskInput{Task: aws.String(arn), Reason: aws.String("bench/tasks: measured")})
				if err != nil {
					t.fail("StopTask %s: %v", arn, err)
				}
			}
		})
	}

	interval := time.Duration(float64(time.Second) / r.perSecond)
	cpu0, proc0 := proc.MachineCPU(), proc.ProcessCPU(s.cmd.Process.Pid)
	start := time.Now()
	var launches sync.WaitGroup
	for i := range r.count {
		at := start.Add(time.Duration(i) * interval)
		select {
		case <-time.After(time.Until(at)):
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		launches.Go(func() {
			sent := time.Now()
			out, err := s.ecs.RunTask(ctx, &ecs.RunTaskInput{TaskDefinition: aws.String(td)})
			call := time.Since(sent)
			switch {
			case err != nil:
				t.fail("RunTask: %v", err)
				return
			case len(out.Tasks) != 1:
				t.fail("RunTask placed nothing: %+v", out.Failures)
				return
			}
			arn := aws.ToString(out.Tasks[0].TaskArn)
			t.add(arn, sent)
			followers.Go(func() { t.follow(followCtx, s, arn) })
			t.mu.Lock()
			run.call = append(run.call, call)
			run.lateBy = append(run.lateBy, sent.Sub(at))
			t.mu.Unlock()
		})
	}
	launches.Wait()
	deadline := time.Now().Add(straggle)
	for t.pending() > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	stopFollowing()
	followers.Wait() // the followers hand tasks to the stoppers until they return
	if !t.lastSeen.IsZero() {
		run.elapsed, run.cpu, run.server = t.lastSeen.Sub(start), t.lastCPU.Since(cpu0), t.lastProc.Since(proc0)
	}
	if n := t.pending(); n > 0 {
		t.fail("%d tasks not RUNNING %s after the last launch", n, straggle)
	}
	for _, arn := range t.held {
		t.stop <- arn
	}
	close(t.stop)
	stoppers.Wait()
	t.mu.Lock()
	all := slices.Clone(t.all)
	t.mu.Unlock()
	// A task that does not stop is a finding, not a reason to stop measuring: the
	// server's cleanup removes its container at the end.
	if err := waitStopped(context.WithoutCancel(ctx), s.ecs, all, straggle); err != nil {
		run.failed = append(run.failed, err.Error())
	}
	return run, nil
}

// failureKind groups failure messages for the table.
func failureKind(f string) string {
	for _, k := range []string{"ThrottlingException", "stopped before RUNNING", "not RUNNING", "not STOPPED", "DescribeTasks", "StopTask", "RunTask"} {
		if strings.Contains(f, k) {
			return k
		}
	}
	return "other"
}

// waitStopped waits until every task in arns is STOPPED, asking StopTask again for
// those still running (the in-flight ones when the bench was interrupted).
func waitStopped(ctx context.Context, client *ecs.Client, arns []string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	last := ""
	for len(arns) > 0 {
		var left []string
		for batch := range slices.Chunk(arns, 100) {
			out, err := client.DescribeTasks(ctx, &ecs.DescribeTasksInput{Tasks: batch})
			if err != nil {
				return err
			}
			for _, task := range out.Tasks {
				if aws.ToString(task.LastStatus) == "STOPPED" {
					continue
				}
				left = append(left, aws.ToString(task.TaskArn))
				last = fmt.Sprintf("%s is %s, desired %s", aws.ToString(task.TaskArn), aws.ToString(task.LastStatus), aws.ToString(task.DesiredStatus))
				if aws.ToString(task.DesiredStatus) != "STOPPED" {
					client.StopTask(ctx, &ecs.StopTaskInput{Task: task.TaskArn, Reason: aws.String("bench/tasks: cleaning up")})
				}
			}
		}
		arns = left
		if len(arns) > 0 && time.Now().After(deadline) {
			return fmt.Errorf("%d tasks not STOPPED after %s (%s)", len(arns), timeout, last)
		}
		if len(arns) > 0 {
			time.Sleep(200 * time.Millisecond)
		}
	}
	return nil
}

// runLaunches measures each rate of cfg after an unmeasured warm-up, and prints the table.
func runLaunches(ctx context.Context, cfg config, s *gantryServer, sum *summary) error {
	out, err := s.ecs.RegisterTaskDefinition(ctx, launchTaskDef)
	if err != nil {
		return fmt.Errorf("registering %s: %w", aws.ToString(launchTaskDef.Family), err)
	}
	td := aws.ToString(out.TaskDefinition.TaskDefinitionArn)
	if cfg.warmup > 0 {
		fmt.Printf("launch: %d warm-up launches ...\n", cfg.warmup)
		run, err := measureLaunches(ctx, s, td, rate{2, cfg.warmup}, cfg.stopAtRunning)
		if err != nil {
			return err
		}
		for _, f := range run.failed {
			fmt.Println("  warm-up failure:", f)
		}
	}
	var runs []*launchRun
	for _, r := range cfg.rates {
		fmt.Printf("launch: %d tasks at %g/s (about %.0f s) ...\n", r.count, r.perSecond, float64(r.count)/r.perSecond)
		run, err := measureLaunches(ctx, s, td, r, cfg.stopAtRunning)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			return err
		}
		runs = append(runs, run)
	}
	printLaunches(runs, cfg.stopAtRunning, sum)
	return nil
}

func printLaunches(runs []*launchRun, stopAtRunning bool, sum *summary) {
	withStop, stopped, mode := "", "Each rate's tasks are stopped once all of them are RUNNING (after the measured window).", "tasks stopped after the run"
	if stopAtRunning {
		withStop, stopped, mode = " with its stop", "Tasks are stopped as soon as they are seen RUNNING.", "each task stopped once RUNNING"
	}
	fmt.Println()
	fmt.Println("RunTask → RUNNING, cached image, awsvpc task on the in-process agent (ms)")
	fmt.Printf("%8s %6s | %7s %7s %7s %7s | %16s | %16s | %s\n", "rate/s", "tasks", "p50", "p90", "p99", "max",
		"stamped p50/p99", "RunTask p50/p99", "failed")
	for _, r := range runs {
		fmt.Printf("%8g %6d | %7s %7s %7s %7s | %7s/%-8s | %7s/%-8s | %d\n", r.rate.perSecond, len(r.observed),
			ms(r.observed.median()), ms(r.observed.pct(90)), ms(r.observed.pct(99)), ms(r.observed.max()),
			ms(r.stamped.median()), ms(r.stamped.pct(99)), ms(r.call.median()), ms(r.call.pct(99)), len(r.failed))
		kinds, first := map[string]int{}, map[string]string{}
		for _, f := range r.failed {
			k := failureKind(f)
			if kinds[k]++; kinds[k] == 1 {
				first[k] = f
			}
		}
		if len(kinds) > 0 {
			fmt.Printf("         failures: %s\n", counts(kinds))
			for _, k := range slices.Sorted(maps.Keys(first)) {
				fmt.Printf("           first %s: %s\n", k, first[k])
			}
		}
		if late := r.lateBy.max(); late > 10*time.Millisecond {
			fmt.Printf("         note: a launch left %s ms late against the schedule\n", ms(late))
		}
		if n := len(r.call); n > 0 && r.cpu.Total > 0 {
			perTask := func(ticks uint64) float64 { return float64(ticks) * 1000 / proc.TicksPerSecond / float64(n) }
			fmt.Printf("         machine CPU busy %.0f%% from the first launch until the last task was seen RUNNING (%.1f s):\n"+
				"         %.0f ms of CPU per launched task%s: server process %.0f, its reaped children (runc, CNI\n"+
				"         plugins) %.0f, everything else (shims, kernel, dockerd if started, this bench) %.0f\n",
				100*r.cpu.BusyShare(), r.elapsed.Seconds(), perTask(r.cpu.Busy), withStop, perTask(r.server.Self), perTask(r.server.Children),
				perTask(r.cpu.Busy-min(r.cpu.Busy, r.server.Self+r.server.Children)))
		}
	}
	fmt.Println("  p50…max: from sending RunTask to a DescribeTasks answer showing lastStatus RUNNING; each task has a")
	fmt.Println("  waiter on /gantry/v1/tasks/wait (woken by the server's commit of the task's report) that then")
	fmt.Println("  describes it, so each figure includes one DescribeTasks round trip. stamped: the task's startedAt − createdAt, both set by Gantry")
	fmt.Printf("  (millisecond precision). %s Launches are open loop.\n", stopped)
	for _, r := range runs {
		if r.rate.perSecond != goalLaunchRate && len(r.observed) > 0 {
			sum.add("launch: at %g/s RunTask → RUNNING p50 %s, p99 %s, max %s ms (%d tasks, %d failed; %s)", r.rate.perSecond,
				ms(r.observed.median()), ms(r.observed.pct(99)), ms(r.observed.max()), len(r.observed), len(r.failed), mode)
		}
		if r.rate.perSecond == goalLaunchRate && len(r.observed) > 0 {
			p99 := r.observed.pct(99)
			sum.add("launch: p99 RunTask → RUNNING at %g/s ≤ %d ms: %s ms (p50 %s, max %s, %d tasks, %d failed; %s) — %s",
				goalLaunchRate, goalLaunchP99.Milliseconds(), ms(p99), ms(r.observed.median()), ms(r.observed.max()),
				len(r.observed), len(r.failed), mode, verdict(p99 <= goalLaunchP99 && len(r.failed) == 0))
		}
	}
	if !slices.ContainsFunc(runs, func(r *launchRun) bool { return r.rate.perSecond == goalLaunchRate }) {
		sum.add("launch: the goal is stated at %g launches/s; no run at that rate (see -rates)", goalLaunchRate)
	}
}
