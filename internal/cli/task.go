package cli

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/spf13/cobra"
)

// taskNameTag is the task tag that holds the name given with `gantry run --name`.
const taskNameTag = "gantry:name"

func newPsCommand(g *globals) *cobra.Command {
	var cluster string
	var all bool
	cmd := &cobra.Command{
		Use:   "ps",
		Short: "List the tasks of a cluster, newest first (like docker ps)",
		Long: `List the tasks of a cluster, newest first: the ones not STOPPED yet (pending,
starting, running, or still stopping after 'gantry stop' — their ports and memory stay
booked until they have), and with -a also the STOPPED ones the server still keeps.

TASK ID is what 'gantry stop', 'gantry inspect' and the aws CLI accept; NAME is the
name given with 'gantry run --name'.`,
		Example: `  gantry ps
  gantry ps -a --cluster prod
  gantry ps -o json | jq -r '.tasks[].taskArn'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			client, err := g.ecsClient(cmd.Context())
			if err != nil {
				return err
			}
			// Tasks being stopped are wanted STOPPED already: list those too.
			var arns []string
			for _, status := range []types.DesiredStatus{types.DesiredStatusRunning, types.DesiredStatusStopped} {
				more, err := listTaskArns(cmd.Context(), client, cluster, status)
				if err != nil {
					return err
				}
				arns = append(arns, more...)
			}
			// A task stopped between the two lists is in both.
			slices.Sort(arns)
			arns = slices.Compact(arns)
			tasks, failures, err := describeTaskArns(cmd.Context(), client, cluster, arns)
			if err != nil {
				return err
			}
			// A STOPPED task can expire between the list and the describe; that is no error.
			failures = slices.DeleteFunc(failures, func(f types.Failure) bool { return aws.ToString(f.Reason) == "MISSING" })
			if !all {
				tasks = slices.DeleteFunc(tasks, func(t types.Task) bool { return aws.ToString(t.LastStatus) == "STOPPED" })
			}
			sortNewestFirst(tasks)
			if g.output == "json" {
				if err := printJSON(g.out, &ecs.DescribeTasksOutput{Tasks: tasks, Failures: failures}); err != nil {
					return err
				}
				return failuresError(failures)
			}
			now := time.Now()
			t := newTable(g.out, "TASK ID", "NAME", "IMAGE", "STATUS", "CREATED", "PORTS")
			for _, task := range tasks {
				created := "-"
				if task.CreatedAt != nil {
					created = humanDuration(now.Sub(*task.CreatedAt)) + " ago"
				}
				t.row(arnID(aws.ToString(task.TaskArn)), taskName(task), taskImage(task), taskStatus(task), created, taskPorts(task))
			}
			if err := t.flush(); err != nil {
				return err
			}
			return failuresError(failures)
		},
	}
	cmd.Flags().StringVar(&cluster, "cluster", "default", "cluster to list the tasks of")
	cmd.Flags().BoolVarP(&all, "all", "a", false, "show STOPPED tasks too")
	return cmd
}

func newStopCommand(g *globals) *cobra.Command {
	var cluster, reason string
	cmd := &cobra.Command{
		Use:   "stop TASK...",
		Short: "Stop running tasks (like docker stop)",
		Long: `Stop tasks: each one's desired status becomes STOPPED, its agent stops the
containers, and the task stays visible in 'gantry ps -a' as STOPPED for a while.

TASK is a task id, a unique prefix of one (4 characters or more), a task ARN, or the
name given with 'gantry run --name'. The id of each task is printed once it is asked
to stop; with -o json the StopTask outputs are printed as a JSON array.`,
		Example: `  gantry stop web
  gantry stop 3f9c --reason "deploying v2"
  gantry stop --cluster prod $(gantry ps --cluster prod -o json | jq -r '.tasks[].taskArn')`,
		Args: atLeastOne("TASK (list them with 'gantry ps')"),
		RunE: func(cmd *cobra.Command, args []string) error {
			client, err := g.ecsClient(cmd.Context())
			if err != nil {
				return err
			}
			outs := make([]*ecs.StopTaskOutput, 0, len(args))
			for _, ref := range args {
				arn, err := resolveTask(cmd.Context(), client, cluster, ref)
				if err != nil {
					return err
				}
				in := &ecs.StopTaskInput{Cluster: aws.String(cluster), Task: aws.String(arn)}
				if reason != "" {
					in.Reason = aws.String(reason)
				}
				out, err := client.StopTask(cmd.Context(), in)
				if err != nil {
					return fmt.Errorf("stopping task %s: %w", ref, err)
				}
				if g.output != "json" {
					fmt.Fprintln(g.out, arnID(arn))
				}
				outs = append(outs, out)
			}
			if g.output == "json" {
				return printJSON(g.out, outs)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&cluster, "cluster", "default", "cluster the tasks run in")
	cmd.Flags().StringVar(&reason, "reason", "", `why the tasks are stopped, shown as stoppedReason (default "Task stopped by user")`)
	return cmd
}

func newInspectCommand(g *globals) *cobra.Command {
	var cluster string
	cmd := &cobra.Command{
		Use:   "inspect TASK...",
		Short: "Show tasks in full as a JSON array, tags included (like docker inspect)",
		Long: `Show tasks in full as a JSON array, whatever -o says: containers, exit codes,
network bindings and interfaces, timestamps, stop reason and tags.

TASK is a task id, a unique prefix of one (4 characters or more), a task ARN, or the
name given with 'gantry run --name'.`,
		Example: `  gantry inspect web
  gantry inspect web | jq -r '.[0].containers[0].networkInterfaces[0].privateIpv4Address'`,
		Args: atLeastOne("TASK (list them with 'gantry ps -a')"),
		RunE: func(cmd *cobra.Command, args []string) error {
			client, err := g.ecsClient(cmd.Context())
			if err != nil {
				return err
			}
			arns := make([]string, len(args))
			for i, ref := range args {
				if arns[i], err = resolveTask(cmd.Context(), client, cluster, ref); err != nil {
					return err
				}
			}
			tasks, failures, err := describeTaskArns(cmd.Context(), client, cluster, arns)
			if err != nil {
				return err
			}
			if err := printJSON(g.out, tasks); err != nil {
				return err
			}
			return failuresError(failures)
		},
	}
	cmd.Flags().StringVar(&cluster, "cluster", "default", "cluster the tasks run in")
	return cmd
}

// atLeastOne is cobra.MinimumNArgs(1) with an error that says what to give.
func atLeastOne(what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return fmt.Errorf("%s needs at least one %s", cmd.CommandPath(), what)
		}
		return nil
	}
}

// taskReader is what finding tasks needs from the ECS API.
type taskReader interface {
	ecs.ListTasksAPIClient
	DescribeTasks(context.Context, *ecs.DescribeTasksInput, ...func(*ecs.Options)) (*ecs.DescribeTasksOutput, error)
}

// listTaskArns lists every task of cluster whose desired status is status.
func listTaskArns(ctx context.Context, client ecs.ListTasksAPIClient, cluster string, status types.DesiredStatus) ([]string, error) {
	return listTasksWhere(ctx, client, &ecs.ListTasksInput{Cluster: aws.String(cluster), DesiredStatus: status})
}

// listTasksWhere lists the ARNs of every task ListTasks finds with the filters of in.
func listTasksWhere(ctx context.Context, client ecs.ListTasksAPIClient, in *ecs.ListTasksInput) ([]string, error) {
	var arns []string
	pages := ecs.NewListTasksPaginator(client, in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		arns = append(arns, page.TaskArns...)
	}
	return arns, nil
}

// describeTaskArns describes tasks with their tags, 100 at a time (the API's limit).
func describeTaskArns(ctx context.Context, client taskReader, cluster string, arns []string) ([]types.Task, []types.Failure, error) {
	tasks := []types.Task{}
	var failures []types.Failure
	for start := 0; start < len(arns); start += 100 {
		out, err := client.DescribeTasks(ctx, &ecs.DescribeTasksInput{
			Cluster: aws.String(cluster),
			Tasks:   arns[start:min(start+100, len(arns))],
			Include: []types.TaskField{types.TaskFieldTags},
		})
		if err != nil {
			return nil, nil, err
		}
		tasks = append(tasks, out.Tasks...)
		failures = append(failures, out.Failures...)
	}
	return tasks, failures, nil
}

// resolveTask turns what a user typed for a task into its ARN, in docker's order: a whole
// id or ARN, then a name (RUNNING tasks before STOPPED ones, the newest when several share
// it), then a unique id prefix.
func resolveTask(ctx context.Context, client taskReader, cluster, ref string) (string, error) {
	kind := classifyTaskRef(ref)
	switch kind {
	case taskRefARN:
		return ref, nil
	case taskRefID:
		out, err := client.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(cluster), Tasks: []string{ref}})
		if err != nil {
			return "", err
		}
		if len(out.Tasks) == 1 {
			return aws.ToString(out.Tasks[0].TaskArn), nil
		}
	}
	var listed []string
	for _, status := range []types.DesiredStatus{types.DesiredStatusRunning, types.DesiredStatusStopped} {
		arns, err := listTaskArns(ctx, client, cluster, status)
		if err != nil {
			return "", err
		}
		tasks, _, err := describeTaskArns(ctx, client, cluster, arns)
		if err != nil {
			return "", err
		}
		if arn, ok := newestNamed(tasks, ref); ok {
			return arn, nil
		}
		listed = append(listed, arns...)
	}
	if kind == taskRefNameOrIDPrefix {
		switch matches := arnsWithIDPrefix(listed, ref); len(matches) {
		case 1:
			return matches[0], nil
		case 0:
		default:
			return "", fmt.Errorf("%q is the start of %d task ids in cluster %s; give more of the id (list them with 'gantry ps -a')", ref, len(matches), cluster)
		}
	}
	return "", fmt.Errorf("no task named or with id %q in cluster %s (list them with 'gantry ps -a')", ref, cluster)
}

// taskRefKind says how a TASK argument can be read.
type taskRefKind int

const (
	taskRefName           taskRefKind = iota // only a name
	taskRefNameOrIDPrefix                    // a name, else the start of a task id
	taskRefID                                // a whole task id (or, failing that, a name)
	taskRefARN                               // a task ARN
)

func classifyTaskRef(ref string) taskRefKind {
	switch {
	case strings.HasPrefix(ref, "arn:"):
		return taskRefARN
	case len(ref) < 4 || len(ref) > 32 || !isLowerHex(ref):
		return taskRefName
	case len(ref) == 32:
		return taskRefID
	}
	return taskRefNameOrIDPrefix
}

func isLowerHex(s string) bool {
	return strings.Trim(s, "0123456789abcdef") == ""
}

// newestNamed returns the ARN of the most recently created task tagged with name.
func newestNamed(tasks []types.Task, name string) (string, bool) {
	var best *types.Task
	for i := range tasks {
		t := &tasks[i]
		if tagged, ok := nameTag(*t); ok && tagged == name && (best == nil || aws.ToTime(t.CreatedAt).After(aws.ToTime(best.CreatedAt))) {
			best = t
		}
	}
	if best == nil {
		return "", false
	}
	return aws.ToString(best.TaskArn), true
}

// arnsWithIDPrefix returns the ARNs whose id (the part after the last slash) starts with prefix.
func arnsWithIDPrefix(arns []string, prefix string) []string {
	var out []string
	for _, arn := range arns {
		if strings.HasPrefix(arnID(arn), prefix) && !slices.Contains(out, arn) {
			out = append(out, arn)
		}
	}
	return out
}

// arnID returns the id at the end of a task or container instance ARN.
func arnID(arn string) string {
	return arn[strings.LastIndexByte(arn, '/')+1:]
}

func sortNewestFirst(tasks []types.Task) {
	slices.SortStableFunc(tasks, func(a, b types.Task) int {
		return aws.ToTime(b.CreatedAt).Compare(aws.ToTime(a.CreatedAt))
	})
}

// taskName returns the name given with `gantry run --name`, or "-".
func taskName(t types.Task) string {
	if name, ok := nameTag(t); ok {
		return name
	}
	return "-"
}

func nameTag(t types.Task) (string, bool) {
	for _, tag := range t.Tags {
		if aws.ToString(tag.Key) == taskNameTag {
			return aws.ToString(tag.Value), true
		}
	}
	return "", false
}

// taskImage returns the first container's image, with "+N" when the task has N more.
func taskImage(t types.Task) string {
	if len(t.Containers) == 0 {
		return "-"
	}
	image := aws.ToString(t.Containers[0].Image)
	if n := len(t.Containers) - 1; n > 0 {
		image += " +" + strconv.Itoa(n)
	}
	return image
}

// taskStatus returns the last status, with the first container's exit code once STOPPED.
func taskStatus(t types.Task) string {
	status := aws.ToString(t.LastStatus)
	switch {
	case status == "STOPPED" && len(t.Containers) > 0 && t.Containers[0].ExitCode != nil:
		status += fmt.Sprintf(" (exit %d)", *t.Containers[0].ExitCode)
	case status != "STOPPED" && aws.ToString(t.DesiredStatus) == "STOPPED":
		status += " (stopping)"
	}
	return status
}

// taskPorts lists the published ports as HOST->CONTAINER/proto; a task without any (an
// awsvpc task) shows the private address of its first container's interface instead.
func taskPorts(t types.Task) string {
	var ports []string
	for _, c := range t.Containers {
		for _, b := range c.NetworkBindings {
			ports = append(ports, formatBinding(b))
		}
	}
	if len(ports) == 0 && len(t.Containers) > 0 && len(t.Containers[0].NetworkInterfaces) > 0 {
		return aws.ToString(t.Containers[0].NetworkInterfaces[0].PrivateIpv4Address)
	}
	return strings.Join(ports, ", ")
}

func formatBinding(b types.NetworkBinding) string {
	host, ctr := aws.ToString(b.HostPortRange), aws.ToString(b.ContainerPortRange)
	if b.HostPort != nil {
		host = strconv.Itoa(int(*b.HostPort))
	}
	if b.ContainerPort != nil {
		ctr = strconv.Itoa(int(*b.ContainerPort))
	}
	proto := string(b.Protocol)
	if proto == "" {
		proto = string(types.TransportProtocolTcp)
	}
	return host + "->" + ctr + "/" + proto
}

// humanDuration words a duration the way docker ps does: "5 seconds", "About an hour".
func humanDuration(d time.Duration) string {
	switch s := int(d.Seconds()); {
	case s < 1:
		return "Less than a second"
	case s == 1:
		return "1 second"
	case s < 60:
		return fmt.Sprintf("%d seconds", s)
	}
	switch m := int(d.Minutes()); {
	case m == 1:
		return "About a minute"
	case m < 60:
		return fmt.Sprintf("%d minutes", m)
	}
	switch h := int(math.Round(d.Hours())); {
	case h == 1:
		return "About an hour"
	case h < 48:
		return fmt.Sprintf("%d hours", h)
	case h < 24*7*2:
		return fmt.Sprintf("%d days", h/24)
	case h < 24*30*2:
		return fmt.Sprintf("%d weeks", h/24/7)
	case h < 24*365*2:
		return fmt.Sprintf("%d months", h/24/30)
	default:
		return fmt.Sprintf("%d years", h/24/365)
	}
}
