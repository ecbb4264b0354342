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

func TestCgroupParentMustBeARelativePath(t *testing.T) {
	for parent, want := range map[string]bool{
		"gantry": true, "system.slice/gantry": true, "gantry-test_1": true,
		"": false, "/gantry": false, "../gantry": false, "a//b": false, "a/./b": false, "a b": false, "gantry/": false,
	} {
		if err := checkCgroupParent(parent); (err == nil) != want {
			t.Errorf("checkCgroupParent(%q) = %v, want accepted %v", parent, err, want)
		}
	}
}
