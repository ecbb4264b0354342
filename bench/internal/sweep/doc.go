// Package sweep undoes what a benchmark made on the machine: its own cleanup steps, last
// first, then a sweep for processes naming its work dir, mounts below it, and iptables
// rules, links and cgroups carrying its names. It removes only what did not exist when
// the benchmark started, and reports anything left.
package sweep
