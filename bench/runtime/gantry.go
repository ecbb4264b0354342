package main

import (
	"context"
	"errors"
	"fmt"
	"gantry/bench/internal/rootfs"
	"gantry/bench/internal/sweep"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"gantry/internal/image"
	"gantry/internal/network"
	"gantry/internal/runtime"
)

// gantry drives Gantry's engine in process, as the agent does: image store, network
// manager and runtime, with `gantry-shim` as each container's shim.
type gantry struct {
	store *image.Store
	img   *image.Image
	rt    *runtime.Runtime
	nm    *network.Manager
	seq   int
}

func setupGantry(ctx context.Context, work string, fs rootfs.Rootfs, cl *sweep.Cleanup) (*gantry, error) {
	bin := filepath.Join(work, "gantry-shim")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/gantry-shim")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return nil, fmt.Errorf("building gantry-shim (run from the repository root): %w", err)
	}
	g := &gantry{}
	var err error
	if g.store, err = image.Open(filepath.Join(work, "gantry", "images")); err != nil {
		return nil, err
	}
	tb, err := os.Open(fs.Tarball)
	if err != nil {
		return nil, err
	}
	g.img, err = g.store.Import(ctx, tb, imageRef)
	tb.Close()
	if err != nil {
		return nil, fmt.Errorf("importing rootfs: %w", err)
	}
	g.rt, err = runtime.New(runtime.Config{
		StateDir: filepath.Join(work, "gantry", "run"),
		DataDir:  filepath.Join(work, "gantry", "containers"),
		ShimCmd:  []string{bin},
	})
	if err != nil {
		return nil, err
	}
	cl.Add("gantry containers and mounts", g.removeAll)
	g.nm, err = network.New(network.Config{
		Bridge:   gantryBridge,
		Subnet:   gantrySubnet,
		StateDir: filepath.Join(work, "gantry", "network"),
	})
	if err != nil {
		return nil, err
	}
	cl.Add("gantry network", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return g.nm.Destroy(ctx)
	})
	return g, nil
}

// removeAll deletes every container the runtime knows and unmounts every rootfs.
func (g *gantry) removeAll() error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var errs []error
	cs, err := g.rt.List(ctx)
	if err != nil {
		errs = append(errs, err)
	}
	for _, c := range cs {
		if err := g.rt.Delete(ctx, c.ID); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			errs = append(errs, err)
		}
	}
	for i := 0; i <= g.seq; i++ {
		for _, p := range []string{"gbench-true-", "gbench-http-"} {
			if err := g.store.Unmount(fmt.Sprint(p, i)); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func (g *gantry) nextID(prefix string) string {
	g.seq++
	return fmt.Sprint(prefix, g.seq)
}

func (g *gantry) engine() *engine {
	return &engine{name: "gantry", oneShot: g.oneShot, serve: g.serve}
}

// oneShot: Mount → Run (create and start, own empty netns) → Wait → Delete → Unmount.
func (g *gantry) oneShot(ctx context.Context, _ int) (_ time.Duration, _ []phase, err error) {
	id := g.nextID("gbench-true-")
	defer func() {
		if err != nil {
			g.rt.Delete(context.WithoutCancel(ctx), id)
			g.store.Unmount(id)
		}
	}()
	t := newStopwatch()
	merged, err := g.store.Mount(ctx, g.img, id)
	if err != nil {
		return 0, nil, err
	}
	t.lap("mount")
	spec := runtime.ContainerSpec{ID: id, Image: imageRef, Rootfs: merged, Args: []string{"/bin/true"}, NetNS: runtime.NetNSNone}
	if err := g.rt.Run(ctx, spec, nil); err != nil {
		return 0, nil, err
	}
	t.lap("run")
	st, err := g.rt.Wait(ctx, id)
	if err != nil {
		return 0, nil, err
	}
	if st.Code != 0 {
		return 0, nil, fmt.Errorf("/bin/true exited %d", st.Code)
	}
	t.lap("wait")
	if err := g.rt.Delete(ctx, id); err != nil {
		return 0, nil, err
	}
	t.lap("delete")
	if err := g.store.Unmount(id); err != nil {
		return 0, nil, err
	}
	t.lap("unmount")
	t.add("run→exit", t.between("mount", "wait"))
	return t.total(), t.phases, nil
}

// serve: Mount ∥ network Prepare (namespace, 127.0.0.1:port → 80), then Run, whose process
// is held until Connect (CNI bridge) is done → first 200 from 127.0.0.1:port; then Delete,
// Unmount, Teardown (timed as "teardown").
func (g *gantry) serve(ctx context.Context, _ int) (_ time.Duration, _ []phase, err error) {
	id := g.nextID("gbench-http-")
	port, err := freePort()
	if err != nil {
		return 0, nil, err
	}
	cleanup := func() error {
		ctx := context.WithoutCancel(ctx)
		return errors.Join(g.rt.Delete(ctx, id), g.store.Unmount(id), g.nm.Teardown(ctx, id))
	}
	defer func() {
		if err != nil {
			cleanup()
		}
	}()
	t := newStopwatch()
	// As the agent does it: the overlay is mounted while Prepare makes the namespace, and
	// the CNI attach (the slow part) runs while runc makes the container in that
	// namespace, whose process waits for the attach before it execs.
	type prepared struct {
		att *network.Attachment
		err error
	}
	preparedC, connected := make(chan prepared, 1), make(chan error, 1)
	go func() {
		att, err := g.nm.Prepare(ctx, id, network.ModeBridge, []network.PortMapping{{HostPort: port, ContainerPort: 80, HostIP: "127.0.0.1"}})
		preparedC <- prepared{att, err}
		if err == nil {
			_, err = g.nm.Connect(ctx, id)
		}
		connected <- err
	}()
	merged, mountErr := g.store.Mount(ctx, g.img, id)
	p := <-preparedC
	if err := errors.Join(mountErr, p.err); err != nil {
		<-connected
		return 0, nil, err
	}
	att := p.att
	t.lap("mount ∥ net prepare")
	spec := runtime.ContainerSpec{
		ID: id, Image: imageRef, Rootfs: merged, NetNS: att.NetNS, Hostname: id,
		Hosts: network.HostsFile(id, nil, nil),
		Args:  []string{"/bin/httpd", "-f", "-p", "80", "-h", "/www"},
	}
	if err := g.rt.Run(ctx, spec, func(context.Context) error { return <-connected }); err != nil {
		return 0, nil, err
	}
	t.lap("run ∥ net connect")
	if err := waitServing(ctx, fmt.Sprintf("http://127.0.0.1:%d/", port)); err != nil {
		return 0, nil, err
	}
	t.lap("first 200")
	total := t.total()
	t.add("run→200", t.between("mount ∥ net prepare", "first 200"))
	if err := cleanup(); err != nil {
		return 0, nil, fmt.Errorf("tearing down: %w", err)
	}
	t.lap("teardown")
	return total, t.phases, nil
}

// stopwatch records consecutive laps.
type stopwatch struct {
	start, last time.Time
	phases      []phase
	at          map[string]time.Time
}

func newStopwatch() *stopwatch {
	now := time.Now()
	return &stopwatch{start: now, last: now, at: map[string]time.Time{}}
}

func (s *stopwatch) lap(name string) {
	now := time.Now()
	s.phases = append(s.phases, phase{name, now.Sub(s.last)})
	s.last, s.at[name] = now, now
}

func (s *stopwatch) add(name string, d time.Duration) { s.phases = append(s.phases, phase{name, d}) }

// between is the time from the end of lap a to the end of lap b.
func (s *stopwatch) between(a, b string) time.Duration { return s.at[b].Sub(s.at[a]) }

func (s *stopwatch) total() time.Duration { return s.last.Sub(s.start) }
