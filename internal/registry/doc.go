// Package registry serves the OCI distribution specification (v1.1) under /v2/: blobs,
// chunked and resumable uploads, manifests and indexes by tag and digest, tag listing and
// the referrers API. Blob content lives in a BlobStore (a filesystem by default); the
// index of repositories, manifests and tags lives in the store.
//
// It must not know ECR semantics (tag mutability, lifecycle policies): the ecr package
// supplies those through the hooks this package declares.
package registry
