package network

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sync"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/version"
)

// Network modes, as in an ECS task definition's networkMode.
const (
	// ModeBridge gives the task its own namespace and IP on the node bridge
	// and publishes port mappings on the host.
	ModeBridge = "bridge"
	// ModeAWSVPC gives the task its own namespace and IP on the node bridge;
	// as in ECS, its ports are served on that IP (host port = container
	// port) and nothing is published on the host, so two tasks can use the
	// same port.
	ModeAWSVPC = "awsvpc"
	// ModeHost shares the host's namespace.
	ModeHost = "host"
	// ModeNone gives the task its own namespace with only loopback.
	ModeNone = "none"
)

// Attaches tells whether Connect has work to do in mode: attach the namespace to the
// bridge (and publish ports). In host and none mode the namespace is complete once
// Prepare returns.
func Attaches(mode string) bool { return mode == ModeBridge || mode == ModeAWSVPC }

// Errors callers may branch on.
var (
	ErrExists   = errors.New("network attachment already exists")
	ErrBadInput = errors.New("invalid network request")
)

// Config configures a Manager. Zero fields take the defaults below.
type Config struct {
	// Bridge is the node bridge, "gantry0" by default.
	Bridge string
	// Subnet is the IPv4 subnet tasks get addresses from (host-local
	// IPAM), "10.213.0.0/16" by default; the bridge takes its first address.
	Subnet string
	// PluginDirs are searched for CNI plugins, {"/usr/lib/cni"} by default.
	PluginDirs []string
	// StateDir holds netns files, records, IPAM leases and the CNI cache;
	// "/run/gantry/network" by default.
	StateDir string
	// PortRange bounds dynamic host ports, inclusive; 49153-65535 by
	// default, the range ECS and Docker use.
	PortRange [2]int
	// Logger receives state changes; nil discards them.
	Logger *slog.Logger
}

// Attachment is a task's network as its containers see it.
type Attachment struct {
	ID   string
	Mode string
	// NetNS is the namespace file for the OCI spec's network namespace
	// path; empty means the host's namespace.
	NetNS string
	// IP and Gateway are the task's address on the bridge (bridge and
	// awsvpc modes only).
	IP      net.IP
	Gateway net.IP
	// Ports are the mappings with dynamic host ports resolved.
	Ports []PortMapping
}

// Manager sets up and tears down task networks on one node. Calls for
// different ids may run concurrently; calls for one id must not overlap.
type Manager struct {
	cfg     Config
	netName string
	cni     *libcni.CNIConfig
	log     *slog.Logger

	mu       sync.Mutex
	records  map[string]*record
	nextPort int
}

// requiredPlugins are the CNI plugin binaries a Manager runs.
func requiredPlugins() []string { return []string{"bridge", "host-local"} }

// New checks the node can run task networks (plugins and iptables present,
// a namespace can be created) and loads the attachments StateDir records.
func New(cfg Config) (*Manager, error) {
	if cfg.Bridge == "" {
		cfg.Bridge = "gantry0"
	}
	if cfg.Subnet == "" {
		cfg.Subnet = "10.213.0.0/16"
	}
	if len(cfg.PluginDirs) == 0 {
		cfg.PluginDirs = []string{"/usr/lib/cni"}
	}
	if cfg.StateDir == "" {
		cfg.StateDir = "/run/gantry/network"
	}
	if cfg.PortRange == [2]int{} {
		cfg.PortRange = [2]int{49153, 65535}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if len(cfg.Bridge) > 15 || !ifNameRE.MatchString(cfg.Bridge) {
		return nil, fmt.Errorf("bridge name %q: want 1-15 letters, digits, '-', '_' or '.'", cfg.Bridge)
	}
	if _, err := parseSubnet(cfg.Subnet); err != nil {
		return nil, err
	}
	if lo, hi := cfg.PortRange[0], cfg.PortRange[1]; lo < 1 || hi > 65535 || lo > hi {
		return nil, fmt.Errorf("port range %d-%d: want 1 <= low <= high <= 65535", lo, hi)
	}
	for _, p := range requiredPlugins() {
		if _, err := findPlugin(p, cfg.PluginDirs); err != nil {
			return nil, err
		}
	}
	if _, err := exec.LookPath("iptables"); err != nil {
		return nil, errors.New("iptables not found in PATH (Gantry's NAT rules and the CNI bridge plugin need it): install the Debian package iptables")
	}
	for _, d := range []string{"attachments", "netns", "ipam", "cache"} {
		if err := os.MkdirAll(filepath.Join(cfg.StateDir, d), 0o700); err != nil {
			return nil, fmt.Errorf("creating network state dir: %w", err)
		}
	}
	m := &Manager{
		cfg:     cfg,
		netName: "gantry-" + cfg.Bridge,
		// An explicit exec: libcni's lazy default is set without a lock.
		cni: libcni.NewCNIConfigWithCacheDir(cfg.PluginDirs, filepath.Join(cfg.StateDir, "cache"),
			&invoke.DefaultExec{RawExec: &invoke.RawExec{}, PluginDecoder: version.PluginDecoder{}}),
		log:      cfg.Logger,
		nextPort: cfg.PortRange[0],
	}
	probe := filepath.Join(cfg.StateDir, "netns", fmt.Sprintf(".probe-%d", os.Getpid()))
	if err := createNetNS(probe); err != nil {
		return nil, fmt.Errorf("cannot create network namespaces (needs root / CAP_SYS_ADMIN): %w", err)
	}
	if err := removeNetNS(probe); err != nil {
		return nil, err
	}
	if err := m.ensureRules(context.Background()); err != nil {
		return nil, err
	}
	recs, err := m.loadRecords()
	if err != nil {
		return nil, err
	}
	m.records = recs
	if err := m.republish(context.Background()); err != nil {
		return nil, err
	}
	return m, nil
}

func findPlugin(name string, dirs []string) (string, error) {
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("CNI plugin %q not found in %v: install the Debian package containernetworking-plugins", name, dirs)
}

var (
	ifNameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
	// idRE is what CNI accepts as a container id, which is also a safe
	// file name.
	idRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)
)

func validateID(id string) error {
	if len(id) == 0 || len(id) > 128 || !idRE.MatchString(id) {
		return fmt.Errorf("attachment id %q: want 1-128 letters, digits, '_', '.' or '-', starting with a letter or digit: %w", id, ErrBadInput)
	}
	return nil
}

func (m *Manager) netnsPath(id string) string {
	return filepath.Join(m.cfg.StateDir, "netns", id)
}

// checkModePorts validates mode and normalizes ports for it.
func checkModePorts(mode string, ports []PortMapping) ([]PortMapping, error) {
	ports, err := normalizePorts(ports)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadInput, err)
	}
	switch mode {
	case ModeBridge:
	case ModeAWSVPC, ModeHost:
		for i := range ports {
			if ports[i].HostPort != 0 && ports[i].HostPort != ports[i].ContainerPort {
				return nil, fmt.Errorf("%w: %s mode: host port %d must equal container port %d or be omitted", ErrBadInput, mode, ports[i].HostPort, ports[i].ContainerPort)
			}
			ports[i].HostPort = ports[i].ContainerPort
		}
	case ModeNone:
		if len(ports) > 0 {
			return nil, fmt.Errorf("%w: none mode cannot have port mappings", ErrBadInput)
		}
	default:
		return nil, fmt.Errorf("%w: unknown network mode %q (want bridge, awsvpc, host or none)", ErrBadInput, mode)
	}
	return ports, nil
}

// Setup creates the network for attachment id: Prepare, then Connect.
func (m *Manager) Setup(ctx context.Context, id, mode string, ports []PortMapping) (*Attachment, error) {
	if _, err := m.Prepare(ctx, id, mode, ports); err != nil {
		return nil, err
	}
	return m.Connect(ctx, id)
}

// Prepare claims id and its host ports and creates its network namespace. The
// attachment it returns has its namespace and ports but no address yet. It takes about
// a millisecond, so a container can be created in the namespace while Connect attaches
// it to the bridge: the slow CNI work overlaps the runtime's.
func (m *Manager) Prepare(ctx context.Context, id, mode string, ports []PortMapping) (*Attachment, error) {
	if err := validateID(id); err != nil {
		return nil, err
	}
	ports, err := checkModePorts(mode, ports)
	if err != nil {
		return nil, err
	}
	r := &record{ID: id, Mode: mode, Ports: ports}
	if mode != ModeHost {
		r.NetNS = m.netnsPath(id)
	}
	if err := m.reserve(r); err != nil {
		return nil, err
	}
	if mode != ModeHost {
		if err := createNetNS(r.NetNS); err != nil {
			return nil, m.undo(ctx, id, err)
		}
	}
	return r.attachment(), nil
}

// Connect attaches a prepared attachment to the bridge (bridge and awsvpc modes) and
// returns it with its address. If it fails, everything for id is removed.
func (m *Manager) Connect(ctx context.Context, id string) (*Attachment, error) {
	m.mu.Lock()
	r, ok := m.records[id]
	m.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("network for %s: not prepared: %w", id, ErrBadInput)
	}
	if Attaches(r.Mode) {
		if err := m.cniAdd(ctx, r); err != nil {
			return nil, m.undo(ctx, id, err)
		}
		if r.Mode == ModeBridge && len(r.Ports) > 0 {
			if err := m.publish(ctx, r); err != nil {
				return nil, m.undo(ctx, id, err)
			}
		}
		m.mu.Lock()
		err := m.writeRecord(r)
		m.mu.Unlock()
		if err != nil {
			return nil, m.undo(ctx, id, err)
		}
	}
	m.log.Info("network attached", "attachment", id, "mode", r.Mode, "ip", r.IP, "ports", r.Ports)
	return r.attachment(), nil
}

// undo tears down whatever exists for id after err and returns err with context.
func (m *Manager) undo(ctx context.Context, id string, err error) error {
	if terr := m.Teardown(context.WithoutCancel(ctx), id); terr != nil {
		err = errors.Join(err, fmt.Errorf("undoing: %w", terr))
	}
	return fmt.Errorf("setting up network for %s: %w", id, err)
}

// reserve claims id and resolves r's host ports under the lock, then
// records the claim on disk before any kernel object exists.
func (m *Manager) reserve(r *record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.records[r.ID]; ok {
		return fmt.Errorf("network for %s: %w", r.ID, ErrExists)
	}
	if r.Mode == ModeBridge {
		taken := map[portKey]string{}
		for _, o := range m.records {
			if o.Mode == ModeBridge {
				for _, p := range o.Ports {
					taken[portKey{p.HostPort, p.Protocol}] = o.ID
				}
			}
		}
		ports, next, err := assignPorts(r.Ports, taken, m.cfg.PortRange[0], m.cfg.PortRange[1], m.nextPort)
		if err != nil {
			return fmt.Errorf("network for %s: %w", r.ID, err)
		}
		r.Ports, m.nextPort = ports, next
	}
	if err := m.writeRecord(r); err != nil {
		return err
	}
	m.records[r.ID] = r
	return nil
}

// Get returns the attachment for id, including ones set up before a restart.
func (m *Manager) Get(id string) (*Attachment, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.records[id]
	if !ok {
		return nil, false
	}
	return r.attachment(), true
}

// List returns the ids of all attachments, sorted.
func (m *Manager) List() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	ids := make([]string, 0, len(m.records))
	for id := range m.records {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (r *record) attachment() *Attachment {
	return &Attachment{
		ID:      r.ID,
		Mode:    r.Mode,
		NetNS:   r.NetNS,
		IP:      net.ParseIP(r.IP),
		Gateway: net.ParseIP(r.Gateway),
		Ports:   slices.Clone(r.Ports),
	}
}

// Teardown removes everything Setup created for id: port rules, IP lease,
// veth, namespace and record. Tearing down an unknown id does nothing. If a
// step fails the record stays, so Teardown or Cleanup can be retried.
func (m *Manager) Teardown(ctx context.Context, id string) error {
	if err := validateID(id); err != nil {
		return err
	}
	m.mu.Lock()
	r, ok := m.records[id]
	m.mu.Unlock()
	if !ok {
		return nil
	}
	if err := m.release(ctx, r); err != nil {
		return fmt.Errorf("tearing down network for %s: %w", id, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.removeRecord(id); err != nil {
		return err
	}
	delete(m.records, id)
	m.log.Info("network detached", "attachment", id)
	return nil
}

// release removes the kernel objects, rules and leases of r, whatever state a
// setup left them in. The published ports' rules and the CNI attachment are
// independent, so they go at the same time.
func (m *Manager) release(ctx context.Context, r *record) error {
	if r.Mode == ModeHost {
		return nil
	}
	path := m.netnsPath(r.ID)
	unpublished := make(chan error, 1)
	if r.Mode == ModeBridge {
		go func() { unpublished <- m.unpublish(ctx, r) }()
	} else {
		unpublished <- nil
	}
	var err error
	if r.Mode != ModeNone {
		netns := path
		if _, serr := os.Stat(path); serr != nil {
			netns = "" // the plugins still release the lease and rules
		}
		err = m.cniDel(ctx, r.ID, netns)
	}
	if err = errors.Join(err, <-unpublished); err != nil {
		return err
	}
	return removeNetNS(path)
}

// Cleanup tears down every attachment in StateDir for which keep returns
// false, as after a crash, including namespaces and CNI results left without
// a record. keep nil keeps nothing.
func (m *Manager) Cleanup(ctx context.Context, keep func(id string) bool) error {
	if keep == nil {
		keep = func(string) bool { return false }
	}
	var errs []error
	for _, id := range m.List() {
		if !keep(id) {
			errs = append(errs, m.Teardown(ctx, id))
		}
	}
	for _, id := range m.cachedIDs() {
		if !m.has(id) && !keep(id) {
			errs = append(errs, m.release(ctx, &record{ID: id, Mode: ModeBridge}))
		}
	}
	entries, _ := os.ReadDir(filepath.Join(m.cfg.StateDir, "netns"))
	for _, e := range entries {
		id := e.Name()
		if !m.has(id) && (validateID(id) != nil || !keep(id)) {
			errs = append(errs, removeNetNS(filepath.Join(m.cfg.StateDir, "netns", id)))
		}
	}
	return errors.Join(errs...)
}

// Destroy tears down every attachment and removes the bridge and its NAT
// rules: the node's network as if New had never run, apart from StateDir and
// the CNI plugins' shared chains.
func (m *Manager) Destroy(ctx context.Context) error {
	errs := []error{m.Cleanup(ctx, nil), m.removeRules(ctx)}
	if _, err := os.Stat(filepath.Join("/sys/class/net", m.cfg.Bridge)); err == nil {
		if out, err := exec.CommandContext(ctx, "ip", "link", "del", m.cfg.Bridge).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("deleting bridge %s: %v: %s", m.cfg.Bridge, err, out))
		}
	}
	return errors.Join(errs...)
}

func (m *Manager) has(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.records[id]
	return ok
}
