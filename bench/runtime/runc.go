package main

import (
	"context"
	"encoding/json"
	"fmt"
	"gantry/bench/internal/rootfs"
	"gantry/bench/internal/sweep"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"gantry/internal/runtime"
)

// runc runs raw `runc run` of bundles made from the config.json Gantry writes (same
// seccomp profile, capabilities, masked paths, rlimits), rooted at a plain directory.
type runc struct {
	root, trueBundle, httpBundle, log string
}

func setupRunc(ctx context.Context, work string, fs rootfs.Rootfs, g *gantry, cl *sweep.Cleanup) (*engine, error) {
	if _, err := exec.LookPath("runc"); err != nil {
		return nil, fmt.Errorf("runc is missing (apt-get install runc): %w", err)
	}
	r := &runc{root: filepath.Join(work, "runc", "state"), log: filepath.Join(work, "runc", "runc.log")}
	base, err := gantrySpec(ctx, g, filepath.Join(work, "runc", "files"))
	if err != nil {
		return nil, fmt.Errorf("getting the config Gantry writes: %w", err)
	}
	base.Root = &specs.Root{Path: fs.Dir}
	base.Hostname = "gbench-raw"

	r.trueBundle = filepath.Join(work, "runc", "true")
	base.Linux.CgroupsPath = "/gantry/gbench-raw-true"
	if err := writeBundle(r.trueBundle, base); err != nil {
		return nil, err
	}

	r.httpBundle = filepath.Join(work, "runc", "http")
	base.Process.Args = []string{"/bin/httpd", "-f", "-p", "80", "-h", "/www"}
	base.Linux.CgroupsPath = "/gantry/gbench-raw-http"
	for i, ns := range base.Linux.Namespaces {
		if ns.Type == specs.NetworkNamespace {
			base.Linux.Namespaces[i].Path = "/run/netns/" + runcNetNS
		}
	}
	if err := writeBundle(r.httpBundle, base); err != nil {
		return nil, err
	}
	cl.Add("runc containers", r.removeAll)
	cl.Add("runc netns", removeBareNetNS)
	if err := createBareNetNS(ctx); err != nil {
		return nil, fmt.Errorf("creating netns %s: %w", runcNetNS, err)
	}
	return &engine{name: "runc", oneShot: r.oneShot, serve: r.serve}, nil
}

// gantrySpec has Gantry create (not start) a /bin/true container in its own network
// namespace and returns its config.json, with the files it bind-mounts from the bundle
// (hosts, resolv.conf, hostname) copied to dir.
func gantrySpec(ctx context.Context, g *gantry, dir string) (*specs.Spec, error) {
	id := g.nextID("gbench-true-")
	merged, err := g.store.Mount(ctx, g.img, id)
	if err != nil {
		return nil, err
	}
	defer g.store.Unmount(id)
	spec := runtime.ContainerSpec{ID: id, Image: imageRef, Rootfs: merged, Args: []string{"/bin/true"}, NetNS: runtime.NetNSNone}
	if err := g.rt.Create(ctx, spec); err != nil {
		return nil, err
	}
	defer g.rt.Delete(context.WithoutCancel(ctx), id)
	info, err := g.rt.Info(ctx, id)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(info.Bundle, "config.json"))
	if err != nil {
		return nil, err
	}
	var s specs.Spec
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, err
	}
	if s.Process == nil || s.Linux == nil {
		return nil, fmt.Errorf("%s/config.json has no process or linux section", info.Bundle)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	for i, m := range s.Mounts {
		if !strings.HasPrefix(m.Source, info.Bundle+"/") {
			continue
		}
		data, err := os.ReadFile(m.Source)
		if err != nil {
			return nil, err
		}
		dst := filepath.Join(dir, filepath.Base(m.Source))
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			return nil, err
		}
		s.Mounts[i].Source = dst
	}
	return &s, nil
}

func writeBundle(dir string, s *specs.Spec) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	b, err := json.MarshalIndent(s, "", "\t")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "config.json"), b, 0o600)
}

func (r *runc) cmd(ctx context.Context, args ...string) (*exec.Cmd, error) {
	log, err := os.OpenFile(r.log, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, "runc", append([]string{"--root", r.root}, args...)...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Dir = "/"
	return cmd, nil
}

func (r *runc) failed(what string, err error) error {
	b, _ := os.ReadFile(r.log)
	return fmt.Errorf("%s: %v: %s", what, err, strings.TrimSpace(string(b)))
}

// oneShot: `runc run` of /bin/true (create, start, wait, delete in one process).
func (r *runc) oneShot(ctx context.Context, i int) (time.Duration, []phase, error) {
	cmd, err := r.cmd(ctx, "run", "--bundle", r.trueBundle, fmt.Sprint("gbench-raw-true-", i))
	if err != nil {
		return 0, nil, err
	}
	defer cmd.Stdout.(*os.File).Close()
	t0 := time.Now()
	if err := cmd.Run(); err != nil {
		return 0, nil, r.failed("runc run", err)
	}
	return time.Since(t0), nil, nil
}

// serve: foreground `runc run` of httpd in the prepared bare namespace, until the first
// 200 from the container's own address (nothing published); then kill and wait.
func (r *runc) serve(ctx context.Context, i int) (time.Duration, []phase, error) {
	id := fmt.Sprint("gbench-raw-http-", i)
	cmd, err := r.cmd(ctx, "run", "--bundle", r.httpBundle, id)
	if err != nil {
		return 0, nil, err
	}
	defer cmd.Stdout.(*os.File).Close()
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, nil, err
	}
	err = waitServing(ctx, "http://"+runcCtrIP+"/")
	d := time.Since(t0)
	exec.Command("runc", "--root", r.root, "kill", id, "KILL").Run()
	werr := cmd.Wait()
	exec.Command("runc", "--root", r.root, "delete", "-f", id).Run()
	if err != nil {
		return 0, nil, r.failed(err.Error(), werr)
	}
	return d, nil, nil
}

func (r *runc) removeAll() error {
	out, _ := exec.Command("runc", "--root", r.root, "list", "-q").Output()
	for _, id := range strings.Fields(string(out)) {
		exec.Command("runc", "--root", r.root, "delete", "-f", id).Run()
	}
	return nil
}

// createBareNetNS makes the namespace raw runc's httpd runs in: a veth to the host,
// 10.213.242.1 on the host side and 10.213.242.2 inside, no bridge, NAT or published
// port.
func createBareNetNS(ctx context.Context) error {
	steps := [][]string{
		{"netns", "add", runcNetNS},
		{"link", "add", runcHostVeth, "type", "veth", "peer", "name", runcCtrVeth},
		{"link", "set", runcCtrVeth, "netns", runcNetNS},
		{"addr", "add", runcHostIP, "dev", runcHostVeth},
		{"link", "set", runcHostVeth, "up"},
		{"-n", runcNetNS, "addr", "add", runcCtrIP + "/24", "dev", runcCtrVeth},
		{"-n", runcNetNS, "link", "set", runcCtrVeth, "up"},
		{"-n", runcNetNS, "link", "set", "lo", "up"},
	}
	for _, s := range steps {
		if out, err := exec.CommandContext(ctx, "ip", s...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(s, " "), err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}

func removeBareNetNS() error {
	if exists("/run/netns/" + runcNetNS) {
		if out, err := exec.Command("ip", "netns", "del", runcNetNS).CombinedOutput(); err != nil {
			return fmt.Errorf("ip netns del %s: %v: %s", runcNetNS, err, out)
		}
	}
	if exists("/sys/class/net/" + runcHostVeth) {
		exec.Command("ip", "link", "del", runcHostVeth).Run()
	}
	return nil
}
