package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"

	"gantry/internal/store"
)

// ErrManifestUnknown means no such manifest (or tag) in the repository.
var ErrManifestUnknown = errors.New("manifest unknown")

// Image is a stored manifest and the tags pointing at it, as ECR's image APIs see it.
type Image struct {
	Manifest
	Tags []string
}

// Images lists every manifest of a repository with its tags, for ECR's ListImages,
// DescribeImages and lifecycle policies.
func (r *Registry) Images(ctx context.Context, name string) ([]Image, error) {
	kvs, _, err := r.index.st.List(ctx, manifestsPrefix+name+"#", "", 0, false)
	if err != nil {
		return nil, err
	}
	images := make([]Image, 0, len(kvs))
	byDigest := make(map[digest.Digest]int, len(kvs))
	for _, kv := range kvs {
		var m Manifest
		if err := json.Unmarshal(kv.Value, &m); err != nil {
			return nil, fmt.Errorf("decoding %s: %w", kv.Key, err)
		}
		byDigest[m.Digest] = len(images)
		images = append(images, Image{Manifest: m})
	}
	tagKVs, _, err := r.index.st.List(ctx, tagsPrefix+name+"#", "", 0, false)
	if err != nil {
		return nil, err
	}
	for _, kv := range tagKVs {
		var t tagRecord
		if err := json.Unmarshal(kv.Value, &t); err != nil {
			return nil, fmt.Errorf("decoding %s: %w", kv.Key, err)
		}
		if i, ok := byDigest[t.Digest]; ok {
			images[i].Tags = append(images[i].Tags, strings.TrimPrefix(kv.Key, tagsPrefix+name+"#"))
		}
	}
	return images, nil
}

// ManifestContent resolves a tag or digest and returns the manifest and its bytes, or
// ErrManifestUnknown.
func (r *Registry) ManifestContent(ctx context.Context, name, ref string) (*Manifest, []byte, error) {
	m, err := r.lookupManifest(ctx, name, ref)
	if err != nil {
		return nil, nil, err
	}
	content, err := r.readManifest(ctx, m.Digest)
	return m, content, err
}

// DeleteImage removes a manifest by digest with every tag pointing at it.
func (r *Registry) DeleteImage(ctx context.Context, name string, d digest.Digest) error {
	m, err := r.index.manifest(ctx, name, d)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%s in %s: %w", d, name, ErrManifestUnknown)
	}
	if err != nil {
		return err
	}
	return r.index.deleteManifest(ctx, name, m)
}

// Untag removes a tag, leaving its manifest.
func (r *Registry) Untag(ctx context.Context, name, tag string) error {
	if _, _, err := r.index.resolveTag(ctx, name, tag); errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("tag %s in %s: %w", tag, name, ErrManifestUnknown)
	} else if err != nil {
		return err
	}
	return r.index.deleteTag(ctx, name, tag)
}

// DeleteRepository removes a repository's index: tags, manifests, blob links, referrers
// and upload bindings. Blob content is reclaimed by garbage collection.
func (r *Registry) DeleteRepository(ctx context.Context, name string) error {
	var writes []store.Write
	for _, prefix := range []string{tagsPrefix, manifestsPrefix, linksPrefix, referrersPrefix} {
		kvs, _, err := r.index.st.List(ctx, prefix+name+"#", "", 0, false)
		if err != nil {
			return err
		}
		for _, kv := range kvs {
			writes = append(writes, store.Write{Key: kv.Key, Delete: true, Expect: store.Any})
		}
	}
	writes = append(writes, store.Write{Key: repoKey(name), Delete: true, Expect: store.Any})
	// Commit in slices: etcd bounds the operations of one transaction.
	for len(writes) > 0 {
		n := min(len(writes), 100)
		if err := r.index.st.Commit(ctx, writes[:n]...); err != nil {
			return fmt.Errorf("deleting repository %s: %w", name, err)
		}
		writes = writes[n:]
	}
	return nil
}

// BlobSizes returns the sizes of those of ds that repository name holds.
func (r *Registry) BlobSizes(ctx context.Context, name string, ds []digest.Digest) (map[digest.Digest]int64, error) {
	return r.index.blobSizes(ctx, name, ds)
}
