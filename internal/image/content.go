package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"
)

func (s *Store) blobPath(d digest.Digest) (string, error) {
	if err := d.Validate(); err != nil {
		return "", fmt.Errorf("invalid digest %q: %w", d, err)
	}
	if d.Algorithm() != digest.SHA256 {
		return "", fmt.Errorf("unsupported digest algorithm %s", d.Algorithm())
	}
	return filepath.Join(s.root, "blobs", "sha256", d.Encoded()), nil
}

func (s *Store) hasBlob(d digest.Digest) bool {
	p, err := s.blobPath(d)
	if err != nil {
		return false
	}
	_, err = os.Stat(p)
	return err == nil
}

func (s *Store) readBlob(d digest.Digest) ([]byte, error) {
	p, err := s.blobPath(d)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("blob %s: %w", d, ErrNotFound)
	}
	return b, err
}

// ensureBlob stores the content open returns under d unless it is already
// present. The content is written to tmp/, checked against d (and size when
// size > 0), fsynced and renamed into place. Concurrent callers for the same
// digest share one call of open. progress, if set, gets the running byte count.
func (s *Store) ensureBlob(ctx context.Context, d digest.Digest, size int64, open func() (io.ReadCloser, error), progress func(int64)) (fetched bool, err error) {
	p, err := s.blobPath(d)
	if err != nil {
		return false, err
	}
	if _, err := os.Stat(p); err == nil {
		return false, nil
	}
	err = s.blobs.do(ctx, d.String(), func() error {
		if _, err := os.Stat(p); err == nil {
			return nil
		}
		fetched = true
		rc, err := open()
		if err != nil {
			return err
		}
		defer rc.Close()
		return s.writeBlob(ctx, p, d, size, rc, progress)
	})
	if err != nil {
		return fetched, fmt.Errorf("blob %s: %w", d, err)
	}
	return fetched, nil
}

func (s *Store) writeBlob(ctx context.Context, dst string, d digest.Digest, size int64, r io.Reader, progress func(int64)) error {
	f, err := os.CreateTemp(s.tmpDir(), "blob-")
	if err != nil {
		return err
	}
	defer func() {
		f.Close()
		os.Remove(f.Name())
	}()
	v := d.Verifier()
	var w io.Writer = io.MultiWriter(f, v)
	if progress != nil {
		w = &progressWriter{w: w, fn: progress}
	}
	n, err := io.Copy(w, &ctxReader{ctx: ctx, r: r})
	if err != nil {
		return fmt.Errorf("reading content: %w", err)
	}
	if size > 0 && n != size {
		return fmt.Errorf("size mismatch: got %d bytes, want %d", n, size)
	}
	if !v.Verified() {
		return fmt.Errorf("digest mismatch: content is %s", digestOfFile(f.Name()))
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Chmod(f.Name(), 0o444); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), dst); err != nil {
		return err
	}
	return syncDir(filepath.Dir(dst))
}

func digestOfFile(p string) string {
	f, err := os.Open(p)
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	d, err := digest.FromReader(f)
	if err != nil {
		return "unknown"
	}
	return d.String()
}

type progressWriter struct {
	w  io.Writer
	n  int64
	fn func(int64)
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.n += int64(n)
	p.fn(p.n)
	return n, err
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(b []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(b)
}

// writeFileAtomic replaces path with data: write temp, fsync, rename, fsync dir.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-")
	if err != nil {
		return err
	}
	defer func() {
		f.Close()
		os.Remove(f.Name())
	}()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Chmod(mode); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// mediaTypeOf reads the mediaType of a manifest or index, guessing from its
// fields when the optional mediaType is missing.
func mediaTypeOf(raw []byte) (types.MediaType, error) {
	var probe struct {
		MediaType types.MediaType `json:"mediaType"`
		Manifests json.RawMessage `json:"manifests"`
		Config    json.RawMessage `json:"config"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return "", fmt.Errorf("parsing manifest: %w", err)
	}
	switch {
	case probe.MediaType != "":
		return probe.MediaType, nil
	case probe.Manifests != nil:
		return types.OCIImageIndex, nil
	case probe.Config != nil:
		return types.OCIManifestSchema1, nil
	}
	return "", errors.New("not an image manifest or index")
}
