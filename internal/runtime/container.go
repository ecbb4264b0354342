package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ContainerSpec describes a container to create.
type ContainerSpec struct {
	ID     string
	Image  string // informational: named in errors and returned by List
	Rootfs string // prepared root filesystem directory (e.g. an overlay's merged dir)
	Args   []string
	Env    []string // KEY=value; HOME is added from /etc/passwd when missing, PATH when missing
	Cwd    string   // default "/"
	// User is "", "name", "uid", "uid:gid", "name:group" or "uid:group", resolved against
	// Rootfs/etc/passwd and Rootfs/etc/group. "" is root.
	User     string
	Hostname string
	// NetNS is the network namespace: "" or NetNSHost shares the host's network,
	// NetNSNone creates a new namespace with only loopback, any other value is the path
	// of a namespace to join (e.g. /var/run/netns/x).
	NetNS      string
	Hosts      []byte // contents of /etc/hosts; a localhost file when nil
	ResolvConf []byte // contents of /etc/resolv.conf; the host's when nil
	Mounts     []Mount
	Resources  Resources
	Ulimits    []Ulimit
	CapAdd     []string // "NET_ADMIN" or "CAP_NET_ADMIN"; "ALL"
	CapDrop    []string
	// Privileged gives all capabilities, no seccomp, no masked paths, writable /sys and
	// access to all devices in the device cgroup.
	Privileged      bool
	ReadonlyRootfs  bool
	NoNewPrivileges bool
	StopSignal      string // "SIGTERM" (default), "TERM", "15"
	Terminal        bool   // give the process a pseudo-terminal; output logged as stdout
	Labels          map[string]string
	LogMaxBytes     int64 // rotate the log file at this size; 0 = never
	LogMaxFiles     int   // files kept including the current one; default 1 when rotating
}

// Network namespace choices besides a path.
const (
	NetNSHost = "host"
	NetNSNone = "none"
)

// Mount is a bind or tmpfs mount. Named volumes are binds of directories the caller owns.
type Mount struct {
	Type     string // "bind" (default) or "tmpfs"
	Source   string // host path for binds
	Target   string // path in the container
	ReadOnly bool
	Size     int64 // tmpfs size in bytes; 0 = kernel default
}

// Resources are cgroup limits. Zero means unset.
type Resources struct {
	MemoryLimit       int64  // hard limit in bytes (at least MinMemory)
	MemoryReservation int64  // soft limit in bytes
	CPUShares         uint64 // relative weight; ECS CPU units map 1:1, at least 2
	CPUQuota          int64  // microseconds per CPUPeriod
	CPUPeriod         uint64 // microseconds; default 100000 when CPUQuota is set
	PidsLimit         int64
	ShmSize           int64 // /dev/shm size in bytes; default 64 MiB
}

// MinMemory is the smallest memory limit accepted (Docker's minimum): below it the OCI
// runtime's own init is killed before the container's process starts.
const MinMemory = 6 << 20

// Ulimit is a resource limit, named as in docker run --ulimit (nofile, nproc, core, ...).
type Ulimit struct {
	Name string
	Soft uint64
	Hard uint64
}

// ExitStatus is how a container's process ended.
type ExitStatus struct {
	Code      int       `json:"code"`             // exit code; 128+signal when killed by a signal
	Signal    string    `json:"signal,omitempty"` // e.g. "SIGKILL" when killed by a signal
	OOMKilled bool      `json:"oomKilled"`        // the kernel's OOM killer ran in its memory cgroup
	ExitedAt  time.Time `json:"exitedAt"`
}

// Status of a container as List reports it.
type Status string

// Container statuses.
const (
	StatusCreating Status = "creating" // shim alive, OCI runtime not done creating
	StatusCreated  Status = "created"  // created, process not started
	StatusRunning  Status = "running"
	StatusStopping Status = "stopping" // process gone, shim recording the exit status
	StatusExited   Status = "exited"   // exit status recorded
	StatusUnknown  Status = "unknown"  // shim gone without an exit status (killed, or reboot)
)

// ContainerInfo is one container as List reports it.
type ContainerInfo struct {
	ID        string
	Image     string
	Labels    map[string]string
	Status    Status
	Pid       int // init process, when the OCI runtime knows it
	ShimPid   int
	CreatedAt time.Time
	Exit      *ExitStatus // set when Status is exited
	Bundle    string
}

// meta is what the runtime and the shim record about a container in its bundle.
type meta struct {
	ID           string            `json:"id"`
	Image        string            `json:"image,omitempty"`
	Labels       map[string]string `json:"labels,omitempty"`
	StopSignal   string            `json:"stopSignal,omitempty"`
	CreatedAt    time.Time         `json:"createdAt"`
	Terminal     bool              `json:"terminal,omitempty"`
	Runtime      string            `json:"runtime"`
	RuncRoot     string            `json:"runcRoot"`
	ShimFile     string            `json:"shimFile"`
	LogMaxBytes  int64             `json:"logMaxBytes,omitempty"`
	LogMaxFiles  int               `json:"logMaxFiles,omitempty"`
	MemoryCgroup string            `json:"memoryCgroup,omitempty"`
	Start        bool              `json:"start,omitempty"` // run, not only create (Run)
}

const (
	metaFileName = "meta.json"
	exitFileName = "exit.json"
	logFileName  = "container.log"
	pidFileName  = "init.pid"
)

func (r *Runtime) readMeta(id string) (meta, error) {
	var m meta
	if !validID(id) {
		return m, fmt.Errorf("container %q: %w", id, ErrNotFound)
	}
	b, err := os.ReadFile(filepath.Join(r.bundle(id), metaFileName))
	if err != nil {
		return m, fmt.Errorf("container %s: %w", id, ErrNotFound)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("container %s: corrupt %s: %w", id, metaFileName, err)
	}
	return m, nil
}

func (r *Runtime) exitStatus(id string) (ExitStatus, bool) {
	var st ExitStatus
	b, err := os.ReadFile(filepath.Join(r.bundle(id), exitFileName))
	if err != nil || json.Unmarshal(b, &st) != nil {
		return st, false
	}
	return st, true
}

// shimRecord is the shim's pid file: the start time guards against pid reuse.
type shimRecord struct {
	Pid       int    `json:"pid"`
	StartTime uint64 `json:"startTime"`
}

// shimPid returns the pid of the container's shim if it is still alive.
func (r *Runtime) shimPid(id string) (int, bool) {
	var rec shimRecord
	b, err := os.ReadFile(r.shimFile(id))
	if err != nil || json.Unmarshal(b, &rec) != nil || rec.Pid <= 0 {
		return 0, false
	}
	st, state, err := procStart(rec.Pid)
	if err != nil || st != rec.StartTime || state == 'Z' || state == 'X' {
		return 0, false
	}
	return rec.Pid, true
}

func (r *Runtime) shimAlive(id string) bool { _, ok := r.shimPid(id); return ok }

// waitShim blocks until the container's shim has exited (or ctx is done). It works for
// shims that are not our children, through a pidfd.
func (r *Runtime) waitShim(ctx context.Context, id string) error {
	pid, ok := r.shimPid(id)
	if !ok {
		return nil
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return nil // gone already
	}
	defer unix.Close(fd)
	// The pid could have been reused between shimPid and PidfdOpen: check again.
	if _, ok := r.shimPid(id); !ok {
		return nil
	}
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := unix.Poll(fds, 50)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("waiting for shim of %s: %w", id, err)
		}
		if n > 0 {
			return nil
		}
	}
}

// procStart returns a process's start time (clock ticks since boot) and state letter.
func procStart(pid int) (uint64, byte, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, errors.New("bad /proc stat")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return 0, 0, errors.New("bad /proc stat")
	}
	st, err := strconv.ParseUint(f[19], 10, 64)
	return st, f[0][0], err
}

// writeJSONFile writes v atomically (temp file, rename) so that a reader never sees half
// a file. It does not fsync: these files describe processes that a machine crash ends
// anyway, and an fsync per file would double the time to start a container.
func writeJSONFile(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return writeFileAtomic(path, b, 0o600)
}

func writeFileAtomic(path string, b []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, mode)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

func readAllLimit(r io.Reader, n int64) ([]byte, error) {
	return io.ReadAll(io.LimitReader(r, n))
}

// parseSignal accepts "SIGTERM", "TERM", "term" or "15"; "" is SIGTERM.
func parseSignal(s string) (syscall.Signal, error) {
	if s == "" {
		return syscall.SIGTERM, nil
	}
	if n, err := strconv.Atoi(s); err == nil && n > 0 && n < 65 {
		return syscall.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("unknown stop signal %q", s)
}
