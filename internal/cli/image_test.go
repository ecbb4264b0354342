package cli

import (
	"testing"
	"time"
)

func TestSplitRef(t *testing.T) {
	tests := []struct{ ref, repo, tag string }{
		{"busybox:latest", "busybox", "latest"},
		{"library/busybox:1.36", "library/busybox", "1.36"},
		{"localhost:5000/team/app:v2", "localhost:5000/team/app", "v2"},
		{"localhost:5000/team/app", "localhost:5000/team/app", "<none>"}, // the port is no tag
		{"busybox@sha256:3f9c2a1b4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8", "busybox", "<none>"},
		{"localhost:5000/app@sha256:00", "localhost:5000/app", "<none>"},
		{"busybox", "busybox", "<none>"},
		{"", "<none>", "<none>"}, // stored by digest only
	}
	for _, tt := range tests {
		if repo, tag := splitRef(tt.ref); repo != tt.repo || tag != tt.tag {
			t.Errorf("splitRef(%q) = %q, %q; want %q, %q", tt.ref, repo, tag, tt.repo, tt.tag)
		}
	}
}

func TestShortDigest(t *testing.T) {
	tests := []struct{ in, want string }{
		{"sha256:3f9c2a1b4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8", "sha256:3f9c2a1b4d5e"},
		{"sha256:3f9c", "sha256:3f9c"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := shortDigest(tt.in); got != tt.want {
			t.Errorf("shortDigest(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestHumanBytes(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{
		{0, "0B"},
		{1023, "1023B"},
		{1024, "1.0KiB"},
		{4404019, "4.2MiB"},
		{5 << 30, "5.0GiB"},
	}
	for _, tt := range tests {
		if got := humanBytes(tt.n); got != tt.want {
			t.Errorf("humanBytes(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

func TestProgressLine(t *testing.T) {
	tests := []struct {
		sent, total int64
		elapsed     time.Duration
		want        string
	}{
		{12 << 20, 40 << 20, 2 * time.Second, "Sending 12.0MiB of 40.0MiB (30%), 6.0MiB/s"},
		{12 << 20, 0, 4 * time.Second, "Sending 12.0MiB, 3.0MiB/s"}, // standard input: size unknown
		{512, 1024, 0, "Sending 512B of 1.0KiB (50%)"},
	}
	for _, tt := range tests {
		if got := progressLine(tt.sent, tt.total, tt.elapsed); got != tt.want {
			t.Errorf("progressLine(%d, %d, %s) = %q, want %q", tt.sent, tt.total, tt.elapsed, got, tt.want)
		}
	}
}
