package blobstoretest

import (
	"bytes"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"gantry/internal/registry"
)

// Run runs the shared BlobStore tests as parallel subtests. newStore must return a new,
// empty store each time it is called (it is called from parallel subtests) and register
// its own cleanup with t.Cleanup.
func Run(t *testing.T, newStore func(t *testing.T) registry.BlobStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s registry.BlobStore)
	}{
		{"PutStatOpenRangeDelete", testPutStatOpenRangeDelete},
		{"PutWrongDigest", testPutWrongDigest},
		{"UnsupportedAlgorithm", testUnsupportedAlgorithm},
		{"InvalidDigest", testInvalidDigest},
		{"UploadInChunks", testUploadInChunks},
		{"CommitWrongDigest", testCommitWrongDigest},
		{"Cancel", testCancel},
		{"CloseAndResume", testCloseAndResume},
		{"SHA512", testSHA512},
		{"ConcurrentSameDigest", testConcurrentSameDigest},
		{"ConcurrentDistinct", testConcurrentDistinct},
		{"Walk", testWalk},
		{"EmptyBlob", testEmptyBlob},
		{"UploadIDs", testUploadIDs},
		{"MalformedUploadID", testMalformedUploadID},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newStore(t))
		})
	}
}

// emptySHA256 is the digest of no bytes, which registries see for empty configs.
const emptySHA256 = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// content returns n bytes that differ with seed and are not all alike.
func content(n int, seed byte) []byte {
	b := make([]byte, n)
	x := uint32(seed)*2654435761 + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

func sha512Of(b []byte) digest.Digest {
	sum := sha512.Sum512(b)
	return digest.NewDigestFromEncoded(digest.SHA512, hex.EncodeToString(sum[:]))
}

func mustPut(t *testing.T, s registry.BlobStore, b []byte) digest.Digest {
	t.Helper()
	d := digest.FromBytes(b)
	if err := s.Put(t.Context(), d, b); err != nil {
		t.Fatalf("Put(%s): %v", d, err)
	}
	return d
}

// upload sends b in chunks of chunk bytes to a new session, checking Size as it goes.
func upload(t *testing.T, s registry.BlobStore, b []byte, chunk int) registry.Upload {
	t.Helper()
	u, err := s.NewUpload(t.Context())
	if err != nil {
		t.Fatalf("NewUpload: %v", err)
	}
	write(t, u, b, chunk)
	return u
}

func write(t *testing.T, u registry.Upload, b []byte, chunk int) {
	t.Helper()
	for len(b) > 0 {
		n := min(chunk, len(b))
		before := u.Size()
		if w, err := u.Write(b[:n]); err != nil || w != n {
			t.Fatalf("upload %s: Write(%d bytes) = %d, %v", u.ID(), n, w, err)
		}
		if got := u.Size(); got != before+int64(n) {
			t.Fatalf("upload %s: Size after writing %d bytes at %d = %d", u.ID(), n, before, got)
		}
		b = b[n:]
	}
}

// wantBlob checks that d is stored with exactly the given content.
func wantBlob(t *testing.T, s registry.BlobStore, d digest.Digest, want []byte) {
	t.Helper()
	size, err := s.Stat(t.Context(), d)
	if err != nil || size != int64(len(want)) {
		t.Fatalf("Stat(%s) = %d, %v; want %d, nil", d, size, err, len(want))
	}
	rc, size, err := s.Open(t.Context(), d)
	if err != nil {
		t.Fatalf("Open(%s): %v", d, err)
	}
	defer rc.Close()
	if size != int64(len(want)) {
		t.Fatalf("Open(%s) size = %d, want %d", d, size, len(want))
	}
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading %s: %v", d, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("blob %s: read %d bytes that differ from the %d stored", d, len(got), len(want))
	}
}

func wantUnknown(t *testing.T, s registry.BlobStore, d digest.Digest) {
	t.Helper()
	if size, err := s.Stat(t.Context(), d); !errors.Is(err, registry.ErrBlobUnknown) {
		t.Fatalf("Stat(%s) = %d, %v; want ErrBlobUnknown", d, size, err)
	}
	if rc, _, err := s.Open(t.Context(), d); !errors.Is(err, registry.ErrBlobUnknown) {
		if rc != nil {
			rc.Close()
		}
		t.Fatalf("Open(%s) = %v; want ErrBlobUnknown", d, err)
	}
}

func wantUploadUnknown(t *testing.T, s registry.BlobStore, id string) {
	t.Helper()
	u, err := s.ResumeUpload(t.Context(), id)
	if !errors.Is(err, registry.ErrUploadUnknown) {
		if u != nil {
			u.Close()
		}
		t.Fatalf("ResumeUpload(%q) = %v; want ErrUploadUnknown", id, err)
	}
}

// walk returns every blob Walk reports, failing on duplicates.
func walk(t *testing.T, s registry.BlobStore) map[digest.Digest]int64 {
	t.Helper()
	got := map[digest.Digest]int64{}
	err := s.Walk(t.Context(), func(b registry.BlobInfo) error {
		if _, dup := got[b.Digest]; dup {
			return fmt.Errorf("%s listed twice", b.Digest)
		}
		if age := time.Since(b.ModTime); age < -time.Minute || age > time.Hour {
			return fmt.Errorf("%s has modification time %s, not about now", b.Digest, b.ModTime)
		}
		got[b.Digest] = b.Size
		return nil
	})
	if err != nil {
		t.Fatalf("Walk: %v", err)
	}
	return got
}

func wantWalk(t *testing.T, s registry.BlobStore, want map[digest.Digest]int64) {
	t.Helper()
	got := walk(t, s)
	for d, size := range want {
		if gs, ok := got[d]; !ok || gs != size {
			t.Errorf("Walk: %s listed %v with size %d, want size %d", d, ok, gs, size)
		}
	}
	for d, size := range got {
		if _, ok := want[d]; !ok {
			t.Errorf("Walk listed %s (%d bytes), which was never committed", d, size)
		}
	}
}

func testPutStatOpenRangeDelete(t *testing.T, s registry.BlobStore) {
	ctx := t.Context()
	data := content(100_000, 1)
	d := digest.FromBytes(data)
	wantUnknown(t, s, d)
	if err := s.Put(ctx, d, data); err != nil {
		t.Fatalf("Put: %v", err)
	}
	wantBlob(t, s, d, data)

	rc, _, err := s.Open(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if pos, err := rc.Seek(5000, io.SeekStart); err != nil || pos != 5000 {
		t.Fatalf("Seek(5000, start) = %d, %v", pos, err)
	}
	got := make([]byte, 100)
	if _, err := io.ReadFull(rc, got); err != nil || !bytes.Equal(got, data[5000:5100]) {
		t.Fatalf("reading bytes 5000-5099 after Seek: %v, or content differs", err)
	}
	if pos, err := rc.Seek(-10, io.SeekEnd); err != nil || pos != int64(len(data)-10) {
		t.Fatalf("Seek(-10, end) = %d, %v", pos, err)
	}
	if tail, err := io.ReadAll(rc); err != nil || !bytes.Equal(tail, data[len(data)-10:]) {
		t.Fatalf("reading the last 10 bytes after Seek: %v, or content differs", err)
	}

	if err := s.Put(ctx, d, data); err != nil {
		t.Fatalf("second Put of the same blob: %v", err)
	}
	wantBlob(t, s, d, data)
	if err := s.Delete(ctx, d); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	wantUnknown(t, s, d)
	if err := s.Delete(ctx, d); !errors.Is(err, registry.ErrBlobUnknown) {
		t.Fatalf("second Delete = %v, want ErrBlobUnknown", err)
	}
}

func testPutWrongDigest(t *testing.T, s registry.BlobStore) {
	ctx := t.Context()
	a, b := []byte("content a"), []byte("content b")
	da, db := digest.FromBytes(a), digest.FromBytes(b)
	if err := s.Put(ctx, da, b); !errors.Is(err, registry.ErrDigestMismatch) {
		t.Fatalf("Put(digest of a, b) = %v, want ErrDigestMismatch", err)
	}
	wantUnknown(t, s, da)
	wantUnknown(t, s, db)
	if err := s.Put(ctx, sha512Of(a), b); !errors.Is(err, registry.ErrDigestMismatch) {
		t.Fatalf("Put(sha512 of a, b) = %v, want ErrDigestMismatch", err)
	}
	wantUnknown(t, s, sha512Of(a))

	mustPut(t, s, a)
	if err := s.Put(ctx, da, b); !errors.Is(err, registry.ErrDigestMismatch) {
		t.Fatalf("Put(digest of a, b) with a stored = %v, want ErrDigestMismatch", err)
	}
	wantBlob(t, s, da, a)
}

func testUnsupportedAlgorithm(t *testing.T, s registry.BlobStore) {
	ctx := t.Context()
	data := []byte("hashed with something else")
	sum384 := sha512.Sum384(data)
	for _, d := range []digest.Digest{
		digest.NewDigestFromEncoded(digest.SHA384, hex.EncodeToString(sum384[:])),
		"md5:" + digest.Digest(strings.Repeat("0", 32)),
		"blake3:" + digest.Digest(strings.Repeat("a", 64)),
	} {
		if err := s.Put(ctx, d, data); !errors.Is(err, registry.ErrUnsupportedDigest) {
			t.Errorf("Put(%s) = %v, want ErrUnsupportedDigest", d, err)
		}
		if _, err := s.Stat(ctx, d); !errors.Is(err, registry.ErrUnsupportedDigest) {
			t.Errorf("Stat(%s) = %v, want ErrUnsupportedDigest", d, err)
		}
		u := upload(t, s, data, len(data))
		if err := u.Commit(ctx, d); !errors.Is(err, registry.ErrUnsupportedDigest) {
			t.Errorf("Commit(%s) = %v, want ErrUnsupportedDigest", d, err)
		}
		if err := u.Cancel(ctx); err != nil && !errors.Is(err, registry.ErrUploadUnknown) {
			t.Errorf("Cancel after a refused Commit: %v", err)
		}
	}
	wantWalk(t, s, nil)
}

func testInvalidDigest(t *testing.T, s registry.BlobStore) {
	ctx := t.Context()
	data := []byte("x")
	for _, d := range []digest.Digest{
		"",
		"sha256",
		"sha256:",
		"sha256:xyz",
		"sha256:../../../../etc/passwd",
		"sha256:" + digest.Digest(strings.ToUpper(digest.FromBytes(data).Encoded())),
		digest.FromBytes(data) + "/../x",
		"../sha256:" + digest.Digest(digest.FromBytes(data).Encoded()),
	} {
		if err := s.Put(ctx, d, data); err == nil {
			t.Errorf("Put(%q) succeeded", d)
		}
		if _, err := s.Stat(ctx, d); err == nil {
			t.Errorf("Stat(%q) succeeded", d)
		}
		if rc, _, err := s.Open(ctx, d); err == nil {
			rc.Close()
			t.Errorf("Open(%q) succeeded", d)
		}
		if err := s.Delete(ctx, d); err == nil {
			t.Errorf("Delete(%q) succeeded", d)
		}
	}
	wantWalk(t, s, nil)
}

func testUploadInChunks(t *testing.T, s registry.BlobStore) {
	ctx := t.Context()
	data := content(300_001, 2)
	d := digest.FromBytes(data)
	u := upload(t, s, data, 65_536)
	if u.ID() == "" {
		t.Fatal("upload has an empty id")
	}
	if err := u.Commit(ctx, d); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	wantBlob(t, s, d, data)
	wantUploadUnknown(t, s, u.ID())
	if _, err := u.Write([]byte("more")); err == nil {
		t.Fatal("Write after Commit succeeded")
	}
	if err := u.Commit(ctx, d); err == nil {
		t.Fatal("second Commit succeeded")
	}
}

func testCommitWrongDigest(t *testing.T, s registry.BlobStore) {
	ctx := t.Context()
	data := content(10_000, 3)
	wrong := digest.FromBytes(content(10_000, 4))
	u := upload(t, s, data, 3000)
	if err := u.Commit(ctx, wrong); !errors.Is(err, registry.ErrDigestMismatch) {
		t.Fatalf("Commit(wrong digest) = %v, want ErrDigestMismatch", err)
	}
	wantUnknown(t, s, wrong)
	wantUnknown(t, s, digest.FromBytes(data))
	wantUploadUnknown(t, s, u.ID())
	if err := u.Commit(ctx, digest.FromBytes(data)); err == nil {
		t.Fatal("Commit after a mismatch succeeded; the session should have ended")
	}
	wantUnknown(t, s, digest.FromBytes(data))
	wantWalk(t, s, nil)
}

func testCancel(t *testing.T, s registry.BlobStore) {
	ctx := t.Context()
	data := content(5000, 5)
	u := upload(t, s, data, 1000)
	if err := u.Cancel(ctx); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	wantUploadUnknown(t, s, u.ID())
	if _, err := u.Write(data); err == nil {
		t.Fatal("Write after Cancel succeeded")
	}
	if err := u.Commit(ctx, digest.FromBytes(data)); err == nil {
		t.Fatal("Commit after Cancel succeeded")
	}
	wantUnknown(t, s, digest.FromBytes(data))
	wantWalk(t, s, nil)
}

func testCloseAndResume(t *testing.T, s registry.BlobStore) {
	ctx := t.Context()
	data := content(250_000, 6)
	d := digest.FromBytes(data)
	parts := [][]byte{data[:100_000], data[100_000:100_001], data[100_001:]}
	u, err := s.NewUpload(ctx)
	if err != nil {
		t.Fatal(err)
	}
	id := u.ID()
	var sent int64
	for i, part := range parts {
		if i > 0 {
			if u, err = s.ResumeUpload(ctx, id); err != nil {
				t.Fatalf("ResumeUpload before part %d: %v", i, err)
			}
			if u.ID() != id || u.Size() != sent {
				t.Fatalf("resumed upload: ID %q, Size %d; want %q, %d", u.ID(), u.Size(), id, sent)
			}
		}
		write(t, u, part, 40_000)
		sent += int64(len(part))
		if i < len(parts)-1 {
			if err := u.Close(); err != nil {
				t.Fatalf("Close after part %d: %v", i, err)
			}
			if _, err := u.Write([]byte("x")); err == nil {
				t.Fatal("Write after Close succeeded")
			}
		}
	}
	wantUnknown(t, s, d)
	if err := u.Commit(ctx, d); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	wantBlob(t, s, d, data)
	wantUploadUnknown(t, s, id)
}

func testSHA512(t *testing.T, s registry.BlobStore) {
	ctx := t.Context()
	data := content(200_000, 7)
	d := sha512Of(data)
	u := upload(t, s, data, 50_000)
	if err := u.Commit(ctx, d); err != nil {
		t.Fatalf("Commit(sha512): %v", err)
	}
	wantBlob(t, s, d, data)
	wantUnknown(t, s, digest.FromBytes(data))

	u = upload(t, s, data, 50_000)
	other := sha512Of(content(200_000, 8))
	if err := u.Commit(ctx, other); !errors.Is(err, registry.ErrDigestMismatch) {
		t.Fatalf("Commit(wrong sha512) = %v, want ErrDigestMismatch", err)
	}
	wantUnknown(t, s, other)

	small := []byte("a manifest hashed with sha512")
	if err := s.Put(ctx, sha512Of(small), small); err != nil {
		t.Fatalf("Put(sha512): %v", err)
	}
	wantBlob(t, s, sha512Of(small), small)
	wantWalk(t, s, map[digest.Digest]int64{d: int64(len(data)), sha512Of(small): int64(len(small))})
}

func testConcurrentSameDigest(t *testing.T, s registry.BlobStore) {
	data := content(500_000, 9)
	d := digest.FromBytes(data)
	const n = 8
	var writers, readers sync.WaitGroup
	errs := make(chan error, 2*n)
	committed := make(chan struct{})
	for i := range n {
		writers.Go(func() {
			u, err := s.NewUpload(t.Context())
			if err != nil {
				errs <- err
				return
			}
			for off := 0; off < len(data); off += 32_768 + i {
				if _, err := u.Write(data[off:min(off+32_768+i, len(data))]); err != nil {
					errs <- err
					return
				}
			}
			if err := u.Commit(t.Context(), d); err != nil {
				errs <- fmt.Errorf("upload %d: Commit: %w", i, err)
			}
		})
		readers.Go(func() { // until the commits are done, readers see nothing or the whole blob
			for {
				select {
				case <-committed:
					return
				default:
				}
				if err := readWhole(t, s, d, data); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	writers.Wait()
	close(committed)
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	wantBlob(t, s, d, data)
	wantWalk(t, s, map[digest.Digest]int64{d: int64(len(data))})
}

// readWhole reads blob d, which must be absent or hold exactly want.
func readWhole(t *testing.T, s registry.BlobStore, d digest.Digest, want []byte) error {
	rc, size, err := s.Open(t.Context(), d)
	if errors.Is(err, registry.ErrBlobUnknown) {
		return nil
	}
	if err != nil {
		return err
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil || size != int64(len(want)) || !bytes.Equal(got, want) {
		return fmt.Errorf("reader during commits: size %d, read %d bytes, %v; want nothing or the whole %d-byte blob", size, len(got), err, len(want))
	}
	return nil
}

func testConcurrentDistinct(t *testing.T, s registry.BlobStore) {
	const n = 16
	blobs := make([][]byte, n)
	want := map[digest.Digest]int64{}
	for i := range blobs {
		blobs[i] = content(20_000+i*1000, byte(100+i))
		want[digest.FromBytes(blobs[i])] = int64(len(blobs[i]))
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i, b := range blobs {
		wg.Go(func() {
			d := digest.FromBytes(b)
			var err error
			if i%2 == 0 {
				err = s.Put(t.Context(), d, b)
			} else {
				var u registry.Upload
				if u, err = s.NewUpload(t.Context()); err == nil {
					if _, err = u.Write(b); err == nil {
						err = u.Commit(t.Context(), d)
					}
				}
			}
			if err == nil {
				var rc io.ReadCloser
				if rc, _, err = s.Open(t.Context(), d); err == nil {
					var got []byte
					got, err = io.ReadAll(rc)
					rc.Close()
					if err == nil && !bytes.Equal(got, b) {
						err = errors.New("content differs")
					}
				}
			}
			if err != nil {
				errs <- fmt.Errorf("blob %d: %w", i, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	wantWalk(t, s, want)
}

func testWalk(t *testing.T, s registry.BlobStore) {
	ctx := t.Context()
	wantWalk(t, s, nil)
	a := mustPut(t, s, []byte("blob a"))
	b := content(70_000, 10)
	u := upload(t, s, b, 10_000)
	if err := u.Commit(ctx, digest.FromBytes(b)); err != nil {
		t.Fatal(err)
	}
	c := content(30_000, 11)
	u = upload(t, s, c, 10_000)
	if err := u.Commit(ctx, sha512Of(c)); err != nil {
		t.Fatal(err)
	}
	gone := mustPut(t, s, []byte("deleted"))
	if err := s.Delete(ctx, gone); err != nil {
		t.Fatal(err)
	}
	open := upload(t, s, []byte("still uploading"), 5) // neither committed nor closed
	closed := upload(t, s, []byte("paused"), 5)
	if err := closed.Close(); err != nil {
		t.Fatal(err)
	}
	failed := upload(t, s, []byte("mismatched"), 5)
	failed.Commit(ctx, digest.FromString("something else"))
	cancelled := upload(t, s, []byte("cancelled"), 5)
	if err := cancelled.Cancel(ctx); err != nil {
		t.Fatal(err)
	}
	want := map[digest.Digest]int64{a: 6, digest.FromBytes(b): int64(len(b)), sha512Of(c): int64(len(c))}
	wantWalk(t, s, want)

	stop := errors.New("stop")
	calls := 0
	err := s.Walk(ctx, func(registry.BlobInfo) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("Walk with fn failing: %v after %d calls; want fn's error after 1 call", err, calls)
	}
	// Garbage collection deletes from inside Walk.
	err = s.Walk(ctx, func(b registry.BlobInfo) error { return s.Delete(ctx, b.Digest) })
	if err != nil {
		t.Fatalf("Walk deleting every blob: %v", err)
	}
	wantWalk(t, s, nil)
	open.Close()
}

func testEmptyBlob(t *testing.T, s registry.BlobStore) {
	ctx := t.Context()
	d := digest.Digest(emptySHA256)
	if got := digest.FromBytes(nil); got != d {
		t.Fatalf("sha256 of no bytes = %s, want %s", got, d)
	}
	if err := s.Put(ctx, d, nil); err != nil {
		t.Fatalf("Put(empty): %v", err)
	}
	wantBlob(t, s, d, nil)
	if err := s.Delete(ctx, d); err != nil {
		t.Fatal(err)
	}
	u, err := s.NewUpload(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Commit(ctx, d); err != nil {
		t.Fatalf("Commit of an upload with no bytes: %v", err)
	}
	wantBlob(t, s, d, []byte{})
	wantWalk(t, s, map[digest.Digest]int64{d: 0})
}

func testUploadIDs(t *testing.T, s registry.BlobStore) {
	seen := map[string]bool{}
	for range 50 {
		u, err := s.NewUpload(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		id := u.ID()
		if len(id) < 22 || strings.Trim(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != "" {
			t.Fatalf("upload id %q: want at least 22 URL-safe characters (128 random bits)", id)
		}
		if seen[id] {
			t.Fatalf("upload id %q given twice", id)
		}
		seen[id] = true
		if err := u.Cancel(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
}

func testMalformedUploadID(t *testing.T, s registry.BlobStore) {
	u := upload(t, s, []byte("data"), 4)
	id := u.ID()
	if err := u.Close(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{
		"../x", "", ".", "..", "/", "a/b", "../../../../etc", "../" + id, id + "/..", id + "/../" + id,
		"./" + id, id + "/", id + "\x00", strings.Repeat("0", len(id)),
	} {
		wantUploadUnknown(t, s, bad)
	}
	// The real session is untouched by all that.
	u, err := s.ResumeUpload(t.Context(), id)
	if err != nil {
		t.Fatalf("ResumeUpload(%q): %v", id, err)
	}
	defer u.Close()
	if u.Size() != 4 {
		t.Fatalf("ResumeUpload(%q): Size %d, want 4", id, u.Size())
	}
}
