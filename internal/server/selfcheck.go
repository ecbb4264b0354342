package server

import (
	"fmt"
	"os"
	"path/filepath"
)

// selfCheck verifies what the server depends on before starting anything, and fails with
// one line that says what is wrong and how to fix it.
func selfCheck(cfg Config) error {
	if err := checkDataDir(cfg.DataDir); err != nil {
		return fmt.Errorf("self-check: data dir %s is not usable: %w (choose another with --data-dir, or run as root)", cfg.DataDir, err)
	}
	return nil
}

// checkDataDir creates the data dir if needed and writes, reads and deletes a probe file.
func checkDataDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	probe := filepath.Join(dir, ".probe")
	if err := os.WriteFile(probe, []byte("gantry"), 0o600); err != nil {
		return err
	}
	defer os.Remove(probe)
	got, err := os.ReadFile(probe)
	if err != nil {
		return err
	}
	if string(got) != "gantry" {
		return fmt.Errorf("probe file read back %q", got)
	}
	return os.Remove(probe)
}
