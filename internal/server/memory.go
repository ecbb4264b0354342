package server

import (
	"runtime/debug"
	"runtime/metrics"
)

// newIdleReleaser returns what hands the heap's free pages back to the kernel once the
// server goes quiet after a busy spell; its check runs every few seconds. The server trades
// memory for CPU under load (GOGC 400: see cmd/gantry), and Go's background scavenger
// returns what a burst left behind only slowly, so an idle server kept two to four times
// its live heap resident.
func newIdleReleaser(quiet uint64) *idleReleaser {
	sample := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	allocated := func() uint64 {
		metrics.Read(sample)
		return sample[0].Value.Uint64()
	}
	// Nothing to give back before the first busy spell.
	return &idleReleaser{allocated: allocated, release: debug.FreeOSMemory, quiet: quiet, last: allocated(), released: true}
}

// idleReleaser calls release once after each busy spell, at the first check that finds
// fewer than quiet bytes allocated since the check before.
type idleReleaser struct {
	allocated func() uint64 // bytes allocated since the process started
	release   func()
	quiet     uint64

	last     uint64
	released bool
}

func (r *idleReleaser) check() {
	now := r.allocated()
	busy := now-r.last > r.quiet
	r.last = now
	switch {
	case busy:
		r.released = false
	case !r.released:
		r.release()
		r.released = true
	}
}
