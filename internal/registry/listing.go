package registry

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// maxPageSize caps n on the tags and catalog listings.
const maxPageSize = 1000

// pageParams reads n and last; n defaults to (and is capped at) maxPageSize.
func pageParams(q url.Values) (int, string, error) {
	n := maxPageSize
	if s := q.Get("n"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 {
			return 0, "", errorf(http.StatusBadRequest, "PAGINATION_NUMBER_INVALID", "n must be a non-negative integer")
		}
		n = min(v, maxPageSize)
	}
	return n, q.Get("last"), nil
}

// listTags serves GET /v2/<name>/tags/list?n=&last= in lexical order, with a Link header
// to the next page.
func (r *Registry) listTags(w http.ResponseWriter, req *http.Request, rt route) error {
	n, last, err := pageParams(req.URL.Query())
	if err != nil {
		return err
	}
	ok, err := r.index.repoExists(req.Context(), rt.name)
	if err != nil {
		return err
	}
	if !ok {
		return errNameUnknown(rt.name)
	}
	tags := []string{}
	more := false
	if n > 0 {
		if tags, more, err = r.index.tags(req.Context(), rt.name, last, n); err != nil {
			return err
		}
	}
	if more {
		setNextLink(w, "/v2/"+rt.name+"/tags/list", n, tags[len(tags)-1])
	}
	return writeJSON(w, "application/json", map[string]any{"name": rt.name, "tags": tags})
}

// catalog serves GET /v2/_catalog?n=&last=: the repositories, in lexical order.
func (r *Registry) catalog(w http.ResponseWriter, req *http.Request) error {
	n, last, err := pageParams(req.URL.Query())
	if err != nil {
		return err
	}
	repos := []string{}
	if n > 0 {
		from := ""
		if last != "" {
			from = reposPrefix + last
		}
		kvs, more, err := r.index.st.List(req.Context(), reposPrefix, from, n, false)
		if err != nil {
			return err
		}
		for _, kv := range kvs {
			repos = append(repos, strings.TrimPrefix(kv.Key, reposPrefix))
		}
		if more {
			setNextLink(w, "/v2/_catalog", n, repos[len(repos)-1])
		}
	}
	return writeJSON(w, "application/json", map[string]any{"repositories": repos})
}

// listReferrers serves the referrers API: an image index of the manifests whose subject
// is the digest, optionally filtered by artifactType.
func (r *Registry) listReferrers(w http.ResponseWriter, req *http.Request, rt route) error {
	d, err := parseDigest(rt.ref)
	if err != nil {
		return err
	}
	refs, err := r.index.referrers(req.Context(), rt.name, d)
	if err != nil {
		return err
	}
	filter := req.URL.Query().Get("artifactType")
	descs := []v1.Descriptor{}
	for _, m := range refs {
		if filter != "" && m.ArtifactType != filter {
			continue
		}
		content, err := r.readManifest(req.Context(), m.Digest)
		if err != nil {
			return err
		}
		descs = append(descs, m.descriptor(content))
	}
	if filter != "" {
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	index := v1.Index{MediaType: v1.MediaTypeImageIndex, Manifests: descs}
	index.SchemaVersion = 2
	return writeJSON(w, v1.MediaTypeImageIndex, index)
}

func setNextLink(w http.ResponseWriter, path string, n int, last string) {
	q := url.Values{"n": {strconv.Itoa(n)}, "last": {last}}
	w.Header().Set("Link", "<"+path+"?"+q.Encode()+`>; rel="next"`)
}

func writeJSON(w http.ResponseWriter, contentType string, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	_, err = w.Write(body)
	return err
}
