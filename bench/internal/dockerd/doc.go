// Package dockerd runs a throwaway dockerd for benchmarks to compare against: its own
// socket, data root, exec root and containerd namespace under a directory of the
// benchmark, on a bridge the benchmark names, and with docker's iptables management off,
// so that it never touches the host's own docker or firewall.
package dockerd
