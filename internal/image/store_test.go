package image

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/compression"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/sys/unix"
)

func TestPullMountMergedView(t *testing.T) {
	requireOverlay(t)
	reg := newRegistry(t, nil)
	img := imageOf(t, layerOf(t, compression.GZip, lowerLayer()...), layerOf(t, compression.ZStd, upperLayer()...))
	ref := reg.push(t, "team/web:v1", img)
	s := newStore(t)

	var mu sync.Mutex
	statuses := map[string]bool{}
	got, err := s.Pull(t.Context(), ref, PullOptions{Insecure: true, Progress: func(p Progress) {
		mu.Lock()
		statuses[p.Status] = true
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got.Ref != ref || len(got.ChainIDs) != 2 || got.Config.Config.Cmd[0] != "/bin/sh" {
		t.Errorf("pulled %+v", got)
	}
	for _, st := range []string{"downloading", "extracting", "done"} {
		if !statuses[st] {
			t.Errorf("no %q progress reported (got %v)", st, statuses)
		}
	}
	merged := mountFor(t, s, got, "c1")

	mustNotExist(t, filepath.Join(merged, "a/gone"))
	if b, err := os.ReadFile(filepath.Join(merged, "a/keep")); err != nil || string(b) != "keep" {
		t.Errorf("a/keep: %q %v", b, err)
	}
	if names := dirEntries(t, filepath.Join(merged, "opq")); fmt.Sprint(names) != "[new]" {
		t.Errorf("opaque dir shows %v, want [new]", names)
	}
	st, err := lstat(t, filepath.Join(merged, "bin/tool"))
	if err != nil || st.Mode&0o7777 != 0o4755 || st.Uid != 1000 || st.Gid != 1001 {
		t.Errorf("bin/tool: mode %o uid %d gid %d err %v", st.Mode&0o7777, st.Uid, st.Gid, err)
	}
	if l, err := os.Readlink(filepath.Join(merged, "link")); err != nil || l != "bin/tool" {
		t.Errorf("link -> %q %v", l, err)
	}
	if b, err := os.ReadFile(filepath.Join(merged, "hl")); err != nil || string(b) != "#!/bin/true\n" {
		t.Errorf("hard link hl: %q %v", b, err)
	}
	if st, err := lstat(t, filepath.Join(merged, "fifo")); err != nil || st.Mode&unix.S_IFMT != unix.S_IFIFO {
		t.Errorf("fifo: mode %o %v", st.Mode, err)
	}
	if st, err := lstat(t, filepath.Join(merged, "null")); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != unix.Mkdev(1, 3) {
		t.Errorf("null: mode %o rdev %d %v", st.Mode, st.Rdev, err)
	}
	buf := make([]byte, 16)
	if n, err := unix.Lgetxattr(filepath.Join(merged, "bin/tool"), "user.gantry", buf); err != nil || string(buf[:n]) != "yes" {
		t.Errorf("xattr user.gantry: %q %v", buf[:n], err)
	}

	// Writes go to the container's upper dir, never to the shared layer.
	if err := os.WriteFile(filepath.Join(merged, "a/keep"), []byte("changed"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(s.layerFS(got.ChainIDs[0]), "a/keep")); string(b) != "keep" {
		t.Errorf("layer content changed through the mount: %q", b)
	}
	// A second container sees the pristine image.
	m2 := mountFor(t, s, got, "c2")
	if b, _ := os.ReadFile(filepath.Join(m2, "a/keep")); string(b) != "keep" {
		t.Errorf("second mount sees %q", b)
	}
	// Mount is idempotent for a mounted id.
	again, err := s.Mount(t.Context(), got, "c1")
	if err != nil || again != merged {
		t.Errorf("remount c1: %q %v", again, err)
	}
	for range 2 {
		if err := s.Unmount("c1"); err != nil {
			t.Fatal(err)
		}
	}
	if mounted, _ := isMountPoint(merged); mounted {
		t.Error("merged still mounted after Unmount")
	}
	mustNotExist(t, s.mountDir("c1"))
	if err := s.Unmount("never-mounted"); err != nil {
		t.Errorf("Unmount of unknown id: %v", err)
	}
}

func TestPullAgainAndByDigestNoBlobFetch(t *testing.T) {
	reg := newRegistry(t, nil)
	img := imageOf(t, layerOf(t, compression.GZip, ent{name: "f", body: "1"}))
	ref := reg.push(t, "app:v1", img)
	s := newStore(t)
	first, err := s.Pull(t.Context(), ref, PullOptions{Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	if reg.count("GET blob") != 2 {
		t.Errorf("first pull fetched %d blobs, want 2 (config + layer)", reg.count("GET blob"))
	}
	reg.reset()
	var statuses []string
	again, err := s.Pull(t.Context(), ref, PullOptions{Insecure: true, Progress: func(p Progress) { statuses = append(statuses, p.Status) }})
	if err != nil {
		t.Fatal(err)
	}
	if again.Digest != first.Digest {
		t.Errorf("digest changed: %s vs %s", again.Digest, first.Digest)
	}
	if n := reg.count("GET blob") + reg.count("HEAD blob"); n != 0 {
		t.Errorf("second pull by tag touched %d blobs", n)
	}
	if reg.count("GET manifest")+reg.count("HEAD manifest") != 1 {
		t.Errorf("second pull by tag: %d manifest GETs, %d HEADs, want one request", reg.count("GET manifest"), reg.count("HEAD manifest"))
	}

	reg.reset()
	byDigest := strings.Split(ref, ":v1")[0] + "@" + first.Digest.String()
	if _, err := s.Pull(t.Context(), byDigest, PullOptions{Insecure: true}); err != nil {
		t.Fatal(err)
	}
	if reg.total != 0 {
		t.Errorf("pull by digest of a present image made %d requests, want 0", reg.total)
	}
	if g, err := s.Get(byDigest); err != nil || g.Digest != first.Digest {
		t.Errorf("Get(%s): %v", byDigest, err)
	}
}

func TestConcurrentPullsShareDownloads(t *testing.T) {
	reg := newRegistry(t, nil)
	var layers []v1.Layer
	for i := range 4 {
		layers = append(layers, layerOf(t, compression.GZip, ent{name: fmt.Sprintf("f%d", i), body: strings.Repeat("x", 1<<20+i)}))
	}
	ref := reg.push(t, "big:v1", imageOf(t, layers...))
	s := newStore(t)
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Go(func() { _, errs[i] = s.Pull(t.Context(), ref, PullOptions{Insecure: true}) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	reg.mu.Lock()
	defer reg.mu.Unlock()
	for k, n := range reg.counts {
		if strings.HasPrefix(k, "GET blob sha256:") && n != 1 {
			t.Errorf("%s fetched %d times, want once", k, n)
		}
	}
	if reg.counts["GET blob"] != 5 {
		t.Errorf("%d blob GETs, want 5 (config + 4 layers)", reg.counts["GET blob"])
	}
}

func TestPullBasicAuth(t *testing.T) {
	reg := newRegistry(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if u, p, ok := r.BasicAuth(); !ok || u != "alice" || p != "s3cret" {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	img := imageOf(t, layerOf(t, compression.GZip, ent{name: "f", body: "1"}))
	ref := reg.push(t, "private:v1", img, remote.WithAuth(&authn.Basic{Username: "alice", Password: "s3cret"}))
	s := newStore(t)
	if _, err := s.Pull(t.Context(), ref, PullOptions{Insecure: true}); err == nil {
		t.Error("anonymous pull of a private image succeeded")
	}
	if _, err := s.Pull(t.Context(), ref, PullOptions{Insecure: true, Auth: &authn.Basic{Username: "alice", Password: "wrong"}}); err == nil {
		t.Error("pull with a wrong password succeeded")
	}
	if _, err := s.Pull(t.Context(), ref, PullOptions{Insecure: true, Auth: &authn.Basic{Username: "alice", Password: "s3cret"}}); err != nil {
		t.Errorf("authenticated pull: %v", err)
	}
}

func TestPullCorruptLayerStoresNothing(t *testing.T) {
	layer := layerOf(t, compression.GZip, ent{name: "f", body: strings.Repeat("data", 1000)})
	ld, _ := layer.Digest()
	reg := newRegistry(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, ld.String()) {
				rec := &bufferedResponse{header: http.Header{}}
				h.ServeHTTP(rec, r)
				body := rec.body.Bytes()
				if len(body) > 100 {
					body[len(body)/2] ^= 0xff // same size, wrong bytes
				}
				for k, v := range rec.header {
					w.Header()[k] = v
				}
				w.WriteHeader(rec.code)
				w.Write(body)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	ref := reg.push(t, "bad:v1", imageOf(t, layer))
	s := newStore(t)
	_, err := s.Pull(t.Context(), ref, PullOptions{Insecure: true})
	if err == nil {
		t.Fatal("pull of a corrupt layer succeeded")
	}
	if !strings.Contains(err.Error(), ld.String()) {
		t.Errorf("error %q does not name the layer %s", err, ld)
	}
	if s.hasBlob(digestOfHash(ld)) {
		t.Error("corrupt layer blob was stored")
	}
	if got := dirEntries(t, filepath.Join(s.root, "layers")); len(got) != 0 {
		t.Errorf("layers dir holds %v", got)
	}
	if got := dirEntries(t, s.tmpDir()); len(got) != 0 {
		t.Errorf("tmp dir holds %v", got)
	}
	if _, err := s.Get(ref); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after failed pull: %v, want ErrNotFound", err)
	}
}

type bufferedResponse struct {
	header http.Header
	body   bytes.Buffer
	code   int
}

func (b *bufferedResponse) Header() http.Header { return b.header }
func (b *bufferedResponse) Write(p []byte) (int, error) {
	if b.code == 0 {
		b.code = 200
	}
	return b.body.Write(p)
}
func (b *bufferedResponse) WriteHeader(c int) { b.code = c }

func TestPullBadInput(t *testing.T) {
	s := newStore(t)
	if _, err := s.Pull(t.Context(), "Not A Ref::", PullOptions{}); err == nil || !strings.Contains(err.Error(), "invalid image reference") {
		t.Errorf("invalid reference: %v", err)
	}
	reg := newRegistry(t, nil)
	if _, err := s.Pull(t.Context(), reg.host()+"/missing:v1", PullOptions{Insecure: true}); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("unknown image: %v", err)
	}
	if _, err := s.Get("nothing:here"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get unknown: %v", err)
	}
	if err := s.Remove("nothing:here"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Remove unknown: %v", err)
	}
}

func TestPullIndexPicksPlatform(t *testing.T) {
	reg := newRegistry(t, nil)
	amd := imageOf(t, layerOf(t, compression.GZip, ent{name: "arch", body: "amd64"}))
	arm := imageOf(t, layerOf(t, compression.GZip, ent{name: "arch", body: "arm64"}))
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}})
	r, _ := name.ParseReference(reg.host() + "/multi:v1")
	if err := remote.WriteIndex(r, idx); err != nil {
		t.Fatal(err)
	}
	s := newStore(t)
	got, err := s.Pull(t.Context(), r.String(), PullOptions{Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := amd.Digest()
	if got.Digest.String() != want.String() {
		t.Errorf("pulled %s, want the amd64 manifest %s", got.Digest, want)
	}
	reg.reset()
	if _, err := s.Pull(t.Context(), r.String(), PullOptions{Insecure: true}); err != nil {
		t.Fatal(err)
	}
	if reg.count("GET blob") != 0 || reg.count("GET manifest") != 0 {
		t.Errorf("re-pull of an index fetched blobs %d / manifests %d", reg.count("GET blob"), reg.count("GET manifest"))
	}
}

func TestImportSaveLoadAndRestart(t *testing.T) {
	requireOverlay(t)
	s := newStore(t)
	rootfs := gzipBytes(t, tarBytes(t, []ent{{name: "bin/", typ: tar.TypeDir}, {name: "bin/hello", body: "hi", mode: 0o755}}))
	imp, err := s.Import(t.Context(), bytes.NewReader(rootfs), "local/rootfs:v1")
	if err != nil {
		t.Fatal(err)
	}
	if imp.Ref != "local/rootfs:v1" || len(imp.ChainIDs) != 1 || imp.Config.OS != "linux" || len(imp.Config.Config.Cmd) != 0 {
		t.Errorf("imported %+v", imp)
	}
	m := mountFor(t, s, imp, "imp")
	if b, err := os.ReadFile(filepath.Join(m, "bin/hello")); err != nil || string(b) != "hi" {
		t.Errorf("bin/hello in imported image: %q %v", b, err)
	}
	if _, err := s.Import(t.Context(), strings.NewReader("not a tar at all, definitely not"), "bad:v1"); err == nil {
		t.Error("import of garbage succeeded")
	}

	// Restart: a new Store on the same root sees the image.
	s2, err := Open(s.Root())
	if err != nil {
		t.Fatal(err)
	}
	list, err := s2.List()
	if err != nil || len(list) != 1 || list[0].Digest != imp.Digest {
		t.Fatalf("List after restart: %v %v", list, err)
	}
	if _, err := s2.Get(imp.Digest.String()); err != nil {
		t.Errorf("Get by digest after restart: %v", err)
	}

	var saved bytes.Buffer
	if err := s2.Save(t.Context(), &saved, "local/rootfs:v1"); err != nil {
		t.Fatal(err)
	}
	s3 := newStore(t)
	loaded, err := s3.Load(t.Context(), bytes.NewReader(saved.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if len(loaded) != 1 || loaded[0].Ref != "local/rootfs:v1" || fmt.Sprint(loaded[0].ChainIDs) != fmt.Sprint(imp.ChainIDs) {
		t.Fatalf("loaded %d images, first %+v, want ref local/rootfs:v1 with chain %v", len(loaded), *loaded[0], imp.ChainIDs)
	}
	if _, err := s3.Load(t.Context(), strings.NewReader("garbage")); err == nil {
		t.Error("load of garbage succeeded")
	}
}

func TestLoadOCILayout(t *testing.T) {
	img := imageOf(t, layerOf(t, compression.GZip, ent{name: "f", body: "oci"}))
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{"io.containerd.image.name": "example.com/oci/app:v2"})); err != nil {
		t.Fatal(err)
	}
	archive := tarDir(t, dir)
	s := newStore(t)
	got, err := s.Load(t.Context(), bytes.NewReader(archive))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	if len(got) != 1 || got[0].Ref != "example.com/oci/app:v2" || got[0].Digest.String() != want.String() {
		t.Fatalf("loaded %+v", got)
	}
	if b, err := os.ReadFile(filepath.Join(s.layerFS(got[0].ChainIDs[0]), "f")); err != nil || string(b) != "oci" {
		t.Errorf("layer content %q %v", b, err)
	}
}

func TestGCKeepsInUse(t *testing.T) {
	requireOverlay(t)
	s := newStore(t)
	imp := func(ref, body string) *Image {
		img, err := s.Import(t.Context(), bytes.NewReader(tarBytes(t, []ent{{name: "f", body: body}})), ref)
		if err != nil {
			t.Fatal(err)
		}
		return img
	}
	kept, mounted, unref := imp("kept:v1", "k"), imp("mounted:v1", "m"), imp("unref:v1", "u")
	mountFor(t, s, mounted, "m1")
	for _, r := range []string{"mounted:v1", "unref:v1"} {
		if err := s.Remove(r); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.GC(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// unref: manifest, config, layer blob, unpacked layer; mounted: 3 blobs.
	if n != 7 {
		t.Errorf("GC removed %d items, want 7", n)
	}
	if _, err := s.Get("kept:v1"); err != nil {
		t.Errorf("referenced image damaged by GC: %v", err)
	}
	if !s.hasLayer(mounted.ChainIDs[0]) {
		t.Error("GC removed a layer under an active mount")
	}
	if s.hasLayer(unref.ChainIDs[0]) || s.hasBlob(unref.Digest) {
		t.Error("GC kept an unreferenced image")
	}
	if err := s.Unmount("m1"); err != nil {
		t.Fatal(err)
	}
	if n, err := s.GC(t.Context()); err != nil || n != 1 {
		t.Errorf("second GC removed %d (%v), want the formerly mounted layer", n, err)
	}
	if !s.hasLayer(kept.ChainIDs[0]) {
		t.Error("kept layer gone")
	}
}

// A crash can leave a mount's record empty (it is written without fsync): GC passes over it
// when the directory is no longer mounted, and refuses to run while it is.
func TestGCAndATornMountRecord(t *testing.T) {
	requireOverlay(t)
	s := newStore(t)
	img, err := s.Import(t.Context(), bytes.NewReader(tarBytes(t, []ent{{name: "f", body: "x"}})), "torn:v1")
	if err != nil {
		t.Fatal(err)
	}
	mountFor(t, s, img, "live")
	if err := s.Remove("torn:v1"); err != nil {
		t.Fatal(err)
	}
	live := filepath.Join(s.mountDir("live"), "layers.json")
	if err := os.WriteFile(live, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GC(t.Context()); err == nil || !strings.Contains(err.Error(), "live") {
		t.Fatalf("GC with a torn record of a live mount: %v, want an error naming it", err)
	}
	if !s.hasLayer(img.ChainIDs[0]) {
		t.Fatal("GC removed the layer of a live mount whose record it could not read")
	}
	crashed := s.mountDir("crashed")
	for _, d := range []string{"upper", "work", "merged"} {
		os.MkdirAll(filepath.Join(crashed, d), 0o755)
	}
	os.WriteFile(filepath.Join(crashed, "layers.json"), []byte(`{"image":`), 0o600)
	if err := s.Unmount("live"); err != nil {
		t.Fatal(err)
	}
	if n, err := s.GC(t.Context()); err != nil || n == 0 {
		t.Fatalf("GC with a torn record of a crashed mount: removed %d, %v; want it to pass over the record", n, err)
	}
}

func TestMountManyLayers(t *testing.T) {
	requireOverlay(t)
	const n = 45
	var layers []v1.Layer
	for i := range n {
		layers = append(layers, layerOf(t, compression.GZip, ent{name: fmt.Sprintf("l%02d", i), body: fmt.Sprint(i)}, ent{name: "top", body: fmt.Sprint(i)}))
	}
	s := newStore(t)
	got, err := s.ingest(t.Context(), imageOf(t, layers...), nil)
	if err != nil {
		t.Fatal(err)
	}
	m := mountFor(t, s, got, "many")
	for i := range n {
		if b, err := os.ReadFile(filepath.Join(m, fmt.Sprintf("l%02d", i))); err != nil || string(b) != fmt.Sprint(i) {
			t.Fatalf("layer %d file: %q %v", i, b, err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(m, "top")); string(b) != fmt.Sprint(n-1) {
		t.Errorf("top = %q, want the top layer's %d", b, n-1)
	}
	if cwd, _ := os.Getwd(); strings.HasPrefix(cwd, s.Root()) {
		t.Errorf("process working directory changed to %s", cwd)
	}
}

func BenchmarkUnpack(b *testing.B) {
	const size = 64 << 20
	var ents []ent
	chunk := make([]byte, 1<<20)
	for i := range size / len(chunk) {
		for j := range chunk {
			chunk[j] = byte((i*31 + j*7) ^ (j >> 5))
		}
		ents = append(ents, ent{name: fmt.Sprintf("d%d/f%d", i%8, i), body: string(chunk)})
	}
	layer := gzipBytes(b, tarBytes(b, ents))
	var ours float64
	b.Run("gantry", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			b.StopTimer()
			dir := b.TempDir()
			b.StartTimer()
			if _, err := Unpack(context.Background(), bytes.NewReader(layer), dir); err != nil {
				b.Fatal(err)
			}
		}
		ours = float64(b.Elapsed()) / float64(b.N)
	})
	// Peer on the same machine and input: GNU tar (with its gzip filter).
	if _, err := exec.LookPath("tar"); err != nil {
		return
	}
	b.Run("gnu-tar", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			b.StopTimer()
			dir := b.TempDir()
			b.StartTimer()
			cmd := exec.Command("tar", "-xzf", "-", "-C", dir, "--same-owner", "--xattrs")
			cmd.Stdin = bytes.NewReader(layer)
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("tar: %v %s", err, out)
			}
		}
		if ours > 0 {
			b.Logf("gantry Unpack takes %.2fx the time of GNU tar", ours/(float64(b.Elapsed())/float64(b.N)))
		}
	})
}

var _ = io.Discard
