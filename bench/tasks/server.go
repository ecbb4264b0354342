package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"gantry/bench/internal/proc"
	"gantry/bench/internal/sweep"
	"gantry/internal/image"
	"gantry/internal/network"
	"gantry/internal/runtime"
	gantryserver "gantry/internal/server"
)

// bins are the binaries under test, built from this checkout.
type bins struct{ gantry, shim string }

func buildBinaries(ctx context.Context, work string) (bins, error) {
	dir := filepath.Join(work, "bin")
	build := exec.CommandContext(ctx, "go", "build", "-o", dir+"/", "./cmd/gantry", "./cmd/gantry-shim")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return bins{}, fmt.Errorf("building gantry and gantry-shim (run from the repository root): %w", err)
	}
	return bins{gantry: filepath.Join(dir, "gantry"), shim: filepath.Join(dir, "gantry-shim")}, nil
}

// debugListen, when set (-debug-listen), is passed to the servers the bench starts, so
// that they can be profiled while it runs.
var debugListen string

// gantryServer is a `gantry server` process started by the bench in its own directory.
type gantryServer struct {
	bins             bins
	dir              string // data-dir, run-dir and log below it
	dataDir, runDir  string
	endpoint         string
	key              aws.Credentials
	cmd              *exec.Cmd
	exited           chan struct{}
	ecs              *ecs.Client
	agent            bool
	stopped, cleaned bool
}

// startServer starts `gantry server` on a free loopback port, with its in-process agent
// (bridge gbench1, 10.213.250.0/24) or --no-agent, and waits until it answers and, with
// an agent, until the agent is connected. Its stop and the removal of what its agent
// made are registered with cl first.
func startServer(ctx context.Context, b bins, dir string, agent bool, cl *sweep.Cleanup) (*gantryServer, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	s := &gantryServer{bins: b, dir: dir, dataDir: filepath.Join(dir, "data"), runDir: filepath.Join(dir, "run"),
		endpoint: "http://" + addr, agent: agent, exited: make(chan struct{})}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	args := []string{"server", "--listen", addr, "--data-dir", s.dataDir, "--run-dir", s.runDir,
		"--bridge", gantryBridge, "--subnet", gantrySubnet}
	if !agent {
		args = append(args, "--no-agent")
	}
	if debugListen != "" {
		args = append(args, "--debug-listen", debugListen)
	}
	log, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		return nil, err
	}
	s.cmd = exec.Command(b.gantry, args...)
	s.cmd.Stdout, s.cmd.Stderr = log, log
	if err := s.cmd.Start(); err != nil {
		log.Close()
		return nil, err
	}
	go func() { s.cmd.Wait(); log.Close(); close(s.exited) }()
	cl.Add("gantry server in "+dir, s.cleanup)
	if err := s.waitReady(ctx); err != nil {
		return nil, err
	}
	if agent {
		if err := s.waitInstances(ctx, 1, 60*time.Second); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (s *gantryServer) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if resp, err := http.Get(s.endpoint + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				key, err := gantryserver.ReadCredentials(filepath.Join(s.dataDir, "credentials"))
				if err != nil {
					return err
				}
				s.key = aws.Credentials{AccessKeyID: key.ID, SecretAccessKey: key.Secret}
				s.ecs = ecsClient(s.endpoint, s.key)
				return nil
			}
		}
		select {
		case <-s.exited:
			return fmt.Errorf("gantry server exited: %s", s.logTail())
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("gantry server not ready after 60 s: %s", s.logTail())
}

// ecsClient is an aws-sdk-go-v2 ECS client for endpoint whose failed calls count as
// failed: it retries only a response cut short by a connection the client's transport
// closed under it (aws-sdk-go-v2 issue 2737; its default retryer retries those too), not
// throttling or server errors. RunTask retries are safe: the SDK gives every RunTask a
// clientToken.
func ecsClient(endpoint string, key aws.Credentials) *ecs.Client {
	return ecs.NewFromConfig(aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.StaticCredentialsProvider{Value: key},
		HTTPClient:  &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 2 * time.Minute},
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = 3
				o.RateLimiter = ratelimit.None
				o.Retryables = []retry.IsErrorRetryable{retry.IsErrorRetryableFunc(func(err error) aws.Ternary {
					return aws.BoolTernary(errors.Is(err, net.ErrClosed))
				})}
			})
		},
	}, func(o *ecs.Options) { o.BaseEndpoint = aws.String(endpoint) })
}

// waitInstances waits until n container instances are registered with their agents
// connected.
func (s *gantryServer) waitInstances(ctx context.Context, n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	connected := 0
	for time.Now().Before(deadline) && ctx.Err() == nil {
		insts, err := s.instances(ctx)
		if err == nil {
			connected = 0
			for _, ci := range insts {
				if ci.AgentConnected {
					connected++
				}
			}
			if connected >= n {
				return nil
			}
		}
		select {
		case <-s.exited:
			return fmt.Errorf("gantry server exited: %s", s.logTail())
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("%d of %d agents connected after %s: %s", connected, n, timeout, s.logTail())
}

// instances describes every container instance of the default cluster.
func (s *gantryServer) instances(ctx context.Context) ([]types.ContainerInstance, error) {
	var arns []string
	p := ecs.NewListContainerInstancesPaginator(s.ecs, &ecs.ListContainerInstancesInput{MaxResults: aws.Int32(100)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		arns = append(arns, page.ContainerInstanceArns...)
	}
	var out []types.ContainerInstance
	for len(arns) > 0 {
		batch := arns[:min(100, len(arns))]
		arns = arns[len(batch):]
		d, err := s.ecs.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{ContainerInstances: batch})
		if err != nil {
			return nil, err
		}
		out = append(out, d.ContainerInstances...)
	}
	return out, nil
}

// cli runs the gantry CLI against this server.
func (s *gantryServer) cli(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, s.bins.gantry, args...)
	cmd.Env = append(envWithout("AWS_", "GANTRY_"), "GANTRY_ENDPOINT="+s.endpoint, "GANTRY_CREDENTIALS="+filepath.Join(s.dataDir, "credentials"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("gantry %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// envWithout is this process's environment without variables that start with one of
// the prefixes.
func envWithout(prefixes ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		keep := true
		for _, p := range prefixes {
			keep = keep && !strings.HasPrefix(kv, p)
		}
		if keep {
			env = append(env, kv)
		}
	}
	return env
}

func (s *gantryServer) logTail() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
	return proc.Tail(b)
}

// rss is the server process's resident memory in bytes.
func (s *gantryServer) rss() (int64, error) { return proc.RSS(s.cmd.Process.Pid) }

// stop shuts the server down with SIGTERM, killing it after 20 s.
func (s *gantryServer) stop() error {
	if s.stopped {
		return nil
	}
	s.stopped = true
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		return nil
	case <-time.After(20 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
		return fmt.Errorf("gantry server did not stop 20 s after SIGTERM; killed")
	}
}

// cleanup stops the server and removes what its agent left: containers outlive the
// agent by design, so they are found through the engine's own state, as after a crash.
func (s *gantryServer) cleanup() error {
	if s.cleaned {
		return nil
	}
	s.cleaned = true
	err := s.stop()
	if !s.agent {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if rt, rerr := runtime.New(runtime.Config{StateDir: filepath.Join(s.runDir, "runtime"), DataDir: filepath.Join(s.dataDir, "containers"), ShimCmd: []string{s.bins.shim}}); rerr == nil {
		cs, _ := rt.List(ctx)
		for _, c := range cs {
			rt.Delete(ctx, c.ID)
		}
	}
	if store, serr := image.Open(filepath.Join(s.dataDir, "images")); serr == nil {
		mounts, _ := os.ReadDir(filepath.Join(s.dataDir, "images", "mounts"))
		for _, m := range mounts {
			store.Unmount(m.Name())
		}
	}
	nm, nerr := network.New(network.Config{Bridge: gantryBridge, Subnet: gantrySubnet, StateDir: filepath.Join(s.runDir, "network")})
	if nerr == nil {
		if derr := nm.Destroy(ctx); derr != nil && err == nil {
			err = derr
		}
	}
	return err
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// waitTask holds until the server says the task has reached until (GET
// /gantry/v1/tasks/wait, signed like the CLI signs it) or timeout passes.
func (s *gantryServer) waitTask(ctx context.Context, taskArn, until string, timeout time.Duration) error {
	q := url.Values{"task": {taskArn}, "until": {until}, "timeout": {timeout.String()}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.endpoint+"/gantry/v1/tasks/wait?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	const unsigned = "UNSIGNED-PAYLOAD"
	req.Header.Set("X-Amz-Content-Sha256", unsigned)
	if err := v4.NewSigner().SignHTTP(ctx, s.key, req, unsigned, "ecs", "us-east-1", time.Now()); err != nil {
		return err
	}
	resp, err := waitClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("waiting for %s: %s: %s", taskArn, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}

// waitClient keeps connections for the many waits of a launch run.
var waitClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 512}}
