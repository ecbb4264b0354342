package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"
	"github.com/spf13/cobra"

	"gantry/internal/agentconn"
)

// runOptions are `gantry run`'s flags.
type runOptions struct {
	detach     bool
	remove     bool
	name       string
	publish    []string
	publishAll bool
	env        []string
	volumes    []string
	cpus       float64
	memory     string
	cluster    string
	entrypoint string
	workdir    string
	user       string
}

// specHashTag marks task definitions `gantry run` registered with a hash of what it
// asked for, so that running the same thing again reuses the revision.
const specHashTag = "gantry:run-spec"

// defaultRunMemoryReservation is the soft memory `gantry run` books when --memory is not
// given: ECS needs some memory figure to place a task, and docker sets no hard limit.
const defaultRunMemoryReservation = 64

func newRunCommand(g *globals) *cobra.Command {
	o := &runOptions{}
	cmd := &cobra.Command{
		Use:   "run [flags] IMAGE [COMMAND [ARG...]]",
		Short: "Run a container as an ECS task, like docker run",
		Long: `Run IMAGE as a one-container task. gantry run registers a task definition for it
(or reuses the one registered for the same options), runs a task with RunTask and,
without -d, streams the container's output and exits with its exit code.

The task gets its own network namespace and address (awsvpc mode); with -p or -P it
uses bridge mode instead, so that HOST ports on the instance reach the container. -P
publishes every port the image exposes (EXPOSE) on a dynamic host port; gantry ps and
gantry inspect show which.

Examples:
  gantry run --rm busybox echo hello
  gantry run -d --name web -p 8080:80 nginx
  gantry run -e GREETING=hi -v /srv/data:/data:ro busybox cat /data/file`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runTask(cmd.Context(), g, o, args[0], args[1:])
		},
	}
	f := cmd.Flags()
	f.SetInterspersed(false)
	f.BoolVarP(&o.detach, "detach", "d", false, "run in the background and print the task id")
	f.BoolVar(&o.remove, "rm", false, "accepted for docker habits: a task's containers are always removed when it stops (its record stays describable for an hour)")
	f.StringVar(&o.name, "name", "", "name the task (used by ps, logs, stop, exec, inspect); its task definition family is run-NAME")
	f.StringArrayVarP(&o.publish, "publish", "p", nil, "publish a container port: HOST:CONTAINER[/udp] or CONTAINER (dynamic host port)")
	f.BoolVarP(&o.publishAll, "publish-all", "P", false, "publish every port the image exposes on a dynamic host port")
	f.StringArrayVarP(&o.env, "env", "e", nil, "set an environment variable: KEY=VALUE, or KEY to copy it from here")
	f.StringArrayVarP(&o.volumes, "volume", "v", nil, "mount SRC:DST[:ro]: SRC an absolute host path, or a volume name kept by the instance")
	f.Float64Var(&o.cpus, "cpus", 0, "CPUs the container is given and that the task books (ECS cpu units = CPUS × 1024)")
	f.StringVarP(&o.memory, "memory", "m", "", "memory hard limit, e.g. 512m or 1g (default: no limit; 64 MiB is booked)")
	f.StringVar(&o.cluster, "cluster", "default", "cluster to run in")
	f.StringVar(&o.entrypoint, "entrypoint", "", "override the image's entrypoint")
	f.StringVarP(&o.workdir, "workdir", "w", "", "working directory in the container")
	f.StringVarP(&o.user, "user", "u", "", "user (name or uid[:gid]) the process runs as")
	return cmd
}

func runTask(ctx context.Context, g *globals, o *runOptions, image string, command []string) error {
	in, err := o.taskDefinition(image, command)
	if err != nil {
		return err
	}
	client, err := g.ecsClient(ctx)
	if err != nil {
		return err
	}
	tdArn, err := ensureTaskDefinition(ctx, client, in)
	if err != nil {
		return err
	}
	run := &ecs.RunTaskInput{Cluster: aws.String(o.cluster), TaskDefinition: aws.String(tdArn), StartedBy: aws.String("gantry run")}
	if o.name != "" {
		run.Tags = []types.Tag{{Key: aws.String(taskNameTag), Value: aws.String(o.name)}}
	}
	out, err := client.RunTask(ctx, run)
	if err != nil {
		return err
	}
	if len(out.Tasks) == 0 {
		return placementError(out.Failures)
	}
	task := out.Tasks[0]
	if o.detach {
		if g.output == "json" {
			return printJSON(g.out, out)
		}
		fmt.Fprintln(g.out, arnID(aws.ToString(task.TaskArn)))
		return nil
	}
	return attach(ctx, g, client, o.cluster, aws.ToString(task.TaskArn))
}

// placementError explains why RunTask placed nothing.
func placementError(failures []types.Failure) error {
	if len(failures) == 0 {
		return errors.New("the task was not placed and the server gave no reason")
	}
	reasons := make([]string, 0, len(failures))
	for _, f := range failures {
		reasons = append(reasons, aws.ToString(f.Reason))
	}
	hint := "check the instances with 'gantry instance ls'"
	if slices.Contains(reasons, "MISSING") {
		hint = "the cluster has no ACTIVE container instance with a connected agent: 'gantry instance ls' shows them (a DRAINING one takes no tasks until 'gantry instance activate NAME'); start 'gantry server' with its agent, or join one with 'gantry agent'"
	}
	return fmt.Errorf("no container instance could take the task (%s); %s", strings.Join(reasons, ", "), hint)
}

// attach streams the task's output until it stops and exits with its container's exit
// code. Ctrl-C stops the task and waits for it, as docker's signal proxy would.
func attach(ctx context.Context, g *globals, client *ecs.Client, cluster, taskArn string) error {
	bg := context.WithoutCancel(ctx)
	go func() {
		<-ctx.Done()
		client.StopTask(bg, &ecs.StopTaskInput{Cluster: aws.String(cluster), Task: aws.String(taskArn), Reason: aws.String("Interrupted in gantry run")})
	}()
	t, err := waitTask(bg, g, cluster, taskArn, "running")
	if err != nil {
		return err
	}
	if err := streamLogs(bg, g, cluster, taskArn); err != nil && t.LastStatus == "RUNNING" {
		fmt.Fprintln(os.Stderr, "gantry: streaming logs:", err)
	}
	// The exit code is known once the container has exited; the task's teardown (its
	// network, its root filesystem) need not hold the command up, as with docker run.
	if t, err = waitTask(bg, g, cluster, taskArn, "exited"); err != nil {
		return err
	}
	return t.exit()
}

// waitedTask is what gantry run needs of the task the wait endpoint answers with.
type waitedTask struct {
	TaskArn       string `json:"taskArn"`
	LastStatus    string `json:"lastStatus"`
	StoppedReason string `json:"stoppedReason"`
	Containers    []struct {
		ExitCode *int   `json:"exitCode"`
		Reason   string `json:"reason"`
	} `json:"containers"`
}

// exit turns a task whose first container exited (or that stopped) into the command's
// result: that container's exit code, or an error with the stop reason when it never ran.
func (t *waitedTask) exit() error {
	if len(t.Containers) == 0 || t.Containers[0].ExitCode == nil {
		reason := t.StoppedReason
		if len(t.Containers) > 0 && t.Containers[0].Reason != "" {
			reason = t.Containers[0].Reason
		}
		return &exitError{code: 125, err: fmt.Errorf("task %s stopped before its container ran: %s", arnID(t.TaskArn), reason)}
	}
	if code := *t.Containers[0].ExitCode; code != 0 {
		return &exitError{code: code}
	}
	return nil
}

// waitTask waits on the server until the task reaches until (running: RUNNING or past
// it; exited: its first container's exit code is known or it STOPPED).
func waitTask(ctx context.Context, g *globals, cluster, taskArn, until string) (*waitedTask, error) {
	for {
		q := url.Values{"cluster": {cluster}, "task": {taskArn}, "until": {until}, "timeout": {"1m"}}
		resp, err := g.native(ctx, "GET", taskWaitPath, q, nil)
		if err != nil {
			return nil, err
		}
		var answer struct {
			Reached bool       `json:"reached"`
			Task    waitedTask `json:"task"`
		}
		err = json.NewDecoder(resp.Body).Decode(&answer)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("waiting for task %s: reading the server's answer: %w", arnID(taskArn), err)
		}
		if answer.Reached {
			return &answer.Task, nil
		}
	}
}

// taskWaitPath is the server's endpoint that answers once a task reaches a state.
const taskWaitPath = "/gantry/v1/tasks/wait"

// streamLogs copies a task's first container's log to stdout and stderr, following it
// until the container has exited.
func streamLogs(ctx context.Context, g *globals, cluster, taskArn string) error {
	q := url.Values{"cluster": {cluster}, "task": {taskArn}, "follow": {"1"}}
	resp, err := g.native(ctx, "GET", agentconn.LogsPath, q, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return copyLogs(resp.Body, os.Stdout, os.Stderr, false)
}

// taskDefinition builds the RegisterTaskDefinition request for the options.
func (o *runOptions) taskDefinition(image string, command []string) (*ecs.RegisterTaskDefinitionInput, error) {
	base := imageBaseName(image)
	family := "run-" + base
	if o.name != "" {
		family = "run-" + sanitizeName(o.name)
	}
	cd := types.ContainerDefinition{Name: aws.String(base), Image: aws.String(image), Essential: aws.Bool(true)}
	if len(command) > 0 {
		cd.Command = command
	}
	if o.entrypoint != "" {
		cd.EntryPoint = []string{o.entrypoint}
	}
	cd.WorkingDirectory = optional(o.workdir)
	cd.User = optional(o.user)
	for _, kv := range o.env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			v = os.Getenv(k)
		}
		if k == "" {
			return nil, fmt.Errorf("-e %q: give KEY=VALUE or KEY", kv)
		}
		cd.Environment = append(cd.Environment, types.KeyValuePair{Name: aws.String(k), Value: aws.String(v)})
	}
	if o.memory != "" {
		mib, err := parseMemory(o.memory)
		if err != nil {
			return nil, fmt.Errorf("--memory %q: %w", o.memory, err)
		}
		cd.Memory = aws.Int32(mib)
	} else {
		cd.MemoryReservation = aws.Int32(defaultRunMemoryReservation)
	}
	if o.cpus < 0 {
		return nil, fmt.Errorf("--cpus %v: must not be negative", o.cpus)
	}
	cd.Cpu = int32(o.cpus * 1024)
	mode := types.NetworkModeAwsvpc
	for _, p := range o.publish {
		pm, err := parsePublish(p)
		if err != nil {
			return nil, err
		}
		cd.PortMappings = append(cd.PortMappings, pm)
		mode = types.NetworkModeBridge
	}
	if o.publishAll {
		// The node reads the image's exposed ports when it starts the task.
		cd.DockerLabels = map[string]string{agentconn.LabelPublishAll: "true"}
		mode = types.NetworkModeBridge
	}
	in := &ecs.RegisterTaskDefinitionInput{Family: aws.String(family), NetworkMode: mode}
	for i, v := range o.volumes {
		vol, mp, err := parseVolume(v, i)
		if err != nil {
			return nil, err
		}
		in.Volumes = append(in.Volumes, vol)
		cd.MountPoints = append(cd.MountPoints, mp)
	}
	in.ContainerDefinitions = []types.ContainerDefinition{cd}
	return in, nil
}

// imageBaseName is the last path segment of an image reference without tag or digest:
// 127.0.0.1:8700/tools/busybox:1 → busybox.
func imageBaseName(image string) string {
	ref, _, _ := strings.Cut(image, "@")
	last := ref[strings.LastIndex(ref, "/")+1:]
	last, _, _ = strings.Cut(last, ":")
	return sanitizeName(last)
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}

// sanitizeName makes s a valid family or container name (letters, digits, - and _).
func sanitizeName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			b[i] = '-'
		}
	}
	if len(b) == 0 {
		return "container"
	}
	if len(b) > 200 {
		b = b[:200]
	}
	return string(b)
}

// parseMemory reads docker's memory sizes (bytes, or with b, k, m, g suffixes) as MiB.
func parseMemory(s string) (int32, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "g"), strings.HasSuffix(s, "gb"):
		mult, s = 1<<30, strings.TrimRight(s, "gb")
	case strings.HasSuffix(s, "m"), strings.HasSuffix(s, "mb"):
		mult, s = 1<<20, strings.TrimRight(s, "mb")
	case strings.HasSuffix(s, "k"), strings.HasSuffix(s, "kb"):
		mult, s = 1<<10, strings.TrimRight(s, "kb")
	case strings.HasSuffix(s, "b"):
		s = strings.TrimSuffix(s, "b")
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || n <= 0 {
		return 0, errors.New("give a size like 512m or 1g")
	}
	mib := int64(n*float64(mult)) >> 20
	if mib < 6 {
		return 0, errors.New("the minimum is 6m")
	}
	return int32(mib), nil
}

// parsePublish reads -p HOST:CONTAINER[/proto] or CONTAINER[/proto].
func parsePublish(s string) (types.PortMapping, error) {
	spec, proto, _ := strings.Cut(s, "/")
	if proto == "" {
		proto = "tcp"
	}
	if proto != "tcp" && proto != "udp" {
		return types.PortMapping{}, fmt.Errorf("-p %q: protocol must be tcp or udp", s)
	}
	host, ctr, hasHost := strings.Cut(spec, ":")
	if !hasHost {
		host, ctr = "0", spec
	}
	hp, err1 := strconv.Atoi(host)
	cp, err2 := strconv.Atoi(ctr)
	if err1 != nil || err2 != nil || hp < 0 || hp > 65535 || cp < 1 || cp > 65535 {
		return types.PortMapping{}, fmt.Errorf("-p %q: want HOST:CONTAINER or CONTAINER with ports 1-65535 (e.g. 8080:80)", s)
	}
	return types.PortMapping{HostPort: aws.Int32(int32(hp)), ContainerPort: aws.Int32(int32(cp)), Protocol: types.TransportProtocol(proto)}, nil
}

// parseVolume reads -v SRC:DST[:ro]: an absolute SRC binds a host path; a name is a
// volume the instance keeps across tasks.
func parseVolume(s string, i int) (types.Volume, types.MountPoint, error) {
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || !strings.HasPrefix(parts[1], "/") || (len(parts) == 3 && parts[2] != "ro" && parts[2] != "rw") {
		return types.Volume{}, types.MountPoint{}, fmt.Errorf("-v %q: want SRC:DST[:ro] with an absolute DST", s)
	}
	mp := types.MountPoint{ContainerPath: aws.String(parts[1]), ReadOnly: aws.Bool(len(parts) == 3 && parts[2] == "ro")}
	if strings.HasPrefix(parts[0], "/") {
		name := fmt.Sprintf("host-%d", i)
		mp.SourceVolume = aws.String(name)
		return types.Volume{Name: aws.String(name), Host: &types.HostVolumeProperties{SourcePath: aws.String(parts[0])}}, mp, nil
	}
	name := sanitizeName(parts[0])
	mp.SourceVolume = aws.String(name)
	return types.Volume{Name: aws.String(name), DockerVolumeConfiguration: &types.DockerVolumeConfiguration{
		Scope: types.ScopeShared, Autoprovision: aws.Bool(true), Driver: aws.String("local")}}, mp, nil
}

// ensureTaskDefinition returns the latest revision of the family if `gantry run`
// registered it for the same request, else registers a new one.
func ensureTaskDefinition(ctx context.Context, client *ecs.Client, in *ecs.RegisterTaskDefinitionInput) (string, error) {
	b, err := json.Marshal(in)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	hash := hex.EncodeToString(sum[:16])
	cur, err := client.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: in.Family, Include: []types.TaskDefinitionField{types.TaskDefinitionFieldTags}})
	var apiErr smithy.APIError
	switch {
	case err == nil:
		for _, t := range cur.Tags {
			if aws.ToString(t.Key) == specHashTag && aws.ToString(t.Value) == hash {
				return aws.ToString(cur.TaskDefinition.TaskDefinitionArn), nil
			}
		}
	case errors.As(err, &apiErr) && apiErr.ErrorCode() == "ClientException":
		// no active revision yet
	default:
		return "", err
	}
	in.Tags = append(in.Tags, types.Tag{Key: aws.String(specHashTag), Value: aws.String(hash)})
	out, err := client.RegisterTaskDefinition(ctx, in)
	if err != nil {
		return "", err
	}
	return aws.ToString(out.TaskDefinition.TaskDefinitionArn), nil
}
