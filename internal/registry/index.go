package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"gantry/internal/store"
)

// Keys of the registry's index. A repository name may contain "/", so "#" (which names,
// tags and digests never hold) separates the name from what follows it: listing
// "tags/a#" can never run into the tags of repository "a/b".
const (
	reposPrefix     = "/gantry/registry/repos/"
	tagsPrefix      = "/gantry/registry/tags/"
	manifestsPrefix = "/gantry/registry/manifests/"
	linksPrefix     = "/gantry/registry/links/"
	referrersPrefix = "/gantry/registry/referrers/"
	uploadsPrefix   = "/gantry/registry/uploads/"
)

func repoKey(name string) string     { return reposPrefix + name }
func tagKey(name, tag string) string { return tagsPrefix + name + "#" + tag }
func manifestKey(name string, d digest.Digest) string {
	return manifestsPrefix + name + "#" + d.String()
}
func linkKey(name string, d digest.Digest) string { return linksPrefix + name + "#" + d.String() }
func uploadKey(id string) string                  { return uploadsPrefix + id }
func referrerKey(name string, subject, referrer digest.Digest) string {
	return referrersPrefix + name + "#" + subject.String() + "#" + referrer.String()
}

// Repository is a repository's index record.
type Repository struct {
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"createdAt"`
}

// Manifest is a stored manifest's index record. It leaves out annotations, which can run
// to megabytes; the referrers API reads them from the manifest itself.
type Manifest struct {
	Digest       digest.Digest `json:"digest"`
	MediaType    string        `json:"mediaType"`
	Size         int64         `json:"size"`
	ArtifactType string        `json:"artifactType,omitempty"`
	Subject      digest.Digest `json:"subject,omitempty"`
	// Blobs and Children are what the manifest references: blobs (config, layers) and
	// child manifests (of an index). Garbage collection marks from them.
	Blobs    []digest.Digest `json:"blobs,omitempty"`
	Children []digest.Digest `json:"children,omitempty"`
	PushedAt time.Time       `json:"pushedAt"`
	// LastPulledAt is when a client last fetched the manifest, refreshed at most hourly
	// (ECR's lastRecordedPullTime is refreshed at least daily).
	LastPulledAt time.Time `json:"lastPulledAt,omitzero"`
}

// tagRecord points a tag at a manifest.
type tagRecord struct {
	Digest digest.Digest `json:"digest"`
}

// link records that a repository holds a blob: blobs are stored once, but a repository
// sees only those pushed or mounted into it.
type link struct {
	Size int64 `json:"size"`
}

// uploadRecord binds an upload session to its repository.
type uploadRecord struct {
	Repository string    `json:"repository"`
	StartedAt  time.Time `json:"startedAt"`
}

// index is the registry's metadata in the store.
type index struct {
	st *store.Store
}

func getJSON(ctx context.Context, st *store.Store, key string, v any) (int64, error) {
	kv, err := st.Get(ctx, key)
	if err != nil {
		return 0, err
	}
	if err := json.Unmarshal(kv.Value, v); err != nil {
		return 0, fmt.Errorf("decoding %s: %w", key, err)
	}
	return kv.Revision, nil
}

func write(key string, v any, expect int64) store.Write {
	val, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("encoding %s: %v", key, err)) // index records always encode
	}
	return store.Write{Key: key, Value: val, Expect: expect}
}

func (ix *index) repoExists(ctx context.Context, name string) (bool, error) {
	_, err := ix.st.Get(ctx, repoKey(name))
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// ensureRepo returns the write that creates a repository record unless it exists.
func (ix *index) ensureRepo(ctx context.Context, name string) (*store.Write, error) {
	ok, err := ix.repoExists(ctx, name)
	if err != nil || ok {
		return nil, err
	}
	w := write(repoKey(name), Repository{Name: name, CreatedAt: time.Now().UTC()}, 0)
	return &w, nil
}

// hasBlob reports whether repository name holds blob d, and its size.
func (ix *index) hasBlob(ctx context.Context, name string, d digest.Digest) (int64, bool, error) {
	var l link
	_, err := getJSON(ctx, ix.st, linkKey(name, d), &l)
	if errors.Is(err, store.ErrNotFound) {
		return 0, false, nil
	}
	return l.Size, err == nil, err
}

// maxOpsPerTxn stays under etcd's default limit of operations in one transaction.
const maxOpsPerTxn = 128

// blobSizes returns the size of each of ds that repository name holds, reading the
// links in as few store round trips as etcd allows; blobs it lacks are absent.
func (ix *index) blobSizes(ctx context.Context, name string, ds []digest.Digest) (map[digest.Digest]int64, error) {
	sizes := make(map[digest.Digest]int64, len(ds))
	for start := 0; start < len(ds); start += maxOpsPerTxn {
		chunk := ds[start:min(start+maxOpsPerTxn, len(ds))]
		keys := make([]string, len(chunk))
		for i, d := range chunk {
			keys[i] = linkKey(name, d)
		}
		found, err := ix.st.GetMany(ctx, keys)
		if err != nil {
			return nil, err
		}
		for i, d := range chunk {
			kv, ok := found[keys[i]]
			if !ok {
				continue
			}
			var l link
			if err := json.Unmarshal(kv.Value, &l); err != nil {
				return nil, fmt.Errorf("decoding %s: %w", kv.Key, err)
			}
			sizes[d] = l.Size
		}
	}
	return sizes, nil
}

// linkBlob makes blob d visible in repository name, creating the repository if needed.
func (ix *index) linkBlob(ctx context.Context, name string, d digest.Digest, size int64) error {
	writes := []store.Write{write(linkKey(name, d), link{Size: size}, store.Any)}
	repo, err := ix.ensureRepo(ctx, name)
	if err != nil {
		return err
	}
	if repo != nil {
		repo.Expect = store.Any
		writes = append(writes, *repo)
	}
	return ix.st.Commit(ctx, writes...)
}

func (ix *index) unlinkBlob(ctx context.Context, name string, d digest.Digest) error {
	return ix.st.Commit(ctx, store.Write{Key: linkKey(name, d), Delete: true, Expect: store.Any})
}

func (ix *index) manifest(ctx context.Context, name string, d digest.Digest) (*Manifest, error) {
	m := new(Manifest)
	if _, err := getJSON(ctx, ix.st, manifestKey(name, d), m); err != nil {
		return nil, err
	}
	return m, nil
}

// resolveTag returns the digest a tag points at.
func (ix *index) resolveTag(ctx context.Context, name, tag string) (digest.Digest, int64, error) {
	var t tagRecord
	rev, err := getJSON(ctx, ix.st, tagKey(name, tag), &t)
	return t.Digest, rev, err
}

// tags lists up to n tags of a repository after `last`, in lexical order.
func (ix *index) tags(ctx context.Context, name, last string, n int) ([]string, bool, error) {
	prefix := tagsPrefix + name + "#"
	from := ""
	if last != "" {
		from = prefix + last
	}
	kvs, more, err := ix.st.List(ctx, prefix, from, n, false)
	if err != nil {
		return nil, false, err
	}
	tags := make([]string, len(kvs))
	for i, kv := range kvs {
		tags[i] = strings.TrimPrefix(kv.Key, prefix)
	}
	return tags, more, nil
}

// referrers lists the manifests whose subject is d.
func (ix *index) referrers(ctx context.Context, name string, subject digest.Digest) ([]Manifest, error) {
	kvs, _, err := ix.st.List(ctx, referrersPrefix+name+"#"+subject.String()+"#", "", 0, false)
	if err != nil {
		return nil, err
	}
	out := make([]Manifest, 0, len(kvs))
	for _, kv := range kvs {
		var m Manifest
		if err := json.Unmarshal(kv.Value, &m); err != nil {
			return nil, fmt.Errorf("decoding %s: %w", kv.Key, err)
		}
		out = append(out, m)
	}
	return out, nil
}

// putManifest records a manifest, points tags at it, files it as a referrer of its
// subject and creates the repository, all in one transaction. Immutable tags may be
// created or re-pushed with the same manifest, never moved: the transaction requires
// them to be absent (or unchanged), so two racing pushes cannot both win.
func (ix *index) putManifest(ctx context.Context, name string, tags, immutable []string, m *Manifest) error {
	for range 10 {
		writes, err := ix.manifestWrites(ctx, name, tags, immutable, m)
		if err != nil {
			return err
		}
		if err := ix.st.Commit(ctx, writes...); !errors.Is(err, store.ErrConflict) {
			return err
		}
	}
	return errTooManyRequests("repository " + name + " is being pushed to concurrently; retry")
}

func (ix *index) manifestWrites(ctx context.Context, name string, tags, immutable []string, m *Manifest) ([]store.Write, error) {
	writes := []store.Write{write(manifestKey(name, m.Digest), m, store.Any)}
	for _, tag := range slices.Compact(slices.Sorted(slices.Values(tags))) {
		expect := store.Any
		if slices.Contains(immutable, tag) {
			current, rev, err := ix.resolveTag(ctx, name, tag)
			switch {
			case err == nil && current == m.Digest:
				continue
			case err == nil:
				return nil, fmt.Errorf("the image tag '%s' already exists in the '%s' repository and cannot be overwritten because the repository is immutable: %w", tag, name, ErrTagImmutable)
			case !errors.Is(err, store.ErrNotFound):
				return nil, err
			}
			expect = rev // 0: the tag must still not exist when the commit applies
		}
		writes = append(writes, write(tagKey(name, tag), tagRecord{Digest: m.Digest}, expect))
	}
	if m.Subject != "" {
		writes = append(writes, write(referrerKey(name, m.Subject, m.Digest), m, store.Any))
	}
	repo, err := ix.ensureRepo(ctx, name)
	if err != nil {
		return nil, err
	}
	if repo != nil {
		repo.Expect = store.Any
		writes = append(writes, *repo)
	}
	return writes, nil
}

// deleteManifest removes a manifest, every tag pointing at it and its referrer entry. A
// tag moved to another manifest meanwhile is left alone (the commit fails and is retried).
func (ix *index) deleteManifest(ctx context.Context, name string, m *Manifest) error {
	for range 10 {
		err := ix.tryDeleteManifest(ctx, name, m)
		if !errors.Is(err, store.ErrConflict) {
			return err
		}
	}
	return errTooManyRequests("manifest " + m.Digest.String() + " is being re-tagged concurrently; retry")
}

func (ix *index) tryDeleteManifest(ctx context.Context, name string, m *Manifest) error {
	writes := []store.Write{{Key: manifestKey(name, m.Digest), Delete: true, Expect: store.Any}}
	if m.Subject != "" {
		writes = append(writes, store.Write{Key: referrerKey(name, m.Subject, m.Digest), Delete: true, Expect: store.Any})
	}
	prefix := tagsPrefix + name + "#"
	kvs, _, err := ix.st.List(ctx, prefix, "", 0, false)
	if err != nil {
		return err
	}
	for _, kv := range kvs {
		var t tagRecord
		if json.Unmarshal(kv.Value, &t) == nil && t.Digest == m.Digest {
			writes = append(writes, store.Write{Key: kv.Key, Delete: true, Expect: kv.Revision})
		}
	}
	return ix.st.Commit(ctx, writes...)
}

func (ix *index) deleteTag(ctx context.Context, name, tag string) error {
	return ix.st.Commit(ctx, store.Write{Key: tagKey(name, tag), Delete: true, Expect: store.Any})
}

// recordPull notes a pull of a manifest. Losing a race with a push or another pull is
// fine: the time is approximate by design.
func (ix *index) recordPull(ctx context.Context, name string, d digest.Digest, at time.Time) error {
	kv, err := ix.st.Get(ctx, manifestKey(name, d))
	if err != nil {
		return err
	}
	var m Manifest
	if err := json.Unmarshal(kv.Value, &m); err != nil {
		return err
	}
	m.LastPulledAt = at
	err = ix.st.Commit(ctx, write(manifestKey(name, d), &m, kv.Revision))
	if errors.Is(err, store.ErrConflict) {
		return nil
	}
	return err
}
