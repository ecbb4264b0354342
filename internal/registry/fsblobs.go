package registry

import (
	"bytes"
	"context"
	"crypto/rand"
	_ "crypto/sha256" // registers sha256 with go-digest
	_ "crypto/sha512" // registers sha512 with go-digest
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
)

// FSBlobs is a BlobStore on the local filesystem. Under its root it keeps
//
//	blobs/<alg>/<first 2 hex>/<hex>   verified, durable content
//	uploads/<id>/data                 bytes received by an upload session
//	uploads/<id>/sha256state          hash state saved when the session was last closed
//	tmp/                              temporary files, renamed into place when complete
//
// A file appears at a blob path only by a rename of a complete, fsynced file whose
// content was hashed and matched its digest, so a crash never leaves a partial blob;
// what a crash can leave (temporary files, sessions nobody resumes) is removed by
// PurgeUploads and never listed by Walk. Directories are 0700 and files 0600.
//
// FSBlobs is safe for concurrent use. Each Upload it returns must be used by one
// goroutine at a time; while an Upload is open, ResumeUpload of the same id in this
// process returns ErrUploadBusy. One process owns a root at a time.
type FSBlobs struct {
	root    string
	blobs   string
	uploads string
	tmp     string

	mu     sync.Mutex
	held   map[string]bool // upload ids open in this process (or being purged)
	shards map[string]bool // shard directories whose entry is known to be durable
}

var _ BlobStore = (*FSBlobs)(nil)

// supportedAlgorithms are the digest algorithms FSBlobs stores, in Walk order.
var supportedAlgorithms = []digest.Algorithm{digest.SHA256, digest.SHA512}

// dirBatch is how many directory entries Walk and PurgeUploads read at once, so that
// their memory does not grow with the number of blobs.
const dirBatch = 256

// NewFSBlobs opens (creating if needed) a blob store rooted at root.
func NewFSBlobs(root string) (*FSBlobs, error) {
	if root == "" {
		return nil, errors.New("creating blob store: root directory is empty")
	}
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("creating blob store under %s: %w", root, err)
	}
	s := &FSBlobs{
		root:    root,
		blobs:   filepath.Join(root, "blobs"),
		uploads: filepath.Join(root, "uploads"),
		tmp:     filepath.Join(root, "tmp"),
		held:    map[string]bool{},
		shards:  map[string]bool{},
	}
	_, statErr := os.Stat(root)
	createdRoot := errors.Is(statErr, fs.ErrNotExist)
	dirs := []string{root, s.blobs, s.uploads, s.tmp}
	for _, alg := range supportedAlgorithms {
		dirs = append(dirs, filepath.Join(s.blobs, string(alg)))
	}
	for _, dir := range dirs {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("creating blob store under %s: %w", root, err)
		}
	}
	// Make the directories' names durable, so that blobs committed into them are too.
	toSync := []string{root, s.blobs}
	if createdRoot {
		toSync = append(toSync, filepath.Dir(root))
	}
	for _, dir := range toSync {
		if err := syncDir(dir); err != nil {
			return nil, fmt.Errorf("creating blob store under %s: %w", root, err)
		}
	}
	return s, nil
}

// Root returns the directory the store keeps its files under.
func (s *FSBlobs) Root() string { return s.root }

// Stat implements BlobStore.
func (s *FSBlobs) Stat(ctx context.Context, d digest.Digest) (int64, error) {
	if err := checkDigest(d); err != nil {
		return 0, err
	}
	fi, err := os.Stat(s.blobPath(d))
	if err != nil {
		return 0, blobError(d, err)
	}
	if !fi.Mode().IsRegular() {
		return 0, fmt.Errorf("blob %s: %w", d, ErrBlobUnknown)
	}
	return fi.Size(), nil
}

// Open implements BlobStore; the reader is an *os.File.
func (s *FSBlobs) Open(ctx context.Context, d digest.Digest) (io.ReadSeekCloser, int64, error) {
	if err := checkDigest(d); err != nil {
		return nil, 0, err
	}
	f, err := os.Open(s.blobPath(d))
	if err != nil {
		return nil, 0, blobError(d, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, blobError(d, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, 0, fmt.Errorf("blob %s: %w", d, ErrBlobUnknown)
	}
	return f, fi.Size(), nil
}

// Put implements BlobStore. It verifies content before looking at what is stored, so a
// wrong digest is reported even when the blob exists.
func (s *FSBlobs) Put(ctx context.Context, d digest.Digest, content []byte) error {
	if err := checkDigest(d); err != nil {
		return err
	}
	if got := d.Algorithm().FromBytes(content); got != d {
		return fmt.Errorf("putting blob %s: content hashes to %s: %w", d, got, ErrDigestMismatch)
	}
	path := s.blobPath(d)
	if present(path, int64(len(content))) {
		return nil
	}
	if err := s.ensureShard(d); err != nil {
		return err
	}
	if err := writeFileAtomic(s.tmp, path, content); err != nil {
		return fmt.Errorf("putting blob %s: %w", d, err)
	}
	return nil
}

// Delete implements BlobStore.
func (s *FSBlobs) Delete(ctx context.Context, d digest.Digest) error {
	if err := checkDigest(d); err != nil {
		return err
	}
	path := s.blobPath(d)
	if err := os.Remove(path); err != nil {
		return blobError(d, err)
	}
	return syncDir(filepath.Dir(path))
}

// Walk implements BlobStore. It lists only files whose name and place are those of a
// blob; fn may delete the blob it is given.
func (s *FSBlobs) Walk(ctx context.Context, fn func(BlobInfo) error) error {
	for _, alg := range supportedAlgorithms {
		algDir := filepath.Join(s.blobs, string(alg))
		err := eachEntry(algDir, func(shard fs.DirEntry) error {
			prefix := shard.Name()
			if !shard.IsDir() || !isLowerHex(prefix, 2) {
				return nil
			}
			return eachEntry(filepath.Join(algDir, prefix), func(e fs.DirEntry) error {
				if err := ctx.Err(); err != nil {
					return err
				}
				name := e.Name()
				if !e.Type().IsRegular() || !isLowerHex(name, alg.Size()*2) || name[:2] != prefix {
					return nil
				}
				info, err := e.Info()
				if errors.Is(err, fs.ErrNotExist) {
					return nil // deleted since the directory was read
				}
				if err != nil {
					return err
				}
				return fn(BlobInfo{Digest: digest.NewDigestFromEncoded(alg, name), Size: info.Size(), ModTime: info.ModTime()})
			})
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// NewUpload implements BlobStore. The session is durable when NewUpload returns.
func (s *FSBlobs) NewUpload(ctx context.Context) (Upload, error) {
	id := randomHex(uploadIDLen / 2)
	if !s.claim(id) {
		return nil, fmt.Errorf("starting upload: id %s already in use", id)
	}
	u, err := s.createUpload(id)
	if err != nil {
		s.release(id)
		return nil, err
	}
	return u, nil
}

// ResumeUpload implements BlobStore. It returns ErrUploadBusy while the session is open
// elsewhere in this process.
func (s *FSBlobs) ResumeUpload(ctx context.Context, id string) (Upload, error) {
	if !isLowerHex(id, uploadIDLen) {
		return nil, fmt.Errorf("upload %q: %w", id, ErrUploadUnknown)
	}
	if !s.claim(id) {
		return nil, fmt.Errorf("upload %s: %w", id, ErrUploadBusy)
	}
	u, err := s.openUpload(ctx, id)
	if err != nil {
		s.release(id)
		return nil, err
	}
	return u, nil
}

// SelfCheck writes, reads back and deletes a probe file under tmp/, as a server does
// before it starts serving, and checks that blobs/ and uploads/ are directories.
func (s *FSBlobs) SelfCheck() error {
	for _, dir := range []string{s.blobs, s.uploads, s.tmp} {
		fi, err := os.Stat(dir)
		if err == nil && !fi.IsDir() {
			err = errors.New("not a directory")
		}
		if err != nil {
			return fmt.Errorf("blob store self-check: %s is not usable: %v (it must be a writable directory)", dir, err)
		}
	}
	probe := filepath.Join(s.tmp, "selfcheck-"+randomHex(8))
	want := []byte("gantry blob store self-check\n")
	if err := os.WriteFile(probe, want, 0o600); err != nil {
		return fmt.Errorf("blob store self-check: cannot write %s: %w (%s must be a writable directory)", probe, err, s.tmp)
	}
	defer os.Remove(probe)
	got, err := os.ReadFile(probe)
	if err != nil {
		return fmt.Errorf("blob store self-check: cannot read back %s: %w", probe, err)
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("blob store self-check: %s read back %q, wrote %q", probe, got, want)
	}
	if err := os.Remove(probe); err != nil {
		return fmt.Errorf("blob store self-check: cannot delete %s: %w", probe, err)
	}
	return nil
}

// PurgeUploads removes upload sessions last written before olderThan and not open in
// this process, and temporary files under tmp/ older than olderThan (left by a crash).
// It returns how many sessions it removed. Pick olderThan well before the slowest
// expected request: a purged session is gone for the client.
func (s *FSBlobs) PurgeUploads(olderThan time.Time) (int, error) {
	removed := 0
	var errs []error
	err := eachEntry(s.uploads, func(e fs.DirEntry) error {
		id := e.Name()
		if !s.claim(id) {
			return nil // open right now
		}
		defer s.release(id)
		dir := filepath.Join(s.uploads, id)
		last, err := lastWritten(dir)
		if err != nil {
			errs = append(errs, err)
			return nil
		}
		if !last.Before(olderThan) {
			return nil
		}
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, fmt.Errorf("purging upload %s: %w", id, err))
			return nil
		}
		removed++
		return nil
	})
	errs = append(errs, err)
	if removed > 0 {
		errs = append(errs, syncDir(s.uploads))
	}
	errs = append(errs, eachEntry(s.tmp, func(e fs.DirEntry) error {
		info, err := e.Info()
		if err != nil || !info.ModTime().Before(olderThan) {
			return nil
		}
		if err := os.RemoveAll(filepath.Join(s.tmp, e.Name())); err != nil {
			errs = append(errs, fmt.Errorf("purging temporary file: %w", err))
		}
		return nil
	}))
	return removed, errors.Join(errs...)
}

// blobPath is where blob d lives; d must have passed checkDigest.
func (s *FSBlobs) blobPath(d digest.Digest) string {
	enc := d.Encoded()
	return filepath.Join(s.blobs, string(d.Algorithm()), enc[:2], enc)
}

// ensureShard creates d's shard directory if needed and makes its name durable: a
// blob renamed into a directory whose own entry is lost in a crash would be lost too.
// Each shard is synced once per process, whoever created it.
func (s *FSBlobs) ensureShard(d digest.Digest) error {
	algDir := filepath.Join(s.blobs, string(d.Algorithm()))
	dir := filepath.Join(algDir, d.Encoded()[:2])
	s.mu.Lock()
	known := s.shards[dir]
	s.mu.Unlock()
	if known {
		return nil
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("creating blob directory: %w", err)
	}
	if err := syncDir(algDir); err != nil {
		return err
	}
	s.mu.Lock()
	s.shards[dir] = true
	s.mu.Unlock()
	return nil
}

// place renames the complete, fsynced and verified file src to blob d, unless a blob of
// that size is already there; src is left in place in that case.
func (s *FSBlobs) place(src string, d digest.Digest, size int64) error {
	dst := s.blobPath(d)
	if present(dst, size) {
		return nil
	}
	if err := s.ensureShard(d); err != nil {
		return err
	}
	if err := os.Rename(src, dst); err != nil {
		return fmt.Errorf("storing blob %s: %w", d, err)
	}
	return syncDir(filepath.Dir(dst))
}

// claim marks an upload id as open in this process; false if it already is.
func (s *FSBlobs) claim(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held[id] {
		return false
	}
	s.held[id] = true
	return true
}

func (s *FSBlobs) release(id string) {
	s.mu.Lock()
	delete(s.held, id)
	s.mu.Unlock()
}

// checkDigest accepts well-formed sha256 and sha512 digests only. A well-formed digest
// cannot escape the blobs directory: its encoded part is lower-case hex.
func checkDigest(d digest.Digest) error {
	if err := d.Validate(); err != nil {
		if errors.Is(err, digest.ErrDigestUnsupported) {
			return fmt.Errorf("digest %q: %w", d, ErrUnsupportedDigest)
		}
		return fmt.Errorf("digest %q: %w", d, err)
	}
	for _, alg := range supportedAlgorithms {
		if d.Algorithm() == alg {
			return nil
		}
	}
	return fmt.Errorf("digest %s: %w", d, ErrUnsupportedDigest)
}

// blobError turns a missing file into ErrBlobUnknown.
func blobError(d digest.Digest, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("blob %s: %w", d, ErrBlobUnknown)
	}
	return fmt.Errorf("blob %s: %w", d, err)
}

// present reports whether a regular file of the given size is at path.
func present(path string, size int64) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Size() == size
}

// eachEntry calls fn for each entry of dir, reading the directory in batches.
func eachEntry(dir string, fn func(fs.DirEntry) error) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("reading directory: %w", err)
	}
	defer f.Close()
	for {
		entries, err := f.ReadDir(dirBatch)
		for _, e := range entries {
			if err := fn(e); err != nil {
				return err
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading directory %s: %w", dir, err)
		}
	}
}

// isLowerHex reports whether s is exactly n lower-case hex digits.
func isLowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// randomHex returns n random bytes as 2n hex digits.
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand panics instead)
	return hex.EncodeToString(b)
}
