// Package blobstoretest owns the test suite every registry.BlobStore must pass; each
// implementation's tests run it with their own constructor, as containerd runs one
// suite against every snapshotter.
//
// It must not know any implementation: what only one store does is tested beside it.
package blobstoretest
