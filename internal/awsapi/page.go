package awsapi

import (
	"encoding/base64"
	"strings"
)

// tokenPrefix versions the token format so a future change can refuse old tokens cleanly.
const tokenPrefix = "g1:"

// NextToken makes an opaque pagination token that resumes a listing after key.
func NextToken(key string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(tokenPrefix + key))
}

// ResumeAfter decodes a token made by NextToken; an empty token starts at the beginning.
// The key must lie under prefix, so a token from one listing cannot browse another.
func ResumeAfter(token, prefix string) (string, error) {
	if token == "" {
		return "", nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	key, ok := strings.CutPrefix(string(raw), tokenPrefix)
	if err != nil || !ok || !strings.HasPrefix(key, prefix) {
		return "", InvalidParameter("nextToken: not a token this listing returned; start again without nextToken")
	}
	return key, nil
}

// PageSize validates an optional maxResults against [1, max] and defaults it to def.
func PageSize(maxResults *int32, def, max int) (int, error) {
	if maxResults == nil {
		return def, nil
	}
	n := int(*maxResults)
	if n < 1 || n > max {
		return 0, InvalidParameter("maxResults: %d is out of range; use 1 to %d", n, max)
	}
	return n, nil
}
