package e2e

import (
	"bytes"
	"context"
	"fmt"
	gruntime "gantry/internal/runtime"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	gantryserver "gantry/internal/server"
)

// gantryBin and shimBin are the binaries under test, built once by TestMain.
var gantryBin, shimBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gantry-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	gantryBin, shimBin = filepath.Join(dir, "gantry"), filepath.Join(dir, "gantry-shim")
	build := exec.Command("go", "build", "-o", dir, "gantry/cmd/gantry", "gantry/cmd/gantry-shim")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building gantry:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if err := gruntime.RemoveCgroupParent(testCgroupParent); err != nil {
		fmt.Fprintln(os.Stderr, "removing the tests' cgroups:", err)
	}
	os.Exit(code)
}

// testCgroupParent keeps the tests' containers apart from a real node's (and lets
// TestMain remove the parent cgroup afterwards without racing anyone).
const testCgroupParent = "gantry-test-e2e"

// server is a running `gantry server` process.
type server struct {
	t        *testing.T
	dataDir  string
	addr     string
	cmd      *exec.Cmd
	output   *syncBuffer
	Endpoint string
	KeyID    string
	Secret   string
	// args are extra server flags; startServer passes --no-agent, startNode an agent's.
	args []string
}

// startServer starts gantry server on a free loopback port with dataDir (a new temp dir
// when empty) and waits until /readyz answers. The process is killed at test end.
func startServer(t *testing.T, dataDir string) *server {
	t.Helper()
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	s := &server{t: t, dataDir: dataDir, addr: freeAddr(t), output: &syncBuffer{}, args: []string{"--no-agent"}}
	s.Endpoint = "http://" + s.addr
	s.start()
	return s
}

func (s *server) start() {
	s.t.Helper()
	s.cmd = exec.Command(gantryBin, append([]string{"server", "--listen", s.addr, "--data-dir", s.dataDir, "--cgroup-parent", testCgroupParent}, s.args...)...)
	s.output.Reset()
	s.cmd.Stdout, s.cmd.Stderr = s.output, s.output
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("starting gantry server: %v", err)
	}
	cmd := s.cmd
	s.t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(s.Endpoint + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				s.loadCredentials()
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("gantry server not ready after 30s; output:\n%s", s.output)
}

func (s *server) loadCredentials() {
	s.t.Helper()
	key, err := gantryserver.ReadCredentials(s.credentialsPath())
	if err != nil {
		s.t.Fatal(err)
	}
	s.KeyID, s.Secret = key.ID, key.Secret
}

func (s *server) credentialsPath() string { return filepath.Join(s.dataDir, "credentials") }

// kill9 kills the server without warning, as a crash would.
func (s *server) kill9() {
	s.t.Helper()
	s.cmd.Process.Signal(syscall.SIGKILL)
	s.cmd.Wait()
}

// stop sends SIGTERM and returns the exit error (nil for a clean exit).
func (s *server) stop(timeout time.Duration) error {
	s.t.Helper()
	s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(timeout):
		s.cmd.Process.Kill()
		return fmt.Errorf("server did not exit %s after SIGTERM", timeout)
	}
}

// ecs returns an aws-sdk-go-v2 ECS client signed with the server's root key.
func (s *server) ecs() *ecs.Client {
	return s.ecsWith(s.KeyID, s.Secret)
}

func (s *server) ecsWith(keyID, secret string) *ecs.Client {
	cfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(keyID, secret, "")),
		config.WithRetryMaxAttempts(1),
	)
	if err != nil {
		s.t.Fatal(err)
	}
	return ecs.NewFromConfig(cfg, func(o *ecs.Options) { o.BaseEndpoint = aws.String(s.Endpoint) })
}

// gantry runs the gantry CLI against this server and returns stdout; it fails the test
// when the command fails.
func (s *server) gantry(args ...string) string {
	s.t.Helper()
	out, errOut, err := s.gantryResult(args...)
	if err != nil {
		s.t.Fatalf("gantry %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

func (s *server) gantryResult(args ...string) (string, string, error) {
	cmd := exec.Command(gantryBin, args...)
	cmd.Env = envWithout("AWS_", "GANTRY_ENDPOINT="+s.Endpoint, "GANTRY_CREDENTIALS="+s.credentialsPath())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// envWithout is this process's environment without variables starting with prefix, plus extra.
func envWithout(prefix string, extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, prefix) {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// syncBuffer collects a process's output while tests read it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *syncBuffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Reset()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
