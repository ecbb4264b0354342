package main

import (
	"context"
	"encoding/json"
	"fmt"
	"gantry/bench/internal/rootfs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"gantry/bench/internal/dockerd"
	"gantry/bench/internal/sweep"
)

// Goal of the issue for `gantry run` against raw runc.
const goalRunRatio = 2.0

// contender is one way of running /bin/true once; skip says why it is not measured.
type contender struct {
	name   string
	run    func(ctx context.Context, i int) error
	sample sample
	skip   string
}

// runOneShots times `gantry run --rm IMAGE true`, raw `runc run` and `docker run --rm`,
// interleaved run by run, and prints the medians and ratios.
func runOneShots(ctx context.Context, cfg config, s *gantryServer, fs rootfs.Rootfs, d *dockerd.Daemon, dockerWhy, work string, cl *sweep.Cleanup, sum *summary) error {
	g := &contender{name: "gantry run", run: func(ctx context.Context, _ int) error {
		_, err := s.cli(ctx, "run", "--rm", imageRef, "true")
		return err
	}}
	r, err := setupRunc(work, fs, cl)
	if err != nil {
		return fmt.Errorf("runc: %w", err)
	}
	dk := &contender{name: "docker run"}
	if d == nil {
		dk.skip = dockerWhy
	} else {
		dk.run = func(ctx context.Context, _ int) error {
			_, err := d.Docker(ctx, "", "run", "--rm", imageRef, "true")
			return err
		}
	}
	cs := []*contender{g, r, dk}
	fmt.Printf("oneshot: %d runs (+%d warm-up) of each ...\n", cfg.runs, cfg.warmup)
	for i := -cfg.warmup; i < cfg.runs; i++ {
		for _, c := range cs {
			if c.skip != "" {
				continue
			}
			t0 := time.Now()
			err := c.run(ctx, i)
			dur := time.Since(t0)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err != nil {
				c.skip = fmt.Sprintf("failed in run %d: %v", i, err)
				fmt.Printf("  %s: %s\n", c.name, c.skip)
				continue
			}
			if i >= 0 {
				c.sample = append(c.sample, dur)
			}
		}
	}
	printOneShots(cs, cfg, sum)
	if g.skip == "" {
		printRunPhases(ctx, s, cfg.runs)
	}
	return nil
}

// printRunPhases shows where the measured `gantry run` tasks spent their time, from the
// timestamps Gantry stamped on them (millisecond precision).
func printRunPhases(ctx context.Context, s *gantryServer, runs int) {
	var arns []string
	p := ecs.NewListTasksPaginator(s.ecs, &ecs.ListTasksInput{StartedBy: aws.String("gantry run"), DesiredStatus: types.DesiredStatusStopped})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			fmt.Println("  (no breakdown:", err, ")")
			return
		}
		arns = append(arns, page.TaskArns...)
	}
	var tasks []types.Task
	for batch := range slices.Chunk(arns, 100) {
		out, err := s.ecs.DescribeTasks(ctx, &ecs.DescribeTasksInput{Tasks: batch})
		if err != nil {
			fmt.Println("  (no breakdown:", err, ")")
			return
		}
		tasks = append(tasks, out.Tasks...)
	}
	slices.SortFunc(tasks, func(a, b types.Task) int { return a.CreatedAt.Compare(*b.CreatedAt) })
	tasks = tasks[max(0, len(tasks)-runs):] // the measured runs come after the warm-up
	var started, exited, stopped sample
	for _, t := range tasks {
		if t.CreatedAt == nil || t.StartedAt == nil || t.ExecutionStoppedAt == nil || t.StoppedAt == nil {
			continue
		}
		started = append(started, t.StartedAt.Sub(*t.CreatedAt))
		exited = append(exited, t.ExecutionStoppedAt.Sub(*t.StartedAt))
		stopped = append(stopped, t.StoppedAt.Sub(*t.ExecutionStoppedAt))
	}
	if len(started) == 0 {
		return
	}
	fmt.Printf("  gantry run's tasks (medians of %d, from their timestamps, ms): createdAt → startedAt %s, → executionStoppedAt %s,\n",
		len(started), ms(started.median()), ms(exited.median()))
	fmt.Printf("    → stoppedAt %s; the rest of the wall time is the CLI: process start, task definition lookup, RunTask,\n", ms(stopped.median()))
	fmt.Println("    waiting on the server (/gantry/v1/tasks/wait, then DescribeTasks) for RUNNING and again for the exit code, reading the log")
}

func printOneShots(cs []*contender, cfg config, sum *summary) {
	g, r, d := cs[0], cs[1], cs[2]
	fmt.Println()
	fmt.Printf("one-shot /bin/true, wall time of the client process (ms, %d runs)\n", cfg.runs)
	fmt.Printf("%-12s | %8s %8s %8s | %s\n", "", "median", "p99", "max", "÷ runc (medians)")
	for _, c := range cs {
		if c.skip != "" || len(c.sample) == 0 {
			fmt.Printf("%-12s | %8s %8s %8s | not measured: %s\n", c.name, "—", "—", "—", c.skip)
			continue
		}
		fmt.Printf("%-12s | %8s %8s %8s | %s\n", c.name, ms(c.sample.median()), ms(c.sample.pct(99)), ms(c.sample.max()),
			ratio(c.sample.median(), r.sample.median()))
	}
	fmt.Println("  gantry run: the CLI process end to end: reuses its task definition, RunTask, waits for RUNNING, reads")
	fmt.Println("    the log, waits for STOPPED and the exit code; the task is awsvpc (own netns, CNI bridge gbench1).")
	fmt.Println("  runc run: `runc run` of a bundle from `runc spec` (terminal false, args /bin/true, new empty netns) on a")
	fmt.Println("    plain copy of the rootfs: create, start, wait and delete in one process, no mount, no network.")
	fmt.Println("  docker run: `docker run --rm` with docker's default bridge network (gbenchd1, --iptables=false).")
	if g.skip == "" && r.skip == "" && len(g.sample) > 0 && len(r.sample) > 0 {
		x := float64(g.sample.median()) / float64(r.sample.median())
		line := fmt.Sprintf("oneshot: gantry run ≤ %.1f × raw runc: %.2f × (medians %s vs %s ms)", goalRunRatio, x,
			ms(g.sample.median()), ms(r.sample.median()))
		if d.skip == "" && len(d.sample) > 0 {
			line += fmt.Sprintf("; docker run %s ms = %s × runc", ms(d.sample.median()), ratio(d.sample.median(), r.sample.median()))
		}
		sum.add("%s — %s", line, verdict(x <= goalRunRatio))
	} else {
		sum.add("oneshot: not measured (gantry: %s; runc: %s)", orDash(g.skip), orDash(r.skip))
	}
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// setupRunc writes a bundle with `runc spec`, adjusted to run /bin/true without a
// terminal on the plain rootfs, in a cgroup the cleanup knows.
func setupRunc(work string, fs rootfs.Rootfs, cl *sweep.Cleanup) (*contender, error) {
	if _, err := exec.LookPath("runc"); err != nil {
		return nil, fmt.Errorf("runc is missing (apt-get install runc): %w", err)
	}
	dir := filepath.Join(work, "runc")
	bundle, root := filepath.Join(dir, "bundle"), filepath.Join(dir, "state")
	if err := os.MkdirAll(bundle, 0o700); err != nil {
		return nil, err
	}
	if out, err := exec.Command("runc", "spec", "--bundle", bundle).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("runc spec: %v: %s", err, out)
	}
	path := filepath.Join(bundle, "config.json")
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var spec specs.Spec
	if err := json.Unmarshal(b, &spec); err != nil {
		return nil, fmt.Errorf("reading the spec runc wrote: %w", err)
	}
	if spec.Process == nil || spec.Root == nil || spec.Linux == nil {
		return nil, fmt.Errorf("the spec runc wrote has no process, root or linux section")
	}
	spec.Process.Terminal = false
	spec.Process.Args = []string{"/bin/true"}
	spec.Root.Path = fs.Dir
	spec.Linux.CgroupsPath = "/" + runcCgroup
	if b, err = json.MarshalIndent(&spec, "", "\t"); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, err
	}
	log := filepath.Join(dir, "runc.log")
	cl.Add("runc containers", func() error {
		out, _ := exec.Command("runc", "--root", root, "list", "-q").Output()
		for _, id := range strings.Fields(string(out)) {
			exec.Command("runc", "--root", root, "delete", "-f", id).Run()
		}
		return nil
	})
	return &contender{name: "runc run", run: func(ctx context.Context, i int) error {
		f, err := os.Create(log)
		if err != nil {
			return err
		}
		defer f.Close()
		cmd := exec.CommandContext(ctx, "runc", "--root", root, "run", "--bundle", bundle, fmt.Sprint("gbench-tasks-", i+1000))
		cmd.Stdout, cmd.Stderr, cmd.Dir = f, f, "/"
		if err := cmd.Run(); err != nil {
			out, _ := os.ReadFile(log)
			return fmt.Errorf("runc run: %v: %s", err, strings.TrimSpace(string(out)))
		}
		return nil
	}}, nil
}
