package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ExecSpec is a process to run in a running container. Unset fields take the container's
// values (Env is added to the container's environment).
type ExecSpec struct {
	Args     []string
	Env      []string
	Cwd      string
	User     string
	Terminal bool // run under a pseudo-terminal; its output goes to Stdout
	Stdin    io.Reader
	Stdout   io.Writer
	Stderr   io.Writer
}

var execSeq atomic.Uint64

// Exec runs a process in the container and returns its exit code once it has exited and
// its output is copied. It returns an error only when the process could not be run.
func (r *Runtime) Exec(ctx context.Context, id string, es ExecSpec) (int, error) {
	info, err := r.Info(ctx, id)
	if err != nil {
		return -1, err
	}
	if info.Status != StatusRunning {
		// runc would exec into a container created but not started; docker refuses.
		return -1, fmt.Errorf("exec in container %s: it is %s, not running", id, info.Status)
	}
	if len(es.Args) == 0 {
		return -1, fmt.Errorf("exec in container %s: no command", id)
	}
	dir := r.bundle(id)
	var spec specs.Spec
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return -1, fmt.Errorf("exec in container %s: %w", id, err)
	}
	if err := json.Unmarshal(b, &spec); err != nil {
		return -1, fmt.Errorf("exec in container %s: config.json: %w", id, err)
	}
	p := *spec.Process
	p.Args = es.Args
	p.Env = append(append([]string{}, p.Env...), es.Env...)
	p.Terminal = es.Terminal
	p.ConsoleSize = nil
	if es.Cwd != "" {
		p.Cwd = es.Cwd
	}
	if es.User != "" {
		u, err := resolveUser(spec.Root.Path, es.User)
		if err != nil {
			return -1, fmt.Errorf("exec in container %s: %w", id, err)
		}
		p.User = specs.User{UID: u.uid, GID: u.gid, AdditionalGids: u.groups}
	}
	name := "exec-" + strconv.FormatUint(execSeq.Add(1), 10) + "-" + strconv.Itoa(os.Getpid())
	procFile := filepath.Join(dir, name+".json")
	logFile := filepath.Join(dir, name+".log")
	if err := writeJSONFile(procFile, p); err != nil {
		return -1, fmt.Errorf("exec in container %s: %w", id, err)
	}
	defer os.Remove(procFile)
	defer os.Remove(logFile)
	cmd := exec.CommandContext(ctx, r.runtime, "--root", r.runcRoot, "--log", logFile, "--log-format", "json",
		"exec", "--process", procFile, id)
	cmd.WaitDelay = 2 * time.Second
	if es.Terminal {
		err = runWithPty(cmd, es)
	} else {
		err = runWithPipes(cmd, es)
	}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &exitErr) && exitErr.Exited():
		if msg := runcError(logFile, errNoRuncError); msg != errNoRuncError.Error() {
			return -1, fmt.Errorf("exec in container %s: %s", id, msg)
		}
		return exitErr.ExitCode(), nil
	default:
		return -1, fmt.Errorf("exec in container %s: %w", id, err)
	}
}

// runWithPipes runs cmd with es's streams. Stdin is copied through a pipe that Wait
// closes when the process exits: a process that never reads its stdin must not wait for
// the caller's stdin to end (as cmd.Stdin with a plain reader would).
func runWithPipes(cmd *exec.Cmd, es ExecSpec) error {
	cmd.Stdout, cmd.Stderr = es.Stdout, es.Stderr
	if es.Stdin != nil {
		w, err := cmd.StdinPipe()
		if err != nil {
			return err
		}
		go func() {
			io.Copy(w, es.Stdin)
			w.Close()
		}()
	}
	return cmd.Run()
}

// runWithPty runs cmd (runc exec) with a pseudo-terminal as its stdio: runc proxies it to
// the terminal it makes for the process. Stdin EOF is passed on as ^D.
func runWithPty(cmd *exec.Cmd, es ExecSpec) error {
	master, slave, err := openPty()
	if err != nil {
		return err
	}
	defer master.Close()
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		slave.Close()
		return err
	}
	slave.Close()
	out := make(chan struct{})
	go func() {
		defer close(out)
		if es.Stdout != nil {
			io.Copy(es.Stdout, master) // ends with EIO once every slave fd is closed
		} else {
			io.Copy(io.Discard, master)
		}
	}()
	if es.Stdin != nil {
		go func() {
			io.Copy(master, es.Stdin)
			master.Write([]byte{4})
		}()
	}
	err = cmd.Wait()
	select {
	case <-out:
	case <-time.After(2 * time.Second):
	}
	return err
}

var errNoRuncError = errors.New("no runtime error")
