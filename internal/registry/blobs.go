package registry

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/opencontainers/go-digest"
)

// repoBlob parses the route's digest and requires the repository to hold that blob.
func (r *Registry) repoBlob(ctx context.Context, rt route) (digest.Digest, error) {
	d, err := parseDigest(rt.ref)
	if err != nil {
		return "", err
	}
	_, ok, err := r.index.hasBlob(ctx, rt.name, d)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", errBlobUnknown("blob " + d.String() + " is not in repository " + rt.name)
	}
	return d, nil
}

// getBlob serves GET and HEAD of a blob the repository holds, with Range support.
func (r *Registry) getBlob(w http.ResponseWriter, req *http.Request, rt route) error {
	d, err := r.repoBlob(req.Context(), rt)
	if err != nil {
		return err
	}
	f, _, err := r.blobs.Open(req.Context(), d)
	if errors.Is(err, ErrBlobUnknown) {
		return errBlobUnknown("blob " + d.String() + " is missing from storage")
	}
	if err != nil {
		return err
	}
	defer f.Close()
	w.Header().Set("Docker-Content-Digest", d.String())
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Etag", `"`+d.String()+`"`)
	http.ServeContent(w, req, "", time.Time{}, f)
	return nil
}

// deleteBlob removes a blob from the repository; garbage collection reclaims its content
// once no repository holds it.
func (r *Registry) deleteBlob(w http.ResponseWriter, req *http.Request, rt route) error {
	d, err := r.repoBlob(req.Context(), rt)
	if err != nil {
		return err
	}
	if err := r.index.unlinkBlob(req.Context(), rt.name, d); err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}
