package network

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Gantry writes its own iptables rules, one set of chains per bridge, instead of
// using the bridge plugin's ipMasq and the CNI portmap and firewall plugins. Those
// plugins issue one iptables exec per check, chain and rule: portmap alone made 20
// execs to publish a port and 24 to unpublish it, about 50 ms on every start and
// 110 ms on every stop here. Gantry's rules do the same with one iptables-restore
// per task start and one per stop (about 2 and 16 ms; the kernel takes that long to
// commit a deletion):
//
//	nat    POSTROUTING -s SUBNET -j GANTRY-MASQ-BR    outbound NAT: masquerade what
//	                                                  leaves the subnet, except multicast
//	nat    PREROUTING, OUTPUT -m addrtype --dst-type LOCAL -j GANTRY-PORTS-BR
//	                                                  published ports: one DNAT rule per
//	                                                  mapping, commented with the attachment id
//	nat    POSTROUTING -o BR -m conntrack --ctstate DNAT -j GANTRY-SNAT-BR
//	                                                  published ports reached from the host's
//	                                                  loopback or from a task (hairpin):
//	                                                  masquerade, so replies come back the same way
//	filter FORWARD (first) -j GANTRY-FWD-BR           accept the tasks' traffic and what comes
//	                                                  back or was published to them, so that a
//	                                                  FORWARD policy of DROP (as dockerd sets,
//	                                                  even after Gantry started) cuts no task off
//
// Bridge names are at most 15 characters, so the chain names stay within
// iptables' 28.

func (m *Manager) masqChain() string  { return "GANTRY-MASQ-" + m.cfg.Bridge }
func (m *Manager) portsChain() string { return "GANTRY-PORTS-" + m.cfg.Bridge }
func (m *Manager) snatChain() string  { return "GANTRY-SNAT-" + m.cfg.Bridge }
func (m *Manager) fwdChain() string   { return "GANTRY-FWD-" + m.cfg.Bridge }

// jump is a rule in a built-in chain that leads to one of Gantry's chains.
type jump struct {
	table string
	rule  []string // starting with the built-in chain
	first bool     // inserted at the top of the chain rather than appended
}

// jumps are the rules in built-in chains that lead to Gantry's chains.
func (m *Manager) jumps() []jump {
	to := func(table, chain string, match []string, what, target string) jump {
		rule := append([]string{chain}, match...)
		return jump{table: table, rule: append(rule, "-m", "comment", "--comment", "gantry "+what+" "+m.cfg.Bridge, "-j", target)}
	}
	local := []string{"-m", "addrtype", "--dst-type", "LOCAL"}
	fwd := to("filter", "FORWARD", nil, "forward", m.fwdChain())
	fwd.first = true
	return []jump{
		to("nat", "POSTROUTING", []string{"-s", m.cfg.Subnet}, "masquerade", m.masqChain()),
		to("nat", "PREROUTING", local, "ports", m.portsChain()),
		to("nat", "OUTPUT", local, "ports", m.portsChain()),
		to("nat", "POSTROUTING", []string{"-o", m.cfg.Bridge, "-m", "conntrack", "--ctstate", "DNAT"}, "published", m.snatChain()),
		fwd,
	}
}

// ensureRules installs Gantry's chains and jumps for the bridge. iptables-restore
// applies each table's change atomically. Re-declaring a chain replaces its rules,
// so a rerun after a crash or a subnet change converges; the ports chain is only
// declared when missing, because after a restart it holds the mappings of tasks
// that kept running.
func (m *Manager) ensureRules(ctx context.Context) error {
	var b strings.Builder
	b.WriteString("*nat\n")
	masq, snat := m.masqChain(), m.snatChain()
	fmt.Fprintf(&b, ":%s - [0:0]\n:%s - [0:0]\n", masq, snat)
	fmt.Fprintf(&b, "-A %s -d %s -j RETURN\n", masq, m.cfg.Subnet)
	fmt.Fprintf(&b, "-A %s -d 224.0.0.0/4 -j RETURN\n", masq)
	fmt.Fprintf(&b, "-A %s -j MASQUERADE\n", masq)
	fmt.Fprintf(&b, "-A %s -s 127.0.0.0/8 -j MASQUERADE\n", snat)
	fmt.Fprintf(&b, "-A %s -s %s -j MASQUERADE\n", snat, m.cfg.Subnet)
	if _, err := m.listPorts(ctx); errors.Is(err, errNoChain) {
		fmt.Fprintf(&b, ":%s - [0:0]\n", m.portsChain())
	} else if err != nil {
		return err
	}
	m.missingJumps(ctx, &b, "nat")
	fwd := m.fwdChain()
	fmt.Fprintf(&b, "COMMIT\n*filter\n:%s - [0:0]\n", fwd)
	fmt.Fprintf(&b, "-A %s -i %s -j ACCEPT\n", fwd, m.cfg.Bridge)
	fmt.Fprintf(&b, "-A %s -o %s -m conntrack --ctstate RELATED,ESTABLISHED,DNAT -j ACCEPT\n", fwd, m.cfg.Bridge)
	m.missingJumps(ctx, &b, "filter")
	b.WriteString("COMMIT\n")
	if err := iptablesRestore(ctx, b.String()); err != nil {
		return fmt.Errorf("installing iptables rules for bridge %s: %w", m.cfg.Bridge, err)
	}
	return nil
}

// missingJumps writes the restore lines for the jumps of table that are not there.
func (m *Manager) missingJumps(ctx context.Context, b *strings.Builder, table string) {
	for _, j := range m.jumps() {
		if j.table != table || iptables(ctx, append([]string{"-t", table, "-C"}, j.rule...)...) == nil {
			continue
		}
		if j.first {
			fmt.Fprintf(b, "-I %s 1 %s\n", j.rule[0], quoteArgs(j.rule[1:]))
		} else {
			fmt.Fprintf(b, "-A %s %s\n", j.rule[0], quoteArgs(j.rule[1:]))
		}
	}
}

// removeRules deletes what ensureRules installed, with any mappings still in the
// ports chain; missing pieces are fine.
func (m *Manager) removeRules(ctx context.Context) error {
	for _, j := range m.jumps() {
		for iptables(ctx, append([]string{"-t", j.table, "-D"}, j.rule...)...) == nil {
		}
	}
	var errs []error
	for _, c := range [][2]string{{"nat", m.masqChain()}, {"nat", m.portsChain()}, {"nat", m.snatChain()}, {"filter", m.fwdChain()}} {
		if iptables(ctx, "-t", c[0], "-F", c[1]) == nil {
			errs = append(errs, iptables(ctx, "-t", c[0], "-X", c[1]))
		}
	}
	return errors.Join(errs...)
}

// publish adds the DNAT rules for r's port mappings in one iptables-restore.
func (m *Manager) publish(ctx context.Context, r *record) error {
	// Published ports must answer on the host's 127.0.0.1: the DNAT'd packet
	// leaves through the bridge with a loopback source until the SNAT chain
	// rewrites it, which the kernel only allows with route_localnet on the
	// outgoing interface.
	if err := enableRouteLocalnet(m.cfg.Bridge); err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString("*nat\n")
	for _, p := range r.Ports {
		fmt.Fprintf(&b, "-A %s %s\n", m.portsChain(), strings.Join(dnatRule(r.ID, r.IP, p), " "))
	}
	b.WriteString("COMMIT\n")
	if err := iptablesRestore(ctx, b.String()); err != nil {
		// A host firewall reload (or an iptables -F) may have removed Gantry's chains
		// since New installed them: put them back once and try again.
		if nerr := m.ensureRules(ctx); nerr != nil {
			return fmt.Errorf("publishing ports of %s: %w (and reinstalling Gantry's iptables chains: %w)", r.ID, err, nerr)
		}
		if err := iptablesRestore(ctx, b.String()); err != nil {
			return fmt.Errorf("publishing ports of %s: %w", r.ID, err)
		}
		m.log.Warn("Gantry's iptables chains were missing (a firewall reload?) and were installed again", "bridge", m.cfg.Bridge)
	}
	m.forgetUDPFlows(r)
	return nil
}

// forgetUDPFlows deletes the conntrack entries of UDP traffic to r's published
// host ports. NAT is decided on a flow's first packet, so a client that sent to a
// port before it was published keeps reaching the host instead of the task, and
// after a teardown keeps reaching the gone task's address, for as long as it
// keeps sending (as the CNI portmap plugin also guards against). A failure only
// costs such clients their flow, so it is logged, not returned.
func (m *Manager) forgetUDPFlows(r *record) {
	var filters []netlink.CustomConntrackFilter
	for _, p := range r.Ports {
		if p.Protocol != "udp" {
			continue
		}
		f := &netlink.ConntrackFilter{}
		if err := f.AddProtocol(unix.IPPROTO_UDP); err != nil {
			m.log.Warn("conntrack filter", "attachment", r.ID, "err", err)
			return
		}
		if err := f.AddPort(netlink.ConntrackOrigDstPort, uint16(p.HostPort)); err != nil {
			m.log.Warn("conntrack filter", "attachment", r.ID, "err", err)
			return
		}
		filters = append(filters, f)
	}
	if len(filters) == 0 {
		return
	}
	if _, err := netlink.ConntrackDeleteFilters(netlink.ConntrackTable, unix.AF_INET, filters...); err != nil {
		m.log.Warn("could not forget UDP flows to published ports; clients may keep their old route until they pause", "attachment", r.ID, "err", err)
	}
}

// republish publishes again the ports of recorded attachments that have no rule in
// the ports chain (a firewall reload flushed it while their tasks kept running), so
// that a restart heals them.
func (m *Manager) republish(ctx context.Context) error {
	rules, err := m.listPorts(ctx)
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, args := range rules {
		have[ruleComment(args)] = true
	}
	for _, r := range m.records {
		if r.Mode != ModeBridge || len(r.Ports) == 0 || r.IP == "" || have[r.ID] {
			continue
		}
		if err := m.publish(ctx, r); err != nil {
			return err
		}
		m.log.Warn("published ports again after their rules went missing", "attachment", r.ID)
	}
	return nil
}

// dnatRule is the ports chain rule for one mapping; the comment names the
// attachment, which is how unpublish finds it.
func dnatRule(id, ip string, p PortMapping) []string {
	rule := []string{"-p", p.Protocol}
	if p.HostIP != "" && p.HostIP != "0.0.0.0" {
		rule = append(rule, "-d", p.HostIP+"/32")
	}
	return append(rule, "-m", p.Protocol, "--dport", strconv.Itoa(p.HostPort),
		"-m", "comment", "--comment", id,
		"-j", "DNAT", "--to-destination", net.JoinHostPort(ip, strconv.Itoa(p.ContainerPort)))
}

// unpublish deletes the ports chain rules of r. The rules its record names go
// in one iptables-restore; when that fails (a crash may have left a record
// without an address, or rules without a complete record), it lists the chain
// and deletes every rule commented with r's id instead.
func (m *Manager) unpublish(ctx context.Context, r *record) error {
	if r.IP != "" && len(r.Ports) == 0 {
		return nil // a complete record without ports never had rules
	}
	if r.IP != "" {
		var b strings.Builder
		b.WriteString("*nat\n")
		for _, p := range r.Ports {
			fmt.Fprintf(&b, "-D %s %s\n", m.portsChain(), strings.Join(dnatRule(r.ID, r.IP, p), " "))
		}
		b.WriteString("COMMIT\n")
		if iptablesRestore(ctx, b.String()) == nil {
			m.forgetUDPFlows(r)
			return nil
		}
	}
	rules, err := m.listPorts(ctx)
	if errors.Is(err, errNoChain) {
		return nil
	}
	if err != nil {
		return err
	}
	var b strings.Builder
	n := 0
	for _, args := range rules {
		if ruleComment(args) == r.ID {
			args[0] = "-D"
			fmt.Fprintf(&b, "%s\n", quoteArgs(args))
			n++
		}
	}
	if n == 0 {
		return nil
	}
	if err := iptablesRestore(ctx, "*nat\n"+b.String()+"COMMIT\n"); err != nil {
		return fmt.Errorf("unpublishing ports of %s: %w", r.ID, err)
	}
	m.forgetUDPFlows(r)
	return nil
}

// errNoChain is listPorts' answer when the ports chain does not exist.
var errNoChain = errors.New("chain does not exist")

// listPorts returns the rules of the ports chain, each split into arguments
// starting with "-A". It reads iptables-save: iptables-nft's -S cannot tell a
// missing chain from an unreadable one.
func (m *Manager) listPorts(ctx context.Context) ([][]string, error) {
	out, err := exec.CommandContext(ctx, "iptables-save", "-t", "nat").Output()
	if err != nil {
		return nil, fmt.Errorf("listing the nat table: iptables-save: %w", err)
	}
	chain := m.portsChain()
	found := false
	var rules [][]string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "-A "+chain+" ") {
			rules = append(rules, splitRule(line))
		} else if strings.HasPrefix(line, ":"+chain+" ") {
			found = true
		}
	}
	if !found {
		return nil, errNoChain
	}
	return rules, nil
}

// ruleComment returns the --comment of a rule split by splitRule.
func ruleComment(args []string) string {
	for i := 0; i+1 < len(args); i++ {
		if args[i] == "--comment" {
			return args[i+1]
		}
	}
	return ""
}

func iptables(ctx context.Context, args ...string) error {
	out, err := exec.CommandContext(ctx, "iptables", append([]string{"-w"}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("iptables %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func iptablesRestore(ctx context.Context, rules string) error {
	cmd := exec.CommandContext(ctx, "iptables-restore", "-w", "--noflush")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("iptables-restore: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// quoteArgs joins rule arguments for iptables-restore, quoting those with
// spaces or quotes.
func quoteArgs(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \"") {
			a = `"` + strings.ReplaceAll(a, `"`, `\"`) + `"`
		}
		q[i] = a
	}
	return strings.Join(q, " ")
}

// splitRule splits an iptables -S or iptables-save rule into arguments,
// honouring double quotes with backslash escapes.
func splitRule(line string) []string {
	var args []string
	var cur strings.Builder
	inQuote, have := false, false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '\\' && inQuote && i+1 < len(line):
			i++
			cur.WriteByte(line[i])
		case c == '"':
			inQuote, have = !inQuote, true
		case c == ' ' && !inQuote:
			if have {
				args = append(args, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteByte(c)
			have = true
		}
	}
	if have {
		args = append(args, cur.String())
	}
	return args
}
