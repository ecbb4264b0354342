package runtime

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestMain lets the test binary serve as the shim (ShimCmd defaults to os.Executable()
// "shim"), and as short-lived "agents" that create a container and exit.
func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == "shim" {
		if err := ShimMain(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "shim:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if len(os.Args) > 1 && os.Args[1] == "create-and-exit" {
		os.Exit(createAndExit(os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == "run-held-and-exit" {
		os.Exit(runHeldAndExit(os.Args[2:]))
	}
	// Orphans (the shim of an agent that exited, a container whose shim was killed)
	// come to this process rather than to PID 1, which on some CI machines is no init
	// and leaves them as zombies; the tests that make them reap them.
	if os.Getenv("NOSR") == "" {
		unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
	}
	code := m.Run()
	if err := RemoveCgroupParent(testCgroupParent); err != nil {
		fmt.Fprintln(os.Stderr, "removing the tests' cgroups:", err)
	}
	os.Exit(code)
}

// testCgroupParent keeps the tests' containers apart from a real node's (and lets
// TestMain remove the parent cgroup afterwards without racing anyone).
const testCgroupParent = "gantry-test-runtime"

// reapOrphan collects an orphan that was re-parented to this process, once it exits.
func reapOrphan(pid int) {
	for i := 0; i < 500; i++ {
		var ws unix.WaitStatus
		if got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil); got == pid || err != nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// createAndExit plays an agent that starts a container and dies: args are state dir,
// data dir, rootfs, id, a host directory mounted at /ctl, then the command.
func createAndExit(args []string) int {
	r, err := New(Config{StateDir: args[0], DataDir: args[1], ShimCmd: selfShim(), CgroupParent: testCgroupParent})
	if err == nil {
		err = r.Create(context.Background(), ContainerSpec{ID: args[3], Rootfs: args[2], Args: args[5:],
			Mounts: []Mount{{Source: args[4], Target: "/ctl"}}})
	}
	if err == nil {
		err = r.Start(context.Background(), args[3])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func needRunc(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to run containers")
	}
	if _, err := exec.LookPath("runc"); err != nil {
		t.Skip("runc is not installed (apt-get install runc)")
	}
	if _, err := os.Stat("/usr/bin/busybox"); err != nil {
		t.Skip("busybox is not installed at /usr/bin/busybox (apt-get install busybox-static)")
	}
}

// busyboxRootfs builds a root filesystem with a static busybox and its applets.
func busyboxRootfs(t testing.TB) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "rootfs")
	for _, d := range []string{"bin", "etc", "tmp", "proc", "sys", "dev", "home/app", "root"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(filepath.Join(root, "tmp"), 0o1777)
	bb, err := os.ReadFile("/usr/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin/busybox"), bb, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("/usr/bin/busybox", "--list").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range strings.Fields(string(out)) {
		if name != "busybox" {
			os.Symlink("busybox", filepath.Join(root, "bin", name))
		}
	}
	files := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\napp:x:1001:1002:app:/home/app:/bin/sh\n",
		"etc/group":  "root:x:0:\napp:x:1002:\nextra:x:1003:app\n",
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(root, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

var idSeq atomic.Int64

type fixture struct {
	t        testing.TB
	r        *Runtime
	stateDir string
	dataDir  string
	rootfs   string
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	needRunc(t)
	dir := t.TempDir()
	f := &fixture{t: t, stateDir: filepath.Join(dir, "state"), dataDir: filepath.Join(dir, "data"), rootfs: busyboxRootfs(t)}
	r, err := New(Config{StateDir: f.stateDir, DataDir: f.dataDir, ShimCmd: selfShim(), CgroupParent: testCgroupParent})
	if err != nil {
		t.Fatal(err)
	}
	f.r = r
	return f
}

func (f *fixture) newID() string {
	return fmt.Sprintf("gt-%d-%d", os.Getpid(), idSeq.Add(1))
}

// cleanupContainer removes a container even when the test failed half-way.
func (f *fixture) cleanupContainer(id string) {
	f.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if pid, ok := f.r.shimPid(id); ok {
			defer syscall.Kill(pid, syscall.SIGKILL)
		}
		f.r.Delete(ctx, id)
		exec.Command("runc", "--root", f.r.runcRoot, "delete", "-f", id).Run()
	})
}

func (f *fixture) spec(args ...string) ContainerSpec {
	return ContainerSpec{ID: f.newID(), Image: "test/busybox", Rootfs: f.rootfs, Args: args}
}

func (f *fixture) create(s ContainerSpec) string {
	f.t.Helper()
	f.cleanupContainer(s.ID)
	if err := f.r.Create(context.Background(), s); err != nil {
		f.t.Fatalf("create: %v", err)
	}
	return s.ID
}

func (f *fixture) start(s ContainerSpec) string {
	f.t.Helper()
	id := f.create(s)
	if err := f.r.Start(context.Background(), id); err != nil {
		f.t.Fatalf("start: %v", err)
	}
	return id
}

// run creates, starts and waits for a container, and returns its status and log.
func (f *fixture) run(s ContainerSpec) (ExitStatus, []LogEntry) {
	f.t.Helper()
	id := f.start(s)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := f.r.Wait(ctx, id)
	if err != nil {
		f.t.Fatalf("wait: %v", err)
	}
	return st, f.logs(id)
}

func (f *fixture) logs(id string) []LogEntry {
	f.t.Helper()
	b, err := os.ReadFile(f.r.LogPath(id))
	if err != nil {
		f.t.Fatal(err)
	}
	return parseLog(f.t, b)
}

func parseLog(t testing.TB, b []byte) []LogEntry {
	var out []LogEntry
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var e LogEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("bad log line %q: %v", sc.Text(), err)
		}
		out = append(out, e)
	}
	return out
}

func text(entries []LogEntry) string {
	var sb strings.Builder
	for _, e := range entries {
		sb.WriteString(e.Log)
	}
	return sb.String()
}

// assertGone checks that nothing of a container is left: bundle, runc state, cgroup, shim
// file, and no process (its shim) naming the bundle.
func (f *fixture) assertGone(id string) {
	f.t.Helper()
	for _, p := range []string{f.r.bundle(id), filepath.Join(f.r.runcRoot, id), "/sys/fs/cgroup/memory/" + testCgroupParent + "/" + id, f.r.shimFile(id)} {
		if _, err := os.Stat(p); err == nil {
			f.t.Errorf("%s left behind", p)
		}
	}
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range cmdlines {
		b, _ := os.ReadFile(p)
		if bytes.Contains(b, []byte(f.r.bundle(id))) {
			f.t.Errorf("process %s (%q) left behind", filepath.Base(filepath.Dir(p)), bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
		}
	}
}

func TestExitCode(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	st, _ := f.run(f.spec("sh", "-c", "exit 3"))
	if st.Code != 3 || st.Signal != "" || st.OOMKilled || st.ExitedAt.IsZero() {
		t.Fatalf("status = %+v, want code 3", st)
	}
}

func TestEnvCwdUser(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	cases := []struct {
		user string
		want []string
	}{
		{"", []string{"uid=0(root) gid=0(root)", "HOME=/root"}},
		{"1000:1000", []string{"uid=1000 gid=1000", "HOME=/"}},
		{"app", []string{"uid=1001(app) gid=1002(app)", "1003(extra)", "HOME=/home/app"}},
		{"app:extra", []string{"uid=1001(app) gid=1003(extra)"}},
	}
	for _, c := range cases {
		s := f.spec("sh", "-c", "id; pwd; env")
		s.User, s.Cwd, s.Env = c.user, "/tmp", []string{"FOO=bar baz"}
		st, logs := f.run(s)
		out := text(logs)
		if st.Code != 0 {
			t.Fatalf("user %q: exit %d: %s", c.user, st.Code, out)
		}
		for _, w := range append(c.want, "/tmp\n", "FOO=bar baz\n", "PATH=/usr/local/sbin") {
			if !strings.Contains(out, w) {
				t.Errorf("user %q: output lacks %q:\n%s", c.user, w, out)
			}
		}
	}
}

func TestUnknownUserLeavesNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := f.spec("true")
	s.User = "nobody-here"
	err := f.r.Create(context.Background(), s)
	if err == nil || !strings.Contains(err.Error(), "nobody-here") || !strings.Contains(err.Error(), "test/busybox") {
		t.Fatalf("err = %v, want one naming the user and the image", err)
	}
	f.assertGone(s.ID)
}

func TestUserLookupStaysInRootfs(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "rootfs")
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(dir, "passwd"), []byte("escape:x:7:7::/:/bin/sh\n"), 0o644)
	os.Symlink("../../passwd", filepath.Join(root, "etc/passwd"))
	if _, err := resolveUser(root, "escape"); err == nil {
		t.Fatal("resolved a user from a passwd file outside the rootfs")
	}
	os.Remove(filepath.Join(root, "etc/passwd"))
	os.WriteFile(filepath.Join(root, "real"), []byte("inside:x:8:9::/:/bin/sh\n"), 0o644)
	os.Symlink("/real", filepath.Join(root, "etc/passwd"))
	u, err := resolveUser(root, "inside")
	if err != nil || u.uid != 8 || u.gid != 9 {
		t.Fatalf("absolute symlink inside the rootfs: %+v, %v", u, err)
	}
}

func TestLogsStreamsInOrder(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	_, logs := f.run(f.spec("sh", "-c", "echo one; sleep 0.05; echo two >&2; sleep 0.05; echo three; printf partial"))
	want := []LogEntry{{Log: "one\n", Stream: "stdout"}, {Log: "two\n", Stream: "stderr"}, {Log: "three\n", Stream: "stdout"}, {Log: "partial", Stream: "stdout"}}
	if len(logs) != len(want) {
		t.Fatalf("logs = %+v, want %+v", logs, want)
	}
	for i, w := range want {
		if logs[i].Log != w.Log || logs[i].Stream != w.Stream || logs[i].Time.IsZero() {
			t.Errorf("log[%d] = %+v, want %+v", i, logs[i], w)
		}
		if i > 0 && logs[i].Time.Before(logs[i-1].Time) {
			t.Errorf("log[%d] time goes backwards", i)
		}
	}
}

func TestLogRotation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := f.spec("sh", "-c", "i=0; while [ $i -lt 300 ]; do echo line-$i; i=$((i+1)); done")
	s.LogMaxBytes, s.LogMaxFiles = 2000, 3
	_, logs := f.run(s)
	base := f.r.LogPath(s.ID)
	if _, err := os.Stat(base + ".2"); err != nil {
		t.Fatalf("no second rotated file: %v", err)
	}
	if _, err := os.Stat(base + ".3"); err == nil {
		t.Fatal("kept more than LogMaxFiles files")
	}
	for _, p := range []string{base, base + ".1", base + ".2"} {
		if fi, _ := os.Stat(p); fi.Size() > 2000 {
			t.Errorf("%s is %d bytes, above LogMaxBytes", p, fi.Size())
		}
	}
	if last := logs[len(logs)-1].Log; last != "line-299\n" {
		t.Errorf("last line in current file = %q", last)
	}
}

func TestStopEscalatesToKill(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := f.start(f.spec("sh", "-c", `trap "echo got-term" TERM; echo ready; while :; do sleep 0.05; done`))
	waitLog(t, f, id, "ready")
	start := time.Now()
	if err := f.r.Stop(context.Background(), id, 700*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	st, err := f.r.Wait(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if st.Signal != "SIGKILL" || st.Code != 137 {
		t.Errorf("status = %+v, want killed by SIGKILL", st)
	}
	if took < 700*time.Millisecond || took > 5*time.Second {
		t.Errorf("stop took %v, want just over the 700ms timeout", took)
	}
	if out := text(f.logs(id)); !strings.Contains(out, "got-term") {
		t.Errorf("the stop signal was not delivered first; log: %q", out)
	}
}

func TestStopSignalHonoured(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := f.spec("sh", "-c", `trap "echo got-usr1; exit 0" USR1; echo ready; while :; do sleep 0.05; done`)
	s.StopSignal = "SIGUSR1"
	id := f.start(s)
	waitLog(t, f, id, "ready")
	if err := f.r.Stop(context.Background(), id, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if st, _ := f.r.Wait(context.Background(), id); st.Code != 0 || st.Signal != "" {
		t.Errorf("status = %+v, want a clean exit on SIGUSR1", st)
	}
}

func waitLog(t testing.TB, f *fixture, id, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(f.r.LogPath(id))
		if strings.Contains(string(b), want) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("log of %s never showed %q", id, want)
}

func TestOOMKilled(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := f.spec("sh", "-c", "x=a; while :; do x=$x$x; done")
	s.Resources.MemoryLimit = 16 << 20
	st, logs := f.run(s)
	if !st.OOMKilled || st.Signal != "SIGKILL" {
		t.Fatalf("status = %+v (log %q), want OOM-killed", st, text(logs))
	}
}

func TestCgroupLimits(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := f.spec("true")
	s.Resources = Resources{MemoryLimit: 64 << 20, MemoryReservation: 32 << 20, CPUShares: 512, CPUQuota: 50000, PidsLimit: 100}
	id := f.create(s)
	want := map[string]string{
		"memory/" + testCgroupParent + "/" + id + "/memory.limit_in_bytes":      "67108864",
		"memory/" + testCgroupParent + "/" + id + "/memory.soft_limit_in_bytes": "33554432",
		"cpu/" + testCgroupParent + "/" + id + "/cpu.shares":                    "512",
		"cpu/" + testCgroupParent + "/" + id + "/cpu.cfs_quota_us":              "50000",
		"pids/" + testCgroupParent + "/" + id + "/pids.max":                     "100",
	}
	for p, w := range want {
		b, err := os.ReadFile("/sys/fs/cgroup/" + p)
		if err != nil || strings.TrimSpace(string(b)) != w {
			t.Errorf("%s = %q (%v), want %s", p, b, err, w)
		}
	}
	s2 := f.spec("true")
	s2.Resources.CPUShares = 1 // ECS cpu 1 → the kernel's minimum of 2 shares
	id2 := f.create(s2)
	if b, _ := os.ReadFile("/sys/fs/cgroup/cpu/" + testCgroupParent + "/" + id2 + "/cpu.shares"); strings.TrimSpace(string(b)) != "2" {
		t.Errorf("cpu.shares for 1 unit = %q, want 2", b)
	}
	if err := f.r.Delete(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	f.assertGone(id)
}

func TestBadLimitsLeaveNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := f.spec("true")
	s.Resources.MemoryLimit = 4 << 20
	err := f.r.Create(context.Background(), s)
	if err == nil || !strings.Contains(err.Error(), "below the minimum") {
		t.Fatalf("memory 4 MiB: err = %v", err)
	}
	f.assertGone(s.ID)

	s = f.spec("true")
	s.Ulimits = []Ulimit{{Name: "nofile", Soft: 1024, Hard: 1 << 40}}
	err = f.r.Create(context.Background(), s)
	if err == nil || !strings.Contains(err.Error(), "nofile") || !strings.Contains(err.Error(), "maximum") {
		t.Fatalf("nofile above hard limit: err = %v", err)
	}
	f.assertGone(s.ID)

	s = f.spec("true")
	s.Args = []string{"/no/such/binary"}
	err = f.r.Create(context.Background(), s)
	if err == nil || !strings.Contains(err.Error(), "/no/such/binary") {
		t.Fatalf("missing binary: err = %v", err)
	}
	f.assertGone(s.ID)
	if pid, ok := f.r.shimPid(s.ID); ok {
		t.Errorf("shim %d still running", pid)
	}
}

func TestUlimits(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var hard syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &hard)
	s := f.spec("sh", "-c", "ulimit -n; ulimit -Hn; ulimit -u")
	s.Ulimits = []Ulimit{{Name: "nproc", Soft: 500, Hard: 600}}
	_, logs := f.run(s)
	want := fmt.Sprintf("%d\n%d\n500\n", hard.Max, hard.Max)
	if got := text(logs); got != want {
		t.Errorf("ulimits = %q, want %q", got, want)
	}
}

func TestSeccompBlocksUnshare(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	st, logs := f.run(f.spec("sh", "-c", "grep Seccomp: /proc/self/status; unshare -U true"))
	out := text(logs)
	if st.Code == 0 || !strings.Contains(out, "Operation not permitted") || !strings.Contains(out, "Seccomp:\t2") {
		t.Errorf("unshare under the default profile: code %d, log %q; want EPERM", st.Code, out)
	}
	s := f.spec("unshare", "-U", "true")
	s.Privileged = true
	if st, logs := f.run(s); st.Code != 0 {
		t.Errorf("unshare in a privileged container: code %d, log %q", st.Code, text(logs))
	}
}

func capEff(t testing.TB, out string) uint64 {
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:\t"); ok {
			n, err := strconv.ParseUint(v, 16, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no CapEff in %q", out)
	return 0
}

func TestCapabilities(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	const netRaw, netAdmin, sysAdmin = 1 << 13, 1 << 12, 1 << 21
	_, logs := f.run(f.spec("grep", "CapEff", "/proc/self/status"))
	if c := capEff(t, text(logs)); c != 0xa80425fb {
		t.Errorf("default CapEff = %x, want Docker's a80425fb", c)
	}
	s := f.spec("grep", "CapEff", "/proc/self/status")
	s.CapDrop, s.CapAdd = []string{"NET_RAW"}, []string{"CAP_NET_ADMIN"}
	_, logs = f.run(s)
	if c := capEff(t, text(logs)); c&netRaw != 0 || c&netAdmin == 0 || c&sysAdmin != 0 {
		t.Errorf("CapEff with NET_RAW dropped and NET_ADMIN added = %x", c)
	}
	s = f.spec("grep", "CapEff", "/proc/self/status")
	s.CapDrop = []string{"ALL"}
	_, logs = f.run(s)
	if c := capEff(t, text(logs)); c != 0 {
		t.Errorf("CapEff with ALL dropped = %x", c)
	}
}

// TestProcAndSysHardening checks inside containers what the spec asks for: masked paths
// (/proc/timer_list empty, /sys/firmware hidden), /proc/sys read-only, no-new-privileges
// when asked; and none of the first two when privileged.
func TestProcAndSysHardening(t *testing.T) {
	t.Parallel()
	for _, p := range []string{"/proc/timer_list", "/sys/firmware/acpi"} {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("%s is missing on this host: nothing to mask", p)
		}
	}
	f := newFixture(t)
	const probe = `grep NoNewPrivs /proc/self/status | tr -d '\t'
test "$(head -c 1 /proc/timer_list | wc -c)" = 1 && echo timer_list-visible || echo timer_list-masked
test -e /sys/firmware/acpi && echo firmware-visible || echo firmware-masked
(echo probe > /proc/sys/kernel/hostname) 2>/dev/null && echo procsys-writable || echo procsys-readonly`
	for _, c := range []struct {
		name string
		set  func(*ContainerSpec)
		want string
	}{
		{"default", func(*ContainerSpec) {}, "NoNewPrivs:0 timer_list-masked firmware-masked procsys-readonly"},
		{"no-new-privileges", func(s *ContainerSpec) { s.NoNewPrivileges = true }, "NoNewPrivs:1 timer_list-masked firmware-masked procsys-readonly"},
		{"privileged", func(s *ContainerSpec) { s.Privileged = true }, "NoNewPrivs:0 timer_list-visible firmware-visible procsys-writable"},
	} {
		s := f.spec("sh", "-c", probe)
		c.set(&s)
		st, logs := f.run(s)
		if got := strings.Join(strings.Fields(text(logs)), " "); st.Code != 0 || got != c.want {
			t.Errorf("%s: exit %d, %q; want %q", c.name, st.Code, got, c.want)
		}
	}
}

func TestReadonlyRootfsAndMounts(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	vol := t.TempDir()
	os.WriteFile(filepath.Join(vol, "in"), []byte("from-host"), 0o644)
	s := f.spec("sh", "-c", "touch /x && echo rootfs-writable; echo hi > /scratch/y && echo tmpfs-ok; cat /vol/in; echo; touch /vol/z || echo vol-ro; cat /etc/hostname; grep -c shm /proc/mounts; df -k /dev/shm | tail -1")
	s.ReadonlyRootfs, s.Hostname = true, "web-1"
	s.Resources.ShmSize = 8 << 20
	s.Mounts = []Mount{{Type: "tmpfs", Target: "/scratch", Size: 1 << 20}, {Source: vol, Target: "/vol", ReadOnly: true}}
	_, logs := f.run(s)
	out := text(logs)
	for _, w := range []string{"tmpfs-ok", "from-host", "vol-ro", "web-1", " 8192 "} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	if strings.Contains(out, "rootfs-writable") {
		t.Errorf("read-only rootfs was writable")
	}
}

func TestExec(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := f.spec("sleep", "100")
	s.Env = []string{"BASE=1"}
	id := f.start(s)
	ctx := context.Background()
	var out, errb bytes.Buffer
	code, err := f.r.Exec(ctx, id, ExecSpec{Args: []string{"cat"}, Stdin: strings.NewReader("hello\n"), Stdout: &out, Stderr: &errb})
	if err != nil || code != 0 || out.String() != "hello\n" {
		t.Errorf("exec cat: code %d, err %v, out %q, stderr %q", code, err, out.String(), errb.String())
	}
	out.Reset()
	code, err = f.r.Exec(ctx, id, ExecSpec{Args: []string{"sh", "-c", "id -u; pwd; echo $BASE$MORE; exit 5"}, User: "app", Cwd: "/tmp", Env: []string{"MORE=2"}, Stdout: &out})
	if err != nil || code != 5 || out.String() != "1001\n/tmp\n12\n" {
		t.Errorf("exec sh: code %d, err %v, out %q", code, err, out.String())
	}
	out.Reset()
	code, err = f.r.Exec(ctx, id, ExecSpec{Args: []string{"cat"}, Terminal: true, Stdin: strings.NewReader("tty-hello\n"), Stdout: &out})
	if err != nil || code != 0 || !strings.Contains(out.String(), "tty-hello") {
		t.Errorf("exec cat with a tty: code %d, err %v, out %q", code, err, out.String())
	}
	out.Reset()
	code, err = f.r.Exec(ctx, id, ExecSpec{Args: []string{"sh", "-c", "tty; exit 4"}, Terminal: true, Stdout: &out})
	if err != nil || code != 4 || !strings.Contains(out.String(), "/dev/pts/") {
		t.Errorf("exec tty: code %d, err %v, out %q", code, err, out.String())
	}
	if _, err := f.r.Exec(ctx, id, ExecSpec{Args: []string{"/nonexistent"}}); err == nil {
		t.Errorf("exec of a missing binary: no error")
	}
	// A process that ignores its stdin ends when it exits, not when the caller's stdin does.
	stdin, hold := io.Pipe()
	defer hold.Close()
	code, err = f.r.Exec(ctx, id, ExecSpec{Args: []string{"true"}, Stdin: stdin, Stdout: &out})
	if err != nil || code != 0 {
		t.Errorf("exec true with an open stdin: code %d, err %v", code, err)
	}
}

// TestTerminal runs a container with a pseudo-terminal, created then started and started
// by Run (runc's console socket works the same for both).
func TestTerminal(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, viaRun := range []bool{false, true} {
		s := f.spec("sh", "-c", "tty; echo $TERM")
		s.Terminal = true
		var st ExitStatus
		var logs []LogEntry
		if viaRun {
			f.cleanupContainer(s.ID)
			if err := f.r.Run(context.Background(), s, nil); err != nil {
				t.Fatal(err)
			}
			st, _ = f.r.Wait(context.Background(), s.ID)
			logs = f.logs(s.ID)
		} else {
			st, logs = f.run(s)
		}
		out := text(logs)
		if st.Code != 0 || !strings.Contains(out, "/dev/pts/0") || !strings.Contains(out, "xterm") {
			t.Errorf("terminal container (Run: %v): code %d, log %q", viaRun, st.Code, out)
		}
	}
}

func TestStats(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := f.spec("sh", "-c", "sleep 100 & sleep 100 & echo ready; wait")
	s.Resources.MemoryLimit = 128 << 20
	id := f.start(s)
	waitLog(t, f, id, "ready")
	st, err := f.r.Stats(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if st.MemoryUsage == 0 || st.MemoryLimit != 128<<20 || st.Pids != 3 || st.CPUUsageNs == 0 {
		t.Errorf("stats = %+v, want memory > 0, limit 128 MiB, 3 pids, cpu > 0", st)
	}
	// In the host's network namespace there is no traffic of the container's own.
	h := f.spec("sleep", "100")
	h.NetNS = NetNSHost
	hid := f.start(h)
	if st, err := f.r.Stats(context.Background(), hid); err != nil || st.NetRxBytes != 0 || st.NetTxBytes != 0 {
		t.Errorf("host-network stats %+v, %v: want no network bytes", st, err)
	}
}

func TestAdoptionAfterCallerExits(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := f.newID()
	f.cleanupContainer(id)
	ctl := t.TempDir()
	cmd := exec.Command(os.Args[0], "create-and-exit", f.stateDir, f.dataDir, f.rootfs, id, ctl,
		"sh", "-c", "echo started; while [ ! -e /ctl/go ]; do sleep 0.02; done; echo done; exit 7")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("agent that creates the container: %v: %s", err, out)
	}
	// That agent is gone; this process is a new one on the same directories.
	r2, err := New(Config{StateDir: f.stateDir, DataDir: f.dataDir, ShimCmd: selfShim(), CgroupParent: testCgroupParent})
	if err != nil {
		t.Fatal(err)
	}
	list, err := r2.List(context.Background())
	if err != nil || len(list) != 1 || list[0].ID != id || list[0].Status != StatusRunning || list[0].ShimPid == 0 {
		t.Fatalf("list = %+v, %v; want the running container", list, err)
	}
	os.WriteFile(filepath.Join(ctl, "go"), nil, 0o644)
	defer reapOrphan(list[0].ShimPid)
	st, err := r2.Wait(context.Background(), id)
	if err != nil || st.Code != 7 {
		t.Fatalf("wait = %+v, %v; want code 7", st, err)
	}
	if out := text(f.logs(id)); out != "started\ndone\n" {
		t.Errorf("logs = %q", out)
	}
	list, _ = r2.List(context.Background())
	if len(list) != 1 || list[0].Status != StatusExited || list[0].Exit.Code != 7 {
		t.Errorf("list after exit = %+v", list)
	}
	if err := r2.Delete(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	f.assertGone(id)
}

func TestShimKilled(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := f.start(f.spec("sleep", "100"))
	shim, ok := f.r.shimPid(id)
	if !ok {
		t.Fatal("no shim")
	}
	info, _ := f.r.Info(context.Background(), id)
	initPid := info.Pid
	syscall.Kill(shim, syscall.SIGKILL)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := f.r.Wait(ctx, id); !errors.Is(err, ErrExitUnknown) {
		t.Fatalf("wait after the shim died: %v, want ErrExitUnknown", err)
	}
	if info, _ := f.r.Info(ctx, id); info.Status != StatusUnknown {
		t.Errorf("status = %s, want unknown", info.Status)
	}
	if err := f.r.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	f.assertGone(id)
	reapOrphan(initPid)
	if initPid > 0 {
		if _, state, err := procStart(initPid); err == nil && state != 'Z' {
			t.Errorf("container process %d still alive after Delete", initPid)
		}
	}
}

func TestNewErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := New(Config{Runtime: "/nonexistent/runc", StateDir: dir, DataDir: dir})
	if err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("missing runtime: %v", err)
	}
	cg, err := detectCgroups()
	if err != nil || !cg.hybrid() {
		return
	}
	fake := filepath.Join(dir, "crun")
	os.WriteFile(fake, []byte("#!/bin/sh\necho 'crun version 1.8.1'\n"), 0o755)
	_, err = New(Config{Runtime: fake, StateDir: dir, DataDir: dir})
	if err == nil || !strings.Contains(err.Error(), "use runc") {
		t.Errorf("crun on a hybrid cgroup host: %v", err)
	}
}

func TestCreateRejectsDuplicate(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := f.spec("true")
	f.create(s)
	if err := f.r.Create(context.Background(), s); !errors.Is(err, ErrExists) {
		t.Errorf("second create: %v, want ErrExists", err)
	}
	if _, err := os.Stat(f.r.bundle(s.ID)); err != nil {
		t.Errorf("failed duplicate create removed the first container's bundle")
	}
}

// selfShim runs this test binary as the shim (TestMain dispatches "shim").
func selfShim() []string {
	self, err := os.Executable()
	if err != nil {
		panic(err)
	}
	return []string{self, "shim"}
}
