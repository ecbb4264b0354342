package runtime

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ShimMain is the body of cmd/gantry-shim, given its arguments: BUNDLE for the
// per-container shim (RunShim), or "gate" FILE for the hook that holds a container started
// by Run until its gate opens (see gate.go).
func ShimMain(args []string) error {
	switch {
	case len(args) == 1:
		return RunShim(args[0])
	case len(args) == 2 && args[0] == gateHookArg:
		return waitGate(args[1])
	}
	return errors.New("usage: gantry-shim BUNDLE | gantry-shim gate FILE (started by Gantry's node runtime, not by hand)")
}

// RunShim is the body of `gantry-shim BUNDLE`: the per-container process that Create and
// Run start detached. It has the OCI runtime create (or run) the container with stdio it
// owns, logs the output, reaps the container's init (as child subreaper), writes the exit
// file and returns. Its creator passes a status pipe as fd 3 and reads "ok" or "error: ..."
// from it, and a go-ahead pipe as fd 4 (see shimProcess): the shim starts before the
// bundle's config.json is written and waits for it. It takes no context on purpose:
// nothing but the container's exit may end it.
func RunShim(bundle string) error {
	status, goAhead := os.NewFile(3, "status"), os.NewFile(4, "go-ahead")
	err := runShim(bundle, status, goAhead)
	if err != nil && status != nil {
		fmt.Fprintf(status, "error: %v\n", err)
		status.Close()
	}
	return err
}

func runShim(bundle string, status, goAhead *os.File) error {
	// Handle (rather than ignore) these so the dispositions are not inherited by runc
	// and the container: the shim must survive its caller's session ending.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM, syscall.SIGPIPE)
	b, err := os.ReadFile(filepath.Join(bundle, metaFileName))
	if err != nil {
		return fmt.Errorf("shim: %w", err)
	}
	var m meta
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("shim: %s: %w", metaFileName, err)
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("shim: becoming child subreaper: %w", err)
	}
	if status != nil {
		unix.CloseOnExec(int(status.Fd())) // the OCI runtime and the container must not hold it
	}
	if goAhead != nil && !awaitGoAhead(goAhead) {
		return errShimAborted
	}
	runcLog := filepath.Join(bundle, "runc.log")
	op, opArgs := "create", []string{"create"}
	if m.Start {
		op, opArgs = "run", []string{"run", "--detach"}
	}
	args := append([]string{"--root", m.RuncRoot, "--log", runcLog, "--log-format", "json"}, opArgs...)
	args = append(args, "--bundle", bundle, "--pid-file", filepath.Join(bundle, pidFileName))
	cmd := exec.Command(m.Runtime, args...)
	var logs *logWriter // opened while the OCI runtime works; used once it is done
	var copiers sync.WaitGroup
	var startCopy func()
	if m.Terminal {
		sock := strings.TrimSuffix(m.ShimFile, ".json") + ".sock"
		os.Remove(sock)
		l, err := listenConsole(sock)
		if err != nil {
			return fmt.Errorf("shim: console socket: %w", err)
		}
		defer os.Remove(sock)
		defer l.Close()
		cmd.Args = append(cmd.Args, "--console-socket", sock)
		consoleC := make(chan *os.File, 1)
		go func() {
			f, _ := l.receive()
			consoleC <- f
		}()
		startCopy = func() {
			select {
			case console := <-consoleC:
				if console != nil {
					copiers.Add(1)
					go func() { defer copiers.Done(); logs.copyLines("stdout", console); console.Close() }()
				}
			case <-time.After(5 * time.Second):
			}
		}
	} else {
		outR, outW, err := os.Pipe()
		if err != nil {
			return err
		}
		errR, errW, err := os.Pipe()
		if err != nil {
			return err
		}
		cmd.Stdout, cmd.Stderr = outW, errW
		startCopy = func() {
			outW.Close()
			errW.Close()
			copiers.Add(2)
			go func() { defer copiers.Done(); logs.copyLines("stdout", outR); outR.Close() }()
			go func() { defer copiers.Done(); logs.copyLines("stderr", errR); errR.Close() }()
		}
	}
	cmd.Args = append(cmd.Args, m.ID)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("shim: starting %s: %w", m.Runtime, err)
	}
	// The OCI runtime takes tens of milliseconds; record this shim and open the log
	// meanwhile rather than before it (both are needed only once it is done).
	logs, err = recordShim(m, bundle)
	if err != nil {
		cmd.Wait() // the caller's cleanup deletes whatever the OCI runtime made
		return err
	}
	defer logs.close()
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("%s %s: %s", filepath.Base(m.Runtime), op, runcError(runcLog, err))
	}
	pid, err := readPidFile(filepath.Join(bundle, pidFileName))
	if err != nil {
		return fmt.Errorf("shim: %w", err)
	}
	startCopy()
	if status != nil {
		io.WriteString(status, "ok\n")
		status.Close()
	}
	st := reap(pid)
	// The init's death killed the rest of its pid namespace: the pipes drain now. A
	// process outside it holding them (none expected) must not block the exit status.
	done := make(chan struct{})
	go func() { copiers.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
	}
	st.OOMKilled = oomKilled(m.MemoryCgroup)
	if err := writeJSONFile(filepath.Join(bundle, exitFileName), st); err != nil {
		return fmt.Errorf("shim: writing exit status: %w", err)
	}
	return nil
}

// recordShim writes the shim file that tells the runtime this shim's pid (and start time,
// against pid reuse), and opens the container's log.
func recordShim(m meta, bundle string) (*logWriter, error) {
	start, _, err := procStart(os.Getpid())
	if err != nil {
		return nil, fmt.Errorf("shim: %w", err)
	}
	if err := writeJSONFile(m.ShimFile, shimRecord{Pid: os.Getpid(), StartTime: start}); err != nil {
		return nil, fmt.Errorf("shim: writing pid file: %w", err)
	}
	return openLogWriter(filepath.Join(bundle, logFileName), m.LogMaxBytes, m.LogMaxFiles)
}

// reap waits for the container's init (our child since we are its subreaper), reaping
// any other orphan meanwhile, and returns its exit status.
func reap(pid int) ExitStatus {
	for {
		var ws unix.WaitStatus
		got, err := unix.Wait4(-1, &ws, 0, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil { // ECHILD: not ours after all; watch it instead
			waitForeign(pid)
			return ExitStatus{Code: 255, ExitedAt: time.Now().UTC()}
		}
		if got != pid {
			continue
		}
		st := ExitStatus{Code: ws.ExitStatus(), ExitedAt: time.Now().UTC()}
		if ws.Signaled() {
			st.Code = 128 + int(ws.Signal())
			st.Signal = unix.SignalName(ws.Signal())
		}
		return st
	}
}

func waitForeign(pid int) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return
	}
	defer unix.Close(fd)
	unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, -1)
}

func readPidFile(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("reading init pid: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("bad init pid file %s", path)
	}
	return pid, nil
}

// runcError returns the last error runc logged to its JSON log, or err.
func runcError(logPath string, err error) string {
	f, ferr := os.Open(logPath)
	if ferr != nil {
		return err.Error()
	}
	defer f.Close()
	msg := ""
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var e struct{ Level, Msg string }
		if json.Unmarshal(sc.Bytes(), &e) == nil && (e.Level == "error" || e.Level == "fatal") {
			msg = e.Msg
		}
	}
	if msg == "" {
		return err.Error()
	}
	return msg
}
