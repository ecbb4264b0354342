package main

import (
	"fmt"
	"slices"
	"strings"
)

// Figures from the issue, measured with the same skopeo on the same kind of machine; the
// goals are set against zot.
const (
	zotPushMiBps = 235
	zotPullMiBps = 390
	goalRSSBytes = 64e6
)

// printTable prints one row per phase; phases[0] is the oci→oci floor.
func printTable(phases []phase) {
	floor := median(phases[0].mibps)
	fmt.Println()
	fmt.Printf("%-24s | %-26s | %12s | %8s | %14s\n", "phase", "runs (MiB/s)", "median MiB/s", "÷ floor", "server peak RSS")
	for _, p := range phases {
		runs := make([]string, len(p.mibps))
		for i, v := range p.mibps {
			runs[i] = fmt.Sprintf("%.1f", v)
		}
		rss := "—"
		if p.peakRSS > 0 {
			rss = mb(p.peakRSS)
		}
		fmt.Printf("%-24s | %-26s | %12.1f | %8.2f | %14s\n", p.name, strings.Join(runs, " "), median(p.mibps), median(p.mibps)/floor, rss)
	}
	fmt.Println()
	fmt.Printf("server RSS once ready, before any transfer: %s (push), %s (pull)\n", mb(phases[1].idleRSS), mb(phases[2].idleRSS))
	fmt.Println("reference (issue, same kind of machine): zot ≈ 235 push / 390 pull MiB/s at ≈ 66 MB RSS;" +
		" distribution ≈ 220 / 380 MiB/s at 73–91 MB; oci→oci floor ≈ 240–260 MiB/s" +
		" (zot ≈ 0.90–0.98 × floor push, 1.50–1.63 × floor pull)")
	push, pull := median(phases[1].mibps), median(phases[2].mibps)
	rss := max(phases[1].peakRSS, phases[2].peakRSS)
	fmt.Printf("goals: push ≥ zot (%d MiB/s): %s; pull ≥ zot (%d MiB/s): %s; peak RSS ≤ 64 MB: %s\n",
		zotPushMiBps, verdict(push >= zotPushMiBps), zotPullMiBps, verdict(pull >= zotPullMiBps), verdict(float64(rss) <= goalRSSBytes))
}

func verdict(met bool) string {
	if met {
		return "met"
	}
	return "MISSED"
}

func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// mb formats bytes in MB (10^6 bytes), the unit of the RSS figures and goal.
func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }

// mib formats bytes in MiB, the unit of the image size and throughput.
func mib(n int64) string { return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20)) }
