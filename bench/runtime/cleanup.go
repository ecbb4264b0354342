package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// markers name what the bench creates in shared places (iptables, links, namespaces):
// the sweep removes iptables rules that mention them and the final check reports any
// left.
var markers = []string{"gbench", "gbr-", "10.213.240.", "10.213.241.", "10.213.242.", "10.213.243."}

// cleanups undoes what the bench created, last first, then sweeps for anything the
// engines left behind.
type cleanups struct {
	steps []step
	// State before the bench, so it removes only what it created.
	chains         map[string]bool // "table/chain"
	runNetNSExists bool
	shmLockExists  bool
	cniNetExists   bool
	cgroupParents  map[string]bool // parent cgroups docker and podman create
}

type step struct {
	name string
	fn   func() error
}

func (c *cleanups) add(name string, fn func() error) { c.steps = append(c.steps, step{name, fn}) }

const (
	shmLock    = "/dev/shm/libpod_lock"
	podmanIPAM = "/var/lib/cni/networks/" + podmanNet
)

func (c *cleanups) snapshot() {
	c.chains = map[string]bool{}
	for _, t := range []string{"filter", "nat"} {
		for _, ch := range iptablesChains(t) {
			c.chains[t+"/"+ch] = true
		}
	}
	c.runNetNSExists = exists("/run/netns")
	c.shmLockExists = exists(shmLock)
	c.cniNetExists = exists(podmanIPAM)
	c.cgroupParents = map[string]bool{}
	for _, d := range engineCgroupParents() {
		c.cgroupParents[d] = true
	}
}

// engineCgroupParents lists the parent cgroups docker ("docker") and podman with
// cgroupfs ("libpod_parent") put their containers in, in every hierarchy.
func engineCgroupParents() []string {
	var out []string
	for _, name := range []string{"docker", "libpod_parent"} {
		m, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", name))
		out = append(out, m...)
	}
	return out
}

func (c *cleanups) run(work string) error {
	var errs []error
	for i := len(c.steps) - 1; i >= 0; i-- {
		if err := c.steps[i].fn(); err != nil {
			errs = append(errs, fmt.Errorf("cleanup: %s: %w", c.steps[i].name, err))
		}
	}
	killProcsUsing(work)
	c.sweepIptables()
	for _, l := range []string{gantryBridge, dockerBridge, runcHostVeth} {
		if exists("/sys/class/net/" + l) {
			exec.Command("ip", "link", "del", l).Run()
		}
	}
	if exists("/run/netns/" + runcNetNS) {
		exec.Command("ip", "netns", "del", runcNetNS).Run()
	}
	if !c.runNetNSExists {
		if ents, err := os.ReadDir("/run/netns"); err == nil && len(ents) == 0 {
			syscall.Unmount("/run/netns", syscall.MNT_DETACH)
			os.Remove("/run/netns")
		}
	}
	if !c.shmLockExists {
		os.Remove(shmLock)
	}
	if !c.cniNetExists {
		os.RemoveAll(podmanIPAM)
	}
	for _, d := range engineCgroupParents() {
		if !c.cgroupParents[d] {
			os.Remove(d) // rmdir: only when empty
		}
	}
	if err := unmountBelow(work); err != nil {
		errs = append(errs, err)
	}
	if err := os.RemoveAll(work); err != nil {
		errs = append(errs, fmt.Errorf("cleanup: removing %s: %w", work, err))
	}
	if left := leftovers(work); len(left) > 0 {
		errs = append(errs, fmt.Errorf("cleanup: left behind:\n  %s", strings.Join(left, "\n  ")))
	} else {
		fmt.Println("cleanup: checked: no process, mount, link, namespace, iptables rule or file of the bench is left")
	}
	return errors.Join(errs...)
}

func exists(p string) bool { _, err := os.Lstat(p); return err == nil }

// killProcsUsing kills, by pid, processes whose command line names the work dir: shims,
// conmon, containerd-shim and dockerd/containerd left by a failed stop.
func killProcsUsing(work string) {
	for range 3 {
		pids := procsUsing(work)
		if len(pids) == 0 {
			return
		}
		for _, p := range pids {
			syscall.Kill(p, syscall.SIGKILL)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func procsUsing(work string) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(b, []byte(work)) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// unmountBelow lazily unmounts every mount at or below dir, deepest first.
func unmountBelow(dir string) error {
	var errs []error
	for range 3 {
		mps := mountsBelow(dir)
		if len(mps) == 0 {
			return nil
		}
		errs = errs[:0]
		for _, m := range mps {
			if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
				errs = append(errs, fmt.Errorf("unmounting %s: %w", m, err))
			}
		}
	}
	return errors.Join(errs...)
}

func mountsBelow(dir string) []string {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	var mps []string
	for _, l := range splitLines(string(b)) {
		f := strings.Fields(l)
		if len(f) < 5 {
			continue
		}
		mp := unescapeMount(f[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			mps = append(mps, mp)
		}
	}
	slices.SortFunc(mps, func(a, b string) int { return len(b) - len(a) })
	return slices.Compact(mps)
}

func unescapeMount(s string) string {
	return strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`).Replace(s)
}

func splitLines(s string) []string { return strings.Split(strings.TrimRight(s, "\n"), "\n") }

func iptablesChains(table string) []string {
	out, _ := exec.Command("iptables", "-w", "-t", table, "-S").Output()
	var chains []string
	for _, l := range splitLines(string(out)) {
		f := strings.Fields(l)
		if len(f) >= 2 && (f[0] == "-N" || f[0] == "-P") {
			chains = append(chains, f[1])
		}
	}
	return chains
}

func marked(s string) bool {
	for _, m := range markers {
		if strings.Contains(s, m) {
			return true
		}
	}
	return false
}

// sweepIptables deletes rules that mention the bench's subnets or names (left when an
// engine could not tear down), then flushes and deletes the chains they jumped to if
// those chains did not exist before the bench.
func (c *cleanups) sweepIptables() {
	for _, t := range []string{"nat", "filter"} {
		out, _ := exec.Command("iptables", "-w", "-t", t, "-S").Output()
		var targets []string
		for _, l := range splitLines(string(out)) {
			if !strings.HasPrefix(l, "-A ") || !marked(l) {
				continue
			}
			args, err := splitRule(l)
			if err != nil {
				continue
			}
			args[0] = "-D"
			exec.Command("iptables", append([]string{"-w", "-t", t}, args...)...).Run()
			if j := slices.Index(args, "-j"); j >= 0 && j+1 < len(args) {
				targets = append(targets, args[j+1])
			}
			if !c.chains[t+"/"+args[1]] {
				targets = append(targets, args[1])
			}
		}
		for _, ch := range targets {
			if c.chains[t+"/"+ch] || strings.ToUpper(ch) != ch || ch == "ACCEPT" || ch == "DROP" || ch == "RETURN" || ch == "MASQUERADE" || ch == "DNAT" || ch == "SNAT" || ch == "MARK" {
				continue
			}
			exec.Command("iptables", "-w", "-t", t, "-F", ch).Run()
			exec.Command("iptables", "-w", "-t", t, "-X", ch).Run()
		}
	}
}

// splitRule splits an iptables -S line, honouring double quotes (comments).
func splitRule(l string) ([]string, error) {
	var args []string
	var cur strings.Builder
	inQ, have := false, false
	for i := 0; i < len(l); i++ {
		ch := l[i]
		switch {
		case ch == '\\' && inQ && i+1 < len(l):
			i++
			cur.WriteByte(l[i])
		case ch == '"':
			inQ, have = !inQ, true
		case ch == ' ' && !inQ:
			if have {
				args = append(args, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteByte(ch)
			have = true
		}
	}
	if inQ {
		return nil, fmt.Errorf("unbalanced quotes in %q", l)
	}
	if have {
		args = append(args, cur.String())
	}
	return args, nil
}

// leftovers lists what of the bench is still there after cleanup.
func leftovers(work string) []string {
	var left []string
	for _, p := range procsUsing(work) {
		left = append(left, fmt.Sprintf("process %d", p))
	}
	for _, m := range mountsBelow(work) {
		left = append(left, "mount "+m)
	}
	if exists(work) {
		left = append(left, "dir "+work)
	}
	for _, t := range []string{"nat", "filter"} {
		out, _ := exec.Command("iptables", "-w", "-t", t, "-S").Output()
		for _, l := range splitLines(string(out)) {
			if marked(l) {
				left = append(left, "iptables -t "+t+": "+l)
			}
		}
	}
	out, _ := exec.Command("ip", "-o", "link").Output()
	for _, l := range splitLines(string(out)) {
		if marked(l) {
			left = append(left, "link "+l)
		}
	}
	out, _ = exec.Command("ip", "-o", "addr").Output()
	for _, l := range splitLines(string(out)) {
		if marked(l) {
			left = append(left, "address "+l)
		}
	}
	if exists("/run/netns/" + runcNetNS) {
		left = append(left, "netns "+runcNetNS)
	}
	for _, ctl := range []string{"memory", "pids", "cpu", "freezer", "devices"} {
		m, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", ctl, "gantry", "gbench-*"))
		for _, d := range m {
			left = append(left, "cgroup "+d)
		}
	}
	return left
}
