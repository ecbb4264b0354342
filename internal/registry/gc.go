package registry

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
)

// GCStats reports what a garbage collection did.
type GCStats struct {
	Blobs      int   // blobs in storage when the run began
	Deleted    int   // blobs deleted
	FreedBytes int64 // bytes they held
}

// CollectGarbage deletes stored blobs that no repository holds and no manifest record
// is, sparing blobs written within grace. Reads go on meanwhile; writes that make a blob
// referenced (upload commits, mounts, manifest pushes) wait for the short mark-and-sweep
// step, so a blob is never deleted between being stored and being linked.
func (r *Registry) CollectGarbage(ctx context.Context, grace time.Duration) (GCStats, error) {
	var stats GCStats
	var candidates []BlobInfo
	cutoff := time.Now().Add(-grace)
	err := r.blobs.Walk(ctx, func(b BlobInfo) error {
		stats.Blobs++
		if b.ModTime.Before(cutoff) {
			candidates = append(candidates, b)
		}
		return nil
	})
	if err != nil || len(candidates) == 0 {
		return stats, err
	}
	r.gcMu.Lock()
	defer r.gcMu.Unlock()
	live, err := r.referencedBlobs(ctx)
	if err != nil {
		return stats, err
	}
	for _, b := range candidates {
		if live[b.Digest] {
			continue
		}
		if err := r.blobs.Delete(ctx, b.Digest); err != nil && !errors.Is(err, ErrBlobUnknown) {
			return stats, fmt.Errorf("deleting blob %s: %w", b.Digest, err)
		}
		stats.Deleted++
		stats.FreedBytes += b.Size
	}
	return stats, nil
}

// referencedBlobs marks every blob a repository links and every stored manifest.
func (r *Registry) referencedBlobs(ctx context.Context) (map[digest.Digest]bool, error) {
	live := map[digest.Digest]bool{}
	for _, prefix := range []string{linksPrefix, manifestsPrefix} {
		kvs, _, err := r.index.st.List(ctx, prefix, "", 0, false)
		if err != nil {
			return nil, err
		}
		for _, kv := range kvs {
			i := strings.LastIndexByte(kv.Key, '#')
			live[digest.Digest(kv.Key[i+1:])] = true
		}
	}
	return live, nil
}

// holdBlobs keeps garbage collection from deleting blobs while a write stores or links
// them; release it once the blob is referenced in the index.
func (r *Registry) holdBlobs() (release func()) {
	r.gcMu.RLock()
	return r.gcMu.RUnlock
}

// PurgeUploads drops upload sessions untouched since olderThan, with their bindings to
// repositories, so crashed or abandoned pushes do not hold space forever.
func (r *Registry) PurgeUploads(ctx context.Context, olderThan time.Time) (int, error) {
	n, err := r.blobs.PurgeUploads(olderThan)
	if err != nil {
		return n, err
	}
	kvs, _, err := r.index.st.List(ctx, uploadsPrefix, "", 0, false)
	if err != nil {
		return n, err
	}
	for _, kv := range kvs {
		id := strings.TrimPrefix(kv.Key, uploadsPrefix)
		up, err := r.blobs.ResumeUpload(ctx, id)
		if errors.Is(err, ErrUploadUnknown) {
			r.forgetUpload(ctx, id)
			continue
		}
		if err == nil {
			up.Close()
		}
	}
	return n, nil
}
