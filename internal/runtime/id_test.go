package runtime

import (
	"strings"
	"testing"
)

func TestValidID(t *testing.T) {
	for id, want := range map[string]bool{
		"a": true, "web-1_x.y": true, strings.Repeat("a", 128): true,
		"": false, strings.Repeat("a", 129): false, "-a": false, ".a": false, "a/b": false, "a b": false,
	} {
		if got := validID(id); got != want {
			t.Errorf("validID(%q) = %v, want %v", id, got, want)
		}
	}
}
