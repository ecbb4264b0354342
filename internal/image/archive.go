package image

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"
)

// Import stores a root filesystem tarball (plain or compressed) as a
// single-layer linux/GOARCH image under ref, like `docker import`. The config
// has no Cmd or Entrypoint.
func (s *Store) Import(ctx context.Context, rootfsTar io.Reader, ref string) (*Image, error) {
	norm, err := ParseReference(ref)
	if err != nil {
		return nil, err
	}
	s.gcMu.RLock()
	defer s.gcMu.RUnlock()
	tmp, err := os.MkdirTemp(s.tmpDir(), "import-")
	if err != nil {
		return nil, fmt.Errorf("importing %s: %w", norm, err)
	}
	defer os.RemoveAll(tmp)

	// Spool the uncompressed tar, checking it is a well-formed tar on the way.
	dr, err := decompress(&ctxReader{ctx: ctx, r: rootfsTar})
	if err != nil {
		return nil, fmt.Errorf("importing %s: %w", norm, err)
	}
	defer dr.Close()
	spool := filepath.Join(tmp, "layer.tar")
	f, err := os.Create(spool)
	if err != nil {
		return nil, fmt.Errorf("importing %s: %w", norm, err)
	}
	tr := tar.NewReader(io.TeeReader(dr, f))
	for {
		_, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("importing %s: not a valid tar archive: %w", norm, err)
		}
	}
	if _, err := io.Copy(f, dr); err != nil {
		f.Close()
		return nil, fmt.Errorf("importing %s: %w", norm, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("importing %s: %w", norm, err)
	}

	layer, err := tarball.LayerFromFile(spool)
	if err != nil {
		return nil, fmt.Errorf("importing %s: %w", norm, err)
	}
	now := s.Now().UTC()
	base, err := mutate.ConfigFile(empty.Image, &v1.ConfigFile{
		OS: "linux", Architecture: runtime.GOARCH, Created: v1.Time{Time: now},
		RootFS: v1.RootFS{Type: "layers"},
	})
	if err != nil {
		return nil, err
	}
	img, err := mutate.Append(base, mutate.Addendum{Layer: layer, History: v1.History{
		Created: v1.Time{Time: now}, CreatedBy: "gantry import", Comment: "imported from tarball",
	}})
	if err != nil {
		return nil, fmt.Errorf("importing %s: %w", norm, err)
	}
	got, err := s.ingest(ctx, img, nil)
	if err != nil {
		return nil, fmt.Errorf("importing %s: %w", norm, err)
	}
	if err := s.setRef(norm, refEntry{Digest: got.Digest}); err != nil {
		return nil, fmt.Errorf("importing %s: %w", norm, err)
	}
	got.Ref = norm
	return got, nil
}

// Load stores every image of a `docker save` archive (manifest.json) or an
// OCI image layout archive (oci-layout + index.json), like `docker load`. Images
// are stored under their RepoTags, or under the io.containerd.image.name /
// org.opencontainers.image.ref.name annotation when it is a full reference;
// an image without a name is stored by digest only (Ref empty).
func (s *Store) Load(ctx context.Context, archive io.Reader) ([]*Image, error) {
	s.gcMu.RLock()
	defer s.gcMu.RUnlock()
	tmp, err := os.MkdirTemp(s.tmpDir(), "load-")
	if err != nil {
		return nil, fmt.Errorf("loading archive: %w", err)
	}
	defer os.RemoveAll(tmp)
	spool := filepath.Join(tmp, "archive.tar")
	f, err := os.Create(spool)
	if err != nil {
		return nil, fmt.Errorf("loading archive: %w", err)
	}
	_, err = io.Copy(f, &ctxReader{ctx: ctx, r: archive})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("loading archive: %w", err)
	}
	names, err := tarNames(spool)
	if err != nil {
		return nil, fmt.Errorf("loading archive: %w", err)
	}
	switch {
	case names["manifest.json"]:
		return s.loadDockerArchive(ctx, spool)
	case names["oci-layout"] && names["index.json"]:
		dir := filepath.Join(tmp, "layout")
		if err := extractPlain(spool, dir); err != nil {
			return nil, fmt.Errorf("loading OCI layout archive: %w", err)
		}
		return s.loadLayout(ctx, dir)
	}
	return nil, errors.New("loading archive: neither a docker save archive (manifest.json) nor an OCI layout (oci-layout, index.json)")
}

func tarNames(p string) (map[string]bool, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]bool{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("not a valid tar archive: %w", err)
		}
		if c, err := cleanName(h.Name); err == nil {
			out[c] = true
		}
	}
}

func (s *Store) loadDockerArchive(ctx context.Context, spool string) ([]*Image, error) {
	opener := func() (io.ReadCloser, error) { return os.Open(spool) }
	mf, err := tarball.LoadManifest(opener)
	if err != nil {
		return nil, fmt.Errorf("loading docker archive: %w", err)
	}
	var out []*Image
	for i, d := range mf {
		tags := d.RepoTags
		if len(tags) == 0 {
			if len(mf) > 1 {
				return out, fmt.Errorf("loading docker archive: image %d (config %s) has no tag and the archive holds %d images", i, d.Config, len(mf))
			}
			tags = []string{""}
		}
		for _, t := range tags {
			var tag *name.Tag
			if t != "" {
				nt, err := name.NewTag(t)
				if err != nil {
					return out, fmt.Errorf("loading docker archive: invalid tag %q: %w", t, err)
				}
				tag = &nt
			}
			img, err := tarball.Image(opener, tag)
			if err != nil {
				return out, fmt.Errorf("loading docker archive: %w", err)
			}
			var ref name.Reference
			if tag != nil {
				ref = *tag
			}
			got, err := s.storeLoaded(ctx, img, ref)
			if err != nil {
				return out, fmt.Errorf("loading docker archive: %s: %w", t, err)
			}
			out = append(out, got)
		}
	}
	return out, nil
}

func (s *Store) storeLoaded(ctx context.Context, img v1.Image, ref name.Reference) (*Image, error) {
	got, err := s.ingest(ctx, img, nil)
	if err != nil {
		return nil, err
	}
	if ref != nil {
		got.Ref = normalize(ref)
		if err := s.setRef(got.Ref, refEntry{Digest: got.Digest}); err != nil {
			return nil, err
		}
	}
	return got, nil
}

func (s *Store) loadLayout(ctx context.Context, dir string) ([]*Image, error) {
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("loading OCI layout: %w", err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("loading OCI layout: %w", err)
	}
	var out []*Image
	for _, d := range im.Manifests {
		var ref name.Reference
		for _, k := range []string{"io.containerd.image.name", "org.opencontainers.image.ref.name"} {
			if r, err := name.ParseReference(d.Annotations[k], name.StrictValidation); err == nil && d.Annotations[k] != "" {
				ref = r
				break
			}
		}
		var img v1.Image
		switch {
		case d.MediaType.IsIndex():
			child, err := idx.ImageIndex(d.Digest)
			if err != nil {
				return out, fmt.Errorf("loading OCI layout: %w", err)
			}
			cm, err := child.IndexManifest()
			if err != nil {
				return out, fmt.Errorf("loading OCI layout: %w", err)
			}
			pd, err := pickPlatform(cm)
			if err != nil {
				return out, fmt.Errorf("loading OCI layout: index %s: %w", d.Digest, err)
			}
			img, err = child.Image(pd.Digest)
			if err != nil {
				return out, fmt.Errorf("loading OCI layout: %w", err)
			}
		case d.MediaType.IsImage():
			img, err = idx.Image(d.Digest)
			if err != nil {
				return out, fmt.Errorf("loading OCI layout: %w", err)
			}
		default:
			continue
		}
		got, err := s.storeLoaded(ctx, img, ref)
		if err != nil {
			return out, fmt.Errorf("loading OCI layout: %s: %w", d.Digest, err)
		}
		out = append(out, got)
	}
	return out, nil
}

// extractPlain extracts only directories and regular files of an archive
// into dir, rejecting names that escape it. An OCI layout needs nothing else.
func extractPlain(archive, dir string) error {
	f, err := os.Open(archive)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		rel, err := cleanName(h.Name)
		if err != nil {
			return fmt.Errorf("archive entry %q: %w", h.Name, err)
		}
		p := filepath.Join(dir, rel)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o700); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
				return err
			}
			w, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return fmt.Errorf("archive entry %q: %w", h.Name, err)
			}
			_, err = io.Copy(w, tr)
			if cerr := w.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		default:
			return fmt.Errorf("archive entry %q: unexpected type %q in an OCI layout", h.Name, h.Typeflag)
		}
	}
}

// Save writes the images named by refs as a `docker save` compatible tarball
// (manifest.json with RepoTags, config and layer blobs).
func (s *Store) Save(ctx context.Context, w io.Writer, refs ...string) error {
	if len(refs) == 0 {
		return errors.New("saving images: no image given")
	}
	m := map[name.Reference]v1.Image{}
	for _, r := range refs {
		img, err := s.Get(r)
		if err != nil {
			return fmt.Errorf("saving images: %w", err)
		}
		vi, err := s.Content(img)
		if err != nil {
			return fmt.Errorf("saving images: %s: %w", r, err)
		}
		key := img.Ref
		if key == "" {
			key = "untagged@" + img.Digest.String() // a digest reference: written without RepoTags
		}
		nr, err := name.ParseReference(key)
		if err != nil {
			return fmt.Errorf("saving images: %s: %w", r, err)
		}
		m[nr] = vi
	}
	if err := tarball.MultiRefWrite(m, &ctxWriter{ctx: ctx, w: w}); err != nil {
		return fmt.Errorf("saving images: %w", err)
	}
	return nil
}

type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c *ctxWriter) Write(b []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(b)
}

// Content returns a stored image as a go-containerregistry v1.Image backed by
// the store's blobs (for saving or pushing it).
func (s *Store) Content(img *Image) (v1.Image, error) {
	raw, err := s.readBlob(img.Digest)
	if err != nil {
		return nil, err
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	return partial.CompressedToImage(&storedImage{s: s, raw: raw, m: m})
}

type storedImage struct {
	s   *Store
	raw []byte
	m   *v1.Manifest
}

func (i *storedImage) RawManifest() ([]byte, error) { return i.raw, nil }

func (i *storedImage) MediaType() (types.MediaType, error) {
	if i.m.MediaType != "" {
		return i.m.MediaType, nil
	}
	return types.OCIManifestSchema1, nil
}

func (i *storedImage) RawConfigFile() ([]byte, error) {
	return i.s.readBlob(digest.Digest(i.m.Config.Digest.String()))
}

func (i *storedImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if h == i.m.Config.Digest {
		return &storedBlob{s: i.s, desc: i.m.Config}, nil
	}
	for _, l := range i.m.Layers {
		if l.Digest == h {
			return &storedBlob{s: i.s, desc: l}, nil
		}
	}
	return nil, fmt.Errorf("blob %s is not part of the image", h)
}

type storedBlob struct {
	s    *Store
	desc v1.Descriptor
}

func (b *storedBlob) Digest() (v1.Hash, error)            { return b.desc.Digest, nil }
func (b *storedBlob) Size() (int64, error)                { return b.desc.Size, nil }
func (b *storedBlob) MediaType() (types.MediaType, error) { return b.desc.MediaType, nil }
func (b *storedBlob) Compressed() (io.ReadCloser, error) {
	p, err := b.s.blobPath(digest.Digest(b.desc.Digest.String()))
	if err != nil {
		return nil, err
	}
	return os.Open(p)
}
