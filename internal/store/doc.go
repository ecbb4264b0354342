// Package store runs Gantry's embedded etcd and offers a small typed layer over it:
// get, create, compare-and-swap, delete and prefix listing, each carrying etcd revisions.
//
// It must not know resource types: callers encode their own values and choose their keys.
package store
