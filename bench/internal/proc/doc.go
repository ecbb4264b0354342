// Package proc reads what benchmarks report about processes and the machine from /proc:
// resident memory of a process or a process tree, and CPU times. It only reads.
package proc
