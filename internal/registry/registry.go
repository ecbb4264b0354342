package registry

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"gantry/internal/store"
)

// Config wires a Registry to its storage and credentials.
type Config struct {
	Blobs BlobStore
	Store *store.Store
	Auth  Authenticator
	// Policy governs pushes (ECR's rules); nil allows everything.
	Policy Policy
	// ReadOnly tells whether a principal may only pull (GET and HEAD); nil: none is.
	ReadOnly func(principal string) bool
	Log      *slog.Logger
}

// Registry is the http.Handler for /v2/.
type Registry struct {
	blobs  BlobStore
	index  *index
	auth   Authenticator
	policy Policy
	// readOnly tells whether a principal may only pull; never nil.
	readOnly func(principal string) bool
	tokens   *tokens
	log      *slog.Logger
	// gcMu is held shared by writes between storing a blob and linking it, and
	// exclusively by garbage collection's sweep.
	gcMu sync.RWMutex
	// handlers maps a resource kind and HTTP method to its handler.
	handlers map[string]map[string]handlerFunc
}

// New returns a registry, creating its token-signing key on first start.
func New(ctx context.Context, cfg Config) (*Registry, error) {
	key, err := loadTokenKey(ctx, cfg.Store)
	if err != nil {
		return nil, err
	}
	r := &Registry{
		blobs:    cfg.Blobs,
		index:    &index{st: cfg.Store},
		auth:     cfg.Auth,
		policy:   cfg.Policy,
		readOnly: cfg.ReadOnly,
		tokens:   &tokens{key: key, now: time.Now},
		log:      cfg.Log,
	}
	if r.readOnly == nil {
		r.readOnly = func(string) bool { return false }
	}
	r.handlers = map[string]map[string]handlerFunc{
		"blobs":     {"GET": r.getBlob, "HEAD": r.getBlob, "DELETE": r.deleteBlob},
		"uploads":   {"POST": r.startUpload, "PATCH": r.patchUpload, "PUT": r.finishUpload, "GET": r.uploadStatus, "DELETE": r.cancelUpload},
		"manifests": {"GET": r.getManifest, "HEAD": r.getManifest, "PUT": r.putManifest, "DELETE": r.deleteManifest},
		"tags":      {"GET": r.listTags},
		"referrers": {"GET": r.listReferrers},
	}
	return r, nil
}

// handlerFunc serves one registry request for an authenticated caller.
type handlerFunc func(w http.ResponseWriter, req *http.Request, rt route) error

func (r *Registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	if req.URL.Path == "/v2/token" {
		r.serveToken(w, req)
		return
	}
	principal, ok := r.authenticate(req)
	if !ok {
		r.challenge(w, req)
		return
	}
	var err error
	if r.readOnly(principal) && req.Method != http.MethodGet && req.Method != http.MethodHead {
		err = errDenied(principal + " may only pull: " + req.Method + " is refused")
	} else {
		err = r.dispatch(w, req)
	}
	if err == nil {
		return
	}
	var apiErr *apiError
	if !errors.As(err, &apiErr) {
		r.log.Error("registry request failed", "method", req.Method, "path", req.URL.Path, "err", err)
		apiErr = errorf(http.StatusInternalServerError, "UNKNOWN", "the registry failed to handle the request; see the server log")
	}
	writeAPIError(w, apiErr)
}

func (r *Registry) dispatch(w http.ResponseWriter, req *http.Request) error {
	switch req.URL.Path {
	case "/v2/", "/v2":
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte("{}"))
		return nil
	case "/v2/_catalog":
		return r.catalog(w, req)
	}
	rt, ok := parseRoute(req.URL.Path)
	if !ok {
		return errorf(http.StatusNotFound, "NOT_FOUND", "no registry endpoint at "+req.URL.Path)
	}
	if !validRepoName(rt.name) {
		return errNameInvalid("repository name " + rt.name + " is invalid: use lower-case path components of letters and digits joined by . _ __ - or /")
	}
	h := r.handlers[rt.kind][req.Method]
	if h == nil {
		return errUnsupported(req.Method + " is not supported on " + rt.kind)
	}
	return h(w, req, rt)
}

// parseDigest validates a digest from a path or query.
func parseDigest(s string) (digest.Digest, error) {
	d, err := digest.Parse(s)
	if err != nil {
		return "", errDigestInvalid("digest " + s + " is invalid: " + err.Error())
	}
	if d.Algorithm() != digest.SHA256 && d.Algorithm() != digest.SHA512 {
		return "", errDigestInvalid("digest algorithm " + string(d.Algorithm()) + " is not supported; use sha256 or sha512")
	}
	return d, nil
}
