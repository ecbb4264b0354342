package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ecssdk "github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"

	"gantry/internal/agentconn"
	"gantry/internal/ecs"
	"gantry/internal/image"
	"gantry/internal/runtime"
)

// Version is the agent version instances report.
const Version = "0.1.0"

// Config configures an agent.
type Config struct {
	// Cluster the instance joins ("default" when empty).
	Cluster string
	// StateDir keeps the agent's own state: its instance ARN and task volumes.
	StateDir string
	// NodeName is the instance's name (its ec2InstanceId); the host name when empty.
	NodeName         string
	AvailabilityZone string
	Attributes       map[string]string
	// CPU units and MiB of memory offered; detected (1024 per core, total memory minus
	// ReservedMemoryMiB) when zero.
	CPU, MemoryMiB    int
	ReservedMemoryMiB int
	// ReservedPorts are host ports tasks may not take (sshd, the server's listener).
	ReservedPorts []int
	// Conn reaches the server.
	Conn *agentconn.Client
	// The node engine.
	Runtime Runtime
	Images  Images
	Network Network
	// PullOptions gives the credentials and transport for pulling ref.
	PullOptions func(ref string) image.PullOptions
	// Container log rotation.
	LogMaxBytes int64
	LogMaxFiles int
	Log         *slog.Logger
}

// Agent is a running node agent.
type Agent struct {
	cfg      Config
	rep      *reporter
	instance string
	ctx      context.Context // Run's: task runners live as long as the agent

	mu    sync.Mutex
	tasks map[string]*taskRunner // by task id
	// leftovers are the containers found at start, by task ARN, until adopted or removed.
	leftovers map[string][]runtime.ContainerInfo
	synced    bool // a full assignment set has been applied since start
}

// New checks cfg and returns an agent; Run starts it.
func New(cfg Config) (*Agent, error) {
	if cfg.Conn == nil || cfg.Runtime == nil || cfg.Images == nil || cfg.Network == nil {
		return nil, errors.New("agent: Conn, Runtime, Images and Network are required")
	}
	if cfg.Cluster == "" {
		cfg.Cluster = "default"
	}
	if cfg.NodeName == "" {
		cfg.NodeName, _ = os.Hostname()
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.PullOptions == nil {
		cfg.PullOptions = func(string) image.PullOptions { return image.PullOptions{} }
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("agent state dir: %w", err)
	}
	a := &Agent{cfg: cfg, tasks: map[string]*taskRunner{}, leftovers: map[string][]runtime.ContainerInfo{}}
	a.rep = newReporter(func(ctx context.Context, ts []*ecs.Task) ([]error, error) {
		return cfg.Conn.Report(ctx, a.instance, ts)
	}, cfg.Log)
	return a, nil
}

// InstanceArn is the container instance ARN once registered.
func (a *Agent) InstanceArn() string { return a.instance }

// Run registers the instance, then keeps the tunnel to the server up and converges the
// node to its assignments until ctx ends. Containers keep running when it returns.
func (a *Agent) Run(ctx context.Context) error {
	a.ctx = ctx
	if err := a.findLeftovers(ctx); err != nil {
		return err
	}
	if err := a.register(ctx); err != nil {
		return err
	}
	go a.rep.run(ctx, 1)
	go a.pruneLogs(ctx)
	handler := a.handler()
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		start := time.Now()
		err := a.cfg.Conn.Serve(ctx, a.instance, handler)
		if ctx.Err() != nil {
			break
		}
		if time.Since(start) > time.Minute {
			backoff = 100 * time.Millisecond
		}
		a.cfg.Log.Warn("connection to the server lost; reconnecting", "err", err, "in", backoff)
		var refused *agentconn.ReportError
		if errors.As(err, &refused) && refused.Status == http.StatusBadRequest {
			// The instance is not registered any more (deregistered, or the server's
			// state was reset): register again, as a new instance if need be.
			if err := a.register(ctx); err != nil {
				a.cfg.Log.Warn("registering again", "err", err)
			}
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
		}
		backoff = min(2*backoff, 5*time.Second)
	}
	a.mu.Lock()
	runners := make([]*taskRunner, 0, len(a.tasks))
	for _, r := range a.tasks {
		runners = append(runners, r)
	}
	a.mu.Unlock()
	for _, r := range runners {
		<-r.done
	}
	return nil
}

// LogRetention is how long the logs of stopped tasks' containers are kept: as long as
// ECS keeps the stopped tasks describable.
const LogRetention = ecs.DefaultStoppedTaskRetention

// pruneLogs removes expired container logs every few minutes until ctx ends.
func (a *Agent) pruneLogs(ctx context.Context) {
	tick := time.NewTicker(5 * time.Minute)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if _, err := a.cfg.Runtime.PruneLogArchive(time.Now().Add(-LogRetention)); err != nil {
			a.cfg.Log.Warn("pruning container logs", "err", err)
		}
	}
}

// instanceFile records the instance ARN, so that a restarted agent is the same instance.
func (a *Agent) instanceFile() string { return filepath.Join(a.cfg.StateDir, "instance.json") }

type instanceState struct {
	ContainerInstanceArn string `json:"containerInstanceArn"`
	Cluster              string `json:"cluster"`
}

// register registers the node as a container instance, or again as the one it was.
func (a *Agent) register(ctx context.Context) error {
	cpu, mem, err := a.resources()
	if err != nil {
		return err
	}
	doc, _ := json.Marshal(map[string]string{"instanceId": a.cfg.NodeName, "availabilityZone": a.cfg.AvailabilityZone})
	in := &ecssdk.RegisterContainerInstanceInput{
		Cluster:                  aws.String(a.cfg.Cluster),
		InstanceIdentityDocument: aws.String(string(doc)),
		VersionInfo:              &ecstypes.VersionInfo{AgentVersion: aws.String(Version), DockerVersion: aws.String("runc")},
		TotalResources: []ecstypes.Resource{
			{Name: aws.String("CPU"), Type: aws.String("INTEGER"), IntegerValue: int32(cpu)},
			{Name: aws.String("MEMORY"), Type: aws.String("INTEGER"), IntegerValue: int32(mem)},
			{Name: aws.String("PORTS"), Type: aws.String("STRINGSET"), StringSetValue: portStrings(a.cfg.ReservedPorts)},
			{Name: aws.String("PORTS_UDP"), Type: aws.String("STRINGSET"), StringSetValue: []string{}},
		},
		Attributes: []ecstypes.Attribute{{Name: aws.String("ecs.cpu-architecture"), Value: aws.String(cpuArch())}},
	}
	if a.cfg.AvailabilityZone != "" {
		in.Attributes = append(in.Attributes, ecstypes.Attribute{Name: aws.String("ecs.availability-zone"), Value: aws.String(a.cfg.AvailabilityZone)})
	}
	for k, v := range a.cfg.Attributes {
		in.Attributes = append(in.Attributes, ecstypes.Attribute{Name: aws.String(k), Value: aws.String(v)})
	}
	var prev instanceState
	if b, err := os.ReadFile(a.instanceFile()); err == nil && json.Unmarshal(b, &prev) == nil && prev.Cluster == a.cfg.Cluster {
		in.ContainerInstanceArn = aws.String(prev.ContainerInstanceArn)
	}
	client := ecssdk.NewFromConfig(aws.Config{
		Region:       a.cfg.Conn.Region,
		Credentials:  aws.NewCredentialsCache(credentialsValue(a.cfg.Conn.Credentials)),
		BaseEndpoint: aws.String(a.cfg.Conn.Server),
		HTTPClient:   a.cfg.Conn.HTTP,
	})
	out, err := client.RegisterContainerInstance(ctx, in)
	var apiErr smithy.APIError
	if err != nil && in.ContainerInstanceArn != nil && errors.As(err, &apiErr) && apiErr.ErrorCode() == "ClientException" {
		a.cfg.Log.Warn("registering as a new instance", "previous", prev.ContainerInstanceArn, "err", apiErr.ErrorMessage())
		in.ContainerInstanceArn = nil
		out, err = client.RegisterContainerInstance(ctx, in)
	}
	if err != nil {
		return fmt.Errorf("registering with %s: %w", a.cfg.Conn.Server, err)
	}
	a.instance = aws.ToString(out.ContainerInstance.ContainerInstanceArn)
	b, _ := json.Marshal(instanceState{ContainerInstanceArn: a.instance, Cluster: a.cfg.Cluster})
	if err := writeFileAtomic(a.instanceFile(), b); err != nil {
		return err
	}
	a.cfg.Log.Info("registered", "instance", a.instance, "cpu", cpu, "memoryMiB", mem)
	return nil
}

type credentialsValue aws.Credentials

func (c credentialsValue) Retrieve(context.Context) (aws.Credentials, error) {
	return aws.Credentials(c), nil
}

// resources are the CPU units and MiB the instance offers.
func (a *Agent) resources() (int, int, error) {
	cpu, mem := a.cfg.CPU, a.cfg.MemoryMiB
	if cpu == 0 {
		cpu = 1024 * goruntime.NumCPU()
	}
	if mem == 0 {
		total, err := totalMemoryMiB()
		if err != nil {
			return 0, 0, err
		}
		mem = total - a.cfg.ReservedMemoryMiB
	}
	if cpu <= 0 || mem <= 0 {
		return 0, 0, fmt.Errorf("agent: nothing left to offer (cpu %d units, memory %d MiB); lower the memory reserve", cpu, mem)
	}
	return cpu, mem, nil
}

func totalMemoryMiB() (int, error) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			return kb / 1024, err
		}
	}
	return 0, errors.New("/proc/meminfo has no MemTotal")
}

func cpuArch() string {
	if goruntime.GOARCH == "amd64" {
		return "x86_64"
	}
	return goruntime.GOARCH
}

func portStrings(ports []int) []string {
	out := make([]string, len(ports))
	for i, p := range ports {
		out[i] = strconv.Itoa(p)
	}
	return out
}

func writeFileAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// volumeDir holds a task's task-scoped volumes.
func (a *Agent) volumeDir(taskID string) string {
	return filepath.Join(a.cfg.StateDir, "volumes", taskID)
}

// image returns ref from the node's store, pulling it when missing.
func (a *Agent) image(ctx context.Context, ref string) (*image.Image, error) {
	if img, err := a.cfg.Images.Get(ref); err == nil {
		return img, nil
	} else if !errors.Is(err, image.ErrNotFound) {
		return nil, err
	}
	return a.cfg.Images.Pull(ctx, ref, a.cfg.PullOptions(ref))
}

func idOf(arn string) string { return arn[strings.LastIndexByte(arn, '/')+1:] }

func atoi(s string) (int, error) { return strconv.Atoi(s) }
