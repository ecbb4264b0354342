package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/compression"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

type ent struct {
	name   string
	typ    byte
	body   string
	link   string
	mode   int64
	uid    int
	gid    int
	major  int64
	minor  int64
	xattrs map[string]string
}

var epoch = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

func tarBytes(t testing.TB, ents []ent) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Linkname: e.link, Mode: e.mode, Uid: e.uid, Gid: e.gid,
			Devmajor: e.major, Devminor: e.minor, ModTime: epoch, Format: tar.FormatPAX}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
			if h.Typeflag == tar.TypeDir {
				h.Mode = 0o755
			}
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		for k, v := range e.xattrs {
			if h.PAXRecords == nil {
				h.PAXRecords = map[string]string{}
			}
			h.PAXRecords["SCHILY.xattr."+k] = v
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func layerOf(t testing.TB, comp compression.Compression, ents ...ent) v1.Layer {
	t.Helper()
	b := tarBytes(t, ents)
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil },
		tarball.WithCompression(comp))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func imageOf(t testing.TB, layers ...v1.Layer) v1.Image {
	t.Helper()
	base, err := mutate.ConfigFile(empty.Image, &v1.ConfigFile{OS: "linux", Architecture: "amd64",
		Config: v1.Config{Cmd: []string{"/bin/sh"}, Env: []string{"A=1"}}})
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(base, layers...)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func newStore(t testing.TB) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "images"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// requireOverlay skips the test only when this machine cannot mount overlayfs.
func requireOverlay(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("overlay mounts need root")
	}
	d := t.TempDir()
	for _, n := range []string{"l", "u", "w", "m"} {
		os.Mkdir(filepath.Join(d, n), 0o755)
	}
	m := filepath.Join(d, "m")
	err := unix.Mount("overlay", m, "overlay", 0, "lowerdir="+d+"/l,upperdir="+d+"/u,workdir="+d+"/w")
	if err != nil {
		t.Skipf("overlayfs cannot be mounted here: %v", err)
	}
	unix.Unmount(m, 0)
}

// mountFor mounts img as id and unmounts it when the test ends, even on failure.
func mountFor(t *testing.T, s *Store, img *Image, id string) string {
	t.Helper()
	t.Cleanup(func() {
		if err := s.Unmount(id); err != nil {
			t.Errorf("cleanup unmount %s: %v", id, err)
		}
	})
	dir, err := s.Mount(t.Context(), img, id)
	if err != nil {
		t.Fatalf("Mount: %v", err)
	}
	return dir
}

// countingRegistry is an in-process registry that counts requests by kind.
type countingRegistry struct {
	*httptest.Server
	mu     sync.Mutex
	counts map[string]int // "GET blob sha256:..", "HEAD manifest", ...
	total  int
	wrap   func(http.Handler) http.Handler
}

func newRegistry(t testing.TB, wrap func(http.Handler) http.Handler) *countingRegistry {
	t.Helper()
	r := &countingRegistry{counts: map[string]int{}}
	var h http.Handler = registry.New(registry.Logger(discardLogger()))
	if wrap != nil {
		h = wrap(h)
	}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.total++
		p := req.URL.Path
		switch {
		case strings.Contains(p, "/blobs/sha256:"):
			r.counts[req.Method+" blob "+p[strings.LastIndex(p, "/")+1:]]++
			r.counts[req.Method+" blob"]++
		case strings.Contains(p, "/manifests/"):
			r.counts[req.Method+" manifest"]++
		}
		r.mu.Unlock()
		h.ServeHTTP(w, req)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *countingRegistry) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.counts = map[string]int{}
	r.total = 0
}

func (r *countingRegistry) count(k string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counts[k]
}

func (r *countingRegistry) host() string { return strings.TrimPrefix(r.URL, "http://") }

func (r *countingRegistry) push(t testing.TB, repoTag string, img v1.Image, opts ...remote.Option) string {
	t.Helper()
	ref := r.host() + "/" + repoTag
	tag, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img, opts...); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	r.reset()
	return ref
}

func lstat(t *testing.T, p string) (unix.Stat_t, error) {
	t.Helper()
	var st unix.Stat_t
	err := unix.Lstat(p, &st)
	return st, err
}

func mustNotExist(t *testing.T, p string) {
	t.Helper()
	if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s: want absent, got err=%v", p, err)
	}
}

func dirEntries(t *testing.T, d string) []string {
	t.Helper()
	ents, err := os.ReadDir(d)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func discardLogger() *log.Logger { return log.New(io.Discard, "", 0) }

func digestOf(b []byte) digest.Digest { return digest.FromBytes(b) }

func digestOfHash(h v1.Hash) digest.Digest { return digest.Digest(h.String()) }

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// tarDir archives a directory of regular files and directories.
func tarDir(t testing.TB, dir string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		h, err := tar.FileInfoHeader(fi, "")
		if err != nil {
			return err
		}
		h.Name = rel
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			tw.Write(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	tw.Close()
	return buf.Bytes()
}
