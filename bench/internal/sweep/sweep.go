package sweep

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

// Config names what a benchmark may leave behind.
type Config struct {
	// Markers are substrings (bridge names, subnet prefixes such as "10.213.250.") that
	// mark the benchmark's iptables rules, links and addresses.
	Markers []string
	// Links are links (bridges, veths) the benchmark creates; they are deleted.
	Links []string
	// Cgroups are cgroup directory names (such as "docker") that the benchmark's
	// containers may create in any hierarchy; they are removed when empty and new.
	Cgroups []string
}

// Cleanup undoes what a benchmark created. Its steps run even when the benchmark fails or
// is interrupted: call Run from a defer.
type Cleanup struct {
	cfg   Config
	steps []step
	// State before the benchmark, so that only what it created is removed.
	chains         map[string]bool // "table/chain"
	rules          map[string]bool // "table/rule" of marked rules already there
	links          map[string]bool // configured links already there
	runNetNSExists bool
	cgroups        map[string]bool
}

type step struct {
	name string
	fn   func() error
}

// Add registers a step; Run runs the steps last first.
func (c *Cleanup) Add(name string, fn func() error) { c.steps = append(c.steps, step{name, fn}) }

// Start notes the machine's state (iptables chains, /run/netns, cgroups) so that Run
// removes only what appeared after it.
func Start(cfg Config) *Cleanup {
	c := &Cleanup{cfg: cfg, chains: map[string]bool{}, rules: map[string]bool{}, links: map[string]bool{}}
	// Marked rules and links that exist already belong to someone else (another run of a
	// benchmark, say): they are left alone.
	for _, t := range []string{"filter", "nat"} {
		for _, l := range iptablesRules(t) {
			if c.marked(l) {
				c.rules[t+"/"+l] = true
			}
		}
	}
	for _, l := range cfg.Links {
		c.links[l] = exists("/sys/class/net/" + l)
	}
	for _, t := range []string{"filter", "nat"} {
		for _, ch := range iptablesChains(t) {
			c.chains[t+"/"+ch] = true
		}
	}
	c.runNetNSExists = exists("/run/netns")
	c.cgroups = map[string]bool{}
	for _, d := range c.cgroupDirs() {
		c.cgroups[d] = true
	}
	return c
}

// cgroupDirs lists the configured cgroups in every hierarchy.
func (c *Cleanup) cgroupDirs() []string {
	var out []string
	for _, name := range c.cfg.Cgroups {
		m, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", name))
		out = append(out, m...)
	}
	return out
}

// Run runs the steps, last first, then kills processes whose command line names work,
// deletes marked iptables rules, the links, new empty cgroups and /run/netns if it is new
// and empty, unmounts everything below work and removes it. It then checks that nothing
// of the benchmark is left and says so.
func (c *Cleanup) Run(work string) error {
	var errs []error
	for i := len(c.steps) - 1; i >= 0; i-- {
		if err := c.steps[i].fn(); err != nil {
			errs = append(errs, fmt.Errorf("cleanup: %s: %w", c.steps[i].name, err))
		}
	}
	killProcsUsing(work)
	c.sweepIptables()
	for _, l := range c.cfg.Links {
		if !c.links[l] && exists("/sys/class/net/"+l) {
			exec.Command("ip", "link", "del", l).Run()
		}
	}
	if !c.runNetNSExists {
		if ents, err := os.ReadDir("/run/netns"); err == nil && len(ents) == 0 {
			syscall.Unmount("/run/netns", syscall.MNT_DETACH)
			os.Remove("/run/netns")
		}
	}
	for _, d := range c.cgroupDirs() {
		if !c.cgroups[d] {
			os.Remove(d) // rmdir: only when empty
		}
	}
	if err := unmountBelow(work); err != nil {
		errs = append(errs, err)
	}
	if err := os.RemoveAll(work); err != nil {
		errs = append(errs, fmt.Errorf("cleanup: removing %s: %w", work, err))
	}
	if left := c.leftovers(work); len(left) > 0 {
		errs = append(errs, fmt.Errorf("cleanup: left behind:\n  %s", strings.Join(left, "\n  ")))
	} else {
		fmt.Println("cleanup: checked: no process, mount, link, iptables rule, cgroup or file of the bench is left")
	}
	return errors.Join(errs...)
}

func exists(p string) bool { _, err := os.Lstat(p); return err == nil }

// killProcsUsing kills, by pid, processes whose command line names the work dir: the
// server, shims, dockerd and containerd left by a failed stop.
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
		mp := strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`).Replace(f[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			mps = append(mps, mp)
		}
	}
	slices.SortFunc(mps, func(a, b string) int { return len(b) - len(a) })
	return slices.Compact(mps)
}

func splitLines(s string) []string { return strings.Split(strings.TrimRight(s, "\n"), "\n") }

func iptablesRules(table string) []string {
	out, _ := exec.Command("iptables", "-w", "-t", table, "-S").Output()
	return splitLines(string(out))
}

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

// othersLink tells whether an `ip -o link` or `ip -o addr` line is about a configured
// link that existed before Start.
func (c *Cleanup) othersLink(line string) bool {
	f := strings.Fields(line)
	return len(f) > 1 && c.links[strings.TrimSuffix(strings.SplitN(f[1], "@", 2)[0], ":")]
}

func (c *Cleanup) marked(s string) bool {
	return slices.ContainsFunc(c.cfg.Markers, func(m string) bool { return strings.Contains(s, m) })
}

// sweepIptables deletes rules that mention the bench's subnets or names (left when an
// engine could not tear down), then deletes the user chains those rules were in or
// jumped to when the chains did not exist before the bench and are now empty.
func (c *Cleanup) sweepIptables() {
	for _, t := range []string{"nat", "filter"} {
		var chains []string
		for _, l := range iptablesRules(t) {
			if !strings.HasPrefix(l, "-A ") || !c.marked(l) || c.rules[t+"/"+l] {
				continue
			}
			args, err := splitRule(l)
			if err != nil {
				continue
			}
			args[0] = "-D"
			exec.Command("iptables", append([]string{"-w", "-t", t}, args...)...).Run()
			chains = append(chains, args[1])
			if j := slices.Index(args, "-j"); j >= 0 && j+1 < len(args) {
				chains = append(chains, args[j+1])
			}
		}
		for _, ch := range slices.Compact(slices.Sorted(slices.Values(chains))) {
			if c.chains[t+"/"+ch] || strings.ToUpper(ch) != ch || slices.Contains([]string{"ACCEPT", "DROP", "RETURN", "MASQUERADE", "DNAT", "SNAT", "MARK"}, ch) {
				continue
			}
			// A chain someone else's rules are still in (other Gantry nodes on this
			// machine share the CNI plugins' chains) is left alone.
			rest, _ := exec.Command("iptables", "-w", "-t", t, "-S", ch).Output()
			if strings.Contains(string(rest), "-A ") {
				continue
			}
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

// leftovers lists what of the benchmark is still there after cleanup.
func (c *Cleanup) leftovers(work string) []string {
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
		for _, l := range iptablesRules(t) {
			if c.marked(l) && !c.rules[t+"/"+l] {
				left = append(left, "iptables -t "+t+": "+l)
			}
		}
	}
	for _, args := range [][]string{{"-o", "link"}, {"-o", "addr"}} {
		out, _ := exec.Command("ip", args...).Output()
		for _, l := range splitLines(string(out)) {
			if c.marked(l) && !c.othersLink(l) {
				left = append(left, args[1]+" "+l)
			}
		}
	}
	for _, d := range c.cgroupDirs() {
		if !c.cgroups[d] {
			left = append(left, "cgroup "+d)
		}
	}
	return left
}
