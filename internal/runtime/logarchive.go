package runtime

import (
	"os"
	"path/filepath"
	"strings"
	"time"
)

// archiveLogs moves a container's log files out of its bundle into the archive, when
// there is one. It is best effort: a log that cannot be kept is deleted with the bundle.
func (r *Runtime) archiveLogs(id string) {
	if r.archive == "" {
		return
	}
	dir := filepath.Join(r.archive, id)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return
	}
	entries, _ := os.ReadDir(r.bundle(id))
	for _, e := range entries {
		if e.Name() == logFileName || strings.HasPrefix(e.Name(), logFileName+".") {
			os.Rename(filepath.Join(r.bundle(id), e.Name()), filepath.Join(dir, e.Name()))
		}
	}
	// The directory's time says when the container went, for PruneLogArchive.
	now := time.Now()
	os.Chtimes(dir, now, now)
}

// archivedLog is the kept log of a deleted container, or "" when there is none.
func (r *Runtime) archivedLog(id string) string {
	if r.archive == "" || !validID(id) {
		return ""
	}
	p := filepath.Join(r.archive, id, logFileName)
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// PruneLogArchive removes the kept logs of containers deleted before the given time and
// returns how many it removed.
func (r *Runtime) PruneLogArchive(before time.Time) (int, error) {
	if r.archive == "" {
		return 0, nil
	}
	entries, err := os.ReadDir(r.archive)
	if err != nil {
		if os.IsNotExist(err) {
			return 0, nil
		}
		return 0, err
	}
	n := 0
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !info.ModTime().Before(before) {
			continue
		}
		if os.RemoveAll(filepath.Join(r.archive, e.Name())) == nil {
			n++
		}
	}
	return n, nil
}
