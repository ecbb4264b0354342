package runtime

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// defaultCaps is Docker's default capability set.
var defaultCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
	"CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// allCaps lists capabilities by number (0 .. CAP_CHECKPOINT_RESTORE).
var allCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
	"CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
	"CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
	"CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
	"CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
	"CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
	"CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
	"CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
}

var maskedPaths = []string{
	"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
	"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
	"/sys/firmware", "/sys/devices/virtual/powercap",
}

var readonlyPaths = []string{
	"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
}

const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// ociSpec builds the container's OCI runtime spec and writes the files it bind-mounts
// (hosts, resolv.conf, hostname) into dir.
func (r *Runtime) ociSpec(c ContainerSpec, dir string) (*specs.Spec, error) {
	if c.Rootfs == "" {
		return nil, fmt.Errorf("no rootfs given")
	}
	if fi, err := os.Stat(c.Rootfs); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("rootfs %s is not a directory", c.Rootfs)
	}
	if len(c.Args) == 0 {
		return nil, fmt.Errorf("no command: give Args (image entrypoint and cmd)")
	}
	if _, err := parseSignal(c.StopSignal); err != nil {
		return nil, err
	}
	user, err := resolveUser(c.Rootfs, c.User)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", orUnnamed(c.Image), err)
	}
	caps, err := capabilities(c)
	if err != nil {
		return nil, err
	}
	rlimits, err := r.limits.rlimits(c.Ulimits)
	if err != nil {
		return nil, err
	}
	res, err := r.resources(c)
	if err != nil {
		return nil, err
	}
	env := c.Env
	if !hasEnv(env, "PATH") {
		env = append([]string{defaultPath}, env...)
	}
	if !hasEnv(env, "HOME") {
		env = append(env, "HOME="+user.home)
	}
	if c.Terminal && !hasEnv(env, "TERM") {
		env = append(env, "TERM=xterm")
	}
	cwd := c.Cwd
	if cwd == "" {
		cwd = "/"
	}
	s := &specs.Spec{
		Version:  specs.Version,
		Hostname: c.Hostname,
		Root:     &specs.Root{Path: c.Rootfs, Readonly: c.ReadonlyRootfs},
		Process: &specs.Process{
			Terminal:        c.Terminal,
			User:            specs.User{UID: user.uid, GID: user.gid, AdditionalGids: user.groups},
			Args:            c.Args,
			Env:             env,
			Cwd:             cwd,
			Capabilities:    &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps},
			Rlimits:         rlimits,
			NoNewPrivileges: c.NoNewPrivileges,
		},
		Linux: &specs.Linux{
			CgroupsPath: "/" + r.cgroups.parent + "/" + c.ID,
			Resources:   res,
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace}, {Type: specs.IPCNamespace},
				{Type: specs.UTSNamespace}, {Type: specs.MountNamespace},
			},
		},
	}
	if c.Terminal {
		// The console is the container's stdin; without one stdin is /dev/null anyway.
		s.Process.ConsoleSize = &specs.Box{Height: 24, Width: 80}
	}
	switch c.NetNS {
	case "", NetNSHost:
	case NetNSNone:
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.NetworkNamespace})
	default:
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: c.NetNS})
	}
	mounts, err := containerMounts(c, dir)
	if err != nil {
		return nil, err
	}
	s.Mounts = mounts
	if c.Privileged {
		s.Linux.Resources.Devices = []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
		return s, nil
	}
	s.Linux.MaskedPaths = maskedPaths
	s.Linux.ReadonlyPaths = readonlyPaths
	s.Linux.Seccomp, err = r.seccompProfile(s)
	if err != nil {
		return nil, fmt.Errorf("building seccomp profile: %w", err)
	}
	return s, nil
}

// seccompProfile returns Docker's default profile for the spec's capabilities (the
// profile allows some syscalls only with certain capabilities); it is cached because
// building it is a good part of the time to create a container.
func (r *Runtime) seccompProfile(s *specs.Spec) (*specs.LinuxSeccomp, error) {
	key := strings.Join(s.Process.Capabilities.Bounding, ",")
	r.mu.Lock()
	defer r.mu.Unlock()
	if p, ok := r.seccomp[key]; ok {
		return p, nil
	}
	p, err := seccomp.GetDefaultProfile(s)
	if err != nil {
		return nil, err
	}
	if r.seccomp == nil {
		r.seccomp = map[string]*specs.LinuxSeccomp{}
	}
	r.seccomp[key] = p
	return p, nil
}

func orUnnamed(image string) string {
	if image == "" {
		return "(unnamed)"
	}
	return image
}

func hasEnv(env []string, key string) bool {
	return slices.ContainsFunc(env, func(e string) bool { return strings.HasPrefix(e, key+"=") })
}

// capabilities applies CapAdd and CapDrop (in that order, "ALL" allowed) to Docker's
// default set.
func capabilities(c ContainerSpec) ([]string, error) {
	host := hostCaps()
	if c.Privileged {
		return host, nil
	}
	norm := func(names []string) ([]string, bool, error) {
		var out []string
		all := false
		for _, n := range names {
			n = strings.ToUpper(strings.TrimSpace(n))
			if n == "ALL" {
				all = true
				continue
			}
			if !strings.HasPrefix(n, "CAP_") {
				n = "CAP_" + n
			}
			if !slices.Contains(allCaps, n) {
				return nil, false, fmt.Errorf("unknown capability %q", n)
			}
			out = append(out, n)
		}
		return out, all, nil
	}
	add, addAll, err := norm(c.CapAdd)
	if err != nil {
		return nil, err
	}
	drop, dropAll, err := norm(c.CapDrop)
	if err != nil {
		return nil, err
	}
	caps := slices.Clone(defaultCaps)
	if addAll {
		caps = slices.Clone(host)
	}
	if dropAll {
		caps = nil
	}
	for _, a := range add {
		if !slices.Contains(host, a) {
			return nil, fmt.Errorf("capability %s cannot be added: this host's bounding set lacks it", a)
		}
		if !slices.Contains(caps, a) {
			caps = append(caps, a)
		}
	}
	caps = slices.DeleteFunc(caps, func(c string) bool { return slices.Contains(drop, c) })
	if caps == nil {
		caps = []string{}
	}
	return caps, nil
}

// hostCaps lists the capabilities in this process's bounding set: a container can get no
// others (this VM, for one, lacks CAP_SYS_RESOURCE), and the OCI runtime fails obscurely
// when asked for one.
func hostCaps() []string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return slices.Clone(allCaps)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapBnd:"); ok {
			mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				break
			}
			var out []string
			for i, name := range allCaps {
				if mask&(1<<i) != 0 {
					out = append(out, name)
				}
			}
			return out
		}
	}
	return slices.Clone(allCaps)
}

func (r *Runtime) resources(c ContainerSpec) (*specs.LinuxResources, error) {
	in := c.Resources
	res := &specs.LinuxResources{
		Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
	}
	if in.MemoryLimit < 0 || in.MemoryReservation < 0 || in.CPUQuota < 0 || in.PidsLimit < 0 || in.ShmSize < 0 {
		return nil, fmt.Errorf("negative resource limit")
	}
	if in.MemoryLimit > 0 && in.MemoryLimit < MinMemory {
		return nil, fmt.Errorf("memory limit %d bytes is below the minimum of %d bytes (6 MiB)", in.MemoryLimit, MinMemory)
	}
	if in.MemoryLimit > 0 && in.MemoryReservation > in.MemoryLimit {
		return nil, fmt.Errorf("memory reservation %d bytes is above the memory limit %d bytes", in.MemoryReservation, in.MemoryLimit)
	}
	if in.MemoryLimit > 0 || in.MemoryReservation > 0 {
		res.Memory = &specs.LinuxMemory{}
		if in.MemoryLimit > 0 {
			res.Memory.Limit = &in.MemoryLimit
			if r.cgroups.swapAccounting {
				// No swap beyond the limit, as in ECS without maxSwap.
				res.Memory.Swap = &in.MemoryLimit
			}
		}
		if in.MemoryReservation > 0 {
			res.Memory.Reservation = &in.MemoryReservation
		}
	}
	if in.CPUShares > 0 || in.CPUQuota > 0 {
		res.CPU = &specs.LinuxCPU{}
		if in.CPUShares > 0 {
			shares := max(in.CPUShares, 2)
			res.CPU.Shares = &shares
		}
		if in.CPUQuota > 0 {
			period := in.CPUPeriod
			if period == 0 {
				period = 100000
			}
			if in.CPUQuota < 1000 {
				return nil, fmt.Errorf("cpu quota %dµs is below the kernel's minimum of 1000µs", in.CPUQuota)
			}
			res.CPU.Quota = &in.CPUQuota
			res.CPU.Period = &period
		}
	}
	if in.PidsLimit > 0 {
		res.Pids = &specs.LinuxPids{Limit: &in.PidsLimit}
	}
	return res, nil
}

// containerMounts returns the standard mounts, the bundle's /etc files and the caller's.
func containerMounts(c ContainerSpec, dir string) ([]specs.Mount, error) {
	shm := c.Resources.ShmSize
	if shm == 0 {
		shm = 64 << 20
	}
	sysOpts := []string{"nosuid", "noexec", "nodev", "ro"}
	if c.Privileged {
		sysOpts = sysOpts[:3]
	}
	ms := []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", fmt.Sprintf("size=%d", shm)}},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: sysOpts},
		{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
	}
	hosts := c.Hosts
	if hosts == nil {
		hosts = []byte("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
		if c.Hostname != "" {
			hosts = append(hosts, "127.0.1.1\t"+c.Hostname+"\n"...)
		}
	}
	resolv := c.ResolvConf
	if resolv == nil {
		resolv, _ = os.ReadFile("/etc/resolv.conf")
	}
	files := []struct {
		name string
		data []byte
	}{{"hosts", hosts}, {"resolv.conf", resolv}, {"hostname", []byte(c.Hostname + "\n")}}
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		if err := os.WriteFile(p, f.data, 0o644); err != nil {
			return nil, err
		}
		opts := []string{"rbind", "rprivate"}
		if c.ReadonlyRootfs {
			opts = append(opts, "ro")
		}
		ms = append(ms, specs.Mount{Destination: "/etc/" + f.name, Type: "bind", Source: p, Options: opts})
	}
	for _, m := range c.Mounts {
		if !filepath.IsAbs(m.Target) {
			return nil, fmt.Errorf("mount target %q is not an absolute path", m.Target)
		}
		switch m.Type {
		case "", "bind":
			if _, err := os.Stat(m.Source); err != nil {
				return nil, fmt.Errorf("bind mount source %s: %w", m.Source, err)
			}
			opts := []string{"rbind", "rprivate"}
			if m.ReadOnly {
				opts = append(opts, "ro")
			}
			ms = append(ms, specs.Mount{Destination: m.Target, Type: "bind", Source: m.Source, Options: opts})
		case "tmpfs":
			opts := []string{"nosuid", "nodev", "mode=1777"}
			if m.Size > 0 {
				opts = append(opts, fmt.Sprintf("size=%d", m.Size))
			}
			if m.ReadOnly {
				opts = append(opts, "ro")
			}
			ms = append(ms, specs.Mount{Destination: m.Target, Type: "tmpfs", Source: "tmpfs", Options: opts})
		default:
			return nil, fmt.Errorf("mount %s: unsupported type %q (bind or tmpfs)", m.Target, m.Type)
		}
	}
	return ms, nil
}
