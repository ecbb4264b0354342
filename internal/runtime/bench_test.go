package runtime

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// BenchmarkRunWaitTrue times Run + Wait of /bin/true and, in the same
// run, raw `runc run` of the same OCI config; it reports both medians and their ratio.
// Delete is timed apart: raw runc run removes its state itself. The shim is this test
// binary unless GANTRY_BENCH_SHIM names a built gantry-shim (its start-up is part of the
// cost of a container start).
func BenchmarkRunWaitTrue(b *testing.B) {
	f := newFixture(b)
	if shim := os.Getenv("GANTRY_BENCH_SHIM"); shim != "" {
		r, err := New(Config{StateDir: f.stateDir, DataDir: f.dataDir, ShimCmd: []string{shim}, CgroupParent: testCgroupParent})
		if err != nil {
			b.Fatal(err)
		}
		f.r = r
	}
	ctx := context.Background()
	rawBundle := filepath.Join(b.TempDir(), "raw")
	os.MkdirAll(rawBundle, 0o700)
	s := f.spec("/bin/true")
	s.ID = "gt-bench-raw"
	cfg, err := f.r.ociSpec(s, rawBundle)
	if err != nil {
		b.Fatal(err)
	}
	if err := writeJSONFile(filepath.Join(rawBundle, "config.json"), cfg); err != nil {
		b.Fatal(err)
	}
	rawRoot := filepath.Join(b.TempDir(), "rawroot")
	const rounds = 20
	var ours, raw, del []time.Duration
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		for i := 0; i < rounds; i++ {
			s := f.spec("/bin/true")
			t0 := time.Now()
			if err := f.r.Run(ctx, s, nil); err != nil {
				b.Fatal(err)
			}
			st, err := f.r.Wait(ctx, s.ID)
			if err != nil || st.Code != 0 {
				b.Fatalf("wait: %+v %v", st, err)
			}
			t1 := time.Now()
			if err := f.r.Delete(ctx, s.ID); err != nil {
				b.Fatal(err)
			}
			ours, del = append(ours, t1.Sub(t0)), append(del, time.Since(t1))

			t0 = time.Now()
			cmd := exec.Command("runc", "--root", rawRoot, "run", "--bundle", rawBundle, fmt.Sprintf("gt-raw-%d-%d", n, i))
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("runc run: %v: %s", err, out)
			}
			raw = append(raw, time.Since(t0))
		}
	}
	b.StopTimer()
	mo, mr, md := median(ours), median(raw), median(del)
	b.ReportMetric(float64(mo.Microseconds())/1000, "gantry-ms")
	b.ReportMetric(float64(mr.Microseconds())/1000, "runc-run-ms")
	b.ReportMetric(float64(md.Microseconds())/1000, "delete-ms")
	b.ReportMetric(float64(mo)/float64(mr), "ratio")
	b.Logf("median of %d: run+wait %v, raw runc run %v, ratio %.2f; delete %v", len(ours), mo, mr, float64(mo)/float64(mr), md)
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
