package server

import "testing"

// Memory is released once per busy spell, when the server has gone quiet.
func TestIdleReleaserReleasesOncePerBusySpell(t *testing.T) {
	var total uint64
	releases := 0
	r := &idleReleaser{allocated: func() uint64 { return total }, release: func() { releases++ }, quiet: 100, released: true}
	steps := []struct {
		alloc uint64
		want  int
	}{
		{10, 0},   // quiet from the start: nothing to release
		{500, 0},  // busy
		{900, 0},  // still busy
		{50, 1},   // quiet again: released
		{20, 1},   // stays quiet: not again
		{1000, 1}, // busy
		{0, 2},    // quiet: released again
	}
	for i, s := range steps {
		total += s.alloc
		r.check()
		if releases != s.want {
			t.Fatalf("step %d (allocated %d): %d releases, want %d", i, s.alloc, releases, s.want)
		}
	}
}
