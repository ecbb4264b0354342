package image

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/opencontainers/go-digest"
)

// GC removes blobs and unpacked layers that no reference and no mount uses,
// and returns how many it removed. It runs exclusively of pulls, imports,
// loads and mounts. Layers are renamed into tmp/ before removal, so a crash
// never leaves a partly deleted layer in layers/.
func (s *Store) GC(ctx context.Context) (int, error) {
	s.gcMu.Lock()
	defer s.gcMu.Unlock()

	blobs := map[digest.Digest]bool{}
	chains, err := s.mountedChains()
	if err != nil {
		return 0, fmt.Errorf("gc: %w", err)
	}
	for ref, e := range s.snapshotRefs() {
		if e.Index != "" {
			blobs[e.Index] = true
		}
		if err := s.markImage(e.Digest, blobs, chains); err != nil {
			return 0, fmt.Errorf("gc: image %s: %w", ref, err)
		}
	}

	removed := 0
	bdir := filepath.Join(s.root, "blobs", "sha256")
	ents, err := os.ReadDir(bdir)
	if err != nil {
		return 0, fmt.Errorf("gc: %w", err)
	}
	for _, e := range ents {
		if err := ctx.Err(); err != nil {
			return removed, err
		}
		if blobs[digest.NewDigestFromEncoded(digest.SHA256, e.Name())] {
			continue
		}
		if err := os.Remove(filepath.Join(bdir, e.Name())); err != nil {
			return removed, fmt.Errorf("gc: %w", err)
		}
		removed++
	}
	ldir := filepath.Join(s.root, "layers")
	ents, err = os.ReadDir(ldir)
	if err != nil {
		return removed, fmt.Errorf("gc: %w", err)
	}
	for _, e := range ents {
		if err := ctx.Err(); err != nil {
			return removed, err
		}
		if chains[digest.NewDigestFromEncoded(digest.SHA256, e.Name())] {
			continue
		}
		trash, err := os.MkdirTemp(s.tmpDir(), "gc-")
		if err != nil {
			return removed, fmt.Errorf("gc: %w", err)
		}
		err = os.Rename(filepath.Join(ldir, e.Name()), filepath.Join(trash, "l"))
		if err == nil {
			err = os.RemoveAll(trash)
		}
		if err != nil {
			return removed, fmt.Errorf("gc: layer %s: %w", e.Name(), err)
		}
		removed++
	}
	return removed, syncDir(ldir)
}

// markImage marks a manifest (or index), its config and its layers as live.
// Missing content is not an error: there is nothing of it to keep.
func (s *Store) markImage(d digest.Digest, blobs, chains map[digest.Digest]bool) error {
	raw, err := s.readBlob(d)
	if err != nil {
		return nil
	}
	blobs[d] = true
	mt, err := mediaTypeOf(raw)
	if err != nil {
		return err
	}
	if mt.IsIndex() {
		idx, err := v1.ParseIndexManifest(bytes.NewReader(raw))
		if err != nil {
			return err
		}
		desc, err := pickPlatform(idx)
		if err != nil {
			return nil
		}
		return s.markImage(digest.Digest(desc.Digest.String()), blobs, chains)
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	cd := digest.Digest(m.Config.Digest.String())
	blobs[cd] = true
	for _, l := range m.Layers {
		blobs[digest.Digest(l.Digest.String())] = true
	}
	cfgRaw, err := s.readBlob(cd)
	if err != nil {
		return nil
	}
	cfg, err := v1.ParseConfigFile(bytes.NewReader(cfgRaw))
	if err != nil {
		return err
	}
	ids, err := chainIDs(cfg, m)
	if err != nil {
		return err
	}
	for _, c := range ids {
		chains[c] = true
	}
	return nil
}
