package registry

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/opencontainers/go-digest"
)

const (
	// uploadIDLen is the length of an upload id: 128 random bits in lower-case hex.
	uploadIDLen     = 32
	uploadDataFile  = "data"
	uploadStateFile = "sha256state"
	// hashBufSize is the buffer for re-reading an upload's data file.
	hashBufSize = 64 << 10
)

// hashState is the sha256 state of an upload's first Offset bytes, saved when the
// session is closed so that resuming does not re-read what came before.
type hashState struct {
	Offset int64  `json:"offset"`
	SHA256 []byte `json:"sha256"`
}

// fsUpload is an upload session of FSBlobs. It is not safe for concurrent use.
type fsUpload struct {
	s    *FSBlobs
	id   string
	dir  string
	f    *os.File  // the data file, opened for appending; nil once released
	size int64     // bytes in the data file
	h    hash.Hash // sha256 of the data file's first size bytes
	done bool      // committed or cancelled
}

// createUpload makes a new, durable session directory with an empty data file.
func (s *FSBlobs) createUpload(id string) (*fsUpload, error) {
	dir := filepath.Join(s.uploads, id)
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, fmt.Errorf("starting upload %s: %w", id, err)
	}
	f, err := os.OpenFile(filepath.Join(dir, uploadDataFile), os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err == nil {
		err = errors.Join(syncDir(dir), syncDir(s.uploads))
		if err != nil {
			f.Close()
		}
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("starting upload %s: %w", id, err)
	}
	return &fsUpload{s: s, id: id, dir: dir, f: f, h: sha256.New()}, nil
}

// openUpload reopens a session: its size is the data file's length, and its hash is the
// saved state plus whatever was appended after it was saved (a crash can leave bytes
// that no Close accounted for), or the whole file re-read if the state is unusable.
func (s *FSBlobs) openUpload(ctx context.Context, id string) (*fsUpload, error) {
	dir := filepath.Join(s.uploads, id)
	path := filepath.Join(dir, uploadDataFile)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("upload %s: %w", id, ErrUploadUnknown)
	}
	if err != nil {
		return nil, fmt.Errorf("resuming upload %s: %w", id, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("resuming upload %s: %w", id, err)
	}
	h, off := loadHashState(dir, fi.Size())
	if err := hashFile(ctx, h, path, off, fi.Size()-off); err != nil {
		f.Close()
		return nil, fmt.Errorf("resuming upload %s: %w", id, err)
	}
	return &fsUpload{s: s, id: id, dir: dir, f: f, size: fi.Size(), h: h}, nil
}

// loadHashState returns the saved hash and the offset it covers, or a fresh hash and 0
// if there is no usable state (missing, corrupt, or beyond the data a crash kept).
func loadHashState(dir string, size int64) (hash.Hash, int64) {
	h := sha256.New()
	b, err := os.ReadFile(filepath.Join(dir, uploadStateFile))
	if err != nil {
		return h, 0
	}
	var st hashState
	if json.Unmarshal(b, &st) != nil || st.Offset < 0 || st.Offset > size {
		return h, 0
	}
	if h.(encoding.BinaryUnmarshaler).UnmarshalBinary(st.SHA256) != nil {
		return sha256.New(), 0
	}
	return h, st.Offset
}

// hashFile feeds n bytes of the file at path, from offset off, into h.
func hashFile(ctx context.Context, h hash.Hash, path string, off, n int64) error {
	if n == 0 {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r := io.NewSectionReader(f, off, n)
	buf := make([]byte, hashBufSize)
	var read int64
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		m, err := r.Read(buf)
		h.Write(buf[:m])
		read += int64(m)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
	}
	if read != n {
		return fmt.Errorf("%s shrank while being hashed: read %d of %d bytes", path, read, n)
	}
	return nil
}

func (u *fsUpload) ID() string  { return u.id }
func (u *fsUpload) Size() int64 { return u.size }

// usable reports why the session cannot be used, if it cannot.
func (u *fsUpload) usable() error {
	if u.done {
		return fmt.Errorf("upload %s: %w", u.id, ErrUploadUnknown)
	}
	if u.f == nil {
		return fmt.Errorf("upload %s is closed: %w", u.id, os.ErrClosed)
	}
	return nil
}

// Write appends p to the data file. After a short write Size counts the bytes that
// reached the file, so a resumed session continues from there.
func (u *fsUpload) Write(p []byte) (int, error) {
	if err := u.usable(); err != nil {
		return 0, err
	}
	n, err := u.f.Write(p)
	u.h.Write(p[:n])
	u.size += int64(n)
	if err != nil {
		return n, fmt.Errorf("writing upload %s: %w", u.id, err)
	}
	return n, nil
}

// Commit verifies the received bytes against d and renames the data file into place.
// An unsupported or malformed d leaves the session open (nothing was examined); a
// mismatch ends it. For sha512 the data file is re-read, since only sha256 is hashed
// as bytes arrive.
func (u *fsUpload) Commit(ctx context.Context, d digest.Digest) error {
	if err := u.usable(); err != nil {
		return err
	}
	if err := checkDigest(d); err != nil {
		return fmt.Errorf("committing upload %s: %w", u.id, err)
	}
	if err := u.f.Sync(); err != nil {
		return fmt.Errorf("committing upload %s: %w", u.id, err)
	}
	got, err := u.digest(ctx, d.Algorithm())
	if err != nil {
		return fmt.Errorf("committing upload %s: %w", u.id, err)
	}
	if got != d {
		err := fmt.Errorf("committing upload %s as %s: content hashes to %s: %w", u.id, d, got, ErrDigestMismatch)
		return errors.Join(err, u.end())
	}
	// The id stays claimed until the data file is renamed, so no resumed session can
	// append to it in between. If placing fails the session is still on disk and can
	// be resumed and committed again.
	err = u.f.Close()
	u.f = nil
	if err == nil {
		err = u.s.place(filepath.Join(u.dir, uploadDataFile), d, u.size)
	}
	if err != nil {
		u.s.release(u.id)
		return fmt.Errorf("committing upload %s: %w", u.id, err)
	}
	// The blob is stored and the session cannot be resumed any more (its data file is
	// gone or about to be); a leftover directory is PurgeUploads' business.
	u.end()
	return nil
}

// digest computes the digest of the received bytes with alg.
func (u *fsUpload) digest(ctx context.Context, alg digest.Algorithm) (digest.Digest, error) {
	if alg == digest.SHA256 {
		return digest.NewDigest(alg, u.h), nil
	}
	h := sha512.New()
	if err := hashFile(ctx, h, filepath.Join(u.dir, uploadDataFile), 0, u.size); err != nil {
		return "", err
	}
	return digest.NewDigest(alg, h), nil
}

// Cancel ends the session and removes its data.
func (u *fsUpload) Cancel(ctx context.Context) error {
	if err := u.usable(); err != nil {
		return err
	}
	return u.end()
}

// Close makes the received bytes durable, saves the hash state and releases the
// session for a later ResumeUpload. Close after Close, Commit or Cancel does nothing.
// If saving the hash state fails the session is still resumable (it is re-hashed).
func (u *fsUpload) Close() error {
	if u.done || u.f == nil {
		return nil
	}
	defer u.s.release(u.id)
	f := u.f
	u.f = nil
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("closing upload %s: %w", u.id, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("closing upload %s: %w", u.id, err)
	}
	state, err := u.h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return fmt.Errorf("closing upload %s: saving hash state: %w", u.id, err)
	}
	b, err := json.Marshal(hashState{Offset: u.size, SHA256: state})
	if err != nil {
		return fmt.Errorf("closing upload %s: saving hash state: %w", u.id, err)
	}
	if err := writeFileAtomic(u.s.tmp, filepath.Join(u.dir, uploadStateFile), b); err != nil {
		return fmt.Errorf("closing upload %s: saving hash state: %w", u.id, err)
	}
	return nil
}

// end removes the session from disk and marks it done.
func (u *fsUpload) end() error {
	if u.f != nil {
		u.f.Close()
		u.f = nil
	}
	u.done = true
	defer u.s.release(u.id)
	if err := os.RemoveAll(u.dir); err != nil {
		return fmt.Errorf("removing upload %s: %w", u.id, err)
	}
	return syncDir(u.s.uploads)
}

// lastWritten is when an upload session was last written: the later of its directory's
// and its data file's modification times.
func lastWritten(dir string) (time.Time, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return time.Time{}, err
	}
	last := fi.ModTime()
	if data, err := os.Stat(filepath.Join(dir, uploadDataFile)); err == nil && data.ModTime().After(last) {
		last = data.ModTime()
	}
	return last, nil
}
