package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	gantryserver "gantry/internal/server"
)

// server is one gantry server process. The benchmark starts a fresh one per measured run,
// so its VmHWM (peak RSS over the process's life) covers that run and nothing else.
type server struct {
	cmd     *exec.Cmd
	done    chan struct{}
	host    string // host:port of the registry
	creds   string // user:password for registry basic auth
	logPath string
	idleRSS int64 // bytes resident once ready
	peakRSS int64 // VmHWM read just before the benchmark stopped it
	stopped bool
}

// startServer starts `gantry server` on a free loopback port with dataDir and waits until
// it is ready. The caller must call stop on every path.
func startServer(ctx context.Context, bin, dataDir, logPath string) (*server, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child holds its own descriptor
	cmd := exec.Command(bin, "server", "--listen", addr, "--data-dir", dataDir)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Own process group: a terminal's Ctrl-C reaches the benchmark, which stops the server
	// itself after cancelling the copy. Pdeathsig covers the benchmark being killed outright.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting gantry server: %w", err)
	}
	s := &server{cmd: cmd, done: make(chan struct{}), host: addr, logPath: logPath}
	go func() { cmd.Wait(); close(s.done) }()
	if err := s.waitReady(ctx); err != nil {
		s.stop()
		return nil, err
	}
	key, err := gantryserver.ReadCredentials(filepath.Join(dataDir, "credentials"))
	if err != nil {
		s.stop()
		return nil, err
	}
	s.creds = key.ID + ":" + key.Secret
	if _, s.idleRSS, err = s.rss(); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

func (s *server) waitReady(ctx context.Context) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := client.Get("http://" + s.host + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.done:
			return fmt.Errorf("gantry server exited before it was ready: %s\n%s", s.cmd.ProcessState, s.logTail(20))
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("gantry server on %s not ready after 30s\n%s", s.host, s.logTail(20))
}

// rss reads the server's peak (VmHWM) and current (VmRSS) resident set size in bytes.
func (s *server) rss() (peak, current int64, err error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0, 0, fmt.Errorf("reading the server's memory use: %w", err)
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		k, v, _ := strings.Cut(line, ":")
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmHWM":
			peak = kb << 10
		case "VmRSS":
			current = kb << 10
		}
	}
	if peak == 0 {
		return 0, 0, errors.New("reading the server's memory use: no VmHWM in /proc status")
	}
	return peak, current, nil
}

// stop shuts the server down cleanly (SIGINT), killing it if it has not exited in 15 s.
func (s *server) stop() {
	if s.stopped {
		return
	}
	s.stopped = true
	s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		fmt.Fprintf(os.Stderr, "bench: gantry server (pid %d) ignored SIGINT for 15s; killing it\n", s.cmd.Process.Pid)
		s.cmd.Process.Kill()
		<-s.done
	}
}

// logTail returns the last n lines the server logged, for error reports.
func (s *server) logTail(n int) string {
	data, _ := os.ReadFile(s.logPath)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "server log (" + s.logPath + "):\n  " + strings.Join(lines, "\n  ")
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
