package server

import (
	"gantry/internal/iam"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSelfCheckNamesTheProblem(t *testing.T) {
	good := Config{Listen: "127.0.0.1:8700", DataDir: t.TempDir(), Region: "us-east-1", Account: "000000000000"}
	if err := selfCheck(good); err != nil {
		t.Fatalf("good config: %v", err)
	}
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o600)
	cases := []struct {
		change func(*Config)
		want   string
	}{
		{func(c *Config) { c.Account = "123" }, "--account"},
		{func(c *Config) { c.Account = "12345678901x" }, "--account"},
		{func(c *Config) { c.Region = "Mars" }, "--region"},
		{func(c *Config) { c.Listen = "8700" }, "--listen"},
		{func(c *Config) { c.DataDir = filepath.Join(file, "sub") }, "data dir"},
	}
	for _, tc := range cases {
		cfg := good
		tc.change(&cfg)
		err := selfCheck(cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want an error naming %s", cfg, err, tc.want)
		}
	}
}

func TestWriteCredentialsIsPrivateAndStable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "credentials")
	key := iam.AccessKey{ID: "AKIAEXAMPLE", Secret: "secret"}
	if err := writeCredentials(path, key); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v", info.Mode(), err)
	}
	data, _ := os.ReadFile(path)
	if string(data) != "[default]\naws_access_key_id = AKIAEXAMPLE\naws_secret_access_key = secret\n" {
		t.Fatalf("content %q", data)
	}
	if back, err := ReadCredentials(path); err != nil || back.ID != key.ID || back.Secret != key.Secret {
		t.Fatalf("ReadCredentials: %+v %v", back, err)
	}
	// A file someone loosened or edited is put right on the next start.
	os.WriteFile(path, []byte("junk"), 0o644)
	if err := writeCredentials(path, key); err != nil {
		t.Fatal(err)
	}
	data, _ = os.ReadFile(path)
	info, _ = os.Stat(path)
	if !strings.Contains(string(data), "AKIAEXAMPLE") || info.Mode().Perm() != 0o600 {
		t.Fatalf("after repair: %q %v", data, info.Mode())
	}
}
