package network

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// testEnv is one test's private network: its own bridge, /24 inside
// 10.213.0.0/16 (never 10.213.0.0/24, which belongs to a real gantry0),
// state dir and dynamic port range.
type testEnv struct {
	cfg    Config
	subnet *net.IPNet
}

func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces, veths and iptables rules")
	}
	for _, p := range requiredPlugins() {
		if _, err := findPlugin(p, []string{"/usr/lib/cni"}); err != nil {
			t.Skipf("missing: %v", err)
		}
	}
	if _, err := exec.LookPath("iptables-save"); err != nil {
		t.Skip("missing iptables-save: install the Debian package iptables")
	}
}

// newEnv prepares a private network for test number n (1-89); the /24 is
// 10.213.(n+50).0/24 and dynamic ports come from 61000+n*50 .. +49: above Linux's
// ephemeral range (32768-60999), so no client socket of a concurrent test holds one.
func newEnv(t testing.TB, n int) *testEnv {
	t.Helper()
	requireRoot(t)
	suffix := make([]byte, 3)
	rand.Read(suffix)
	bridge := "gtest" + hex.EncodeToString(suffix)
	cidr := fmt.Sprintf("10.213.%d.0/24", n+50)
	_, subnet, _ := net.ParseCIDR(cidr)
	if n < 1 || n > 89 {
		t.Fatalf("newEnv: test number %d is out of 1-89", n)
	}
	lo := 61000 + n*50
	env := &testEnv{
		cfg: Config{
			Bridge:    bridge,
			Subnet:    cidr,
			StateDir:  t.TempDir(),
			PortRange: [2]int{lo, lo + 49},
		},
		subnet: subnet,
	}
	t.Cleanup(func() {
		// Tear down whatever the test left, then the bridge; report leaks.
		if m, err := New(env.cfg); err == nil {
			if err := m.Destroy(context.Background()); err != nil {
				t.Errorf("destroy: %v", err)
			}
		}
		dump, _ := exec.Command("iptables-save").Output()
		if strings.Contains(string(dump), bridge) {
			t.Errorf("iptables rules for bridge %s left after cleanup", bridge)
			(&Manager{cfg: env.cfg}).removeRules(context.Background())
		}
		filepath.WalkDir(filepath.Join(env.cfg.StateDir, "netns"), func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				removeNetNS(p)
			}
			return nil
		})
		exec.Command("ip", "link", "del", bridge).Run()
	})
	return env
}

func (e *testEnv) manager(t testing.TB) *Manager {
	t.Helper()
	m, err := New(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func setup(t testing.TB, m *Manager, id, mode string, ports ...PortMapping) *Attachment {
	t.Helper()
	a, err := m.Setup(context.Background(), id, mode, ports)
	if err != nil {
		t.Fatalf("Setup(%s, %s): %v", id, mode, err)
	}
	return a
}

// serveTCP listens on port inside netns and answers every connection with
// reply followed by a newline.
func serveTCP(t *testing.T, m *Manager, netns string, port int, reply string) {
	t.Helper()
	var l net.Listener
	err := m.Exec(netns, func() (err error) {
		l, err = net.Listen("tcp4", ":"+strconv.Itoa(port))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, reply+"\n")
			c.Close()
		}
	}()
}

// serveUDP echoes datagrams on port inside netns, prefixed with reply.
func serveUDP(t *testing.T, m *Manager, netns string, port int, reply string) {
	t.Helper()
	var pc net.PacketConn
	err := m.Exec(netns, func() (err error) {
		pc, err = net.ListenPacket("udp4", ":"+strconv.Itoa(port))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(append([]byte(reply+":"), buf[:n]...), from)
		}
	}()
}

func readTCP(addr string) (string, error) {
	c, err := net.DialTimeout("tcp4", addr, 2*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), err
}

func wantTCP(t *testing.T, addr, want string) {
	t.Helper()
	got, err := readTCP(addr)
	if err != nil || got != want {
		t.Errorf("tcp %s: got %q, %v; want %q", addr, got, err, want)
	}
}

func wantUDP(t *testing.T, addr, want string) {
	t.Helper()
	c, err := net.Dial("udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 1500)
	for try := 0; try < 3; try++ {
		c.Write([]byte("ping"))
		c.SetReadDeadline(time.Now().Add(time.Second))
		n, err := c.Read(buf)
		if err == nil {
			if got := string(buf[:n]); got != want+":ping" {
				t.Errorf("udp %s: got %q, want %q", addr, got, want+":ping")
			}
			return
		}
	}
	t.Errorf("udp %s: no answer", addr)
}

func hostPort(ip string, port int) string { return net.JoinHostPort(ip, strconv.Itoa(port)) }

func TestBridgeTasksReachEachOther(t *testing.T) {
	t.Parallel()
	env := newEnv(t, 1)
	m := env.manager(t)
	a := setup(t, m, "task-a", ModeBridge)
	b := setup(t, m, "task-b", ModeBridge)
	for _, at := range []*Attachment{a, b} {
		if !env.subnet.Contains(at.IP) || at.IP.Equal(at.Gateway) {
			t.Fatalf("%s: IP %v gateway %v, want an address in %v", at.ID, at.IP, at.Gateway, env.subnet)
		}
		var addrs []string
		err := m.Exec(at.NetNS, func() error {
			itf, err := net.InterfaceByName("eth0")
			if err != nil {
				return err
			}
			as, err := itf.Addrs()
			for _, a := range as {
				addrs = append(addrs, a.String())
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		ones, _ := env.subnet.Mask.Size()
		if want := fmt.Sprintf("%s/%d", at.IP, ones); !strings.Contains(strings.Join(addrs, " "), want) {
			t.Errorf("%s: eth0 has %v, want %s", at.ID, addrs, want)
		}
	}
	if a.IP.Equal(b.IP) {
		t.Fatalf("both tasks got %v", a.IP)
	}

	serveTCP(t, m, a.NetNS, 8080, "hello from a")
	wantTCP(t, hostPort(a.IP.String(), 8080), "hello from a") // from the host
	var got string
	err := m.Exec(b.NetNS, func() (err error) { // from task b
		got, err = readTCP(hostPort(a.IP.String(), 8080))
		return err
	})
	if err != nil || got != "hello from a" {
		t.Errorf("from task-b: got %q, %v", got, err)
	}
	// Loopback is up inside a task.
	err = m.Exec(a.NetNS, func() (err error) {
		got, err = readTCP("127.0.0.1:8080")
		return err
	})
	if err != nil || got != "hello from a" {
		t.Errorf("loopback inside task-a: got %q, %v", got, err)
	}
	// The host cannot see the task's listener on its own loopback.
	if _, err := readTCP("127.0.0.1:8080"); err == nil {
		t.Log("note: something on the host listens on 127.0.0.1:8080")
	}
}

func TestPublishedPorts(t *testing.T) {
	t.Parallel()
	env := newEnv(t, 2)
	m := env.manager(t)
	fixed := env.cfg.PortRange[0] + 40 // inside the test's range, not yet used
	a := setup(t, m, "web", ModeBridge,
		PortMapping{HostPort: fixed, ContainerPort: 80},
		PortMapping{ContainerPort: 81, Protocol: "tcp"},
		PortMapping{ContainerPort: 53, Protocol: "udp"},
	)
	if len(a.Ports) != 3 || a.Ports[0].HostPort != fixed {
		t.Fatalf("ports %+v", a.Ports)
	}
	dyn, udp := a.Ports[1].HostPort, a.Ports[2].HostPort
	lo, hi := env.cfg.PortRange[0], env.cfg.PortRange[1]
	if dyn < lo || dyn > hi || udp < lo || udp > hi || a.Ports[2].Protocol != "udp" {
		t.Fatalf("dynamic ports %+v outside %d-%d", a.Ports, lo, hi)
	}
	serveTCP(t, m, a.NetNS, 80, "port 80")
	serveTCP(t, m, a.NetNS, 81, "port 81")
	serveUDP(t, m, a.NetNS, 53, "udp 53")

	for _, ip := range []string{"127.0.0.1", a.Gateway.String()} {
		wantTCP(t, hostPort(ip, fixed), "port 80")
		wantTCP(t, hostPort(ip, dyn), "port 81")
		wantUDP(t, hostPort(ip, udp), "udp 53")
	}
	// Hairpin: the task reaches itself through its published port.
	var got string
	err := m.Exec(a.NetNS, func() (err error) {
		got, err = readTCP(hostPort(a.Gateway.String(), fixed))
		return err
	})
	if err != nil || got != "port 80" {
		t.Errorf("hairpin: got %q, %v", got, err)
	}

	// The same host port cannot be published twice.
	_, err = m.Setup(context.Background(), "web2", ModeBridge, []PortMapping{{HostPort: fixed, ContainerPort: 80}})
	if !errors.Is(err, ErrPortInUse) || !strings.Contains(err.Error(), fmt.Sprintf("%d/tcp", fixed)) {
		t.Errorf("second publish of %d: %v, want ErrPortInUse naming the port", fixed, err)
	}
	// A dynamic port is never handed out twice while in use.
	b := setup(t, m, "web3", ModeBridge, PortMapping{ContainerPort: 81})
	if b.Ports[0].HostPort == dyn || b.Ports[0].HostPort == fixed {
		t.Errorf("dynamic port %d handed out again", b.Ports[0].HostPort)
	}
	// After teardown the mapping stops answering.
	if err := m.Teardown(context.Background(), "web"); err != nil {
		t.Fatal(err)
	}
	if got, err := readTCP(hostPort("127.0.0.1", fixed)); err == nil {
		t.Errorf("port %d still answers %q after teardown", fixed, got)
	}
}

// A UDP client that sent to a host port before it was published keeps its conntrack
// entry (without the DNAT) for as long as it keeps sending; publishing the port must
// drop that entry, and so must unpublishing it, or the client would keep reaching the
// old task's address. The client keeps one socket, so every datagram has the same
// 5-tuple throughout.
func TestUDPClientFollowsPublishedPort(t *testing.T) {
	t.Parallel()
	env := newEnv(t, 32)
	m := env.manager(t)
	port := env.cfg.PortRange[0] + 45
	client, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	dst := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}
	ask := func() (string, error) {
		buf := make([]byte, 1500)
		for try := 0; try < 3; try++ {
			if _, err := client.WriteTo([]byte("ping"), dst); err != nil {
				return "", err
			}
			client.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			if n, _, err := client.ReadFrom(buf); err == nil {
				return string(buf[:n]), nil
			}
		}
		return "", errors.New("no answer")
	}
	if got, err := ask(); err == nil {
		t.Fatalf("port %d answered %q before it was published", port, got)
	}
	for _, task := range []string{"first", "second"} {
		a := setup(t, m, task, ModeBridge, PortMapping{HostPort: port, ContainerPort: 53, Protocol: "udp"})
		serveUDP(t, m, a.NetNS, 53, task)
		if got, err := ask(); err != nil || got != task+":ping" {
			t.Errorf("after publishing %s: got %q, %v; want %q", task, got, err, task+":ping")
		}
		if err := m.Teardown(context.Background(), task); err != nil {
			t.Fatal(err)
		}
	}
}

// After a firewall reload wiped Gantry's iptables chains and jumps, the next published port
// puts them back and answers; after one flushed the rules of running tasks, a restart
// puts those back.
func TestPublishReinstallsWipedChains(t *testing.T) {
	t.Parallel()
	env := newEnv(t, 33)
	m := env.manager(t)
	ctx := context.Background()
	if err := m.removeRules(ctx); err != nil {
		t.Fatal(err)
	}
	a := setup(t, m, "after-reload", ModeBridge, PortMapping{ContainerPort: 80})
	serveTCP(t, m, a.NetNS, 80, "back")
	wantTCP(t, hostPort("127.0.0.1", a.Ports[0].HostPort), "back")

	// A reload that flushes the ports chain while the task runs: a restart publishes
	// its port again.
	if err := iptables(ctx, "-t", "nat", "-F", m.portsChain()); err != nil {
		t.Fatal(err)
	}
	if got, err := readTCP(hostPort("127.0.0.1", a.Ports[0].HostPort)); err == nil {
		t.Fatalf("port answered %q with its rule flushed", got)
	}
	env.manager(t)
	wantTCP(t, hostPort("127.0.0.1", a.Ports[0].HostPort), "back")
}

func TestFixedPortTakenOnHost(t *testing.T) {
	t.Parallel()
	env := newEnv(t, 3)
	m := env.manager(t)
	for _, proto := range []string{"tcp", "udp"} {
		var port int
		var closer io.Closer
		if proto == "tcp" {
			l, err := net.Listen("tcp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			port, closer = l.Addr().(*net.TCPAddr).Port, l
		} else {
			c, err := net.ListenPacket("udp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			port, closer = c.LocalAddr().(*net.UDPAddr).Port, c
		}
		_, err := m.Setup(context.Background(), "taken-"+proto, ModeBridge, []PortMapping{{HostPort: port, ContainerPort: 80, Protocol: proto}})
		closer.Close()
		want := fmt.Sprintf("%d/%s", port, proto)
		if !errors.Is(err, ErrPortInUse) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s port taken on host: got %v, want ErrPortInUse naming %s", proto, err, want)
		}
		if _, ok := m.Get("taken-" + proto); ok {
			t.Errorf("failed setup left a record")
		}
	}
	// Dynamic allocation skips a port a host process holds.
	lo := env.cfg.PortRange[0]
	l, err := net.Listen("tcp4", hostPort("0.0.0.0", lo))
	if err != nil {
		t.Skipf("cannot hold port %d for the test: %v", lo, err)
	}
	defer l.Close()
	a := setup(t, m, "dyn", ModeBridge, PortMapping{ContainerPort: 80})
	if a.Ports[0].HostPort == lo {
		t.Errorf("dynamic allocation handed out port %d that a host process holds", lo)
	}
}

func TestHostAndNoneModes(t *testing.T) {
	t.Parallel()
	env := newEnv(t, 4)
	m := env.manager(t)
	h := setup(t, m, "hosty", ModeHost, PortMapping{ContainerPort: 8080})
	if h.NetNS != "" || h.IP != nil {
		t.Errorf("host mode: netns %q ip %v, want none", h.NetNS, h.IP)
	}
	if len(h.Ports) != 1 || h.Ports[0].HostPort != 8080 {
		t.Errorf("host mode ports %+v, want host port = container port", h.Ports)
	}
	n := setup(t, m, "lonely", ModeNone)
	if n.NetNS == "" || n.IP != nil {
		t.Fatalf("none mode: netns %q ip %v", n.NetNS, n.IP)
	}
	var names []string
	var loUp bool
	err := m.Exec(n.NetNS, func() error {
		itfs, err := net.Interfaces()
		for _, i := range itfs {
			names = append(names, i.Name)
			if i.Name == "lo" {
				loUp = i.Flags&net.FlagUp != 0
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(names, ",") != "lo" || !loUp {
		t.Errorf("none mode interfaces %v (lo up %v), want only lo, up", names, loUp)
	}
	for _, id := range []string{"hosty", "lonely"} {
		for i := 0; i < 2; i++ {
			if err := m.Teardown(context.Background(), id); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := os.Stat(n.NetNS); !os.IsNotExist(err) {
		t.Errorf("netns file %s after teardown: %v", n.NetNS, err)
	}
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	env := newEnv(t, 5)
	m := env.manager(t)
	cases := []struct {
		id, mode string
		ports    []PortMapping
		want     string
	}{
		{"x", "overlay", nil, `unknown network mode "overlay"`},
		{"x", ModeBridge, []PortMapping{{ContainerPort: 80, Protocol: "sctp"}}, `unsupported protocol "sctp"`},
		{"x", ModeBridge, []PortMapping{{ContainerPort: 0}}, "container port 0 out of range"},
		{"x", ModeBridge, []PortMapping{{HostPort: 70000, ContainerPort: 80}}, "host port 70000 out of range"},
		{"x", ModeBridge, []PortMapping{{ContainerPort: 80, HostIP: "nope"}}, `host IP "nope"`},
		{"x", ModeBridge, []PortMapping{{HostPort: 41000, ContainerPort: 80}, {HostPort: 41000, ContainerPort: 81}}, "mapped twice"},
		{"x", ModeNone, []PortMapping{{ContainerPort: 80}}, "none mode cannot have port mappings"},
		{"x", ModeAWSVPC, []PortMapping{{HostPort: 8080, ContainerPort: 80}}, "must equal container port"},
		{"../etc", ModeBridge, nil, `attachment id "../etc"`},
		{"", ModeBridge, nil, `attachment id ""`},
	}
	for _, c := range cases {
		_, err := m.Setup(context.Background(), c.id, c.mode, c.ports)
		if !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Setup(%q, %q, %+v) = %v, want ErrBadInput containing %q", c.id, c.mode, c.ports, err, c.want)
		}
	}
	if ids := m.List(); len(ids) != 0 {
		t.Errorf("bad input left attachments %v", ids)
	}
	setup(t, m, "dup", ModeNone)
	if _, err := m.Setup(context.Background(), "dup", ModeNone, nil); !errors.Is(err, ErrExists) {
		t.Errorf("second Setup of one id: %v, want ErrExists", err)
	}

	badCfgs := []struct {
		cfg  Config
		want string
	}{
		{Config{PluginDirs: []string{t.TempDir()}, StateDir: t.TempDir()}, `CNI plugin "bridge" not found`},
		{Config{Bridge: "much-too-long-bridge", StateDir: t.TempDir()}, "bridge name"},
		{Config{Subnet: "10.213.0.0/30", StateDir: t.TempDir()}, "too small"},
		{Config{Subnet: "fd00::/64", StateDir: t.TempDir()}, "only IPv4"},
		{Config{PortRange: [2]int{5000, 4000}, StateDir: t.TempDir()}, "port range"},
	}
	for _, c := range badCfgs {
		_, err := New(c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%+v) = %v, want error containing %q", c.cfg, err, c.want)
		}
	}
	if _, err := New(badCfgs[0].cfg); err == nil || !strings.Contains(err.Error(), "containernetworking-plugins") {
		t.Errorf("missing plugin error %v does not name the Debian package", err)
	}
}

// leftovers lists traces of an attachment on the host: iptables rules naming
// its id or IP, its host veth, its lease file, netns file and record.
func leftovers(t *testing.T, env *testEnv, m *Manager, a *Attachment, veth string) []string {
	t.Helper()
	var out []string
	dump, err := exec.Command("iptables-save").Output()
	if err != nil {
		t.Fatalf("iptables-save: %v", err)
	}
	for _, line := range strings.Split(string(dump), "\n") {
		if strings.Contains(line, `"`+a.ID+`"`) || strings.Contains(line, a.IP.String()+"/32") || strings.Contains(line, a.IP.String()+":") {
			out = append(out, "iptables: "+line)
		}
	}
	if veth != "" {
		if exec.Command("ip", "link", "show", veth).Run() == nil {
			out = append(out, "veth "+veth)
		}
	}
	for _, p := range []string{
		filepath.Join(env.cfg.StateDir, "ipam", m.netName, a.IP.String()),
		a.NetNS,
		m.recordPath(a.ID),
	} {
		if _, err := os.Stat(p); err == nil {
			out = append(out, "file "+p)
		}
	}
	return out
}

func TestTeardownReleasesEverything(t *testing.T) {
	t.Parallel()
	env := newEnv(t, 6)
	m := env.manager(t)
	a := setup(t, m, "gone", ModeBridge, PortMapping{ContainerPort: 80}, PortMapping{ContainerPort: 53, Protocol: "udp"})
	m.mu.Lock()
	veth := m.records["gone"].HostVeth
	m.mu.Unlock()
	if veth == "" {
		t.Fatal("no host veth recorded")
	}
	// Before teardown the traces exist (so the check below can fail).
	if l := leftovers(t, env, m, a, veth); len(l) < 5 {
		t.Fatalf("expected rules, veth, lease, netns and record before teardown, found only %v", l)
	}
	for i := 0; i < 2; i++ {
		if err := m.Teardown(context.Background(), "gone"); err != nil {
			t.Fatalf("teardown %d: %v", i+1, err)
		}
	}
	if l := leftovers(t, env, m, a, veth); len(l) > 0 {
		t.Errorf("left after teardown:\n%s", strings.Join(l, "\n"))
	}
	if _, ok := m.Get("gone"); ok {
		t.Error("Get finds a torn-down attachment")
	}
	// Its ports and IP can be used again.
	b := setup(t, m, "again", ModeBridge, PortMapping{HostPort: a.Ports[0].HostPort, ContainerPort: 80})
	if b.Ports[0].HostPort != a.Ports[0].HostPort {
		t.Errorf("port %d not reusable: %+v", a.Ports[0].HostPort, b.Ports)
	}
}

// A record that lost its address (a crash between publishing and recording it) still
// has its published ports removed: Teardown finds the rules by the attachment id.
func TestTeardownFindsRulesOfIncompleteRecord(t *testing.T) {
	t.Parallel()
	env := newEnv(t, 31)
	m1 := env.manager(t)
	a := setup(t, m1, "half", ModeBridge, PortMapping{ContainerPort: 80}, PortMapping{ContainerPort: 53, Protocol: "udp"})
	b := setup(t, m1, "whole", ModeBridge, PortMapping{ContainerPort: 80})
	m1.mu.Lock()
	r := *m1.records["half"]
	m1.mu.Unlock()
	r.IP, r.Gateway = "", ""
	if err := m1.writeRecord(&r); err != nil {
		t.Fatal(err)
	}
	m2 := env.manager(t) // restart: reads the incomplete record
	if err := m2.Teardown(context.Background(), "half"); err != nil {
		t.Fatal(err)
	}
	if l := leftovers(t, env, m2, a, ""); len(l) > 0 {
		t.Errorf("left after teardown:\n%s", strings.Join(l, "\n"))
	}
	serveTCP(t, m2, b.NetNS, 80, "other task")
	wantTCP(t, hostPort("127.0.0.1", b.Ports[0].HostPort), "other task")
}

func TestSetupFailureUndoes(t *testing.T) {
	t.Parallel()
	env := newEnv(t, 7)
	env.cfg.Subnet = "10.213.57.0/29" // the gateway and 5 tasks
	m := env.manager(t)
	var n int
	var err error
	for n = 0; n < 10; n++ {
		if _, err = m.Setup(context.Background(), fmt.Sprintf("t%d", n), ModeBridge, []PortMapping{{ContainerPort: 80}}); err != nil {
			break
		}
	}
	if err == nil || n != 5 {
		t.Fatalf("setup %d of a /29: %v, want failure at the sixth", n, err)
	}
	id := fmt.Sprintf("t%d", n)
	if _, ok := m.Get(id); ok {
		t.Error("failed setup left a record")
	}
	if _, err := os.Stat(m.netnsPath(id)); !os.IsNotExist(err) {
		t.Errorf("failed setup left netns file: %v", err)
	}
	dump, _ := exec.Command("iptables-save").Output()
	if strings.Contains(string(dump), `"`+id+`"`) {
		t.Errorf("failed setup left iptables rules for %s", id)
	}
	// Its port was released: tearing one down lets the next one in.
	if err := m.Teardown(context.Background(), "t0"); err != nil {
		t.Fatal(err)
	}
	setup(t, m, id, ModeBridge, PortMapping{ContainerPort: 80})
}

func TestCleanupAfterCrash(t *testing.T) {
	t.Parallel()
	env := newEnv(t, 8)
	m1 := env.manager(t)
	dead := setup(t, m1, "dead", ModeBridge, PortMapping{ContainerPort: 80})
	live := setup(t, m1, "live", ModeBridge, PortMapping{ContainerPort: 80})
	setup(t, m1, "dead-none", ModeNone)
	m1.mu.Lock()
	veth := m1.records["dead"].HostVeth
	m1.mu.Unlock()
	// A namespace created just before a crash, with no record.
	orphan := filepath.Join(env.cfg.StateDir, "netns", "orphan")
	if err := createNetNS(orphan); err != nil {
		t.Fatal(err)
	}

	m2 := env.manager(t) // "restart"
	got, ok := m2.Get("live")
	if !ok || !got.IP.Equal(live.IP) || got.Ports[0] != live.Ports[0] {
		t.Fatalf("after restart Get(live) = %+v, %v; want %+v", got, ok, live)
	}
	// Ports survive the restart: a new task does not get live's port.
	other := setup(t, m2, "other", ModeBridge, PortMapping{ContainerPort: 80})
	if other.Ports[0].HostPort == live.Ports[0].HostPort || other.Ports[0].HostPort == dead.Ports[0].HostPort {
		t.Errorf("restarted manager reissued port %d", other.Ports[0].HostPort)
	}

	keep := map[string]bool{"live": true, "other": true}
	if err := m2.Cleanup(context.Background(), func(id string) bool { return keep[id] }); err != nil {
		t.Fatal(err)
	}
	if ids := m2.List(); strings.Join(ids, ",") != "live,other" {
		t.Errorf("after cleanup: %v, want live,other", ids)
	}
	if l := leftovers(t, env, m2, dead, veth); len(l) > 0 {
		t.Errorf("left after cleanup:\n%s", strings.Join(l, "\n"))
	}
	if _, err := os.Stat(orphan); !os.IsNotExist(err) {
		t.Errorf("orphan netns survives cleanup: %v", err)
	}
	serveTCP(t, m2, live.NetNS, 80, "still here")
	wantTCP(t, hostPort("127.0.0.1", live.Ports[0].HostPort), "still here")
}

func TestConcurrentSetups(t *testing.T) {
	t.Parallel()
	env := newEnv(t, 9)
	m := env.manager(t)
	const n = 8
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			_, err := m.Setup(context.Background(), fmt.Sprintf("c%d", i), ModeBridge, []PortMapping{{ContainerPort: 80}})
			errs <- err
		}()
	}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	ips, ports := map[string]bool{}, map[int]bool{}
	for _, id := range m.List() {
		a, _ := m.Get(id)
		ips[a.IP.String()] = true
		ports[a.Ports[0].HostPort] = true
	}
	if len(ips) != n || len(ports) != n {
		t.Errorf("%d tasks got %d distinct IPs and %d distinct ports", n, len(ips), len(ports))
	}
	for i := 0; i < n; i++ {
		go func() { errs <- m.Teardown(context.Background(), fmt.Sprintf("c%d", i)) }()
	}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

func TestAWSVPCMode(t *testing.T) {
	t.Parallel()
	env := newEnv(t, 10)
	m := env.manager(t)
	a := setup(t, m, "vpc-a", ModeAWSVPC, PortMapping{ContainerPort: 80})
	b := setup(t, m, "vpc-b", ModeAWSVPC, PortMapping{ContainerPort: 80, HostPort: 80})
	if a.Ports[0].HostPort != 80 || b.Ports[0].HostPort != 80 {
		t.Errorf("awsvpc ports %+v %+v, want host port = container port", a.Ports, b.Ports)
	}
	serveTCP(t, m, a.NetNS, 80, "a")
	serveTCP(t, m, b.NetNS, 80, "b")
	wantTCP(t, hostPort(a.IP.String(), 80), "a")
	wantTCP(t, hostPort(b.IP.String(), 80), "b")
}

// BenchmarkSetupTeardown times Setup plus Teardown of a bridge-mode task with
// one published port, the network share of a task's start and stop; it
// reports the median and the Setup share alone.
func BenchmarkSetupTeardown(b *testing.B) {
	env := newEnv(b, 11)
	m := env.manager(b)
	ctx := context.Background()
	var total, setups []time.Duration
	for i := 0; b.Loop(); i++ {
		id := fmt.Sprintf("bench%d", i)
		start := time.Now()
		if _, err := m.Setup(ctx, id, ModeBridge, []PortMapping{{ContainerPort: 80}}); err != nil {
			b.Fatal(err)
		}
		mid := time.Now()
		if err := m.Teardown(ctx, id); err != nil {
			b.Fatal(err)
		}
		total = append(total, time.Since(start))
		setups = append(setups, mid.Sub(start))
	}
	b.ReportMetric(float64(median(total).Microseconds())/1000, "median-ms")
	b.ReportMetric(float64(median(setups).Microseconds())/1000, "setup-median-ms")
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// TestOutboundNAT checks that traffic leaving the subnet is masqueraded: a
// server in an "outside" namespace (a veth the test owns, 10.213.249.0/30)
// sees the host's address, not the task's, and has no route back to tasks; and
// that a client there reaches a published port. Both cross the FORWARD chain,
// which drops this bridge's traffic during the test.
func TestOutboundNAT(t *testing.T) {
	t.Parallel()
	env := newEnv(t, 13)
	m := env.manager(t)
	a := setup(t, m, "nat", ModeBridge, PortMapping{ContainerPort: 80})
	serveTCP(t, m, a.NetNS, 80, "published")
	// As if the FORWARD policy were DROP (dockerd sets it), for this bridge only so as not
	// to disturb anything else on the machine: Gantry's FORWARD chain must come first.
	for _, dir := range []string{"-i", "-o"} {
		drop := []string{"FORWARD", dir, env.cfg.Bridge, "-j", "DROP"}
		if err := iptables(context.Background(), append([]string{"-A"}, drop...)...); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { iptables(context.Background(), append([]string{"-D"}, drop...)...) })
	}

	suffix := make([]byte, 3)
	rand.Read(suffix)
	hostEnd, outEnd := "gto"+hex.EncodeToString(suffix), "gti"+hex.EncodeToString(suffix)
	outside := filepath.Join(t.TempDir(), "outside")
	if err := createNetNS(outside); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		exec.Command("ip", "link", "del", hostEnd).Run()
		removeNetNS(outside)
	})
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v: %s", args, err, out)
		}
	}
	run("ip", "link", "add", hostEnd, "type", "veth", "peer", "name", outEnd)
	run("ip", "addr", "add", "10.213.249.1/30", "dev", hostEnd)
	run("ip", "link", "set", hostEnd, "up")
	run("ip", "link", "set", outEnd, "netns", outside)
	run("nsenter", "--net="+outside, "ip", "addr", "add", "10.213.249.2/30", "dev", outEnd)
	run("nsenter", "--net="+outside, "ip", "link", "set", outEnd, "up")

	var l net.Listener
	if err := m.Exec(outside, func() (err error) {
		l, err = net.Listen("tcp4", "10.213.249.2:9000")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
			io.WriteString(c, host+"\n")
			c.Close()
		}
	}()
	var got string
	err := m.Exec(a.NetNS, func() (err error) {
		got, err = readTCP("10.213.249.2:9000")
		return err
	})
	if err != nil || got != "10.213.249.1" {
		t.Errorf("outside server saw %q (%v), want the host's 10.213.249.1 (task is %v)", got, err, a.IP)
	}
	// And the other way: the outside reaches the task's published port on the host.
	err = m.Exec(outside, func() (err error) {
		got, err = readTCP(hostPort("10.213.249.1", a.Ports[0].HostPort))
		return err
	})
	if err != nil || got != "published" {
		t.Errorf("outside client to the published port: %q, %v", got, err)
	}
}

// Prepare returns a usable namespace at once; Connect adds the address later, so a
// container can be created in between.
func TestPrepareThenConnect(t *testing.T) {
	t.Parallel()
	env := newEnv(t, 30)
	m := env.manager(t)
	if _, err := m.Connect(context.Background(), "never-prepared"); !errors.Is(err, ErrBadInput) {
		t.Fatalf("Connect without Prepare: %v", err)
	}
	att, err := m.Prepare(context.Background(), "split", ModeBridge, []PortMapping{{ContainerPort: 80, Protocol: "tcp"}})
	if err != nil {
		t.Fatal(err)
	}
	if att.IP != nil || att.Ports[0].HostPort == 0 {
		t.Fatalf("prepared attachment: IP %v ports %+v; want no IP yet and a resolved host port", att.IP, att.Ports)
	}
	if _, err := os.Stat(att.NetNS); err != nil {
		t.Fatalf("prepared namespace: %v", err)
	}
	connected, err := m.Connect(context.Background(), "split")
	if err != nil {
		t.Fatal(err)
	}
	if !env.subnet.Contains(connected.IP) || connected.NetNS != att.NetNS || connected.Ports[0] != att.Ports[0] {
		t.Fatalf("connected: %+v, prepared %+v", connected, att)
	}
	if err := m.Teardown(context.Background(), "split"); err != nil {
		t.Fatal(err)
	}
}
