package registry

import (
	"fmt"
	"os"
	"path/filepath"
)

// writeFileAtomic makes path hold exactly data, durably, or leaves it untouched: it
// writes a temporary file in tmpDir (which must be on the same filesystem as path),
// fsyncs it, renames it over path and fsyncs path's directory. A crash at any point
// leaves either the old state or the complete new file at path, and at worst a stray
// temporary file in tmpDir.
func writeFileAtomic(tmpDir, path string, data []byte) error {
	tmp, err := os.CreateTemp(tmpDir, "write-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	renamed := false
	defer func() {
		if !renamed {
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("syncing %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("renaming %s into place: %w", path, err)
	}
	renamed = true
	return syncDir(filepath.Dir(path))
}

// syncDir fsyncs a directory so that entries created, renamed or removed in it survive a
// crash; fsyncing a file makes its content durable but not its name.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	return nil
}
