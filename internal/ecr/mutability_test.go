package ecr

import (
	"strings"
	"testing"
)

func TestExclusionFilterLengthAndCharacters(t *testing.T) {
	for filter, want := range map[string]bool{
		"dev-*": true, "*": true, strings.Repeat("f", 128): true,
		"": false, strings.Repeat("f", 129): false, "dev/*": false, "a b": false,
	} {
		err := setMutability(&Repository{}, "IMMUTABLE_WITH_EXCLUSION", []ExclusionFilter{{FilterType: "WILDCARD", Filter: filter}})
		if (err == nil) != want {
			t.Errorf("filter %q: %v, want accepted %v", filter, err, want)
		}
	}
}
