package proc

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// RSS is a process's resident memory (VmRSS), in bytes.
func RSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("/proc/%d/status has no VmRSS", pid)
}

// TreeRSS is the resident memory of pid and every process below it, in bytes.
func TreeRSS(pid int) (int64, error) {
	var total int64
	for _, p := range append([]int{pid}, Descendants(pid)...) {
		n, err := RSS(p)
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}

// Descendants lists the processes below pid.
func Descendants(pid int) []int {
	parent := map[int]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if f := statFields(filepath.Join("/proc", e.Name(), "stat")); len(f) >= 2 {
			parent[p], _ = strconv.Atoi(f[1])
		}
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		for p, pp := range parent {
			if pp == cur {
				out = append(out, p)
				queue = append(queue, p)
			}
		}
	}
	return out
}

// statFields are the fields of a /proc/PID/stat file after "pid (comm)", which may hold
// spaces: state is [0], ppid [1], utime [11], stime [12], cutime [13], cstime [14].
func statFields(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	return strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
}

// TicksPerSecond is the kernel's USER_HZ, which is 100 on Linux for every architecture
// Go supports.
const TicksPerSecond = 100

// CPU is the machine's CPU time from /proc/stat, in clock ticks.
type CPU struct{ Busy, Total uint64 }

// MachineCPU reads the aggregate "cpu" line of /proc/stat; zero when unreadable.
func MachineCPU() CPU {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return CPU{}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return CPU{}
	}
	var c CPU
	for i, v := range f[1:min(len(f), 9)] { // guest time is already in user time
		n, _ := strconv.ParseUint(v, 10, 64)
		c.Total += n
		if i != 3 && i != 4 { // idle, iowait
			c.Busy += n
		}
	}
	return c
}

// Since is the CPU time between prev and c.
func (c CPU) Since(prev CPU) CPU { return CPU{Busy: c.Busy - prev.Busy, Total: c.Total - prev.Total} }

// BusyShare is the busy fraction of the time.
func (c CPU) BusyShare() float64 { return float64(c.Busy) / float64(c.Total) }

// Times are a process's CPU times, in clock ticks: its own, and those of the children it
// has waited for.
type Times struct{ Self, Children uint64 }

// ProcessCPU reads a process's CPU times; zero when unreadable.
func ProcessCPU(pid int) Times {
	f := statFields(fmt.Sprintf("/proc/%d/stat", pid))
	if len(f) < 15 {
		return Times{}
	}
	n := func(i int) uint64 { v, _ := strconv.ParseUint(f[i], 10, 64); return v }
	return Times{Self: n(11) + n(12), Children: n(13) + n(14)}
}

// Since is the CPU time between prev and t.
func (t Times) Since(prev Times) Times {
	return Times{Self: t.Self - prev.Self, Children: t.Children - prev.Children}
}

// Tail returns the last lines of a log or of a command's output, for error messages.
func Tail(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 8 {
		lines = lines[len(lines)-8:]
	}
	return strings.Join(lines, "\n")
}
