// Package engine holds integration tests of the node engine as a whole: images from the
// image store, mounted with overlayfs, networked with CNI and run by runc under Gantry's
// shim. They run as root, as CI does.
package engine
