package registry

import (
	"regexp"
	"strings"
)

// Grammar of the distribution spec: repository names are path components of lower-case
// alphanumerics joined by separators; tags are up to 128 word characters, dots and dashes.
var (
	nameRE = regexp.MustCompile(`^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$`)
	// tagChars is checked with the length apart: a bounded repeat ({0,127}) compiles
	// into a large program that cost every gantry process half a millisecond at start.
	tagChars = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]*$`)
)

// maxNameLength keeps names (with the host) within what clients accept.
const maxNameLength = 255

func validRepoName(name string) bool {
	return len(name) <= maxNameLength && nameRE.MatchString(name)
}

func validTag(tag string) bool { return len(tag) <= 128 && tagChars.MatchString(tag) }

// route is a parsed /v2/ path: the repository name, the kind of resource and the rest.
type route struct {
	name string
	kind string // "blobs", "uploads", "manifests", "tags", "referrers"
	ref  string // digest, tag, upload id or "" (upload start, tag list)
}

// parseRoute splits a /v2/<name>/<kind>/<ref> path. Names contain slashes, so the kind is
// found from the right: the last "/blobs/", "/manifests/", ... segment wins.
func parseRoute(path string) (route, bool) {
	rest, ok := strings.CutPrefix(path, "/v2/")
	if !ok {
		return route{}, false
	}
	for _, r := range []struct{ suffix, kind string }{
		{"/tags/list", "tags"},
		{"/blobs/uploads/", "uploads"},
	} {
		if name, ok := strings.CutSuffix(rest, r.suffix); ok {
			return route{name: name, kind: r.kind}, true
		}
	}
	for _, kind := range []string{"blobs/uploads", "blobs", "manifests", "referrers"} {
		i := strings.LastIndex(rest, "/"+kind+"/")
		if i <= 0 {
			continue
		}
		ref := rest[i+len(kind)+2:]
		if ref == "" || strings.Contains(ref, "/") {
			continue
		}
		k := kind
		if kind == "blobs/uploads" {
			k = "uploads"
		}
		return route{name: rest[:i], kind: k, ref: ref}, true
	}
	return route{}, false
}
