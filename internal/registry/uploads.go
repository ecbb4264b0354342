package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"gantry/internal/store"
)

// startUpload serves POST /v2/<name>/blobs/uploads/: a cross-repository mount, a
// monolithic single-request upload (?digest=), or a new session for PATCH/PUT.
func (r *Registry) startUpload(w http.ResponseWriter, req *http.Request, rt route) error {
	q := req.URL.Query()
	if mount := q.Get("mount"); mount != "" {
		mounted, err := r.mount(req.Context(), rt.name, mount, q.Get("from"))
		if err != nil || mounted {
			if mounted {
				blobCreated(w, rt.name, digest.Digest(mount))
			}
			return err
		}
	}
	up, err := r.blobs.NewUpload(req.Context())
	if err != nil {
		return err
	}
	defer up.Close()
	if err := r.index.st.Commit(req.Context(), write(uploadKey(up.ID()), uploadRecord{Repository: rt.name, StartedAt: time.Now().UTC()}, 0)); err != nil {
		up.Cancel(req.Context())
		return err
	}
	if dgst := q.Get("digest"); dgst != "" {
		return r.commitUpload(w, req, rt.name, up, dgst)
	}
	uploadAccepted(w, http.StatusAccepted, rt.name, up)
	return nil
}

// mount links blob d from repository `from` (or, without from, from wherever it is
// stored: the automatic mount clients rely on) and reports whether it did. A blob that
// cannot be mounted is not an error: the client gets an upload session instead.
func (r *Registry) mount(ctx context.Context, name, mount, from string) (bool, error) {
	d, err := parseDigest(mount)
	if err != nil {
		return false, err
	}
	defer r.holdBlobs()()
	var size int64
	if from != "" {
		var ok bool
		if !validRepoName(from) {
			return false, nil
		}
		if size, ok, err = r.index.hasBlob(ctx, from, d); err != nil || !ok {
			return false, err
		}
	} else if size, err = r.blobs.Stat(ctx, d); errors.Is(err, ErrBlobUnknown) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	return true, r.index.linkBlob(ctx, name, d, size)
}

// patchUpload appends a chunk (PATCH with an optional Content-Range).
func (r *Registry) patchUpload(w http.ResponseWriter, req *http.Request, rt route) error {
	up, err := r.resume(req.Context(), rt)
	if err != nil {
		return err
	}
	defer up.Close()
	if err := appendChunk(w, req, up); err != nil {
		return err
	}
	uploadAccepted(w, http.StatusAccepted, rt.name, up)
	return nil
}

// finishUpload appends an optional last chunk and commits the upload (PUT ?digest=).
func (r *Registry) finishUpload(w http.ResponseWriter, req *http.Request, rt route) error {
	up, err := r.resume(req.Context(), rt)
	if err != nil {
		return err
	}
	defer up.Close()
	return r.commitUpload(w, req, rt.name, up, req.URL.Query().Get("digest"))
}

func (r *Registry) commitUpload(w http.ResponseWriter, req *http.Request, name string, up Upload, dgst string) error {
	d, err := parseDigest(dgst)
	if dgst == "" {
		err = errDigestInvalid("the digest query parameter is required to finish an upload")
	}
	if err != nil {
		return err
	}
	if err := appendChunk(w, req, up); err != nil {
		return err
	}
	size := up.Size()
	defer r.holdBlobs()()
	switch err := up.Commit(req.Context(), d); {
	case errors.Is(err, ErrDigestMismatch):
		r.forgetUpload(req.Context(), up.ID())
		return errDigestInvalid("uploaded content does not match digest " + d.String() + "; the upload was discarded")
	case err != nil:
		return err // the session stays open, so the client may retry the PUT
	}
	r.forgetUpload(req.Context(), up.ID())
	if err := r.index.linkBlob(req.Context(), name, d, size); err != nil {
		return err
	}
	blobCreated(w, name, d)
	return nil
}

func (r *Registry) uploadStatus(w http.ResponseWriter, req *http.Request, rt route) error {
	up, err := r.resume(req.Context(), rt)
	if err != nil {
		return err
	}
	defer up.Close()
	uploadAccepted(w, http.StatusNoContent, rt.name, up)
	return nil
}

func (r *Registry) cancelUpload(w http.ResponseWriter, req *http.Request, rt route) error {
	up, err := r.resume(req.Context(), rt)
	if err != nil {
		return err
	}
	defer up.Close()
	if err := up.Cancel(req.Context()); err != nil {
		return err
	}
	r.forgetUpload(req.Context(), up.ID())
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// resume reopens the session in the path, which must belong to the path's repository.
func (r *Registry) resume(ctx context.Context, rt route) (Upload, error) {
	var rec uploadRecord
	_, err := getJSON(ctx, r.index.st, uploadKey(rt.ref), &rec)
	if errors.Is(err, store.ErrNotFound) || err == nil && rec.Repository != rt.name {
		return nil, errBlobUploadUnknown()
	}
	if err != nil {
		return nil, err
	}
	up, err := r.blobs.ResumeUpload(ctx, rt.ref)
	switch {
	case errors.Is(err, ErrUploadUnknown):
		return nil, errBlobUploadUnknown()
	case errors.Is(err, ErrUploadBusy):
		return nil, errorf(http.StatusConflict, "BLOB_UPLOAD_INVALID", "upload "+rt.ref+" is being written by another request; send chunks one at a time")
	}
	return up, err
}

func (r *Registry) forgetUpload(ctx context.Context, id string) {
	if err := r.index.st.Commit(ctx, store.Write{Key: uploadKey(id), Delete: true, Expect: store.Any}); err != nil {
		r.log.Warn("forgetting upload session", "upload", id, "err", err)
	}
}

// appendChunk copies the request body to the upload. A Content-Range must start where
// the upload ends; otherwise the client is told where it does (416 with Range).
func appendChunk(w http.ResponseWriter, req *http.Request, up Upload) error {
	if cr := req.Header.Get("Content-Range"); cr != "" {
		start, end, ok := parseContentRange(cr)
		if !ok {
			return errBlobUploadInvalid("Content-Range " + cr + " is invalid; send <start>-<end>")
		}
		if start != up.Size() || end < start {
			w.Header().Set("Range", rangeHeader(up.Size()))
			return errorf(http.StatusRequestedRangeNotSatisfiable, "BLOB_UPLOAD_INVALID",
				fmt.Sprintf("chunk %d-%d does not continue the upload, which has %d bytes", start, end, up.Size()))
		}
		if req.ContentLength >= 0 && req.ContentLength != end-start+1 {
			return errSizeInvalid(fmt.Sprintf("Content-Range covers %d bytes but Content-Length is %d", end-start+1, req.ContentLength))
		}
	}
	buf := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(buf)
	if _, err := io.CopyBuffer(up, req.Body, *buf); err != nil {
		return fmt.Errorf("receiving upload %s: %w", up.ID(), err)
	}
	return nil
}

// copyBuffers hold the buffers uploads are received through: larger than io.Copy's
// 32 KiB, so a layer reaches the disk and the hash in fewer, bigger writes.
var copyBuffers = sync.Pool{New: func() any {
	b := make([]byte, 256<<10)
	return &b
}}

// parseContentRange reads "<start>-<end>" (optionally prefixed with "bytes ").
func parseContentRange(s string) (int64, int64, bool) {
	s = strings.TrimPrefix(s, "bytes ")
	a, b, ok := strings.Cut(s, "-")
	start, err1 := strconv.ParseInt(a, 10, 64)
	end, err2 := strconv.ParseInt(b, 10, 64)
	return start, end, ok && err1 == nil && err2 == nil && start >= 0
}

// rangeHeader is the upload progress header: the inclusive range of bytes received.
func rangeHeader(size int64) string {
	return "0-" + strconv.FormatInt(max(size-1, 0), 10)
}

func uploadAccepted(w http.ResponseWriter, status int, name string, up Upload) {
	w.Header().Set("Location", "/v2/"+name+"/blobs/uploads/"+up.ID())
	w.Header().Set("Range", rangeHeader(up.Size()))
	w.Header().Set("Docker-Upload-UUID", up.ID())
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(status)
}

func blobCreated(w http.ResponseWriter, name string, d digest.Digest) {
	w.Header().Set("Location", "/v2/"+name+"/blobs/"+d.String())
	w.Header().Set("Docker-Content-Digest", d.String())
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
}
