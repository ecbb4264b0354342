package registry

import (
	"strings"
	"testing"
)

func TestValidTag(t *testing.T) {
	for tag, want := range map[string]bool{
		"latest": true, "_x": true, "v1.2-rc_3": true, strings.Repeat("t", 128): true,
		"": false, strings.Repeat("t", 129): false, ".v1": false, "-v1": false, "v:1": false,
	} {
		if got := validTag(tag); got != want {
			t.Errorf("validTag(%q) = %v, want %v", tag, got, want)
		}
	}
}
