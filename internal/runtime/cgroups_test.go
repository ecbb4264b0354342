package runtime

import (
	"os"
	"path/filepath"
	"testing"
)

// writeFiles lays out files (path relative to root → content).
func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// Stats and OOM detection read cgroup v2 files (this machine runs v1, so the v2 tree is
// laid out by hand as the kernel shows it) and v1 files alike.
func TestCgroupStatsV1AndV2(t *testing.T) {
	v2 := t.TempDir()
	writeFiles(t, v2, map[string]string{
		"gantry/c1/memory.current": "10485760\n",
		"gantry/c1/memory.max":     "67108864\n",
		"gantry/c1/memory.stat":    "anon 6291456\nfile 4194304\ninactive_file 2097152\n",
		"gantry/c1/cpu.stat":       "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n",
		"gantry/c1/pids.current":   "3\n",
		"gantry/c1/memory.events":  "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n",
		"gantry/c2/memory.current": "4096\n",
		"gantry/c2/memory.max":     "max\n",
		"gantry/c2/memory.events":  "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n",
	})
	l := cgroupLayout{unified: v2, parent: DefaultCgroupParent}
	s, err := l.stats("c1")
	if err != nil {
		t.Fatal(err)
	}
	if s.MemoryUsage != 10485760-2097152 || s.MemoryLimit != 67108864 || s.CPUUsageNs != 1500000 || s.Pids != 3 {
		t.Fatalf("v2 stats: %+v", s)
	}
	if !oomKilled(l.path("memory", "c1")) || oomKilled(l.path("memory", "c2")) {
		t.Fatal("v2 memory.events: oom_kill not read")
	}
	if s, err := l.stats("c2"); err != nil || s.MemoryLimit != 0 {
		t.Fatalf("v2 unlimited memory: %+v %v, want limit 0 (the host's memory is filled in by Stats)", s, err)
	}
	if _, err := l.stats("gone"); err == nil {
		t.Fatal("stats of a cgroup that does not exist: no error")
	}

	v1 := t.TempDir()
	writeFiles(t, v1, map[string]string{
		"memory/gantry/c1/memory.usage_in_bytes": "8388608\n",
		"memory/gantry/c1/memory.limit_in_bytes": "33554432\n",
		"memory/gantry/c1/memory.stat":           "cache 1048576\ntotal_inactive_file 1048576\n",
		"memory/gantry/c1/memory.oom_control":    "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
		"cpuacct/gantry/c1/cpuacct.usage":        "123456789\n",
		"pids/gantry/c1/pids.current":            "5\n",
	})
	l = cgroupLayout{v1: map[string]string{"memory": filepath.Join(v1, "memory"), "cpuacct": filepath.Join(v1, "cpuacct"), "pids": filepath.Join(v1, "pids")}, parent: DefaultCgroupParent}
	if s, err = l.stats("c1"); err != nil {
		t.Fatal(err)
	}
	if s.MemoryUsage != 8388608-1048576 || s.MemoryLimit != 33554432 || s.CPUUsageNs != 123456789 || s.Pids != 5 {
		t.Fatalf("v1 stats: %+v", s)
	}
	if !oomKilled(l.path("memory", "c1")) {
		t.Fatal("v1 memory.oom_control: oom_kill not read")
	}
}
