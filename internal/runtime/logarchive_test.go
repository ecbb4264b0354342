package runtime

import (
	"os"
	"slices"
	"testing"
	"time"
)

// TestArchivedLogsOutliveTheContainer deletes a container's bundle after archiving its
// rotated logs: Logs still reads them all (following ends at once), and pruning removes
// them.
func TestArchivedLogsOutliveTheContainer(t *testing.T) {
	f := newLogFixture(t)
	f.r.archive = t.TempDir()
	w := f.writer(3, 3)
	f.write(w, 0, 7)
	w.close()
	f.r.archiveLogs(f.id)
	if err := os.RemoveAll(f.r.bundle(f.id)); err != nil {
		t.Fatal(err)
	}
	if got := f.logs(LogOptions{Tail: -1, Follow: true}); !slices.Equal(got, lines(0, 7)) {
		t.Fatalf("archived logs = %q, want %q", got, lines(0, 7))
	}
	if got := f.logs(LogOptions{Tail: 2}); !slices.Equal(got, lines(5, 7)) {
		t.Fatalf("archived tail = %q", got)
	}
	if n, err := f.r.PruneLogArchive(time.Now().Add(-time.Hour)); n != 0 || err != nil {
		t.Fatalf("pruning what is newer than the cutoff removed %d (%v)", n, err)
	}
	if n, err := f.r.PruneLogArchive(time.Now().Add(time.Second)); n != 1 || err != nil {
		t.Fatalf("pruning removed %d (%v), want 1", n, err)
	}
	if f.r.archivedLog(f.id) != "" {
		t.Fatal("the log is still archived after pruning")
	}
}
