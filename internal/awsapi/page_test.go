package awsapi

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
)

func TestNextTokenRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct{ key, prefix string }{
		{"cluster/default/service/web", "cluster/default/"},
		{"cluster/default/service/web", ""},
		{"task/prod/0123456789abcdef", "task/prod/"},
		{"family:web:3 with spaces/ünïcode/\x00bytes", "family:"},
		{"g1:looks-like-a-token", "g1:"},
		{"", ""},
	}
	for _, tt := range tests {
		token := NextToken(tt.key)
		if token == "" || strings.Contains(token, tt.key) && tt.key != "" {
			t.Errorf("NextToken(%q) = %q, want a non-empty opaque token", tt.key, token)
		}
		if strings.ContainsAny(token, "+/=") {
			t.Errorf("NextToken(%q) = %q, want only URL-safe characters without padding", tt.key, token)
		}
		got, err := ResumeAfter(token, tt.prefix)
		if err != nil || got != tt.key {
			t.Errorf("ResumeAfter(NextToken(%q), %q) = %q, %v; want the key back", tt.key, tt.prefix, got, err)
		}
	}
}

func TestResumeAfterEmptyTokenStartsAtBeginning(t *testing.T) {
	t.Parallel()
	for _, prefix := range []string{"", "cluster/default/"} {
		got, err := ResumeAfter("", prefix)
		if err != nil || got != "" {
			t.Errorf("ResumeAfter(\"\", %q) = %q, %v; want \"\", nil", prefix, got, err)
		}
	}
}

func TestResumeAfterRejects(t *testing.T) {
	t.Parallel()
	raw := base64.RawURLEncoding.EncodeToString
	tests := []struct{ name, token, prefix string }{
		{"garbage", "!!not a token!!", ""},
		{"standard base64 with padding", base64.StdEncoding.EncodeToString([]byte("g1:cluster/default/x")), ""},
		{"no version prefix", raw([]byte("cluster/default/x")), ""},
		{"other version prefix", raw([]byte("g2:cluster/default/x")), ""},
		{"prefix without its colon", raw([]byte("g1cluster/default/x")), ""},
		{"the key itself", "cluster/default/x", ""},
		{"token from another listing", NextToken("cluster/other/x"), "cluster/default/"},
		{"key shorter than the prefix", NextToken("cluster/default"), "cluster/default/"},
		{"truncated token", NextToken("cluster/default/x")[:5], "cluster/default/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ResumeAfter(tt.token, tt.prefix)
			if got != "" {
				t.Errorf("ResumeAfter(%q, %q) returned key %q with its error", tt.token, tt.prefix, got)
			}
			assertAPIError(t, err, "InvalidParameterException", http.StatusBadRequest, "nextToken")
		})
	}
}

func TestPageSize(t *testing.T) {
	t.Parallel()
	const def, max = 10, 100
	tests := []struct {
		name       string
		maxResults *int32
		want       int
		wantErr    bool
	}{
		{"absent takes the default", nil, def, false},
		{"zero", new(int32(0)), 0, true},
		{"negative", new(int32(-1)), 0, true},
		{"minimum", new(int32(1)), 1, false},
		{"between", new(int32(42)), 42, false},
		{"maximum", new(int32(max)), max, false},
		{"above maximum", new(int32(max + 1)), 0, true},
		{"int32 maximum", new(int32(1<<31 - 1)), 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := PageSize(tt.maxResults, def, max)
			if !tt.wantErr {
				if err != nil || got != tt.want {
					t.Fatalf("PageSize = %d, %v; want %d, nil", got, err, tt.want)
				}
				return
			}
			if got != 0 {
				t.Errorf("PageSize = %d with an error, want 0", got)
			}
			assertAPIError(t, err, "InvalidParameterException", http.StatusBadRequest, "maxResults", "1 to 100")
		})
	}
}
