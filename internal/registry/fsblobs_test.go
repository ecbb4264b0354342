package registry_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"gantry/internal/registry"
	"gantry/internal/registry/blobstoretest"
)

func newFS(t testing.TB) *registry.FSBlobs {
	t.Helper()
	s, err := registry.NewFSBlobs(filepath.Join(t.TempDir(), "registry"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func reopen(t *testing.T, s *registry.FSBlobs) *registry.FSBlobs {
	t.Helper()
	s2, err := registry.NewFSBlobs(s.Root())
	if err != nil {
		t.Fatalf("reopening %s: %v", s.Root(), err)
	}
	return s2
}

func TestFSBlobs(t *testing.T) {
	blobstoretest.Run(t, func(t *testing.T) registry.BlobStore { return newFS(t) })
}

func newUpload(t *testing.T, s registry.BlobStore, parts ...[]byte) registry.Upload {
	t.Helper()
	u, err := s.NewUpload(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	writeAll(t, u, parts...)
	return u
}

func resume(t *testing.T, s registry.BlobStore, id string, wantSize int) registry.Upload {
	t.Helper()
	u, err := s.ResumeUpload(t.Context(), id)
	if err != nil {
		t.Fatalf("ResumeUpload(%s): %v", id, err)
	}
	if u.Size() != int64(wantSize) {
		t.Fatalf("resumed upload %s: Size %d, want %d", id, u.Size(), wantSize)
	}
	return u
}

func writeAll(t *testing.T, u registry.Upload, parts ...[]byte) {
	t.Helper()
	for _, p := range parts {
		if _, err := u.Write(p); err != nil {
			t.Fatal(err)
		}
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func concat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func wantContent(t *testing.T, s registry.BlobStore, d digest.Digest, want []byte) {
	t.Helper()
	rc, size, err := s.Open(t.Context(), d)
	if err != nil {
		t.Fatalf("Open(%s): %v", d, err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil || size != int64(len(want)) || !bytes.Equal(got, want) {
		t.Fatalf("blob %s: size %d, read %d bytes (%v); want %d bytes as stored", d, size, len(got), err, len(want))
	}
}

// entries lists the names in dir.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestFSBlobsRestartKeepsBlobsAndUploads(t *testing.T) {
	t.Parallel()
	s1 := newFS(t)
	blob := []byte("committed before the restart")
	d := digest.FromBytes(blob)
	if err := s1.Put(t.Context(), d, blob); err != nil {
		t.Fatal(err)
	}
	part1, part2 := randomBytes(100_000), randomBytes(70_000)
	u := newUpload(t, s1, part1)
	if err := u.Close(); err != nil {
		t.Fatal(err)
	}

	s2 := reopen(t, s1)
	wantContent(t, s2, d, blob)
	u = resume(t, s2, u.ID(), len(part1))
	writeAll(t, u, part2)
	whole := concat(part1, part2)
	if err := u.Commit(t.Context(), digest.FromBytes(whole)); err != nil {
		t.Fatalf("Commit after restart: %v", err)
	}
	wantContent(t, reopen(t, s1), digest.FromBytes(whole), whole)
}

// A killed process neither closes its uploads nor finishes writing hash state; the data
// file is what counts.
func TestFSBlobsResumeAfterCrash(t *testing.T) {
	t.Parallel()
	p1, p2, p3 := randomBytes(50_000), randomBytes(30_000), randomBytes(20_000)

	t.Run("never closed", func(t *testing.T) {
		t.Parallel()
		s1 := newFS(t)
		u := newUpload(t, s1, p1) // the process dies here
		u2 := resume(t, reopen(t, s1), u.ID(), len(p1))
		writeAll(t, u2, p2)
		if err := u2.Commit(t.Context(), digest.FromBytes(concat(p1, p2))); err != nil {
			t.Fatalf("Commit: %v", err)
		}
	})
	t.Run("written after the saved state", func(t *testing.T) {
		t.Parallel()
		s1 := newFS(t)
		u := newUpload(t, s1, p1)
		if err := u.Close(); err != nil {
			t.Fatal(err)
		}
		u = resume(t, s1, u.ID(), len(p1))
		writeAll(t, u, p2) // the process dies here
		u2 := resume(t, reopen(t, s1), u.ID(), len(p1)+len(p2))
		writeAll(t, u2, p3)
		whole := concat(p1, p2, p3)
		if err := u2.Commit(t.Context(), digest.FromBytes(whole)); err != nil {
			t.Fatalf("Commit: %v", err)
		}
		wantContent(t, s1, digest.FromBytes(whole), whole)
	})
	t.Run("state beyond the data kept", func(t *testing.T) {
		t.Parallel()
		s1 := newFS(t)
		u := newUpload(t, s1, p1, p2)
		if err := u.Close(); err != nil {
			t.Fatal(err)
		}
		// The machine lost the last bytes of the data file but kept the hash state.
		data := filepath.Join(s1.Root(), "uploads", u.ID(), "data")
		if err := os.Truncate(data, int64(len(p1))); err != nil {
			t.Fatal(err)
		}
		u2 := resume(t, reopen(t, s1), u.ID(), len(p1))
		writeAll(t, u2, p3)
		whole := concat(p1, p3)
		if err := u2.Commit(t.Context(), digest.FromBytes(whole)); err != nil {
			t.Fatalf("Commit: %v", err)
		}
		wantContent(t, s1, digest.FromBytes(whole), whole)
	})
	t.Run("corrupt state", func(t *testing.T) {
		t.Parallel()
		s1 := newFS(t)
		u := newUpload(t, s1, p1)
		if err := u.Close(); err != nil {
			t.Fatal(err)
		}
		state := filepath.Join(s1.Root(), "uploads", u.ID(), "sha256state")
		if _, err := os.Stat(state); err != nil {
			t.Fatalf("Close saved no hash state: %v", err)
		}
		for _, junk := range []string{"garbage", `{"offset":10,"sha256":"AAAA"}`} {
			if err := os.WriteFile(state, []byte(junk), 0o600); err != nil {
				t.Fatal(err)
			}
			u2 := resume(t, reopen(t, s1), u.ID(), len(p1))
			if err := u2.Close(); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(state, []byte("garbage"), 0o600); err != nil {
			t.Fatal(err)
		}
		u2 := resume(t, reopen(t, s1), u.ID(), len(p1))
		writeAll(t, u2, p2)
		if err := u2.Commit(t.Context(), digest.FromBytes(concat(p1, p2))); err != nil {
			t.Fatalf("Commit: %v", err)
		}
	})
}

func TestFSBlobsUploadBusy(t *testing.T) {
	t.Parallel()
	s := newFS(t)
	u := newUpload(t, s, []byte("abc"))
	if _, err := s.ResumeUpload(t.Context(), u.ID()); !errors.Is(err, registry.ErrUploadBusy) {
		t.Fatalf("ResumeUpload of an open upload = %v, want ErrUploadBusy", err)
	}
	if err := u.Close(); err != nil {
		t.Fatal(err)
	}
	u = resume(t, s, u.ID(), 3)
	if _, err := s.ResumeUpload(t.Context(), u.ID()); !errors.Is(err, registry.ErrUploadBusy) {
		t.Fatalf("ResumeUpload of a resumed upload = %v, want ErrUploadBusy", err)
	}
	if err := u.Commit(t.Context(), digest.FromString("abc")); err != nil {
		t.Fatal(err)
	}
}

// Ids that are not of the form NewUpload gives must not reach the filesystem, even
// where a path they spell exists.
func TestFSBlobsResumeRefusesPathTraversal(t *testing.T) {
	t.Parallel()
	s := newFS(t)
	outside := filepath.Join(s.Root(), "escape")
	if err := os.MkdirAll(outside, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outside, "data"), []byte("not an upload"), 0o600); err != nil {
		t.Fatal(err)
	}
	u := newUpload(t, s, []byte("real"))
	if err := u.Close(); err != nil {
		t.Fatal(err)
	}
	bad := []string{"../escape", "./" + u.ID(), u.ID() + "/", "../uploads/" + u.ID()}
	if upper := strings.ToUpper(u.ID()); upper != u.ID() {
		bad = append(bad, upper)
	}
	for _, id := range bad {
		if got, err := s.ResumeUpload(t.Context(), id); !errors.Is(err, registry.ErrUploadUnknown) {
			if got != nil {
				got.Close()
			}
			t.Errorf("ResumeUpload(%q) = %v, want ErrUploadUnknown", id, err)
		}
	}
}

func TestFSBlobsUploadIDsAreHex(t *testing.T) {
	t.Parallel()
	s := newFS(t)
	pattern := regexp.MustCompile(`^[0-9a-f]{32}$`)
	for range 20 {
		u := newUpload(t, s)
		if !pattern.MatchString(u.ID()) {
			t.Fatalf("upload id %q is not 32 lower-case hex digits", u.ID())
		}
		if _, err := os.Stat(filepath.Join(s.Root(), "uploads", u.ID(), "data")); err != nil {
			t.Fatalf("upload %s has no data file: %v", u.ID(), err)
		}
		u.Cancel(t.Context())
	}
}

// An unsupported digest says nothing about the content, so the client may try again.
func TestFSBlobsCommitWithUnsupportedDigestKeepsSession(t *testing.T) {
	t.Parallel()
	s := newFS(t)
	data := []byte("keep me")
	u := newUpload(t, s, data)
	sum := sha512.Sum384(data)
	if err := u.Commit(t.Context(), digest.NewDigestFromEncoded(digest.SHA384, hex.EncodeToString(sum[:]))); !errors.Is(err, registry.ErrUnsupportedDigest) {
		t.Fatalf("Commit(sha384) = %v, want ErrUnsupportedDigest", err)
	}
	if err := u.Commit(t.Context(), digest.FromBytes(data)); err != nil {
		t.Fatalf("Commit(sha256) after a refused sha384: %v", err)
	}
	wantContent(t, s, digest.FromBytes(data), data)
}

func TestFSBlobsLeavesNoTemporaryFiles(t *testing.T) {
	t.Parallel()
	s := newFS(t)
	ctx := t.Context()
	for i := range 3 {
		b := randomBytes(1000 + i)
		if err := s.Put(ctx, digest.FromBytes(b), b); err != nil {
			t.Fatal(err)
		}
		if err := s.Put(ctx, digest.FromBytes(b), b); err != nil {
			t.Fatal(err)
		}
		if err := s.Put(ctx, digest.FromBytes(b), b[1:]); err == nil {
			t.Fatal("Put with a wrong digest succeeded")
		}
	}
	data := randomBytes(200_000)
	u := newUpload(t, s, data[:100_000])
	if err := u.Close(); err != nil {
		t.Fatal(err)
	}
	u = resume(t, s, u.ID(), 100_000)
	writeAll(t, u, data[100_000:])
	if err := u.Commit(ctx, digest.FromBytes(data)); err != nil {
		t.Fatal(err)
	}
	u = newUpload(t, s, data) // same content again: the blob exists
	if err := u.Commit(ctx, digest.FromBytes(data)); err != nil {
		t.Fatal(err)
	}
	u = newUpload(t, s, data)
	if err := u.Commit(ctx, digest.SHA512.FromBytes(data)); err != nil {
		t.Fatal(err)
	}
	u = newUpload(t, s, data)
	if err := u.Commit(ctx, digest.FromString("other")); !errors.Is(err, registry.ErrDigestMismatch) {
		t.Fatalf("Commit(wrong) = %v", err)
	}
	u = newUpload(t, s, data)
	if err := u.Close(); err != nil {
		t.Fatal(err)
	}
	u = resume(t, s, u.ID(), len(data))
	if err := u.Commit(ctx, digest.FromString("other")); !errors.Is(err, registry.ErrDigestMismatch) {
		t.Fatalf("Commit(wrong) = %v", err)
	}
	u = newUpload(t, s, data)
	if err := u.Cancel(ctx); err != nil {
		t.Fatal(err)
	}
	if names := entries(t, filepath.Join(s.Root(), "tmp")); len(names) != 0 {
		t.Errorf("tmp/ holds %v after every write finished", names)
	}
	if names := entries(t, filepath.Join(s.Root(), "uploads")); len(names) != 0 {
		t.Errorf("uploads/ holds %v after every session ended", names)
	}
}

func TestFSBlobsIgnoresCrashLeftovers(t *testing.T) {
	t.Parallel()
	s := newFS(t)
	ctx := t.Context()
	data := randomBytes(10_000)
	d := digest.FromBytes(data)
	enc := d.Encoded()
	tmp := filepath.Join(s.Root(), "tmp")
	shard := filepath.Join(s.Root(), "blobs", "sha256", enc[:2])
	if err := os.MkdirAll(shard, 0o700); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(tmp, "write-123456")
	fresh := filepath.Join(tmp, "write-654321")
	// A complete-looking blob name in a shard it does not belong to is not a blob.
	misplaced := filepath.Join(s.Root(), "blobs", "sha256", wrongShard(enc[:2]), enc)
	if err := os.MkdirAll(filepath.Dir(misplaced), 0o700); err != nil {
		t.Fatal(err)
	}
	leftovers := []string{stale, fresh, filepath.Join(shard, enc+".partial"), filepath.Join(shard, "tmp-"+enc), misplaced}
	for _, p := range leftovers {
		if err := os.WriteFile(p, data[:5000], 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}

	for _, s := range []*registry.FSBlobs{s, reopen(t, s)} {
		if _, err := s.Stat(ctx, d); !errors.Is(err, registry.ErrBlobUnknown) {
			t.Fatalf("Stat of a blob only partly written before a crash = %v, want ErrBlobUnknown", err)
		}
		if err := s.Walk(ctx, func(b registry.BlobInfo) error {
			return errors.New("Walk listed " + b.Digest.String())
		}); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.PurgeUploads(time.Now().Add(-time.Hour))
	if err != nil || n != 0 {
		t.Fatalf("PurgeUploads = %d, %v; want 0 sessions, nil", n, err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("PurgeUploads left the stale temporary file %s (%v)", stale, err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("PurgeUploads removed the fresh temporary file %s, which may be in use: %v", fresh, err)
	}
	if err := s.Put(ctx, d, data); err != nil {
		t.Fatal(err)
	}
	wantContent(t, s, d, data)
}

// wrongShard returns a two-digit shard name other than shard.
func wrongShard(shard string) string {
	if shard == "00" {
		return "01"
	}
	return "00"
}

// A blob file that lost its tail (damaged disk, or an older version's crash) is
// replaced by the next Put or Commit rather than taken as present.
func TestFSBlobsReplacesTruncatedBlob(t *testing.T) {
	t.Parallel()
	s := newFS(t)
	data := randomBytes(10_000)
	d := digest.FromBytes(data)
	path := filepath.Join(s.Root(), "blobs", "sha256", d.Encoded()[:2], d.Encoded())
	if err := s.Put(t.Context(), d, data); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, 100); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(t.Context(), d, data); err != nil {
		t.Fatal(err)
	}
	wantContent(t, s, d, data)
	if err := os.Truncate(path, 100); err != nil {
		t.Fatal(err)
	}
	u := newUpload(t, s, data)
	if err := u.Commit(t.Context(), d); err != nil {
		t.Fatal(err)
	}
	wantContent(t, s, d, data)
}

func TestFSBlobsFileModes(t *testing.T) {
	t.Parallel()
	s := newFS(t)
	ctx := t.Context()
	if err := s.Put(ctx, digest.FromString("m"), []byte("m")); err != nil {
		t.Fatal(err)
	}
	u := newUpload(t, s, []byte("committed"))
	if err := u.Commit(ctx, digest.FromString("committed")); err != nil {
		t.Fatal(err)
	}
	u = newUpload(t, s, []byte("big"))
	if err := u.Commit(ctx, digest.SHA512.FromString("big")); err != nil {
		t.Fatal(err)
	}
	u = newUpload(t, s, []byte("paused")) // data file and saved hash state
	if err := u.Close(); err != nil {
		t.Fatal(err)
	}
	var files, dirs int
	err := filepath.WalkDir(s.Root(), func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		want := fs.FileMode(0o600)
		if e.IsDir() {
			want = 0o700 | fs.ModeDir
			dirs++
		} else {
			files++
		}
		if info.Mode() != want {
			t.Errorf("%s: mode %v, want %v", path, info.Mode(), want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// root, blobs, sha256, sha512, 3 shards, uploads, one session, tmp; 3 blobs, data, state
	if dirs != 10 || files != 5 {
		t.Errorf("checked %d directories and %d files, want 10 and 5", dirs, files)
	}
}

func TestFSBlobsPurgeUploads(t *testing.T) {
	t.Parallel()
	s := newFS(t)
	old := time.Now().Add(-2 * time.Hour)
	age := func(u registry.Upload) {
		dir := filepath.Join(s.Root(), "uploads", u.ID())
		for _, p := range []string{filepath.Join(dir, "data"), filepath.Join(dir, "sha256state"), dir} {
			if err := os.Chtimes(p, old, old); err != nil && !errors.Is(err, fs.ErrNotExist) {
				t.Fatal(err)
			}
		}
	}
	stale := newUpload(t, s, []byte("abandoned"))
	if err := stale.Close(); err != nil {
		t.Fatal(err)
	}
	age(stale)
	crashed := newUpload(t, s, []byte("never closed")) // as a killed process leaves it
	age(crashed)
	s2 := reopen(t, s) // the restarted process, where neither session is open
	fresh := newUpload(t, s2, []byte("recent"))
	if err := fresh.Close(); err != nil {
		t.Fatal(err)
	}
	inUse := newUpload(t, s2, []byte("slow client "))
	age(inUse)

	n, err := s2.PurgeUploads(time.Now().Add(-time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("PurgeUploads = %d, %v; want 2 sessions, nil", n, err)
	}
	for _, id := range []string{stale.ID(), crashed.ID()} {
		if _, err := s2.ResumeUpload(t.Context(), id); !errors.Is(err, registry.ErrUploadUnknown) {
			t.Errorf("ResumeUpload of a purged session = %v, want ErrUploadUnknown", err)
		}
	}
	resume(t, s2, fresh.ID(), len("recent")).Close()
	writeAll(t, inUse, []byte("still here"))
	if err := inUse.Commit(t.Context(), digest.FromString("slow client still here")); err != nil {
		t.Fatalf("Commit of a session open during PurgeUploads: %v", err)
	}
	if n, err := s2.PurgeUploads(time.Now().Add(-time.Hour)); err != nil || n != 0 {
		t.Fatalf("second PurgeUploads = %d, %v; want 0, nil", n, err)
	}
	if n, err := s2.PurgeUploads(time.Now().Add(time.Hour)); err != nil || n != 1 {
		t.Fatalf("PurgeUploads of everything = %d, %v; want 1 (the fresh session), nil", n, err)
	}
}

// Not parallel: it measures the process's heap.
func TestFSBlobsMemoryStaysFlat(t *testing.T) {
	s := newFS(t)
	const size, chunk = 64 << 20, 1 << 20
	buf := make([]byte, chunk)
	h256, h512 := sha256.New(), sha512.New()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	u := newUpload(t, s)
	for i := range size / chunk {
		buf[0], buf[chunk-1] = byte(i), byte(i>>8)
		writeAll(t, u, buf)
		h256.Write(buf)
		h512.Write(buf)
		if i == size/chunk/2 {
			id := u.ID()
			if err := u.Close(); err != nil {
				t.Fatal(err)
			}
			u = resume(t, reopen(t, s), id, size/2+chunk)
		}
	}
	if err := u.Close(); err != nil {
		t.Fatal(err)
	}
	u = resume(t, reopen(t, s), u.ID(), size)
	if err := u.Commit(t.Context(), digest.NewDigest(digest.SHA512, h512)); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)

	const bound = 16 << 20
	growth := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("64 MiB upload: heap grew %d KiB, %d KiB allocated in all", growth>>10, allocated>>10)
	if growth > bound {
		t.Errorf("heap grew by %d MiB during a 64 MiB upload, want < %d MiB", growth>>20, bound>>20)
	}
	if allocated > bound {
		t.Errorf("a 64 MiB upload allocated %d MiB, want < %d MiB", allocated>>20, bound>>20)
	}
	if _, err := s.Stat(t.Context(), digest.NewDigest(digest.SHA256, h256)); !errors.Is(err, registry.ErrBlobUnknown) {
		t.Errorf("the blob committed as sha512 is also under its sha256: %v", err)
	}
}

func TestFSBlobsSelfCheck(t *testing.T) {
	t.Parallel()
	t.Run("usable", func(t *testing.T) {
		s := newFS(t)
		if err := s.SelfCheck(); err != nil {
			t.Fatal(err)
		}
		if names := entries(t, filepath.Join(s.Root(), "tmp")); len(names) != 0 {
			t.Fatalf("SelfCheck left %v in tmp/", names)
		}
	})
	t.Run("tmp is a file", func(t *testing.T) {
		s := newFS(t)
		tmp := filepath.Join(s.Root(), "tmp")
		if err := os.Remove(tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(tmp, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		err := s.SelfCheck()
		if err == nil || !strings.Contains(err.Error(), tmp) {
			t.Fatalf("SelfCheck = %v, want an error naming %s", err, tmp)
		}
	})
	t.Run("root replaced by a file", func(t *testing.T) {
		s := newFS(t)
		if err := os.RemoveAll(s.Root()); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(s.Root(), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		err := s.SelfCheck()
		if err == nil || !strings.Contains(err.Error(), s.Root()) {
			t.Fatalf("SelfCheck = %v, want an error naming %s", err, s.Root())
		}
	})
	t.Run("NewFSBlobs on a file", func(t *testing.T) {
		root := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(root, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := registry.NewFSBlobs(root)
		if err == nil || !strings.Contains(err.Error(), root) {
			t.Fatalf("NewFSBlobs = %v, want an error naming %s", err, root)
		}
	})
	t.Run("read-only tmp", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("running as root, which writes into read-only directories; the cases above make the probe fail instead")
		}
		s := newFS(t)
		tmp := filepath.Join(s.Root(), "tmp")
		if err := os.Chmod(tmp, 0o500); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(tmp, 0o700) })
		err := s.SelfCheck()
		if err == nil || !strings.Contains(err.Error(), tmp) {
			t.Fatalf("SelfCheck = %v, want an error naming %s", err, tmp)
		}
	})
}

// BenchmarkFSBlobsUpload streams 64 MiB in 1 MiB writes and commits it. Its peer, "raw",
// runs first and does the least any durable store must: write a temporary file, hash it
// with sha256, fsync and rename it. The fsblobs line reports its time as a multiple of
// raw's (x_raw).
func BenchmarkFSBlobsUpload(b *testing.B) {
	const size, chunk = 64 << 20, 1 << 20
	data := randomBytes(size)
	d := digest.FromBytes(data)
	var rawPerOp time.Duration

	b.Run("raw", func(b *testing.B) {
		dir := b.TempDir()
		b.SetBytes(size)
		for b.Loop() {
			f, err := os.CreateTemp(dir, "raw-*")
			if err != nil {
				b.Fatal(err)
			}
			h := sha256.New()
			for off := 0; off < size; off += chunk {
				if _, err := f.Write(data[off : off+chunk]); err != nil {
					b.Fatal(err)
				}
				h.Write(data[off : off+chunk])
			}
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
			f.Close()
			dst := filepath.Join(dir, hex.EncodeToString(h.Sum(nil)))
			if err := os.Rename(f.Name(), dst); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			os.Remove(dst)
			b.StartTimer()
		}
		rawPerOp = b.Elapsed() / time.Duration(b.N)
	})
	b.Run("fsblobs", func(b *testing.B) {
		s := newFS(b)
		b.SetBytes(size)
		for b.Loop() {
			u, err := s.NewUpload(b.Context())
			if err != nil {
				b.Fatal(err)
			}
			for off := 0; off < size; off += chunk {
				if _, err := u.Write(data[off : off+chunk]); err != nil {
					b.Fatal(err)
				}
			}
			if err := u.Commit(b.Context(), d); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			if err := s.Delete(b.Context(), d); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		if rawPerOp > 0 {
			b.ReportMetric(float64(b.Elapsed()/time.Duration(b.N))/float64(rawPerOp), "x_raw")
		}
	})
}
