package image

import (
	"strings"
	"testing"
)

func TestValidMountID(t *testing.T) {
	for id, want := range map[string]bool{
		"a": true, "task-1_c.x": true, strings.Repeat("a", 128): true,
		"": false, strings.Repeat("a", 129): false, "_a": false, "a/../b": false,
	} {
		if got := validMountID(id); got != want {
			t.Errorf("validMountID(%q) = %v, want %v", id, got, want)
		}
	}
}
