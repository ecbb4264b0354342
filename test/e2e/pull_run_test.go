package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/crane"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"gantry/internal/image"
	"gantry/internal/runtime"
)

// TestPushedImageRunsOnTheNodeEngine pushes an image to Gantry's registry, pulls it into
// a node image store with the registry's credentials and runs it under runc.
func TestPushedImageRunsOnTheNodeEngine(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := startServer(t, "")
	bb, err := os.ReadFile("/usr/bin/busybox")
	if err != nil {
		t.Fatal("busybox-static is missing: install Debian's busybox-static package")
	}
	var layerTar bytes.Buffer
	tw := tar.NewWriter(&layerTar)
	tw.WriteHeader(&tar.Header{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o755})
	tw.WriteHeader(&tar.Header{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(bb))})
	tw.Write(bb)
	tw.WriteHeader(&tar.Header{Name: "bin/sh", Typeflag: tar.TypeSymlink, Linkname: "busybox"})
	tw.WriteHeader(&tar.Header{Name: "motd", Typeflag: tar.TypeReg, Mode: 0o644, Size: 14})
	tw.Write([]byte("pulled and ran"))
	tw.Close()
	layer := layerFromBytes(t, layerTar.Bytes())
	img, _ := mutate.AppendLayers(empty.Image, layer)
	cfg, _ := img.ConfigFile()
	cfg.OS, cfg.Architecture = "linux", "amd64"
	cfg.Config.Cmd = []string{"sh", "-c", "cat /motd"}
	img, _ = mutate.ConfigFile(img, cfg)
	ref := srv.registryHost() + "/node/motd:v1"
	if err := crane.Push(img, ref, srv.craneOpts()...); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	store, err := image.Open(filepath.Join(dir, "images"))
	if err != nil {
		t.Fatal(err)
	}
	pulled, err := store.Pull(ctx, ref, image.PullOptions{Insecure: true, Auth: &authn.Basic{Username: srv.KeyID, Password: srv.Secret}})
	if err != nil {
		t.Fatal(err)
	}
	rootfs, err := store.Mount(ctx, pulled, "motd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Unmount("motd") })
	rt, err := runtime.New(runtime.Config{StateDir: filepath.Join(dir, "run"), DataDir: filepath.Join(dir, "containers"), ShimCmd: []string{shimBin}, CgroupParent: testCgroupParent})
	if err != nil {
		t.Fatal(err)
	}
	spec := runtime.ContainerSpec{ID: "motd", Rootfs: rootfs, NetNS: runtime.NetNSNone}
	c := pulled.Config.Config
	if err := runtime.ApplyImageConfig(&spec, runtime.ImageConfig{Entrypoint: c.Entrypoint, Cmd: c.Cmd, Env: c.Env}, runtime.Overrides{}); err != nil {
		t.Fatal(err)
	}
	if err := rt.Create(ctx, spec); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Delete(context.Background(), "motd") })
	if err := rt.Start(ctx, "motd"); err != nil {
		t.Fatal(err)
	}
	if st, err := rt.Wait(ctx, "motd"); err != nil || st.Code != 0 {
		t.Fatalf("exit: %+v %v", st, err)
	}
	f, _ := os.Open(rt.LogPath("motd"))
	logs, _ := io.ReadAll(f)
	f.Close()
	if !strings.Contains(string(logs), "pulled and ran") {
		t.Fatalf("logs:\n%s", logs)
	}
}
