package main

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// sample is a set of measured durations.
type sample []time.Duration

// pct is the p-th percentile (0 < p ≤ 100) by the nearest-rank method: with fewer than
// 100 values p99 is the maximum.
func (s sample) pct(p float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	sorted := slices.Sorted(slices.Values(s))
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func (s sample) median() time.Duration { return s.pct(50) }

func (s sample) max() time.Duration { return s.pct(100) }

func ms(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d.Microseconds())/1000) }

// ratio is a/b with two decimals, or "—" when b has no value.
func ratio(a, b time.Duration) string {
	if a <= 0 || b <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f", float64(a)/float64(b))
}

func verdict(met bool) string {
	if met {
		return "met"
	}
	return "MISSED"
}

// summary collects the goal lines each part prints at the end.
type summary struct{ lines []string }

func (s *summary) add(format string, args ...any) {
	s.lines = append(s.lines, fmt.Sprintf(format, args...))
}

func (s *summary) print() {
	if len(s.lines) == 0 {
		return
	}
	fmt.Println()
	fmt.Println("summary")
	fmt.Println("  " + strings.Join(s.lines, "\n  "))
}

// mib formats a byte count in MiB.
func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
