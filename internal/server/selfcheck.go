package server

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// selfCheck verifies what the server depends on before starting anything, and fails with
// one line that says what is wrong and how to fix it.
func selfCheck(cfg Config) error {
	if err := checkConfig(cfg); err != nil {
		return err
	}
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

// checkConfig refuses flag values that would make ARNs or signatures AWS clients reject.
func checkConfig(cfg Config) error {
	if len(cfg.Account) != 12 || strings.Trim(cfg.Account, "0123456789") != "" {
		return fmt.Errorf("--account %q: an account id is 12 digits, e.g. 000000000000", cfg.Account)
	}
	if !regionPattern.MatchString(cfg.Region) {
		return fmt.Errorf("--region %q: use a region name such as us-east-1 (lower-case letters, digits and hyphens)", cfg.Region)
	}
	if _, _, err := net.SplitHostPort(cfg.Listen); err != nil {
		return fmt.Errorf("--listen %q: want HOST:PORT, e.g. 127.0.0.1:8700", cfg.Listen)
	}
	return nil
}

var regionPattern = regexp.MustCompile(`^[a-z]{2}(-[a-z0-9]+)+-[0-9]+$`)
