package network

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// Outbound NAT is one rule set per bridge, installed by New, rather than the
// bridge plugin's ipMasq: that option adds a chain and three rules per task,
// costing about 15 ms on every start and 50 ms on every stop here, for the
// same effect (masquerade what leaves the subnet, except multicast).

func (m *Manager) masqChain() string { return "GANTRY-MASQ-" + m.cfg.Bridge }

func (m *Manager) masqJump() []string {
	return []string{"POSTROUTING", "-s", m.cfg.Subnet, "-m", "comment", "--comment", "gantry masquerade " + m.cfg.Bridge, "-j", m.masqChain()}
}

// ensureMasquerade installs the chain and its POSTROUTING jump; iptables-restore
// applies the whole table change atomically, and re-declaring the chain
// replaces its rules, so a rerun after a crash or a subnet change converges.
func (m *Manager) ensureMasquerade(ctx context.Context) error {
	chain := m.masqChain()
	var b bytes.Buffer
	fmt.Fprintf(&b, "*nat\n:%s - [0:0]\n", chain)
	fmt.Fprintf(&b, "-A %s -d %s -j RETURN\n", chain, m.cfg.Subnet)
	fmt.Fprintf(&b, "-A %s -d 224.0.0.0/4 -j RETURN\n", chain)
	fmt.Fprintf(&b, "-A %s -j MASQUERADE\n", chain)
	if iptables(ctx, append([]string{"-t", "nat", "-C"}, m.masqJump()...)...) != nil {
		jump := m.masqJump()
		fmt.Fprintf(&b, "-A %s %s\n", jump[0], quoteArgs(jump[1:]))
	}
	b.WriteString("COMMIT\n")
	cmd := exec.CommandContext(ctx, "iptables-restore", "-w", "--noflush")
	cmd.Stdin = &b
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("installing outbound NAT for %s: %v: %s", m.cfg.Subnet, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// removeMasquerade deletes what ensureMasquerade installed; missing pieces
// are fine.
func (m *Manager) removeMasquerade(ctx context.Context) error {
	for iptables(ctx, append([]string{"-t", "nat", "-D"}, m.masqJump()...)...) == nil {
	}
	if iptables(ctx, "-t", "nat", "-S", m.masqChain()) != nil {
		return nil
	}
	if err := iptables(ctx, "-t", "nat", "-F", m.masqChain()); err != nil {
		return err
	}
	return iptables(ctx, "-t", "nat", "-X", m.masqChain())
}

func iptables(ctx context.Context, args ...string) error {
	out, err := exec.CommandContext(ctx, "iptables", append([]string{"-w"}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("iptables %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func quoteArgs(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, " \"") {
			a = `"` + strings.ReplaceAll(a, `"`, `\"`) + `"`
		}
		q[i] = a
	}
	return strings.Join(q, " ")
}

// ForwardDrops tells whether the host's iptables FORWARD chain drops by default (as after
// dockerd started), in which case task traffic needs Config.Firewall.
func ForwardDrops() bool {
	out, _ := exec.Command("iptables", "-w", "-S", "FORWARD").Output()
	return strings.Contains(string(out), "-P FORWARD DROP")
}
