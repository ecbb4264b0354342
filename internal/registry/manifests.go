package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"gantry/internal/store"
)

// lookupManifest resolves a tag or digest reference in a repository.
func (r *Registry) lookupManifest(ctx context.Context, name, ref string) (*Manifest, error) {
	var d digest.Digest
	if strings.Contains(ref, ":") {
		var err error
		if d, err = parseDigest(ref); err != nil {
			return nil, err
		}
	} else {
		if !validTag(ref) {
			return nil, errTagInvalid(ref)
		}
		var err error
		if d, _, err = r.index.resolveTag(ctx, name, ref); errors.Is(err, store.ErrNotFound) {
			return nil, r.manifestUnknown(ctx, name, ref)
		} else if err != nil {
			return nil, err
		}
	}
	m, err := r.index.manifest(ctx, name, d)
	if errors.Is(err, store.ErrNotFound) {
		return nil, r.manifestUnknown(ctx, name, ref)
	}
	return m, err
}

// manifestUnknown distinguishes an unknown repository from an unknown manifest; both
// are ErrManifestUnknown to callers outside the HTTP path.
func (r *Registry) manifestUnknown(ctx context.Context, name, ref string) error {
	ok, err := r.index.repoExists(ctx, name)
	switch {
	case err != nil:
		return err
	case !ok:
		return errNameUnknown(name).because(ErrManifestUnknown)
	}
	return errManifestUnknown("manifest " + ref + " is not in repository " + name).because(ErrManifestUnknown)
}

// pullRecordInterval bounds how often a manifest's last pull time is rewritten, so a
// busy image does not turn every pull into a store write.
const pullRecordInterval = time.Hour

// readManifest returns a stored manifest's content.
func (r *Registry) readManifest(ctx context.Context, d digest.Digest) ([]byte, error) {
	f, _, err := r.blobs.Open(ctx, d)
	if err != nil {
		return nil, fmt.Errorf("reading manifest %s: %w", d, err)
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxManifestBytes))
}

// getManifest serves GET and HEAD of a manifest by tag or digest.
func (r *Registry) getManifest(w http.ResponseWriter, req *http.Request, rt route) error {
	m, err := r.lookupManifest(req.Context(), rt.name, rt.ref)
	if err != nil {
		return err
	}
	if !accepts(req.Header.Values("Accept"), m.MediaType) {
		return errManifestUnknown(fmt.Sprintf("manifest %s is %s, which the request's Accept header does not allow", rt.ref, m.MediaType))
	}
	f, size, err := r.blobs.Open(req.Context(), m.Digest)
	if err != nil {
		return fmt.Errorf("reading manifest %s: %w", m.Digest, err)
	}
	defer f.Close()
	if now := time.Now().UTC(); req.Method == http.MethodGet && now.Sub(m.LastPulledAt) > pullRecordInterval {
		if err := r.index.recordPull(req.Context(), rt.name, m.Digest, now); err != nil {
			r.log.Warn("recording a pull", "repository", rt.name, "digest", m.Digest, "err", err)
		}
	}
	h := w.Header()
	h.Set("Content-Type", m.MediaType)
	h.Set("Docker-Content-Digest", m.Digest.String())
	h.Set("Etag", `"`+m.Digest.String()+`"`)
	h.Set("Content-Length", strconv.FormatInt(size, 10))
	if req.Method == http.MethodHead {
		return nil
	}
	_, err = io.Copy(w, f)
	return err
}

// accepts reports whether Accept headers allow mediaType. No Accept header (or */*)
// allows anything, as most clients expect.
func accepts(accept []string, mediaType string) bool {
	if len(accept) == 0 {
		return true
	}
	for _, line := range accept {
		for _, part := range strings.Split(line, ",") {
			t, _, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err == nil && (t == mediaType || t == "*/*" || t == "application/*" || t == "application/json") {
				return true
			}
		}
	}
	return false
}

// putManifest stores a manifest pushed by tag or digest.
func (r *Registry) putManifest(w http.ResponseWriter, req *http.Request, rt route) error {
	body, err := io.ReadAll(io.LimitReader(req.Body, maxManifestBytes+1))
	if err != nil {
		return fmt.Errorf("reading manifest: %w", err)
	}
	m, tags, err := r.PutManifest(req.Context(), rt.name, rt.ref, req.URL.Query()["tag"], req.Header.Get("Content-Type"), body)
	switch {
	case errors.Is(err, ErrRepositoryUnknown):
		return errorf(http.StatusNotFound, "NAME_UNKNOWN", err.Error())
	case errors.Is(err, ErrTagImmutable):
		return errorf(http.StatusBadRequest, "TAG_INVALID", err.Error())
	case err != nil:
		return err
	}
	h := w.Header()
	if strings.Contains(rt.ref, ":") && len(tags) > 0 {
		h.Set("OCI-Tag", strings.Join(tags, ", "))
	}
	h.Set("Location", "/v2/"+rt.name+"/manifests/"+m.Digest.String())
	h.Set("Docker-Content-Digest", m.Digest.String())
	if m.Subject != "" {
		h.Set("OCI-Subject", m.Subject.String())
	}
	w.WriteHeader(http.StatusCreated)
	return nil
}

// PutManifest validates and stores a manifest in repository name under ref (a tag, or a
// digest the content must match, with optional tag parameters). It returns the stored
// record and the tags now pointing at it. Registry clients reach it through PUT; ECR's
// PutImage calls it directly.
func (r *Registry) PutManifest(ctx context.Context, name, ref string, tagParams []string, contentType string, body []byte) (*Manifest, []string, error) {
	if len(body) > maxManifestBytes {
		return nil, nil, errorf(http.StatusRequestEntityTooLarge, "SIZE_INVALID", fmt.Sprintf("manifest exceeds %d bytes", maxManifestBytes))
	}
	m, err := parseManifest(body, contentType)
	if err != nil {
		return nil, nil, err
	}
	tags, err := manifestDigest(m, body, ref, tagParams)
	if err != nil {
		return nil, nil, err
	}
	if err := r.checkReferences(ctx, name, m); err != nil {
		return nil, nil, err
	}
	var immutable []string
	if r.policy != nil {
		if immutable, err = r.policy.BeforePush(ctx, name, tags); err != nil {
			return nil, nil, err
		}
	}
	defer r.holdBlobs()()
	if err := r.blobs.Put(ctx, m.Digest, body); err != nil {
		return nil, nil, fmt.Errorf("storing manifest %s: %w", m.Digest, err)
	}
	m.Size = int64(len(body))
	m.PushedAt = time.Now().UTC()
	if err := r.index.putManifest(ctx, name, tags, immutable, m); err != nil {
		return nil, nil, err
	}
	if r.policy != nil {
		if err := r.policy.AfterPush(ctx, name); err != nil {
			r.log.Warn("after-push policy failed", "repository", name, "err", err)
		}
	}
	return m, tags, nil
}

// maxTagParams bounds the tag query parameters of one push by digest.
const maxTagParams = 100

// manifestDigest sets m.Digest from the content and returns the tags being pushed: the
// reference when it is a tag, else the `tag` query parameters of a push by digest (whose
// digest must match the content).
func manifestDigest(m *Manifest, body []byte, ref string, tagParams []string) ([]string, error) {
	tags := tagParams
	if !strings.Contains(ref, ":") {
		m.Digest = digest.Canonical.FromBytes(body)
		tags = []string{ref}
	} else {
		want, err := parseDigest(ref)
		if err != nil {
			return nil, err
		}
		m.Digest = want.Algorithm().FromBytes(body)
		if m.Digest != want {
			return nil, errDigestInvalid(fmt.Sprintf("manifest content has digest %s, not %s", m.Digest, want))
		}
	}
	if len(tags) > maxTagParams {
		return nil, errorf(http.StatusRequestURITooLong, "MANIFEST_INVALID", fmt.Sprintf("at most %d tags per push", maxTagParams))
	}
	for _, t := range tags {
		if !validTag(t) {
			return nil, errTagInvalid(t)
		}
	}
	return tags, nil
}

// checkReferences requires every blob and child manifest a manifest names to be in the
// repository already; a subject may be pushed later, as the spec allows.
func (r *Registry) checkReferences(ctx context.Context, name string, m *Manifest) error {
	sizes, err := r.index.blobSizes(ctx, name, m.Blobs)
	if err != nil {
		return err
	}
	for _, d := range m.Blobs {
		if _, ok := sizes[d]; !ok {
			return errManifestBlobUnknown("manifest references blob " + d.String() + ", which is not in repository " + name + "; push it first")
		}
	}
	for _, d := range m.Children {
		if _, err := r.index.manifest(ctx, name, d); errors.Is(err, store.ErrNotFound) {
			return errManifestBlobUnknown("index references manifest " + d.String() + ", which is not in repository " + name + "; push it first")
		} else if err != nil {
			return err
		}
	}
	return nil
}

// deleteManifest deletes a manifest by digest (with its tags and referrer entry) or
// just a tag.
func (r *Registry) deleteManifest(w http.ResponseWriter, req *http.Request, rt route) error {
	m, err := r.lookupManifest(req.Context(), rt.name, rt.ref)
	if err != nil {
		return err
	}
	if strings.Contains(rt.ref, ":") {
		err = r.index.deleteManifest(req.Context(), rt.name, m)
	} else {
		err = r.index.deleteTag(req.Context(), rt.name, rt.ref)
	}
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}
