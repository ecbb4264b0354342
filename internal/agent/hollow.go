package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	goruntime "runtime"
	"sort"
	"sync"
	"syscall"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/opencontainers/go-digest"

	"gantry/internal/image"
	"gantry/internal/network"
	"gantry/internal/runtime"
)

// The hollow engine stands in for a node's runtime, image store and network in scale
// tests, as Kubernetes' kubemark "hollow" nodes do: an Agent configured with it goes
// through registration, the tunnel, assignments and every task state report exactly as
// on a real node, while "containers" are entries in memory. Many hollow agents fit in one
// process, so the control plane can be measured against hundreds of nodes on one machine.
// They are fakes for scale tests only: nothing runs, nothing is mounted, and no kernel
// object (namespace, link, iptables rule) is created.

// Compile-time checks that the hollow parts satisfy the agent's engine interfaces.
var (
	_ Runtime = (*HollowRuntime)(nil)
	_ Images  = (*HollowImages)(nil)
	_ Network = (*HollowNetwork)(nil)
)

// HollowRuntime is a fake Runtime for scale tests only: Create and Start record a
// container in memory, and Wait blocks until Stop (exit code 0, as a process that
// honours its stop signal), Kill (128+signal: 137 for SIGKILL), Delete (137) or the end
// of its context. Exec succeeds with exit code 0 and Logs has nothing to read. It is safe
// for concurrent use.
type HollowRuntime struct {
	mu         sync.Mutex
	containers map[string]*hollowContainer
}

type hollowContainer struct {
	info   runtime.ContainerInfo
	exit   runtime.ExitStatus
	exited chan struct{} // closed once exit is set
}

// NewHollowRuntime returns an empty hollow runtime.
func NewHollowRuntime() *HollowRuntime {
	return &HollowRuntime{containers: map[string]*hollowContainer{}}
}

func (h *HollowRuntime) get(id string) (*hollowContainer, error) {
	c := h.containers[id]
	if c == nil {
		return nil, fmt.Errorf("container %s: %w", id, runtime.ErrNotFound)
	}
	return c, nil
}

// end records that c's process exited with code, unless it already had. Callers hold
// h.mu.
func (c *hollowContainer) end(code int, signal string) {
	if c.info.Status == runtime.StatusExited {
		return
	}
	c.exit = runtime.ExitStatus{Code: code, Signal: signal, ExitedAt: time.Now()}
	c.info.Status, c.info.Exit = runtime.StatusExited, &c.exit
	close(c.exited)
}

// Create records a container in the created state.
func (h *HollowRuntime) Create(_ context.Context, spec runtime.ContainerSpec) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.containers[spec.ID]; ok {
		return fmt.Errorf("creating container %s: %w", spec.ID, runtime.ErrExists)
	}
	labels := make(map[string]string, len(spec.Labels))
	for k, v := range spec.Labels {
		labels[k] = v
	}
	h.containers[spec.ID] = &hollowContainer{
		info:   runtime.ContainerInfo{ID: spec.ID, Image: spec.Image, Labels: labels, Status: runtime.StatusCreated, CreatedAt: time.Now()},
		exited: make(chan struct{}),
	}
	return nil
}

// Run creates the container and, once ready (when given) returns nil, marks it running.
func (h *HollowRuntime) Run(ctx context.Context, spec runtime.ContainerSpec, ready func(context.Context) error) error {
	if err := h.Create(ctx, spec); err != nil {
		return err
	}
	if ready != nil {
		if err := ready(ctx); err != nil {
			h.Delete(ctx, spec.ID)
			return fmt.Errorf("creating container %s: %w", spec.ID, err)
		}
	}
	return h.Start(ctx, spec.ID)
}

// Start marks a created container running.
func (h *HollowRuntime) Start(_ context.Context, id string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, err := h.get(id)
	if err != nil {
		return err
	}
	if c.info.Status != runtime.StatusCreated {
		return fmt.Errorf("starting container %s: it is %s, not created", id, c.info.Status)
	}
	c.info.Status = runtime.StatusRunning
	return nil
}

// Kill ends the container as if its process died of sig (exit code 128+sig); signal 0
// only checks that the container exists.
func (h *HollowRuntime) Kill(_ context.Context, id string, sig syscall.Signal) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, err := h.get(id)
	if err != nil || sig == 0 {
		return err
	}
	c.end(128+int(sig), signalName(sig))
	return nil
}

func signalName(sig syscall.Signal) string {
	if sig == syscall.SIGKILL {
		return "SIGKILL"
	}
	return fmt.Sprintf("signal %d", int(sig))
}

// Stop ends the container with exit code 0 at once, whatever the timeout.
func (h *HollowRuntime) Stop(_ context.Context, id string, _ time.Duration) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, err := h.get(id)
	if err != nil {
		return err
	}
	c.end(0, "")
	return nil
}

// Wait blocks until the container has exited, or ctx ends.
func (h *HollowRuntime) Wait(ctx context.Context, id string) (runtime.ExitStatus, error) {
	h.mu.Lock()
	c, err := h.get(id)
	h.mu.Unlock()
	if err != nil {
		return runtime.ExitStatus{}, err
	}
	select {
	case <-c.exited:
		h.mu.Lock()
		defer h.mu.Unlock()
		return c.exit, nil
	case <-ctx.Done():
		return runtime.ExitStatus{}, ctx.Err()
	}
}

// Delete forgets the container, killing it (exit code 137) if it still ran; waiters
// return.
func (h *HollowRuntime) Delete(_ context.Context, id string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, err := h.get(id)
	if err != nil {
		return fmt.Errorf("deleting container %s: %w", id, runtime.ErrNotFound)
	}
	c.end(137, "SIGKILL")
	delete(h.containers, id)
	return nil
}

// Exec runs nothing and reports exit code 0 for a container that runs.
func (h *HollowRuntime) Exec(_ context.Context, id string, _ runtime.ExecSpec) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, err := h.get(id)
	if err != nil {
		return 0, err
	}
	if c.info.Status != runtime.StatusRunning {
		return 0, fmt.Errorf("exec in container %s: it is %s, not running", id, c.info.Status)
	}
	return 0, nil
}

// List returns the containers it holds, by id.
func (h *HollowRuntime) List(context.Context) ([]runtime.ContainerInfo, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]runtime.ContainerInfo, 0, len(h.containers))
	for _, c := range h.containers {
		info := c.info
		if info.Exit != nil {
			exit := *info.Exit
			info.Exit = &exit
		}
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Logs has no entries to give for a container it holds.
func (h *HollowRuntime) Logs(_ context.Context, id string, _ runtime.LogOptions, _ func(runtime.LogEntry) error) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := h.get(id)
	return err
}

// PruneLogArchive has nothing to prune.
func (h *HollowRuntime) PruneLogArchive(time.Time) (int, error) { return 0, nil }

// HollowImages is a fake image store for scale tests only: every reference is present
// (Get and Pull return the same small image, whose config runs ["hollow"]), Mount returns
// a path that does not exist, and nothing is stored. It remembers the references it was
// asked for, imported or pulled, for List. It is safe for concurrent use.
type HollowImages struct {
	mu   sync.Mutex
	refs map[string]bool
}

// NewHollowImages returns a hollow image store that lists no image yet.
func NewHollowImages() *HollowImages { return &HollowImages{refs: map[string]bool{}} }

// hollowDigest names the hollow image's manifest and its one layer.
var hollowDigest = digest.FromString("gantry hollow image")

func hollowImage(ref string) *image.Image {
	return &image.Image{
		Ref:    ref,
		Digest: hollowDigest,
		Config: v1.ConfigFile{
			OS: "linux", Architecture: goruntime.GOARCH,
			Config: v1.Config{Cmd: []string{"hollow"}, Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}},
		},
		ChainIDs: []digest.Digest{hollowDigest},
	}
}

func (h *HollowImages) remember(ref string) *image.Image {
	h.mu.Lock()
	h.refs[ref] = true
	h.mu.Unlock()
	return hollowImage(ref)
}

// Get returns the hollow image under ref, for any ref.
func (h *HollowImages) Get(ref string) (*image.Image, error) { return h.remember(ref), nil }

// Pull returns the hollow image under ref without any network traffic.
func (h *HollowImages) Pull(_ context.Context, ref string, _ image.PullOptions) (*image.Image, error) {
	return h.remember(ref), nil
}

// Mount returns a path for the container's root filesystem; nothing is there.
func (h *HollowImages) Mount(_ context.Context, _ *image.Image, id string) (string, error) {
	return "/nonexistent/gantry-hollow/rootfs/" + id, nil
}

// Mounts has none: a hollow mount is only a path.
func (h *HollowImages) Mounts() ([]string, error) { return nil, nil }

// Unmount has nothing to undo.
func (h *HollowImages) Unmount(string) error { return nil }

// List returns the hollow image under each reference it was asked for.
func (h *HollowImages) List() ([]*image.Image, error) {
	h.mu.Lock()
	refs := make([]string, 0, len(h.refs))
	for ref := range h.refs {
		refs = append(refs, ref)
	}
	h.mu.Unlock()
	sort.Strings(refs)
	out := make([]*image.Image, len(refs))
	for i, ref := range refs {
		out[i] = hollowImage(ref)
	}
	return out, nil
}

// Import reads the tarball to its end (so a client's upload completes) and stores
// nothing.
func (h *HollowImages) Import(_ context.Context, rootfsTar io.Reader, ref string) (*image.Image, error) {
	if _, err := io.Copy(io.Discard, rootfsTar); err != nil {
		return nil, fmt.Errorf("importing %s: %w", ref, err)
	}
	return h.remember(ref), nil
}

// Load reads the archive to its end and loads no image.
func (h *HollowImages) Load(_ context.Context, archive io.Reader) ([]*image.Image, error) {
	if _, err := io.Copy(io.Discard, archive); err != nil {
		return nil, fmt.Errorf("loading images: %w", err)
	}
	return []*image.Image{}, nil
}

// Remove forgets ref.
func (h *HollowImages) Remove(ref string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.refs[ref] {
		return fmt.Errorf("removing image %s: %w", ref, image.ErrNotFound)
	}
	delete(h.refs, ref)
	return nil
}

// Save has no content to write.
func (h *HollowImages) Save(context.Context, io.Writer, ...string) error {
	return errors.New("a hollow instance's images hold no content to save")
}

// GC has nothing to collect: a hollow image holds no content.
func (h *HollowImages) GC(context.Context) (int, error) { return 0, nil }

// HollowNetwork is a fake task network for scale tests only: attachments live in memory,
// bridge and awsvpc ones get addresses counted up from 198.18.0.2 (the range RFC 2544
// sets aside for benchmarks; they are never configured anywhere), and a host port of 0
// gets a port counted up from 49153. No namespace, link or rule is created. It is safe
// for concurrent use.
type HollowNetwork struct {
	mu       sync.Mutex
	atts     map[string]*network.Attachment
	nextIP   uint32
	nextPort int
}

// NewHollowNetwork returns a hollow network with no attachment.
func NewHollowNetwork() *HollowNetwork {
	return &HollowNetwork{atts: map[string]*network.Attachment{}}
}

// hollowGateway and hollowHosts bound the addresses handed out: 198.18.0.0/15.
var hollowGateway = net.IPv4(198, 18, 0, 1).To4()

const (
	hollowHosts               = 1<<17 - 3 // .0.2 up to .255.254 of the /15
	hollowPortLo, hollowPortN = 49153, 65535 - 49153 + 1
)

func copyAttachment(a *network.Attachment) *network.Attachment {
	c := *a
	c.Ports = append([]network.PortMapping(nil), a.Ports...)
	return &c
}

// Prepare records attachment id with its address and ports resolved.
func (h *HollowNetwork) Prepare(_ context.Context, id, mode string, ports []network.PortMapping) (*network.Attachment, error) {
	switch mode {
	case network.ModeBridge, network.ModeAWSVPC, network.ModeHost, network.ModeNone:
	default:
		return nil, fmt.Errorf("%w: unknown network mode %q (want bridge, awsvpc, host or none)", network.ErrBadInput, mode)
	}
	if mode == network.ModeNone && len(ports) > 0 {
		return nil, fmt.Errorf("%w: none mode cannot have port mappings", network.ErrBadInput)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.atts[id]; ok {
		return nil, fmt.Errorf("network for %s: %w", id, network.ErrExists)
	}
	a := &network.Attachment{ID: id, Mode: mode, Ports: make([]network.PortMapping, len(ports))}
	if mode != network.ModeHost {
		a.NetNS = "/nonexistent/gantry-hollow/netns/" + id
	}
	if mode == network.ModeBridge || mode == network.ModeAWSVPC {
		n := 2 + h.nextIP%hollowHosts
		h.nextIP++
		a.IP = net.IPv4(198, 18+byte(n>>16), byte(n>>8), byte(n)).To4()
		a.Gateway = hollowGateway
	}
	for i, p := range ports {
		if p.Protocol == "" {
			p.Protocol = "tcp"
		}
		switch {
		case mode != network.ModeBridge:
			p.HostPort = p.ContainerPort
		case p.HostPort == 0:
			p.HostPort = hollowPortLo + h.nextPort%hollowPortN
			h.nextPort++
		}
		a.Ports[i] = p
	}
	h.atts[id] = a
	return copyAttachment(a), nil
}

// Connect returns the prepared attachment id.
func (h *HollowNetwork) Connect(_ context.Context, id string) (*network.Attachment, error) {
	a, ok := h.Get(id)
	if !ok {
		return nil, fmt.Errorf("network for %s: not prepared: %w", id, network.ErrBadInput)
	}
	return a, nil
}

// Get returns attachment id.
func (h *HollowNetwork) Get(id string) (*network.Attachment, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	a, ok := h.atts[id]
	if !ok {
		return nil, false
	}
	return copyAttachment(a), true
}

// Teardown forgets attachment id; an unknown id is no error.
func (h *HollowNetwork) Teardown(_ context.Context, id string) error {
	h.mu.Lock()
	delete(h.atts, id)
	h.mu.Unlock()
	return nil
}

// Cleanup forgets every attachment for which keep (nil: keep nothing) returns false.
// keep is called without the lock held: the agent's keep takes the agent's own lock, which
// it also holds while it calls Teardown.
func (h *HollowNetwork) Cleanup(ctx context.Context, keep func(id string) bool) error {
	h.mu.Lock()
	ids := make([]string, 0, len(h.atts))
	for id := range h.atts {
		ids = append(ids, id)
	}
	h.mu.Unlock()
	var errs []error
	for _, id := range ids {
		if keep == nil || !keep(id) {
			errs = append(errs, h.Teardown(ctx, id))
		}
	}
	return errors.Join(errs...)
}
