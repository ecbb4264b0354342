package image

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/opencontainers/go-digest"
)

// Progress reports one layer's state during Pull, Import or Load.
type Progress struct {
	Digest  digest.Digest // compressed layer (blob) digest
	Current int64         // bytes downloaded so far
	Total   int64         // layer size from the manifest
	Status  string        // "exists", "downloading", "extracting", "done"
}

// PullOptions configures Pull.
type PullOptions struct {
	Auth     authn.Authenticator // nil: anonymous (bearer tokens are fetched as the registry asks)
	Insecure bool                // allow plain HTTP (loopback registries)
	Progress func(Progress)      // called from several goroutines, one layer at a time each
}

// maxConcurrentLayers bounds parallel layer downloads in one pull.
const maxConcurrentLayers = 3

// Pull fetches ref for linux/GOARCH from its registry and stores it under ref.
//
// When the image is already complete in the store, a pull by digest does no
// network I/O at all, and a pull by tag does only the registry's /v2/ ping and
// one manifest HEAD to learn what the tag points at now (falling back to a
// manifest GET when HEAD fails); no blob is fetched. Concurrent pulls share
// each blob download and layer unpack.
func (s *Store) Pull(ctx context.Context, ref string, opts PullOptions) (*Image, error) {
	var nopts []name.Option
	if opts.Insecure {
		nopts = append(nopts, name.Insecure)
	}
	r, err := name.ParseReference(ref, nopts...)
	if err != nil {
		return nil, fmt.Errorf("invalid image reference %q: %w", ref, err)
	}
	norm := normalize(r)
	auth := opts.Auth
	if auth == nil {
		auth = authn.Anonymous
	}
	ropts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuth(auth),
		remote.WithPlatform(v1.Platform{OS: "linux", Architecture: runtime.GOARCH}),
	}

	s.gcMu.RLock()
	defer s.gcMu.RUnlock()

	if d, ok := r.(name.Digest); ok {
		if img, err := s.useLocal(norm, digest.Digest(d.DigestStr())); err == nil {
			return img, nil
		}
	} else if desc, err := remote.Head(r, ropts...); err == nil {
		if img, err := s.useLocal(norm, digest.Digest(desc.Digest.String())); err == nil {
			return img, nil
		}
	}

	desc, err := remote.Get(r, ropts...)
	if err != nil {
		return nil, fmt.Errorf("pulling %s: %w", norm, err)
	}
	var entry refEntry
	var img v1.Image
	if desc.MediaType.IsIndex() {
		idxDigest := digest.Digest(desc.Digest.String())
		if _, err := s.ensureBlob(ctx, idxDigest, desc.Size, bytesOpener(desc.Manifest), nil); err != nil {
			return nil, fmt.Errorf("pulling %s: %w", norm, err)
		}
		idx, err := v1.ParseIndexManifest(bytes.NewReader(desc.Manifest))
		if err != nil {
			return nil, fmt.Errorf("pulling %s: index: %w", norm, err)
		}
		child, err := pickPlatform(idx)
		if err != nil {
			return nil, fmt.Errorf("pulling %s: %w", norm, err)
		}
		entry.Index = idxDigest
		if got, err := s.loadImage(digest.Digest(child.Digest.String())); err == nil {
			entry.Digest = got.Digest
			if err := s.setRef(norm, entry); err != nil {
				return nil, err
			}
			got.Ref = norm
			return got, nil
		}
		img, err = remote.Image(r.Context().Digest(child.Digest.String()), ropts...)
		if err != nil {
			return nil, fmt.Errorf("pulling %s: %w", norm, err)
		}
	} else {
		img, err = desc.Image()
		if err != nil {
			return nil, fmt.Errorf("pulling %s: %w", norm, err)
		}
	}
	got, err := s.ingest(ctx, img, opts.Progress)
	if err != nil {
		return nil, fmt.Errorf("pulling %s: %w", norm, err)
	}
	entry.Digest = got.Digest
	if err := s.setRef(norm, entry); err != nil {
		return nil, fmt.Errorf("pulling %s: %w", norm, err)
	}
	got.Ref = norm
	return got, nil
}

// useLocal points ref at d when d (a manifest or an index) is complete here.
func (s *Store) useLocal(ref string, d digest.Digest) (*Image, error) {
	img, err := s.loadImage(d)
	if err != nil {
		return nil, err
	}
	e := refEntry{Digest: img.Digest}
	if img.Digest != d {
		e.Index = d
	}
	if err := s.setRef(ref, e); err != nil {
		return nil, err
	}
	img.Ref = ref
	return img, nil
}

func bytesOpener(b []byte) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}

// ingest copies img's config and layers into the store (layers concurrently),
// unpacks every layer, and stores the manifest last, so a manifest present in
// the store means a complete image. It sets no reference.
func (s *Store) ingest(ctx context.Context, img v1.Image, progress func(Progress)) (*Image, error) {
	rawManifest, err := img.RawManifest()
	if err != nil {
		return nil, fmt.Errorf("reading manifest: %w", err)
	}
	mdigest := digest.FromBytes(rawManifest)
	m, err := v1.ParseManifest(bytes.NewReader(rawManifest))
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", mdigest, err)
	}
	cfgDigest := digest.Digest(m.Config.Digest.String())
	if _, err := s.ensureBlob(ctx, cfgDigest, m.Config.Size, func() (io.ReadCloser, error) {
		b, err := img.RawConfigFile()
		if err != nil {
			return nil, err
		}
		return io.NopCloser(bytes.NewReader(b)), nil
	}, nil); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cfgRaw, err := s.readBlob(cfgDigest)
	if err != nil {
		return nil, err
	}
	cfg, err := v1.ParseConfigFile(bytes.NewReader(cfgRaw))
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", cfgDigest, err)
	}
	chain, err := chainIDs(cfg, m)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", mdigest, err)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, maxConcurrentLayers)
	errs := make(chan error, len(m.Layers))
	for i, l := range m.Layers {
		go func() {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				errs <- ctx.Err()
				return
			}
			defer func() { <-sem }()
			err := s.fetchLayer(ctx, img, l, chain[i], digest.Digest(cfg.RootFS.DiffIDs[i].String()), progress)
			if err != nil {
				cancel()
			}
			errs <- err
		}()
	}
	var first error
	for range m.Layers {
		if err := <-errs; err != nil && (first == nil || errors.Is(first, context.Canceled)) {
			first = err
		}
	}
	if first != nil {
		return nil, first
	}
	if _, err := s.ensureBlob(ctx, mdigest, 0, bytesOpener(rawManifest), nil); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	return s.loadImage(mdigest)
}

func (s *Store) fetchLayer(ctx context.Context, img v1.Image, l v1.Descriptor, chain, diffID digest.Digest, progress func(Progress)) error {
	d := digest.Digest(l.Digest.String())
	report := func(status string, n int64) {
		if progress != nil {
			progress(Progress{Digest: d, Current: n, Total: l.Size, Status: status})
		}
	}
	if s.hasBlob(d) && s.hasLayer(chain) {
		report("exists", l.Size)
		return nil
	}
	report("downloading", 0)
	_, err := s.ensureBlob(ctx, d, l.Size, func() (io.ReadCloser, error) {
		layer, err := img.LayerByDigest(l.Digest)
		if err != nil {
			return nil, err
		}
		return layer.Compressed()
	}, func(n int64) { report("downloading", n) })
	if err != nil {
		return fmt.Errorf("layer %s: %w", d, err)
	}
	report("extracting", l.Size)
	if _, err := s.ensureLayer(ctx, chain, diffID, d); err != nil {
		return err
	}
	report("done", l.Size)
	return nil
}
