package cli

import (
	"strings"
	"testing"
	"time"
)

func TestCopyLogs(t *testing.T) {
	stream := `{"log":"hello\n","stream":"stdout","time":"2025-01-02T03:04:05.123456789Z"}
{"log":"oops\n","stream":"stderr","time":"2025-01-02T03:04:06Z"}
{"log":"a long line ","stream":"stdout","time":"2025-01-02T03:04:07Z"}
{"log":"ends here\n","stream":"stdout","time":"2025-01-02T03:04:07.5Z"}
`
	tests := []struct {
		timestamps     bool
		stdout, stderr string
	}{
		{false, "hello\na long line ends here\n", "oops\n"},
		{true, "2025-01-02T03:04:05.123456789Z hello\n2025-01-02T03:04:07Z a long line ends here\n", "2025-01-02T03:04:06Z oops\n"},
	}
	for _, tt := range tests {
		var stdout, stderr strings.Builder
		if err := copyLogs(strings.NewReader(stream), &stdout, &stderr, tt.timestamps); err != nil {
			t.Fatalf("copyLogs(timestamps=%v): %v", tt.timestamps, err)
		}
		if stdout.String() != tt.stdout || stderr.String() != tt.stderr {
			t.Errorf("copyLogs(timestamps=%v): stdout %q, stderr %q; want %q, %q", tt.timestamps, stdout.String(), stderr.String(), tt.stdout, tt.stderr)
		}
	}
}

func TestCopyLogsCutStream(t *testing.T) {
	var out strings.Builder
	err := copyLogs(strings.NewReader(`{"log":"hi\n","stream":"stdout"}`+"\n"+`{"log":"cut`), &out, &out, false)
	if err == nil {
		t.Fatal("copyLogs of a stream cut mid-entry returned no error")
	}
	if out.String() != "hi\n" {
		t.Errorf("copyLogs wrote %q before the cut, want the whole first entry", out.String())
	}
}

func TestParseSince(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
	}{
		{"10m", now.Add(-10 * time.Minute)},
		{"1h30m", now.Add(-90 * time.Minute)},
		{"2025-01-01T00:00:00Z", time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"2025-01-01T01:00:00.5+01:00", time.Date(2025, 1, 1, 0, 0, 0, 5e8, time.UTC)},
		{"2025-01-01", time.Date(2025, 1, 1, 0, 0, 0, 0, time.Local)},
		{"2025-01-01T12:30:00", time.Date(2025, 1, 1, 12, 30, 0, 0, time.Local)},
		{"1735689600", time.Unix(1735689600, 0)},
		{"1735689600.25", time.Unix(1735689600, 25e7)},
	}
	for _, tt := range tests {
		got, err := parseSince(tt.in, now)
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("parseSince(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "-5m", "yesterday", "Inf", "2025-13-01", "1e9"} {
		if got, err := parseSince(bad, now); err == nil {
			t.Errorf("parseSince(%q) = %v; want an error", bad, got)
		}
	}
}
