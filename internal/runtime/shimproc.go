package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// shimProcess is a container's shim as its creator sees it: started, and waiting for the
// go-ahead (the bundle's config.json is written) before it runs the OCI runtime.
type shimProcess struct {
	cmd     *exec.Cmd
	exited  chan struct{} // closed once the shim process is reaped (while we live)
	dir     string
	status  *os.File // read end of fd 3: "ok", or "error: ..."
	goAhead *os.File // write end of fd 4: "go", or closed to give up
}

// startShim starts the detached shim for the bundle, which holds meta.json already.
func (r *Runtime) startShim(dir string) (_ *shimProcess, err error) {
	statusR, statusW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer statusW.Close() // the shim's ends: it holds its own copies
	goR, goW, err := os.Pipe()
	if err != nil {
		statusR.Close()
		return nil, err
	}
	defer goR.Close()
	defer func() {
		if err != nil {
			statusR.Close()
			goW.Close()
		}
	}()
	shimLog, err := os.OpenFile(filepath.Join(dir, "shim.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer shimLog.Close()
	cmd := exec.Command(r.shimCmd[0], append(slices.Clone(r.shimCmd[1:]), dir)...)
	cmd.Dir = "/"
	cmd.Stdout = shimLog
	cmd.Stderr = shimLog
	cmd.ExtraFiles = []*os.File{statusW, goR}
	// Own session: the shim must not get the caller's terminal signals, and it outlives
	// the caller (re-parented to init or the nearest subreaper when the caller exits).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting shim %s: %w", r.shimCmd[0], err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }() // reap it while we live; afterwards whoever adopts it does
	return &shimProcess{cmd: cmd, exited: exited, dir: dir, status: statusR, goAhead: goW}, nil
}

// abort tells the shim to exit without running anything, and waits until it has.
func (s *shimProcess) abort() {
	s.goAhead.Close()
	s.status.Close()
	select {
	case <-s.exited:
	case <-time.After(5 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
	}
}

// proceed lets the shim run the OCI runtime and waits until it reports that the container
// was created (or started), or why not.
func (s *shimProcess) proceed(ctx context.Context) error {
	defer s.status.Close()
	_, err := io.WriteString(s.goAhead, shimGoAhead)
	s.goAhead.Close()
	if err != nil {
		return fmt.Errorf("shim: %w", err)
	}
	type result struct {
		msg string
		err error
	}
	done := make(chan result, 1)
	go func() {
		b, err := readAllLimit(s.status, 64<<10)
		done <- result{strings.TrimSpace(string(b)), err}
	}()
	select {
	case <-ctx.Done():
		s.cmd.Process.Kill()
		return ctx.Err()
	case res := <-done:
		if res.msg == "ok" {
			return nil
		}
		if res.msg == "" {
			b, _ := os.ReadFile(filepath.Join(s.dir, "shim.log"))
			res.msg = "shim exited without reporting: " + strings.TrimSpace(string(b))
		}
		return errors.New(strings.TrimPrefix(res.msg, "error: "))
	}
}

// shimGoAhead is what the creator writes on fd 4 once config.json is in place.
const shimGoAhead = "go\n"

// errShimAborted ends a shim whose creator gave up before the go-ahead.
var errShimAborted = errors.New("shim: the container's creation was given up before it began")

// awaitGoAhead blocks until the creator writes the go-ahead (true) or closes fd 4 (false).
func awaitGoAhead(f *os.File) bool {
	defer f.Close()
	b, _ := io.ReadAll(io.LimitReader(f, int64(len(shimGoAhead))))
	return string(b) == shimGoAhead
}
