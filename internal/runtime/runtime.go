package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Errors callers branch on.
var (
	// ErrNotFound means no container with that id is known.
	ErrNotFound = errors.New("container not found")
	// ErrExists means a container with that id already exists.
	ErrExists = errors.New("container already exists")
	// ErrExitUnknown means the container's shim died before recording an exit status.
	ErrExitUnknown = errors.New("exit status unknown: the container's shim died")

	errDeletedWhileHeld = errors.New("the container was deleted before it started")
)

// Config configures a Runtime.
type Config struct {
	// Runtime is the OCI runtime binary (name or path); default "runc".
	Runtime string
	// StateDir holds volatile state: the runtime's --root and shim pid files
	// (e.g. /run/gantry/runtime).
	StateDir string
	// DataDir holds one directory per container: bundle, log files, exit file
	// (e.g. /var/lib/gantry/containers).
	DataDir string
	// ShimCmd starts a shim; the bundle directory is appended. Default: the
	// gantry-shim binary beside the running executable, else on PATH.
	ShimCmd []string
	// LogArchiveDir, when set, keeps the logs of deleted containers (as docker keeps
	// those of stopped ones) until PruneLogArchive removes them; Logs still reads them.
	LogArchiveDir string
	// CgroupParent is the cgroup, relative to each hierarchy's root, that containers
	// are created under (like dockerd's --cgroup-parent); DefaultCgroupParent when empty.
	CgroupParent string
}

// Runtime creates and supervises containers. Its methods are safe for concurrent use
// on different containers; the caller serializes calls for one container.
type Runtime struct {
	runtime  string // resolved binary path
	stateDir string
	dataDir  string
	runcRoot string
	shimCmd  []string
	archive  string
	cgroups  cgroupLayout
	limits   hostLimits

	mu      sync.Mutex
	seccomp map[string]*specs.LinuxSeccomp // default profile by capability set
}

// New checks that the OCI runtime binary runs and cgroup controllers are mounted, and
// returns a Runtime using cfg's directories (created if missing).
func New(cfg Config) (*Runtime, error) {
	if cfg.Runtime == "" {
		cfg.Runtime = "runc"
	}
	if cfg.StateDir == "" || cfg.DataDir == "" {
		return nil, errors.New("runtime: StateDir and DataDir are required")
	}
	bin, err := exec.LookPath(cfg.Runtime)
	if err != nil {
		return nil, fmt.Errorf("oci runtime %q not found: install it (apt-get install runc) or pass the path of an OCI runtime", cfg.Runtime)
	}
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("oci runtime %s does not run (%s --version: %v): reinstall it", bin, bin, err)
	}
	cg, err := detectCgroups()
	if err != nil {
		return nil, err
	}
	if cfg.CgroupParent == "" {
		cfg.CgroupParent = DefaultCgroupParent
	}
	if err := checkCgroupParent(cfg.CgroupParent); err != nil {
		return nil, err
	}
	cg.parent = cfg.CgroupParent
	if bytes.HasPrefix(out, []byte("crun")) && cg.hybrid() {
		return nil, fmt.Errorf("oci runtime %s: crun refuses cgroup v1 hybrid hosts like this one; use runc", bin)
	}
	if len(cfg.ShimCmd) == 0 {
		shim, err := findShim()
		if err != nil {
			return nil, err
		}
		cfg.ShimCmd = []string{shim}
	}
	// The shim is also the gate hook, which the OCI runtime wants by absolute path.
	shim, err := exec.LookPath(cfg.ShimCmd[0])
	if err == nil {
		shim, err = filepath.Abs(shim)
	}
	if err != nil {
		return nil, fmt.Errorf("shim %s: %w", cfg.ShimCmd[0], err)
	}
	cfg.ShimCmd = append([]string{shim}, cfg.ShimCmd[1:]...)
	r := &Runtime{
		runtime:  bin,
		stateDir: cfg.StateDir,
		dataDir:  cfg.DataDir,
		runcRoot: filepath.Join(cfg.StateDir, "runc"),
		shimCmd:  cfg.ShimCmd,
		archive:  cfg.LogArchiveDir,
		cgroups:  cg,
		limits:   currentLimits(),
	}
	for _, d := range []string{r.runcRoot, filepath.Join(cfg.StateDir, "shim"), cfg.DataDir} {
		if err := os.MkdirAll(d, 0o711); err != nil {
			return nil, fmt.Errorf("creating runtime directory: %w", err)
		}
	}
	return r, nil
}

// validID tells whether id is a container id: 1-128 letters, digits, '_', '.' or '-',
// starting with a letter or digit.
// The length is checked apart from the pattern: a bounded repeat such as {0,127}
// compiles into a program of over a thousand instructions, which cost every process
// (each container's shim, each CLI command) half a millisecond at start.
func validID(id string) bool { return len(id) <= 128 && idChars.MatchString(id) }

var idChars = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

func (r *Runtime) bundle(id string) string   { return filepath.Join(r.dataDir, id) }
func (r *Runtime) shimFile(id string) string { return filepath.Join(r.stateDir, "shim", id+".json") }

// LogPath is the container's current JSON log file (Docker json-file format: one
// {"log","stream","time"} object a line). Rotated files carry suffixes .1, .2, ...
func (r *Runtime) LogPath(id string) string { return filepath.Join(r.bundle(id), logFileName) }

// runc runs the OCI runtime with the given arguments and returns a wrapped error with its
// output on failure.
func (r *Runtime) runc(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, r.runtime, append([]string{"--root", r.runcRoot}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if msg == "" {
			msg = err.Error()
		}
		return fmt.Errorf("%s %s: %s", filepath.Base(r.runtime), args[0], msg)
	}
	return nil
}

// Create writes the container's bundle, starts its shim and has the OCI runtime create the
// container (its process waits for Start). On failure nothing is left behind.
func (r *Runtime) Create(ctx context.Context, spec ContainerSpec) error {
	return r.create(ctx, spec, false, nil)
}

// Run creates the container and starts its process, as Create then Start do, but with one
// OCI runtime process (`runc run --detach`) instead of two, which saves the ~8 ms of a
// second runc on every container start. When ready is not nil the process is held, after
// its namespaces and mounts are made and before it execs, until ready returns (see
// gate.go): a caller attaches the container's network in ready while the OCI runtime does
// the rest, and the process still starts with its network up. An error from ready fails Run
// with that error. On failure nothing is left behind.
func (r *Runtime) Run(ctx context.Context, spec ContainerSpec, ready func(context.Context) error) error {
	return r.create(ctx, spec, true, ready)
}

func (r *Runtime) create(ctx context.Context, spec ContainerSpec, start bool, ready func(context.Context) error) (err error) {
	if !validID(spec.ID) {
		return fmt.Errorf("invalid container id %q: use letters, digits, '_', '.', '-' (at most 128)", spec.ID)
	}
	dir := r.bundle(spec.ID)
	if err := os.Mkdir(dir, 0o700); err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("creating container %s: %w", spec.ID, ErrExists)
		}
		return fmt.Errorf("creating container %s: %w", spec.ID, err)
	}
	defer func() {
		if err != nil {
			r.cleanup(spec.ID)
		}
	}()
	m := meta{
		ID: spec.ID, Image: spec.Image, Labels: spec.Labels, StopSignal: spec.StopSignal,
		CreatedAt: time.Now().UTC(), Terminal: spec.Terminal,
		Runtime: r.runtime, RuncRoot: r.runcRoot, ShimFile: r.shimFile(spec.ID),
		LogMaxBytes: spec.LogMaxBytes, LogMaxFiles: spec.LogMaxFiles,
		MemoryCgroup: r.cgroups.path("memory", spec.ID), Start: start,
	}
	if err := writeJSONFile(filepath.Join(dir, metaFileName), m); err != nil {
		return fmt.Errorf("creating container %s: %w", spec.ID, err)
	}
	// The shim starts now and waits for config.json: its exec and start-up (~2-3 ms)
	// overlap with building and writing the OCI spec.
	shim, err := r.startShim(dir)
	if err != nil {
		return fmt.Errorf("creating container %s: %w", spec.ID, err)
	}
	if err := r.writeConfig(spec, dir, ready != nil); err != nil {
		shim.abort()
		return fmt.Errorf("creating container %s: %w", spec.ID, err)
	}
	var readyErr error
	gated := make(chan struct{})
	if ready != nil {
		go func() {
			defer close(gated)
			readyErr = ready(ctx)
			openGate(dir, readyErr)
		}()
	} else {
		close(gated)
	}
	err = shim.proceed(ctx)
	<-gated // before a cleanup removes the bundle the gate is written to
	switch {
	case readyErr != nil:
		return fmt.Errorf("creating container %s: %w", spec.ID, readyErr)
	case err != nil:
		return fmt.Errorf("creating container %s: %w", spec.ID, err)
	}
	return nil
}

// writeConfig writes the bundle's config.json, with the gate hook when gated.
func (r *Runtime) writeConfig(spec ContainerSpec, dir string, gated bool) error {
	oci, err := r.ociSpec(spec, dir)
	if err != nil {
		return err
	}
	if gated {
		oci.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{r.gateHook(dir)}}
	}
	return writeJSONFile(filepath.Join(dir, "config.json"), oci)
}

// cleanup removes whatever Create left of a container.
func (r *Runtime) cleanup(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if r.shimAlive(id) {
		r.runc(ctx, "kill", id, "KILL")
		r.waitShim(ctx, id)
	}
	r.runc(ctx, "delete", "-f", id)
	os.Remove(r.shimFile(id))
	os.RemoveAll(r.bundle(id))
}

// Start starts the container's process.
func (r *Runtime) Start(ctx context.Context, id string) error {
	if _, err := r.readMeta(id); err != nil {
		return err
	}
	if err := r.runc(ctx, "start", id); err != nil {
		return fmt.Errorf("starting container %s: %w", id, err)
	}
	return nil
}

// Kill sends sig to the container's init process.
func (r *Runtime) Kill(ctx context.Context, id string, sig syscall.Signal) error {
	if _, err := r.readMeta(id); err != nil {
		return err
	}
	if err := r.runc(ctx, "kill", id, fmt.Sprint(int(sig))); err != nil {
		if _, ok := r.exitStatus(id); ok || strings.Contains(err.Error(), "not running") {
			return nil // already exited: nothing to signal
		}
		return fmt.Errorf("signalling container %s: %w", id, err)
	}
	return nil
}

// Stop sends the container's stop signal (default SIGTERM), waits up to timeout for it to
// exit, then sends SIGKILL, and returns once the container has exited.
func (r *Runtime) Stop(ctx context.Context, id string, timeout time.Duration) error {
	m, err := r.readMeta(id)
	if err != nil {
		return err
	}
	if _, ok := r.exitStatus(id); ok {
		return nil
	}
	sig, err := parseSignal(m.StopSignal)
	if err != nil {
		return fmt.Errorf("stopping container %s: %w", id, err)
	}
	if err := r.Kill(ctx, id, sig); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	_, err = r.Wait(wctx, id)
	cancel()
	if err == nil || ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if err := r.Kill(ctx, id, syscall.SIGKILL); err != nil {
		return err
	}
	_, err = r.Wait(ctx, id)
	return err
}

// Wait blocks until the container has exited and returns its exit status. It works for
// containers created by an earlier process too. ErrExitUnknown means the shim died first.
func (r *Runtime) Wait(ctx context.Context, id string) (ExitStatus, error) {
	if _, err := r.readMeta(id); err != nil {
		return ExitStatus{}, err
	}
	if st, ok := r.exitStatus(id); ok {
		return st, nil
	}
	if err := r.waitShim(ctx, id); err != nil {
		return ExitStatus{}, err
	}
	if st, ok := r.exitStatus(id); ok {
		return st, nil
	}
	return ExitStatus{}, fmt.Errorf("waiting for container %s: %w", id, ErrExitUnknown)
}

// Delete removes the container: it kills it if it still runs, then removes the runtime
// state, cgroups, bundle and exit file, and its log files unless Config.LogArchiveDir
// keeps them.
func (r *Runtime) Delete(ctx context.Context, id string) error {
	if _, err := os.Stat(r.bundle(id)); err != nil {
		return fmt.Errorf("deleting container %s: %w", id, ErrNotFound)
	}
	if r.shimAlive(id) {
		openGate(r.bundle(id), errDeletedWhileHeld) // one held by Run's gate fails at once
		r.runc(ctx, "kill", "--all", id, "KILL")
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		r.waitShim(wctx, id)
		cancel()
	}
	if err := r.runc(ctx, "delete", "-f", id); err != nil && r.runcKnows(ctx, id) {
		return fmt.Errorf("deleting container %s: %w", id, err)
	}
	os.Remove(r.shimFile(id))
	r.archiveLogs(id)
	if err := os.RemoveAll(r.bundle(id)); err != nil {
		return fmt.Errorf("deleting container %s: %w", id, err)
	}
	return nil
}

func (r *Runtime) runcKnows(ctx context.Context, id string) bool {
	_, err := os.Stat(filepath.Join(r.runcRoot, id))
	return err == nil
}

// List returns every container in DataDir, including those created by an earlier process:
// running ones (shim alive) and exited ones (exit file), with their status.
func (r *Runtime) List(ctx context.Context) ([]ContainerInfo, error) {
	entries, err := os.ReadDir(r.dataDir)
	if err != nil {
		return nil, fmt.Errorf("listing containers: %w", err)
	}
	states := r.runcStates(ctx)
	var out []ContainerInfo
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		info, err := r.info(e.Name(), states)
		if err != nil {
			continue // a directory being created or removed right now
		}
		out = append(out, info)
	}
	return out, nil
}

// Info returns one container's status.
func (r *Runtime) Info(ctx context.Context, id string) (ContainerInfo, error) {
	return r.info(id, r.runcStates(ctx))
}

func (r *Runtime) info(id string, states map[string]runcState) (ContainerInfo, error) {
	m, err := r.readMeta(id)
	if err != nil {
		return ContainerInfo{}, err
	}
	info := ContainerInfo{ID: id, Image: m.Image, Labels: m.Labels, CreatedAt: m.CreatedAt, Bundle: r.bundle(id)}
	st, known := states[id]
	info.Pid = st.Pid
	if es, ok := r.exitStatus(id); ok {
		info.Status = StatusExited
		info.Exit = &es
		return info, nil
	}
	if sp, ok := r.shimPid(id); ok {
		info.ShimPid = sp
		switch {
		case known && st.Status == "created":
			info.Status = StatusCreated
		case known && st.Status == "running":
			info.Status = StatusRunning
		case known:
			info.Status = StatusStopping // exited; the shim is recording the status
		default:
			info.Status = StatusCreating
		}
		return info, nil
	}
	info.Status = StatusUnknown
	return info, nil
}

type runcState struct {
	ID     string `json:"id"`
	Pid    int    `json:"pid"`
	Status string `json:"status"`
}

func (r *Runtime) runcStates(ctx context.Context) map[string]runcState {
	out, err := exec.CommandContext(ctx, r.runtime, "--root", r.runcRoot, "list", "--format", "json").Output()
	states := map[string]runcState{}
	if err != nil {
		return states
	}
	var list []runcState
	json.Unmarshal(out, &list)
	for _, s := range list {
		states[s.ID] = s
	}
	return states
}

// shimBinary is the name of the per-container shim program (cmd/gantry-shim).
const shimBinary = "gantry-shim"

// findShim locates gantry-shim beside the running executable (where scripts/up.sh
// installs it), else on PATH.
func findShim() (string, error) {
	if self, err := os.Executable(); err == nil {
		beside := filepath.Join(filepath.Dir(self), shimBinary)
		if _, err := os.Stat(beside); err == nil {
			return beside, nil
		}
	}
	if path, err := exec.LookPath(shimBinary); err == nil {
		return path, nil
	}
	return "", fmt.Errorf("%s not found beside the gantry binary or on PATH; build it with go build ./cmd/gantry-shim (scripts/up.sh installs it)", shimBinary)
}
