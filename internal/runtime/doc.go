// Package runtime runs OCI containers on one machine: it writes OCI bundles (Docker-like
// defaults: seccomp, capabilities, masked paths, cgroup limits), drives an OCI runtime binary
// (runc), and keeps one detached shim process per container that owns its stdio, writes its
// log file and records its exit status, so containers outlive the process that started them.
// Run creates and starts a container with one OCI runtime process, optionally holding its
// process before exec until the caller's ready function returns (gate.go), so that a task's
// network is attached while the runtime does the rest.
// It must not know about tasks, services or images; callers hand it a prepared rootfs.
package runtime
