package awsapi

import (
	"encoding/json"
	"testing"
	"time"
)

func TestTimestampMarshal(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   time.Time
		want string
	}{
		{time.UnixMilli(1631268704884), "1631268704.884"},
		{time.UnixMilli(1631268704800), "1631268704.8"},
		{time.UnixMilli(1631268704000), "1631268704"},
		{time.UnixMilli(1631268704005), "1631268704.005"},
		{time.Unix(1631268704, 999_999_999), "1631268704.999"}, // truncated, never rounded up
		{time.UnixMilli(-1500), "-2.5"},
	}
	for _, tt := range tests {
		got, err := json.Marshal(Timestamp{Time: tt.in})
		if err != nil || string(got) != tt.want {
			t.Errorf("Marshal(%v) = %s, %v; want %s", tt.in, got, err, tt.want)
		}
	}
}

func TestTimestampUnmarshal(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in     string
		wantMS int64
	}{
		{"1631268704.884", 1631268704884},
		{"1.631268704884E9", 1631268704884}, // how AWS itself writes it
		{"1631268704", 1631268704000},
		{"1631268704.8844", 1631268704884},
		{"-2.5", -2500},
	}
	for _, tt := range tests {
		var ts Timestamp
		if err := json.Unmarshal([]byte(tt.in), &ts); err != nil || ts.UnixMilli() != tt.wantMS {
			t.Errorf("Unmarshal(%s) = %d, %v; want %d", tt.in, ts.UnixMilli(), err, tt.wantMS)
		}
	}
	for _, bad := range []string{`"2021-09-10T10:11:44Z"`, `true`, `{}`, `1e300`} {
		var ts Timestamp
		if err := json.Unmarshal([]byte(bad), &ts); err == nil {
			t.Errorf("Unmarshal(%s) = %v; want an error", bad, ts)
		}
	}
}

func TestTimestampRoundTripAndOmitZero(t *testing.T) {
	t.Parallel()
	type doc struct {
		At    Timestamp `json:"at,omitzero"`
		Never Timestamp `json:"never,omitzero"`
	}
	in := doc{At: NewTimestamp(time.Date(2026, 4, 27, 11, 10, 48, 645_123_456, time.UTC))}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"at":1777288248.645}` {
		t.Errorf("Marshal = %s; want the instant in epoch seconds and no zero member", b)
	}
	var out doc
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if !out.At.Equal(in.At.Time) || !out.Never.IsZero() {
		t.Errorf("round trip = %v, %v; want %v and zero", out.At, out.Never, in.At)
	}
}
