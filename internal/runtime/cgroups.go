package runtime

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// cgroupLayout says where the cgroup hierarchies are mounted.
type cgroupLayout struct {
	v1             map[string]string // controller -> mount point
	unified        string            // cgroup2 mount point, "" when none
	swapAccounting bool
	parent         string // containers' cgroups are parent/<id> in each hierarchy
}

// hybrid reports whether v1 controllers and a v2 mount coexist.
func (l cgroupLayout) hybrid() bool { return len(l.v1) > 0 && l.unified != "" }

// path is the container's cgroup directory for a v1 controller, or in the v2 tree when
// the host has no v1 controllers.
func (l cgroupLayout) path(controller, id string) string {
	if mp, ok := l.v1[controller]; ok {
		return filepath.Join(mp, l.parent, id)
	}
	if len(l.v1) == 0 && l.unified != "" {
		return filepath.Join(l.unified, l.parent, id)
	}
	return ""
}

// DefaultCgroupParent is the cgroup containers are created under unless
// Config.CgroupParent says otherwise.
const DefaultCgroupParent = "gantry"

// checkCgroupParent accepts a relative cgroup path of letters, digits, '_', '.', '-'.
func checkCgroupParent(p string) error {
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." || strings.Trim(seg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != "" {
			return fmt.Errorf("cgroup parent %q: want a relative path of letters, digits, '_', '.' and '-' (e.g. %s)", p, DefaultCgroupParent)
		}
	}
	return nil
}

// RemoveCgroupParent removes the cgroup parent (a Config.CgroupParent) from every
// hierarchy where no container is left in it: for taking a node apart, as tests do. It
// must not race a Runtime creating containers under that parent.
func RemoveCgroupParent(parent string) error {
	if err := checkCgroupParent(parent); err != nil {
		return err
	}
	mounts, err := cgroupMounts()
	if err != nil {
		return err
	}
	var errs []error
	for _, m := range mounts {
		// The deepest directory first, so that a parent like a/b goes entirely.
		for p := parent; p != "."; p = filepath.Dir(p) {
			err := os.Remove(filepath.Join(m.point, p))
			if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.EBUSY) || errors.Is(err, syscall.ENOTEMPTY) {
				break
			}
			if err != nil {
				errs = append(errs, err)
				break
			}
		}
	}
	return errors.Join(errs...)
}

// cgroupMount is one mounted cgroup hierarchy.
type cgroupMount struct {
	point   string
	version int      // 1 or 2
	options []string // a v1 hierarchy's super options: its controllers, name=...
}

// cgroupMounts lists the mounted cgroup hierarchies, v1 (named ones like name=systemd
// included) and v2.
func cgroupMounts() ([]cgroupMount, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("reading mounts: %w", err)
	}
	defer f.Close()
	var out []cgroupMount
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// ... mountpoint ... - fstype source superopts
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		pf, qf := strings.Fields(pre), strings.Fields(post)
		if len(pf) < 5 || len(qf) < 3 {
			continue
		}
		switch qf[0] {
		case "cgroup2":
			out = append(out, cgroupMount{point: pf[4], version: 2})
		case "cgroup":
			out = append(out, cgroupMount{point: pf[4], version: 1, options: strings.Split(qf[2], ",")})
		}
	}
	return out, sc.Err()
}

func detectCgroups() (cgroupLayout, error) {
	l := cgroupLayout{v1: map[string]string{}}
	mounts, err := cgroupMounts()
	if err != nil {
		return l, err
	}
	for _, m := range mounts {
		if m.version == 2 {
			if l.unified == "" {
				l.unified = m.point
			}
			continue
		}
		for _, opt := range m.options {
			switch opt {
			case "cpu", "cpuacct", "memory", "pids", "blkio", "devices", "freezer", "cpuset", "hugetlb", "net_cls", "net_prio", "perf_event":
				if _, seen := l.v1[opt]; !seen {
					l.v1[opt] = m.point
				}
			}
		}
	}
	if len(l.v1) == 0 && l.unified == "" {
		return l, errors.New("no cgroup filesystem mounted: mount cgroup2 on /sys/fs/cgroup (or the v1 controllers)")
	}
	if len(l.v1) > 0 {
		for _, c := range []string{"memory", "cpu", "pids", "devices"} {
			if _, ok := l.v1[c]; !ok && l.unified == "" {
				return l, fmt.Errorf("cgroup v1 controller %q is not mounted: mount it under /sys/fs/cgroup/%s", c, c)
			}
		}
		if mp, ok := l.v1["memory"]; ok {
			_, err := os.Stat(filepath.Join(mp, "memory.memsw.limit_in_bytes"))
			l.swapAccounting = err == nil
		}
	}
	return l, nil
}

// Stats is a snapshot of a container's resource usage.
type Stats struct {
	Time        time.Time
	CPUUsageNs  uint64 // total CPU time consumed
	MemoryUsage uint64 // bytes, page cache excluded when the kernel reports it
	MemoryLimit uint64 // bytes; the host's memory when unlimited
	Pids        uint64
	NetRxBytes  uint64 // all interfaces but lo of the container's network namespace
	NetTxBytes  uint64
}

// Stats reads the container's cgroup counters (v1 or v2) and network counters.
func (r *Runtime) Stats(ctx context.Context, id string) (Stats, error) {
	if _, err := r.readMeta(id); err != nil {
		return Stats{}, err
	}
	s, err := r.cgroups.stats(id)
	if err != nil {
		return s, fmt.Errorf("stats of container %s: %w", id, err)
	}
	if s.MemoryLimit == 0 || s.MemoryLimit > 1<<62 {
		if kv, err := readKV("/proc/meminfo"); err == nil {
			s.MemoryLimit = kv["MemTotal:"] * 1024
		}
	}
	if b, err := os.ReadFile(filepath.Join(r.bundle(id), pidFileName)); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			s.NetRxBytes, s.NetTxBytes = netBytes(pid)
		}
	}
	return s, nil
}

// stats reads a container's CPU, memory and pids counters from its cgroups: the v1
// controllers' files when the host has v1 controllers, else the v2 tree's. MemoryLimit is
// 0 when unlimited.
func (l cgroupLayout) stats(id string) (Stats, error) {
	s := Stats{Time: time.Now()}
	var err error
	if mp := l.path("memory", id); mp != "" && len(l.v1) > 0 {
		if s.MemoryUsage, err = readUint(filepath.Join(mp, "memory.usage_in_bytes")); err != nil {
			return s, err
		}
		s.MemoryLimit, _ = readUint(filepath.Join(mp, "memory.limit_in_bytes"))
		if kv, err := readKV(filepath.Join(mp, "memory.stat")); err == nil {
			if inactive := kv["total_inactive_file"]; inactive < s.MemoryUsage {
				s.MemoryUsage -= inactive // as docker stats does
			}
		}
		s.CPUUsageNs, _ = readUint(filepath.Join(l.path("cpuacct", id), "cpuacct.usage"))
		s.Pids, _ = readUint(filepath.Join(l.path("pids", id), "pids.current"))
	} else if p := l.path("memory", id); p != "" {
		if s.MemoryUsage, err = readUint(filepath.Join(p, "memory.current")); err != nil {
			return s, err
		}
		s.MemoryLimit, _ = readUint(filepath.Join(p, "memory.max"))
		if kv, err := readKV(filepath.Join(p, "memory.stat")); err == nil && kv["inactive_file"] < s.MemoryUsage {
			s.MemoryUsage -= kv["inactive_file"]
		}
		if kv, err := readKV(filepath.Join(p, "cpu.stat")); err == nil {
			s.CPUUsageNs = kv["usage_usec"] * 1000
		}
		s.Pids, _ = readUint(filepath.Join(p, "pids.current"))
	}
	return s, nil
}

func readUint(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	v := strings.TrimSpace(string(b))
	if v == "max" {
		return 0, nil
	}
	return strconv.ParseUint(v, 10, 64)
}

// readKV reads "key value" lines (memory.stat, cpu.stat, memory.oom_control, meminfo).
func readKV(path string) (map[string]uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	kv := map[string]uint64{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 {
			if v, err := strconv.ParseUint(f[1], 10, 64); err == nil {
				kv[f[0]] = v
			}
		}
	}
	return kv, nil
}

// netBytes sums /proc/<pid>/net/dev over every interface but lo.
func netBytes(pid int) (rx, tx uint64) {
	// A container in the host's namespace has no traffic of its own to count (docker stats
	// shows 0 for --network host too): the host's counters would be wrong, not zero.
	if sameNetNS(pid, os.Getpid()) {
		return 0, 0
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/net/dev")
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		name, rest, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(name) == "lo" {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 9 {
			continue
		}
		r, _ := strconv.ParseUint(f[0], 10, 64)
		t, _ := strconv.ParseUint(f[8], 10, 64)
		rx += r
		tx += t
	}
	return rx, tx
}

// sameNetNS tells whether two processes are in one network namespace.
func sameNetNS(a, b int) bool {
	var sa, sb unix.Stat_t
	if unix.Stat("/proc/"+strconv.Itoa(a)+"/ns/net", &sa) != nil || unix.Stat("/proc/"+strconv.Itoa(b)+"/ns/net", &sb) != nil {
		return false
	}
	return sa.Dev == sb.Dev && sa.Ino == sb.Ino
}

// oomKilled reports whether the kernel's OOM killer ran in the memory cgroup dir
// (v1 memory.oom_control "oom_kill", v2 memory.events "oom_kill").
func oomKilled(dir string) bool {
	if dir == "" {
		return false
	}
	if kv, err := readKV(filepath.Join(dir, "memory.oom_control")); err == nil {
		return kv["oom_kill"] > 0
	}
	if kv, err := readKV(filepath.Join(dir, "memory.events")); err == nil {
		return kv["oom_kill"] > 0
	}
	return false
}
