package server

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"gantry/internal/iam"
)

// writeCredentials writes the root key in the AWS shared-credentials format, mode 0600,
// unless the file already holds exactly that. It writes a temporary file and renames it,
// so a crash never leaves a half-written file behind.
func writeCredentials(path string, key iam.AccessKey) error {
	want := fmt.Appendf(nil, "[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n", key.ID, key.Secret)
	if have, err := os.ReadFile(path); err == nil && bytes.Equal(have, want) {
		return os.Chmod(path, 0o600)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".credentials-*")
	if err != nil {
		return fmt.Errorf("writing credentials: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("writing credentials: %w", err)
	}
	if _, err := tmp.Write(want); err != nil {
		tmp.Close()
		return fmt.Errorf("writing credentials: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("writing credentials: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing credentials: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing credentials to %s: %w", path, err)
	}
	return nil
}

// ReadCredentials reads back the key writeCredentials stored in path: the [default]
// profile's aws_access_key_id and aws_secret_access_key. Tests and benchmarks use it to
// sign requests to a server they started.
func ReadCredentials(path string) (iam.AccessKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return iam.AccessKey{}, fmt.Errorf("reading credentials: %w", err)
	}
	var key iam.AccessKey
	for _, line := range strings.Split(string(data), "\n") {
		name, value, _ := strings.Cut(line, "=")
		switch strings.TrimSpace(name) {
		case "aws_access_key_id":
			key.ID = strings.TrimSpace(value)
		case "aws_secret_access_key":
			key.Secret = strings.TrimSpace(value)
		}
	}
	if key.ID == "" || key.Secret == "" {
		return iam.AccessKey{}, fmt.Errorf("%s has no aws_access_key_id and aws_secret_access_key", path)
	}
	return key, nil
}
