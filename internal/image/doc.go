// Package image owns the node's local image store: content-addressed blobs,
// references, pulls from registries, import/load/save of archives, layers
// unpacked once per chain ID, overlayfs root filesystems and garbage collection.
// It must not know about tasks or containers beyond an opaque mount id.
package image
