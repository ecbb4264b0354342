package awsapi

import (
	"strings"
	"testing"
)

func TestCheckTag(t *testing.T) {
	cases := []struct {
		key, value, part string
	}{
		{"team", "web", ""},
		{"team", "", ""},
		{strings.Repeat("k", 128), strings.Repeat("v", 256), ""},
		{"", "v", "key"},
		{strings.Repeat("k", 129), "v", "key"},
		{"aws:owner", "v", "key"},
		{"AWS:owner", "v", "key"},
		{"team", strings.Repeat("v", 257), "value"},
	}
	for _, tc := range cases {
		part, problem := CheckTag(tc.key, tc.value)
		if part != tc.part || (part == "") != (problem == "") {
			t.Errorf("CheckTag(%.20q, %.20q) = %q, %q; want part %q", tc.key, tc.value, part, problem, tc.part)
		}
	}
}
