// Package rootfs builds the busybox-static root filesystem (directory and tarball) that
// the benchmarks run in every engine.
package rootfs
