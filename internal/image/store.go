package image

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/opencontainers/go-digest"
)

// ErrNotFound is returned when no image matches a reference or digest.
var ErrNotFound = errors.New("image not found")

// Image is an image whose manifest, config and layers are all present and
// unpacked in the store.
type Image struct {
	Ref      string          // normalized reference it was stored under; empty when looked up by digest with no reference
	Digest   digest.Digest   // manifest digest
	Config   v1.ConfigFile   // image config
	ChainIDs []digest.Digest // one per layer, bottom first
	Size     int64           // compressed size of config and layers
	Created  time.Time       // from the image config
}

// Store is a node-local image store rooted at one directory:
//
//	blobs/sha256/<hex>   manifests, indexes, configs and compressed layers
//	layers/<chain>/fs    each layer unpacked once per chain ID (overlay lowerdir)
//	refs.json            reference → manifest digest, replaced atomically
//	mounts/<id>/         upper, work and merged dirs of each overlay mount
//	tmp/                 work in progress; emptied on Open
type Store struct {
	root string
	// Now returns the current time (for Import); tests may replace it.
	Now func() time.Time

	mu   sync.Mutex // guards refs and refs.json
	refs map[string]refEntry

	// gcMu is held shared by everything that adds content or mounts and
	// exclusively by GC, so GC never sees content that is about to be referenced.
	gcMu sync.RWMutex

	blobs   flight
	unpacks flight
}

type refEntry struct {
	Digest digest.Digest `json:"digest"`          // platform manifest
	Index  digest.Digest `json:"index,omitempty"` // index the manifest was chosen from, if any
}

type refsFile struct {
	Refs map[string]refEntry `json:"refs"`
}

// Open opens (creating if needed) the store at root and discards any
// half-finished work left by a crash.
func Open(root string) (*Store, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("opening image store %s: %w", root, err)
	}
	for _, d := range []string{"blobs/sha256", "layers", "tmp", "mounts"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o700); err != nil {
			return nil, fmt.Errorf("opening image store: %w", err)
		}
	}
	s := &Store{root: root, Now: time.Now, refs: map[string]refEntry{}}
	if err := s.cleanTmp(); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(s.refsPath())
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("opening image store: %w", err)
	default:
		var rf refsFile
		if err := json.Unmarshal(b, &rf); err != nil {
			return nil, fmt.Errorf("opening image store: reading %s: %w", s.refsPath(), err)
		}
		if rf.Refs != nil {
			s.refs = rf.Refs
		}
	}
	return s, nil
}

// Root returns the directory the store lives in.
func (s *Store) Root() string { return s.root }

func (s *Store) refsPath() string { return filepath.Join(s.root, "refs.json") }
func (s *Store) tmpDir() string   { return filepath.Join(s.root, "tmp") }

func (s *Store) cleanTmp() error {
	ents, err := os.ReadDir(s.tmpDir())
	if err != nil {
		return fmt.Errorf("cleaning %s: %w", s.tmpDir(), err)
	}
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(s.tmpDir(), e.Name())); err != nil {
			return fmt.Errorf("cleaning %s: %w", s.tmpDir(), err)
		}
	}
	return nil
}

// setRef points ref at a manifest and persists all references atomically.
func (s *Store) setRef(ref string, e refEntry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, had := s.refs[ref]
	s.refs[ref] = e
	if err := s.saveRefsLocked(); err != nil {
		if had {
			s.refs[ref] = old
		} else {
			delete(s.refs, ref)
		}
		return err
	}
	return nil
}

func (s *Store) saveRefsLocked() error {
	b, err := json.MarshalIndent(refsFile{Refs: s.refs}, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(s.refsPath(), b, 0o600); err != nil {
		return fmt.Errorf("saving image references: %w", err)
	}
	return nil
}

func (s *Store) snapshotRefs() map[string]refEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := make(map[string]refEntry, len(s.refs))
	for k, v := range s.refs {
		m[k] = v
	}
	return m
}

// ParseReference validates ref and returns it in the store's normalized form:
// Docker Hub names in their familiar short form ("busybox:latest",
// "team/app:v1"), others in full ("127.0.0.1:8700/team/web:v1"), ":latest"
// added when neither tag nor digest is given.
func ParseReference(ref string) (string, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return "", fmt.Errorf("invalid image reference %q: %w", ref, err)
	}
	return normalize(r), nil
}

func normalize(r name.Reference) string {
	repo := r.Context().RepositoryStr()
	reg := r.Context().RegistryStr()
	var s string
	if reg == name.DefaultRegistry {
		s = strings.TrimPrefix(repo, "library/")
	} else {
		s = reg + "/" + repo
	}
	switch t := r.(type) {
	case name.Digest:
		return s + "@" + t.DigestStr()
	case *name.Digest:
		return s + "@" + t.DigestStr()
	case name.Tag:
		return s + ":" + t.TagStr()
	case *name.Tag:
		return s + ":" + t.TagStr()
	}
	return s
}

// Get returns the image stored under ref (any form ParseReference accepts) or
// under a manifest digest ("sha256:..."). It returns ErrNotFound when the
// image is absent or incomplete.
func (s *Store) Get(ref string) (*Image, error) {
	if d, err := digest.Parse(ref); err == nil {
		img, err := s.loadImage(d)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", ref, err)
		}
		img.Ref = s.firstRefFor(img.Digest)
		return img, nil
	}
	norm, err := ParseReference(ref)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	e, ok := s.refs[norm]
	s.mu.Unlock()
	if !ok {
		if i := strings.LastIndex(norm, "@"); i >= 0 {
			d, _ := digest.Parse(norm[i+1:])
			img, err := s.loadImage(d)
			if err != nil {
				return nil, fmt.Errorf("image %s: %w", ref, err)
			}
			img.Ref = norm
			return img, nil
		}
		return nil, fmt.Errorf("image %s: %w", ref, ErrNotFound)
	}
	img, err := s.loadImage(e.Digest)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", ref, err)
	}
	img.Ref = norm
	return img, nil
}

func (s *Store) firstRefFor(d digest.Digest) string {
	var refs []string
	for r, e := range s.snapshotRefs() {
		if e.Digest == d || e.Index == d {
			refs = append(refs, r)
		}
	}
	sort.Strings(refs)
	if len(refs) == 0 {
		return ""
	}
	return refs[0]
}

// List returns one Image per reference, sorted by reference.
func (s *Store) List() ([]*Image, error) {
	refs := s.snapshotRefs()
	names := make([]string, 0, len(refs))
	for r := range refs {
		names = append(names, r)
	}
	sort.Strings(names)
	var out []*Image
	for _, r := range names {
		img, err := s.loadImage(refs[r].Digest)
		if errors.Is(err, ErrNotFound) {
			continue // content lost (e.g. removed by hand): not listed
		}
		if err != nil {
			return nil, fmt.Errorf("listing images: %s: %w", r, err)
		}
		img.Ref = r
		out = append(out, img)
	}
	return out, nil
}

// Remove deletes a reference, or every reference to a manifest digest. The
// content stays until GC.
func (s *Store) Remove(ref string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var victims []string
	if d, err := digest.Parse(ref); err == nil {
		for r, e := range s.refs {
			if e.Digest == d || e.Index == d {
				victims = append(victims, r)
			}
		}
	} else {
		norm, err := ParseReference(ref)
		if err != nil {
			return err
		}
		if _, ok := s.refs[norm]; ok {
			victims = append(victims, norm)
		}
	}
	if len(victims) == 0 {
		return fmt.Errorf("removing image %s: %w", ref, ErrNotFound)
	}
	saved := make(map[string]refEntry, len(victims))
	for _, r := range victims {
		saved[r] = s.refs[r]
		delete(s.refs, r)
	}
	if err := s.saveRefsLocked(); err != nil {
		for r, e := range saved {
			s.refs[r] = e
		}
		return fmt.Errorf("removing image %s: %w", ref, err)
	}
	return nil
}

// loadImage builds an Image from stored blobs. d may name an index, in which
// case the manifest for this machine's platform is used. Missing content or
// layers not yet unpacked give ErrNotFound.
func (s *Store) loadImage(d digest.Digest) (*Image, error) {
	raw, err := s.readBlob(d)
	if err != nil {
		return nil, err
	}
	mt, err := mediaTypeOf(raw)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", d, err)
	}
	if mt.IsIndex() {
		idx, err := v1.ParseIndexManifest(strings.NewReader(string(raw)))
		if err != nil {
			return nil, fmt.Errorf("index %s: %w", d, err)
		}
		desc, err := pickPlatform(idx)
		if err != nil {
			return nil, fmt.Errorf("index %s: %w", d, err)
		}
		return s.loadImage(digest.Digest(desc.Digest.String()))
	}
	m, err := v1.ParseManifest(strings.NewReader(string(raw)))
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", d, err)
	}
	cfgRaw, err := s.readBlob(digest.Digest(m.Config.Digest.String()))
	if err != nil {
		return nil, err
	}
	cfg, err := v1.ParseConfigFile(strings.NewReader(string(cfgRaw)))
	if err != nil {
		return nil, fmt.Errorf("config of %s: %w", d, err)
	}
	chain, err := chainIDs(cfg, m)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", d, err)
	}
	size := m.Config.Size
	for i, l := range m.Layers {
		if !s.hasBlob(digest.Digest(l.Digest.String())) || !s.hasLayer(chain[i]) {
			return nil, fmt.Errorf("layer %s not present: %w", l.Digest, ErrNotFound)
		}
		size += l.Size
	}
	return &Image{Digest: d, Config: *cfg, ChainIDs: chain, Size: size, Created: cfg.Created.Time}, nil
}

// chainIDs computes the OCI chain IDs of an image's layers, checking that the
// config and manifest agree on the number of layers.
func chainIDs(cfg *v1.ConfigFile, m *v1.Manifest) ([]digest.Digest, error) {
	if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
		return nil, fmt.Errorf("config lists %d layers but manifest has %d", len(cfg.RootFS.DiffIDs), len(m.Layers))
	}
	out := make([]digest.Digest, len(m.Layers))
	for i, h := range cfg.RootFS.DiffIDs {
		d, err := digest.Parse(h.String())
		if err != nil {
			return nil, fmt.Errorf("diff id %d: %w", i, err)
		}
		if i == 0 {
			out[i] = d
			continue
		}
		out[i] = digest.FromString(out[i-1].String() + " " + d.String())
	}
	return out, nil
}

// pickPlatform chooses linux/<GOARCH> from an index.
func pickPlatform(idx *v1.IndexManifest) (v1.Descriptor, error) {
	for _, d := range idx.Manifests {
		if d.Platform == nil {
			continue
		}
		if d.Platform.OS == "linux" && d.Platform.Architecture == runtime.GOARCH {
			if runtime.GOARCH == "arm" && d.Platform.Variant != "" && d.Platform.Variant != "v7" {
				continue
			}
			return d, nil
		}
	}
	return v1.Descriptor{}, fmt.Errorf("no manifest for platform linux/%s: %w", runtime.GOARCH, ErrNotFound)
}
