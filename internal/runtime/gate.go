package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// A container started by Run with a ready function is held by a gate: the OCI runtime runs
// the shim binary as the container's createRuntime hook (after the namespaces and mounts
// are made, before the process execs), and the hook waits until the gate file appears in
// the bundle. Run writes the file when ready returns: "ok", or "error: ..." to fail the
// hook, and with it the OCI runtime's run. Delete writes an error too, so a container whose
// caller died while it was held does not wait out the hook's timeout.

const (
	gateFileName = "gate"
	// gateHookArg is the shim's first argument when it runs as the gate hook.
	gateHookArg = "gate"
	// gateTimeout bounds the hold, in seconds, should nobody ever write the gate (the
	// caller was killed and never restarted): the OCI runtime kills the hook and fails.
	gateTimeout = 180
)

// gateHook is the createRuntime hook that holds a container until its gate opens.
func (r *Runtime) gateHook(dir string) specs.Hook {
	timeout := gateTimeout
	args := append(slices.Clone(r.shimCmd), gateHookArg, filepath.Join(dir, gateFileName))
	return specs.Hook{Path: r.shimCmd[0], Args: args, Timeout: &timeout}
}

// openGate lets the held container go on when cause is nil and fails its start otherwise.
func openGate(dir string, cause error) error {
	msg := "ok\n"
	if cause != nil {
		msg = "error: " + strings.ReplaceAll(cause.Error(), "\n", " ") + "\n"
	}
	return writeFileAtomic(filepath.Join(dir, gateFileName), []byte(msg), 0o600)
}

// waitGate is the body of the gate hook: it blocks until the gate file exists and returns
// nil for "ok", the error written in it otherwise, and an error if the bundle is removed;
// the OCI runtime kills it after gateTimeout. It polls, every millisecond for the first
// second and every 10 ms after: the file is usually there when the hook starts, and a wait
// is short (the rest of a CNI attach). inotify would be the obvious tool, but closing an
// inotify instance waits for an SRCU grace period, 4-8 ms measured here, on the critical
// path of every container start.
func waitGate(path string) error {
	for polls := 0; ; polls++ {
		b, err := os.ReadFile(path)
		if err == nil {
			if s := strings.TrimSpace(string(b)); s != "ok" {
				return errors.New(strings.TrimPrefix(s, "error: "))
			}
			return nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("gate: %w", err)
		}
		if _, err := os.Stat(filepath.Dir(path)); err != nil { // the bundle was removed
			return fmt.Errorf("gate: %w", err)
		}
		if polls < 1000 {
			time.Sleep(time.Millisecond)
		} else {
			time.Sleep(10 * time.Millisecond)
		}
	}
}
