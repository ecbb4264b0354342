package awsapi

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// The credentials, scope and time of the AWS Signature Version 4 test suite.
const (
	suiteAccessKey = "AKIDEXAMPLE"
	suiteSecret    = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	suiteRegion    = "us-east-1"
	suiteService   = "service"
)

var suiteTime = time.Date(2015, 8, 30, 12, 36, 0, 0, time.UTC)

type staticKeys map[string]string

func (k staticKeys) SecretFor(id string) (string, bool) {
	s, ok := k[id]
	return s, ok
}

// suiteVector is one case of aws-sig-v4-test-suite, transcribed from its files.
type suiteVector struct {
	name          string
	req           string // the .req file: the request as sent
	signedHeaders string // from the .authz file
	signature     string // from the .authz file
	creq          string // the .creq file, for the vectors whose canonical request is checked
	// adjust turns the parsed request into the one the vector describes, for the two
	// vectors Go's HTTP parser cannot express as written (see their comments).
	adjust func(*http.Request)
}

const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

var suiteVectors = []suiteVector{
	{
		name:          "get-vanilla",
		req:           "GET / HTTP/1.1\nHost:example.amazonaws.com\nX-Amz-Date:20150830T123600Z",
		signedHeaders: "host;x-amz-date",
		signature:     "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
		creq:          "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" + emptySHA256,
	},
	{
		name:          "get-vanilla-query",
		req:           "GET / HTTP/1.1\nHost:example.amazonaws.com\nX-Amz-Date:20150830T123600Z",
		signedHeaders: "host;x-amz-date",
		signature:     "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
	},
	{
		name:          "get-vanilla-query-order-key-case",
		req:           "GET /?Param2=value2&Param1=value1 HTTP/1.1\nHost:example.amazonaws.com\nX-Amz-Date:20150830T123600Z",
		signedHeaders: "host;x-amz-date",
		signature:     "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
		creq:          "GET\n/\nParam1=value1&Param2=value2\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" + emptySHA256,
	},
	{
		name:          "get-vanilla-query-order-key",
		req:           "GET /?Param1=value2&Param1=Value1 HTTP/1.1\nHost:example.amazonaws.com\nX-Amz-Date:20150830T123600Z",
		signedHeaders: "host;x-amz-date",
		signature:     "eedbc4e291e521cf13422ffca22be7d2eb8146eecf653089df300a15b2382bd1",
		creq:          "GET\n/\nParam1=Value1&Param1=value2\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" + emptySHA256,
	},
	{
		name:          "get-vanilla-query-order-value",
		req:           "GET /?Param1=value2&Param1=value1 HTTP/1.1\nHost:example.amazonaws.com\nX-Amz-Date:20150830T123600Z",
		signedHeaders: "host;x-amz-date",
		signature:     "5772eed61e12b33fae39ee5e7012498b51d56abc0abb7c60486157bd471c4694",
	},
	{
		name:          "get-vanilla-query-unreserved",
		req:           "GET /?-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz HTTP/1.1\nHost:example.amazonaws.com\nX-Amz-Date:20150830T123600Z",
		signedHeaders: "host;x-amz-date",
		signature:     "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197",
		creq:          "GET\n/\n-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" + emptySHA256,
	},
	{
		name:          "get-vanilla-utf8-query",
		req:           "GET /?ሴ=bar HTTP/1.1\nHost:example.amazonaws.com\nX-Amz-Date:20150830T123600Z",
		signedHeaders: "host;x-amz-date",
		signature:     "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04",
		creq:          "GET\n/\n%E1%88%B4=bar\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" + emptySHA256,
	},
	{
		name:          "get-vanilla-empty-query-key",
		req:           "GET /?Param1=value1 HTTP/1.1\nHost:example.amazonaws.com\nX-Amz-Date:20150830T123600Z",
		signedHeaders: "host;x-amz-date",
		signature:     "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb",
	},
	{
		name:          "get-header-key-duplicate",
		req:           "GET / HTTP/1.1\nHost:example.amazonaws.com\nMy-Header1:value2\nMy-Header1:value2\nMy-Header1:value1\nX-Amz-Date:20150830T123600Z",
		signedHeaders: "host;my-header1;x-amz-date",
		signature:     "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea",
		creq:          "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value2,value2,value1\nx-amz-date:20150830T123600Z\n\nhost;my-header1;x-amz-date\n" + emptySHA256,
	},
	{
		name:          "get-header-value-order",
		req:           "GET / HTTP/1.1\nHost:example.amazonaws.com\nMy-Header1:value4\nMy-Header1:value1\nMy-Header1:value3\nMy-Header1:value2\nX-Amz-Date:20150830T123600Z",
		signedHeaders: "host;my-header1;x-amz-date",
		signature:     "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01",
	},
	{
		name:          "get-header-value-trim",
		req:           "GET / HTTP/1.1\nHost:example.amazonaws.com\nMy-Header1: value1\nMy-Header2: \"a   b   c\"\nX-Amz-Date:20150830T123600Z",
		signedHeaders: "host;my-header1;my-header2;x-amz-date",
		signature:     "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736",
		creq:          "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\nmy-header2:\"a b c\"\nx-amz-date:20150830T123600Z\n\nhost;my-header1;my-header2;x-amz-date\n" + emptySHA256,
	},
	{
		// The suite folds My-Header1 over three lines and canonicalises it as
		// "value1,value2,value3". Go's reader unfolds obs-fold continuation lines into one
		// value joined by spaces (RFC 9112 §5.2), losing the line breaks, so we hand Verify
		// the three lines as the separate field values the vector's canonical form encodes.
		name:          "get-header-value-multiline",
		req:           "GET / HTTP/1.1\nHost:example.amazonaws.com\nMy-Header1:value1\n  value2\n     value3\nX-Amz-Date:20150830T123600Z",
		signedHeaders: "host;my-header1;x-amz-date",
		signature:     "ba17b383a53190154eb5fa66a1b836cc297cc0a3d70a5d00705980573d8ff790",
		creq:          "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value1,value2,value3\nx-amz-date:20150830T123600Z\n\nhost;my-header1;x-amz-date\n" + emptySHA256,
		adjust: func(r *http.Request) {
			r.Header["My-Header1"] = strings.Split(r.Header.Get("My-Header1"), " ")
		},
	},
	{
		name:          "get-unreserved",
		req:           "GET /-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz HTTP/1.1\nHost:example.amazonaws.com\nX-Amz-Date:20150830T123600Z",
		signedHeaders: "host;x-amz-date",
		signature:     "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f",
	},
	{
		name:          "get-utf8",
		req:           "GET /ሴ HTTP/1.1\nHost:example.amazonaws.com\nX-Amz-Date:20150830T123600Z",
		signedHeaders: "host;x-amz-date",
		signature:     "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85",
		creq:          "GET\n/%E1%88%B4\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" + emptySHA256,
	},
	{
		// The suite's request line carries a raw space ("GET /example space/ HTTP/1.1"),
		// which Go's parser rejects as a malformed HTTP version. We parse the request with
		// the space escaped and then give Verify the target as the vector sends it, as a
		// more lenient front end would. (A client that sends %20 signs "%2520", as the
		// SDK round-trip test checks.)
		name:          "get-space",
		req:           "GET /example%20space/ HTTP/1.1\nHost:example.amazonaws.com\nX-Amz-Date:20150830T123600Z",
		signedHeaders: "host;x-amz-date",
		signature:     "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741",
		creq:          "GET\n/example%20space/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" + emptySHA256,
		adjust:        func(r *http.Request) { r.RequestURI = "/example space/" },
	},
	{
		name:          "get-slash",
		req:           "GET // HTTP/1.1\nHost:example.amazonaws.com\nX-Amz-Date:20150830T123600Z",
		signedHeaders: "host;x-amz-date",
		signature:     "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
	},
	{
		name:          "get-slashes",
		req:           "GET //example// HTTP/1.1\nHost:example.amazonaws.com\nX-Amz-Date:20150830T123600Z",
		signedHeaders: "host;x-amz-date",
		signature:     "9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84",
		creq:          "GET\n/example/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" + emptySHA256,
	},
	{
		name:          "get-slash-dot-slash",
		req:           "GET /./ HTTP/1.1\nHost:example.amazonaws.com\nX-Amz-Date:20150830T123600Z",
		signedHeaders: "host;x-amz-date",
		signature:     "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
	},
	{
		name:          "get-slash-pointless-dot",
		req:           "GET /./example HTTP/1.1\nHost:example.amazonaws.com\nX-Amz-Date:20150830T123600Z",
		signedHeaders: "host;x-amz-date",
		signature:     "ef75d96142cf21edca26f06005da7988e4f8dc83a165a80865db7089db637ec5",
	},
	{
		name:          "get-relative",
		req:           "GET /example/.. HTTP/1.1\nHost:example.amazonaws.com\nX-Amz-Date:20150830T123600Z",
		signedHeaders: "host;x-amz-date",
		signature:     "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
		creq:          "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" + emptySHA256,
	},
	{
		name:          "get-relative-relative",
		req:           "GET /example1/example2/../.. HTTP/1.1\nHost:example.amazonaws.com\nX-Amz-Date:20150830T123600Z",
		signedHeaders: "host;x-amz-date",
		signature:     "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
	},
	{
		name:          "post-vanilla",
		req:           "POST / HTTP/1.1\nHost:example.amazonaws.com\nX-Amz-Date:20150830T123600Z",
		signedHeaders: "host;x-amz-date",
		signature:     "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
	},
	{
		name:          "post-header-key-sort",
		req:           "POST / HTTP/1.1\nHost:example.amazonaws.com\nMy-Header1:value1\nX-Amz-Date:20150830T123600Z",
		signedHeaders: "host;my-header1;x-amz-date",
		signature:     "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c",
	},
	{
		name:          "post-header-value-case",
		req:           "POST / HTTP/1.1\nHost:example.amazonaws.com\nMy-Header1:VALUE1\nX-Amz-Date:20150830T123600Z",
		signedHeaders: "host;my-header1;x-amz-date",
		signature:     "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d",
		creq:          "POST\n/\n\nhost:example.amazonaws.com\nmy-header1:VALUE1\nx-amz-date:20150830T123600Z\n\nhost;my-header1;x-amz-date\n" + emptySHA256,
	},
	{
		name:          "post-vanilla-query",
		req:           "POST /?Param1=value1 HTTP/1.1\nHost:example.amazonaws.com\nX-Amz-Date:20150830T123600Z",
		signedHeaders: "host;x-amz-date",
		signature:     "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11",
	},
	{
		name:          "post-x-www-form-urlencoded",
		req:           "POST / HTTP/1.1\nContent-Type:application/x-www-form-urlencoded\nHost:example.amazonaws.com\nX-Amz-Date:20150830T123600Z\nContent-Length:13\n\nParam1=value1",
		signedHeaders: "content-type;host;x-amz-date",
		signature:     "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a",
		// The .creq lists content-length although the .authz does not sign it; the
		// canonical-request test uses the .creq's own list.
		creq: "POST\n/\n\ncontent-length:13\ncontent-type:application/x-www-form-urlencoded\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\ncontent-length;content-type;host;x-amz-date\n9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
	},
	{
		name:          "post-sts-header-before",
		req:           "POST / HTTP/1.1\nHost:example.amazonaws.com\nX-Amz-Date:20150830T123600Z\nX-Amz-Security-Token:AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==",
		signedHeaders: "host;x-amz-date;x-amz-security-token",
		signature:     "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead",
	},
}

// suiteCanonicalOnly are vectors whose canonical request is checked but whose signature
// is not: post-x-www-form-urlencoded-parameters' .authz signature was computed over
// "charset=utf8" without content-length (as its .sreq shows), contradicting its .req
// and .creq, so no correct verifier accepts it.
var suiteCanonicalOnly = []suiteVector{
	{
		name: "post-x-www-form-urlencoded-parameters",
		req:  "POST / HTTP/1.1\nContent-Type:application/x-www-form-urlencoded; charset=utf-8\nHost:example.amazonaws.com\nX-Amz-Date:20150830T123600Z\nContent-Length:13\n\nParam1=value1",
		creq: "POST\n/\n\ncontent-length:13\ncontent-type:application/x-www-form-urlencoded; charset=utf-8\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\ncontent-length;content-type;host;x-amz-date\n9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
	},
}

// readVector parses the vector's request as a Go server would receive it and signs it
// with the vector's Authorization header.
func readVector(t *testing.T, vec suiteVector) (*http.Request, []byte) {
	t.Helper()
	raw := vec.req
	if !strings.Contains(raw, "\n\n") {
		raw += "\n\n" // the .req files of body-less requests stop after the last header
	}
	r, body := readWire(t, raw)
	if vec.adjust != nil {
		vec.adjust(r)
	}
	r.Header.Set("Authorization", fmt.Sprintf("AWS4-HMAC-SHA256 Credential=%s/20150830/%s/%s/aws4_request, SignedHeaders=%s, Signature=%s",
		suiteAccessKey, suiteRegion, suiteService, vec.signedHeaders, vec.signature))
	return r, body
}

// readWire parses raw HTTP/1.1 request bytes the way net/http's server does.
func readWire(t testing.TB, raw string) (*http.Request, []byte) {
	t.Helper()
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
	if err != nil {
		t.Fatalf("parsing request: %v", err)
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	return r, body
}

func suiteVerifier() *Verifier {
	return &Verifier{
		Region: suiteRegion,
		Keys:   staticKeys{suiteAccessKey: suiteSecret},
		Now:    func() time.Time { return suiteTime },
	}
}

func TestVerifySuiteVectors(t *testing.T) {
	t.Parallel()
	v := suiteVerifier()
	for _, vec := range suiteVectors {
		t.Run(vec.name, func(t *testing.T) {
			t.Parallel()
			r, body := readVector(t, vec)
			id, err := v.Verify(r, body, suiteService)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if id != suiteAccessKey {
				t.Fatalf("access key id = %q, want %q", id, suiteAccessKey)
			}
		})
	}
}

func TestVerifySuiteVectorsTampered(t *testing.T) {
	t.Parallel()
	tampers := []struct {
		name   string
		tamper func(r *http.Request, body []byte) []byte
	}{
		{"signature", func(r *http.Request, body []byte) []byte {
			auth := r.Header.Get("Authorization")
			last := auth[len(auth)-1]
			flipped := "0"
			if last == '0' {
				flipped = "1"
			}
			r.Header.Set("Authorization", auth[:len(auth)-1]+flipped)
			return body
		}},
		{"host header", func(r *http.Request, body []byte) []byte {
			r.Host = "example.amazonaws.org"
			return body
		}},
		{"date header", func(r *http.Request, body []byte) []byte {
			r.Header.Set("X-Amz-Date", "20150830T123601Z")
			return body
		}},
		{"body", func(r *http.Request, body []byte) []byte { return append(body, 'x') }},
		{"method", func(r *http.Request, body []byte) []byte {
			r.Method = map[string]string{"GET": "POST", "POST": "GET"}[r.Method]
			return body
		}},
	}
	v := suiteVerifier()
	for _, vec := range suiteVectors {
		for _, tc := range tampers {
			t.Run(vec.name+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				r, body := readVector(t, vec)
				body = tc.tamper(r, body)
				_, err := v.Verify(r, body, suiteService)
				if err == nil || err.Code != "InvalidSignatureException" || err.Status != http.StatusForbidden {
					t.Fatalf("Verify = %v, want a 403 InvalidSignatureException", err)
				}
			})
		}
	}
}

func TestCanonicalRequestSuiteVectors(t *testing.T) {
	t.Parallel()
	checked := 0
	for _, vec := range append(slices.Clone(suiteVectors), suiteCanonicalOnly...) {
		if vec.creq == "" {
			continue
		}
		checked++
		t.Run(vec.name, func(t *testing.T) {
			r, body := readVector(t, vec)
			lines := strings.Split(vec.creq, "\n")
			signedHeaders := lines[len(lines)-2] // the .creq's own list, which for some vectors differs from the .authz's
			sum := sha256.Sum256(body)
			got := string(appendCanonicalRequest(nil, r, signedHeaders, []byte(hex.EncodeToString(sum[:]))))
			if got != vec.creq {
				t.Fatalf("canonical request:\n%s\nwant:\n%s", got, vec.creq)
			}
		})
	}
	if checked < 5 {
		t.Fatalf("only %d vectors carry a canonical request", checked)
	}
}

func TestCanonicalURI(t *testing.T) {
	t.Parallel()
	tests := []struct{ path, want string }{
		{"", "/"},
		{"/", "/"},
		{"//", "/"},
		{"/a/b", "/a/b"},
		{"/a//b///c", "/a/b/c"},
		{"/a/b/", "/a/b/"},
		{"/a/./b/../c", "/a/c"},
		{"/a/b/..", "/a/"},
		{"/a/b/.", "/a/b/"},
		{"/..", "/"},
		{"/../../a", "/a"},
		{"/example space/", "/example%20space/"},
		{"/a%20b", "/a%2520b"}, // escapes on the wire are encoded again, as the SDK signs
		{"/a:b@c+d", "/a%3Ab%40c%2Bd"},
		{"/-._~AZaz09", "/-._~AZaz09"},
		{"/ሴ", "/%E1%88%B4"},
		{"/%2E%2E/a", "/%252E%252E/a"}, // an escaped dot segment is not a dot segment
		{strings.Repeat("/a", 40), strings.Repeat("/a", 40)},
	}
	for _, tc := range tests {
		if got := string(appendCanonicalURI(nil, tc.path)); got != tc.want {
			t.Errorf("canonical URI of %q = %q, want %q", tc.path, got, tc.want)
		}
	}
}

func TestCanonicalQuery(t *testing.T) {
	t.Parallel()
	tests := []struct{ raw, want string }{
		{"", ""},
		{"b=2&a=1", "a=1&b=2"},
		{"a=2&a=1&a=10", "a=1&a=10&a=2"},
		{"Param1=value1&param1=x", "Param1=value1&param1=x"},
		{"a", "a="},
		{"a=", "a="},
		{"=v", "=v"},
		{"a=b+c", "a=b%20c"},
		{"a=b%2Bc", "a=b%2Bc"},
		{"a=b%2bc", "a=b%2Bc"},
		{"k=%E1%88%b4", "k=%E1%88%B4"},
		{"k=a/b:c", "k=a%2Fb%3Ac"},
		{"a=%zz&b=1", "b=1"},                       // url.ParseQuery drops a bad escape
		{"a;b=1&c=2", "c=2"},                       // and a pair with a semicolon
		{"&&a=1&", "a=1"},                          // and empty pairs
		{"x-amz-signature=s", "x-amz-signature=s"}, // excluded only from presigned URLs
	}
	for _, tc := range tests {
		if got := string(appendCanonicalQuery(nil, tc.raw)); got != tc.want {
			t.Errorf("canonical query of %q = %q, want %q", tc.raw, got, tc.want)
		}
	}
}

func TestCanonicalHeaderKeyMatchesTextproto(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"host", "x-amz-date", "X-AMZ-DATE", "content-type", "my_header", "a--b", "-x", "x-", "bad header", "ümlaut", "x:y", ""} {
		want := textproto.CanonicalMIMEHeaderKey(name)
		if got := string(appendCanonicalHeaderKey(nil, name)); got != want {
			t.Errorf("canonical key of %q = %q, want %q as net/http keys it", name, got, want)
		}
	}
}

func TestHMACSHA256MatchesCryptoHMAC(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, 55, 56, 63, 64, 65, 191, 192, 255, 256, 257, 1000} {
		key := sha256.Sum256([]byte{byte(n)})
		msg := bytes.Repeat([]byte{byte(n), 'x', 0xff}, n)[:n]
		mac := hmac.New(sha256.New, key[:])
		mac.Write(msg)
		want := mac.Sum(nil)
		if got := hmacSHA256(&key, msg); !bytes.Equal(got[:], want) {
			t.Errorf("hmacSHA256 of %d bytes = %x, want %x", n, got, want)
		}
	}
}

func TestSigningKeyCache(t *testing.T) {
	t.Parallel()
	scope := signingScope{"AKID", "20150830", "us-east-1", "ecs"}

	t.Run("rotated secret", func(t *testing.T) {
		var c signingKeyCache
		first := c.get(scope, "old-secret")
		if again := c.get(scope, "old-secret"); again != first {
			t.Fatalf("cached key changed: %x then %x", first, again)
		}
		if rotated := c.get(scope, "new-secret"); rotated != deriveSigningKey("new-secret", scope) {
			t.Fatalf("after rotation got %x, want the new secret's key", rotated)
		}
	})
	t.Run("bounded", func(t *testing.T) {
		var c signingKeyCache
		for i := range maxCachedSigningKeys + 50 {
			s := scope
			s.accessKeyID = fmt.Sprint("AKID", i)
			c.get(s, "secret")
		}
		if n := len(c.keys); n > maxCachedSigningKeys {
			t.Fatalf("cache holds %d keys, want at most %d", n, maxCachedSigningKeys)
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		var c signingKeyCache
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				for i := range 200 {
					s := scope
					s.accessKeyID = fmt.Sprint("AKID", (g+i)%20)
					if got, want := c.get(s, "secret"), deriveSigningKey("secret", s); got != want {
						t.Errorf("key for %s = %x, want %x", s.accessKeyID, got, want)
						return
					}
				}
			})
		}
		wg.Wait()
	})
}

// referenceSignature signs a canonical request written out by hand, with crypto/hmac, so
// that tests of request shapes the SDK cannot produce do not trust the code under test.
func referenceSignature(secret, amzDate, scope, creq string) string {
	mac := func(key []byte, data string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(data))
		return m.Sum(nil)
	}
	key := []byte("AWS4" + secret)
	for part := range strings.SplitSeq(scope, "/") {
		key = mac(key, part)
	}
	creqHash := sha256.Sum256([]byte(creq))
	return hex.EncodeToString(mac(key, "AWS4-HMAC-SHA256\n"+amzDate+"\n"+scope+"\n"+hex.EncodeToString(creqHash[:])))
}

func TestVerifyDateHeader(t *testing.T) {
	t.Parallel()
	const raw = "GET / HTTP/1.1\r\nHost: example.amazonaws.com\r\nDate: Sun, 30 Aug 2015 12:36:00 GMT\r\n\r\n"
	creq := "GET\n/\n\ndate:Sun, 30 Aug 2015 12:36:00 GMT\nhost:example.amazonaws.com\n\ndate;host\n" + emptySHA256
	sig := referenceSignature(suiteSecret, "20150830T123600Z", "20150830/us-east-1/service/aws4_request", creq)
	auth := func(signed string) string {
		return "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=" + signed + ", Signature=" + sig
	}
	tests := []struct {
		name     string
		signed   string
		date     string
		wantCode string
	}{
		{"signed with Date", "date;host", "", ""},
		{"Date not signed", "host", "", "IncompleteSignatureException"},
		{"Date unparseable", "date;host", "yesterday", "IncompleteSignatureException"},
		{"Date altered", "date;host", "Sun, 30 Aug 2015 12:36:01 GMT", "InvalidSignatureException"},
	}
	v := suiteVerifier()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, body := readWire(t, raw)
			r.Header.Set("Authorization", auth(tc.signed))
			if tc.date != "" {
				r.Header.Set("Date", tc.date)
			}
			_, err := v.Verify(r, body, suiteService)
			if got := errCode(err); got != tc.wantCode {
				t.Fatalf("Verify = %v, want code %q", err, tc.wantCode)
			}
		})
	}
}

func errCode(err *Error) string {
	if err == nil {
		return ""
	}
	return err.Code
}

// signOptions describes a request signed by the AWS SDK's own signer.
type signOptions struct {
	accessKey, secret, region, service string
	at                                 time.Time
	path                               string // path and query, "/" by default
	body                               string
	header                             http.Header // extra headers set before signing
}

var sdkSignTime = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

const (
	sdkAccessKey = "AKIAGANTRYEXAMPLE"
	sdkSecret    = "gantry/secret+key/EXAMPLE0123456789abcdefg"
	ecsTarget    = "AmazonEC2ContainerServiceV20141113.RunTask"
	ecsBody      = `{"cluster":"default","taskDefinition":"web:3","count":1,"launchType":"EC2"}`
)

func defaultSignOptions() signOptions {
	return signOptions{
		accessKey: sdkAccessKey, secret: sdkSecret, region: "us-east-1", service: "ecs",
		at: sdkSignTime, path: "/", body: ecsBody,
	}
}

// newSDKRequest builds the client-side request an aws-sdk-go-v2 ECS client sends.
func newSDKRequest(t testing.TB, o signOptions) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "https://ecs.us-east-1.amazonaws.com"+o.path, strings.NewReader(o.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", ecsTarget)
	req.Header.Set("Amz-Sdk-Invocation-Id", "8c7e4b4e-5c2b-4f39-9d0e-2f6f0b6f1b1a")
	req.Header.Set("Amz-Sdk-Request", "attempt=1; max=3")
	for k, vs := range o.header {
		req.Header[k] = vs
	}
	return req
}

func payloadSHA256(body string) string {
	sum := sha256.Sum256([]byte(body))
	return hex.EncodeToString(sum[:])
}

// sdkSignedRequest signs a request with aws-sdk-go-v2's SigV4 signer and returns it as
// the server receives it (written to the wire and parsed back).
func sdkSignedRequest(t testing.TB, o signOptions) (*http.Request, []byte) {
	t.Helper()
	req := newSDKRequest(t, o)
	payloadHash := payloadSHA256(o.body)
	if h := req.Header.Get("X-Amz-Content-Sha256"); h != "" {
		payloadHash = h
	}
	creds := aws.Credentials{AccessKeyID: o.accessKey, SecretAccessKey: o.secret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, payloadHash, o.service, o.region, o.at); err != nil {
		t.Fatalf("signing: %v", err)
	}
	var wire bytes.Buffer
	if err := req.Write(&wire); err != nil {
		t.Fatalf("writing request: %v", err)
	}
	return readWire(t, wire.String())
}

func sdkVerifier(now time.Time) *Verifier {
	return &Verifier{
		Region: "us-east-1",
		Keys:   staticKeys{sdkAccessKey: sdkSecret, "AKIDOTHER": "other-secret"},
		Now:    func() time.Time { return now },
	}
}

func TestVerifySDKSignedRequests(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		modify func(*signOptions)
	}{
		{"typical ECS call", func(*signOptions) {}},
		{"empty body", func(o *signOptions) { o.body = "" }},
		{"path with space and utf-8", func(o *signOptions) { o.path = "/example%20space/%E1%88%B4" }},
		{"path with reserved characters", func(o *signOptions) { o.path = "/a:b@c/d+e" }},
		{"query string", func(o *signOptions) { o.path = "/?b=2&a=1&a=0&c=x%20y&d=p+q&e=%2F" }},
		{"signed payload header", func(o *signOptions) {
			o.header = http.Header{"X-Amz-Content-Sha256": {payloadSHA256(o.body)}}
		}},
		{"unsigned payload", func(o *signOptions) {
			o.header = http.Header{"X-Amz-Content-Sha256": {"UNSIGNED-PAYLOAD"}}
		}},
		{"header with repeated spaces", func(o *signOptions) {
			o.header = http.Header{"X-Custom": {"  a   b  ", "c"}}
		}},
	}
	v := sdkVerifier(sdkSignTime)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := defaultSignOptions()
			tc.modify(&o)
			r, body := sdkSignedRequest(t, o)
			id, err := v.Verify(r, body, "ecs")
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if id != sdkAccessKey {
				t.Fatalf("access key id = %q, want %q", id, sdkAccessKey)
			}
		})
	}
}

const (
	msgMismatch = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method."
)

func TestVerifyRejects(t *testing.T) {
	t.Parallel()
	editAuth := func(old, new string) func(*http.Request) {
		return func(r *http.Request) {
			auth := r.Header.Get("Authorization")
			if !strings.Contains(auth, old) {
				panic(fmt.Sprintf("Authorization %q has no %q", auth, old))
			}
			r.Header.Set("Authorization", strings.Replace(auth, old, new, 1))
		}
	}
	setAuth := func(auth string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", auth) }
	}
	tests := []struct {
		name    string
		sign    func(*signOptions)  // how the client signs
		tamper  func(*http.Request) // what happens to the request on the way
		body    string              // the body the server reads, if not the signed one
		now     time.Time           // the server's clock, if not the signing time
		skew    time.Duration       // Verifier.MaxSkew
		code    string              // "" for a request that must pass
		status  int                 // 403 unless set
		message string              // exact message, when it matters
	}{
		{name: "missing authorization", tamper: func(r *http.Request) { r.Header.Del("Authorization") },
			code: "MissingAuthenticationTokenException", message: "Missing Authentication Token"},
		{name: "presigned url", tamper: func(r *http.Request) {
			r.Header.Del("Authorization")
			r.URL.RawQuery = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=x"
		}, code: "IncompleteSignatureException"},
		{name: "two authorization headers", tamper: func(r *http.Request) {
			r.Header.Add("Authorization", r.Header.Get("Authorization"))
		}, code: "IncompleteSignatureException"},
		{name: "unknown access key", sign: func(o *signOptions) { o.accessKey = "AKIDUNKNOWN" },
			code: "UnrecognizedClientException", message: "The security token included in the request is invalid."},
		{name: "wrong secret", sign: func(o *signOptions) { o.secret = "not-the-secret" },
			code: "InvalidSignatureException", message: msgMismatch},
		{name: "another key's secret", sign: func(o *signOptions) { o.accessKey = "AKIDOTHER" },
			code: "InvalidSignatureException", message: msgMismatch},
		{name: "expired", now: sdkSignTime.Add(15*time.Minute + time.Second),
			code:    "InvalidSignatureException",
			message: "Signature expired: 20260301T100000Z is now earlier than 20260301T100001Z (20260301T101501Z - 15 min.)"},
		{name: "expired with custom skew", now: sdkSignTime.Add(2 * time.Minute), skew: time.Minute,
			code:    "InvalidSignatureException",
			message: "Signature expired: 20260301T100000Z is now earlier than 20260301T100100Z (20260301T100200Z - 1 min.)"},
		{name: "just within skew", now: sdkSignTime.Add(15 * time.Minute)},
		{name: "not yet current", now: sdkSignTime.Add(-15*time.Minute - time.Second),
			code:    "InvalidSignatureException",
			message: "Signature not yet current: 20260301T100000Z is still later than 20260301T095959Z (20260301T094459Z + 15 min.)"},
		{name: "wrong region", sign: func(o *signOptions) { o.region = "eu-west-1" },
			code: "InvalidSignatureException", message: "Credential should be scoped to a valid region, not 'eu-west-1'."},
		{name: "wrong service", sign: func(o *signOptions) { o.service = "s3" },
			code: "InvalidSignatureException", message: "Credential should be scoped to correct service: 'ecs'."},
		{name: "scope date differs from X-Amz-Date", tamper: editAuth("/20260301/", "/20260302/"),
			code:    "InvalidSignatureException",
			message: "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20260302' != '20260301', from '20260301T100000Z'."},
		{name: "bad terminator", tamper: editAuth("/aws4_request", "/aws5_request"),
			code: "InvalidSignatureException", message: "Credential should be scoped with a valid terminator: 'aws4_request', not 'aws5_request'."},
		{name: "tampered body", body: strings.Replace(ecsBody, `"count":1`, `"count":9`, 1),
			code: "InvalidSignatureException", message: msgMismatch},
		{name: "tampered signed header", tamper: func(r *http.Request) {
			r.Header.Set("X-Amz-Target", "AmazonEC2ContainerServiceV20141113.DeleteCluster")
		}, code: "InvalidSignatureException", message: msgMismatch},
		{name: "tampered path", tamper: func(r *http.Request) { r.RequestURI = "/other" },
			code: "InvalidSignatureException", message: msgMismatch},
		{name: "tampered query", tamper: func(r *http.Request) { r.URL.RawQuery = "a=1" },
			code: "InvalidSignatureException", message: msgMismatch},
		{name: "unsigned header added", tamper: func(r *http.Request) { r.Header.Set("X-Forwarded-For", "10.0.0.1") }},
		{name: "signature in upper case", tamper: func(r *http.Request) {
			auth := r.Header.Get("Authorization")
			i := strings.Index(auth, "Signature=") + len("Signature=")
			r.Header.Set("Authorization", auth[:i]+strings.ToUpper(auth[i:]))
		}, code: "InvalidSignatureException", message: msgMismatch},
		{name: "signature truncated", tamper: func(r *http.Request) {
			auth := r.Header.Get("Authorization")
			r.Header.Set("Authorization", auth[:len(auth)-2])
		}, code: "InvalidSignatureException", message: msgMismatch},
		{name: "payload hash header does not match body",
			sign: func(o *signOptions) { o.header = http.Header{"X-Amz-Content-Sha256": {payloadSHA256(o.body)}} },
			body: "{}", code: "XAmzContentSHA256Mismatch", status: http.StatusBadRequest},
		{name: "unsupported algorithm", tamper: editAuth("AWS4-HMAC-SHA256 ", "AWS4-ECDSA-P256-SHA256 "),
			code: "IncompleteSignatureException", message: "Authorization header uses unsupported algorithm 'AWS4-ECDSA-P256-SHA256'; only AWS4-HMAC-SHA256 is accepted"},
		{name: "bearer token", tamper: setAuth("Bearer abc.def"),
			code: "IncompleteSignatureException", message: "Authorization header uses unsupported algorithm 'Bearer'; only AWS4-HMAC-SHA256 is accepted"},
		{name: "bare token is not echoed", tamper: setAuth("c2VjcmV0LXRva2Vu"),
			code: "IncompleteSignatureException", message: "Authorization header must start with AWS4-HMAC-SHA256 followed by Credential, SignedHeaders and Signature"},
		{name: "missing Credential", tamper: setAuth("AWS4-HMAC-SHA256 SignedHeaders=host;x-amz-date, Signature=abcd"),
			code: "IncompleteSignatureException", message: "Authorization header requires 'Credential' parameter."},
		{name: "missing SignedHeaders", tamper: setAuth("AWS4-HMAC-SHA256 Credential=" + sdkAccessKey + "/20260301/us-east-1/ecs/aws4_request, Signature=abcd"),
			code: "IncompleteSignatureException", message: "Authorization header requires 'SignedHeaders' parameter."},
		{name: "missing Signature", tamper: setAuth("AWS4-HMAC-SHA256 Credential=" + sdkAccessKey + "/20260301/us-east-1/ecs/aws4_request, SignedHeaders=host;x-amz-date"),
			code: "IncompleteSignatureException", message: "Authorization header requires 'Signature' parameter."},
		{name: "duplicate Signature", tamper: func(r *http.Request) {
			r.Header.Set("Authorization", r.Header.Get("Authorization")+", Signature=abcd")
		}, code: "IncompleteSignatureException", message: "Authorization header has more than one 'Signature' parameter"},
		{name: "unknown parameter", tamper: editAuth(", Signature=", ", Nonce=1, Signature="),
			code: "IncompleteSignatureException", message: "Authorization header has unexpected parameter 'Nonce'; expected Credential, SignedHeaders and Signature"},
		{name: "credential with four elements", tamper: editAuth("/us-east-1/ecs/", "/us-east-1/"),
			code:    "IncompleteSignatureException",
			message: "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '" + sdkAccessKey + "/20260301/us-east-1/aws4_request'"},
		{name: "credential with empty element", tamper: editAuth("/us-east-1/", "//"),
			code: "IncompleteSignatureException"},
		{name: "empty signed header name", tamper: editAuth("SignedHeaders=", "SignedHeaders=;"),
			code: "IncompleteSignatureException"},
		{name: "host not signed", tamper: editAuth("host;", ""),
			code: "IncompleteSignatureException", message: "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."},
		{name: "x-amz-date not signed", tamper: editAuth(";x-amz-date", ""),
			code: "IncompleteSignatureException"},
		{name: "missing X-Amz-Date", tamper: func(r *http.Request) { r.Header.Del("X-Amz-Date") },
			code: "IncompleteSignatureException", message: "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."},
		{name: "unparseable X-Amz-Date", tamper: func(r *http.Request) { r.Header.Set("X-Amz-Date", "2026-03-01T10:00:00Z") },
			code: "IncompleteSignatureException", message: "X-Amz-Date header '2026-03-01T10:00:00Z' is not an ISO 8601 basic timestamp such as 20150830T123600Z"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := defaultSignOptions()
			if tc.sign != nil {
				tc.sign(&o)
			}
			r, body := sdkSignedRequest(t, o)
			if tc.tamper != nil {
				tc.tamper(r)
			}
			if tc.body != "" {
				body = []byte(tc.body)
			}
			now := sdkSignTime
			if !tc.now.IsZero() {
				now = tc.now
			}
			v := sdkVerifier(now)
			v.MaxSkew = tc.skew
			id, err := v.Verify(r, body, "ecs")
			if tc.code == "" {
				if err != nil || id != sdkAccessKey {
					t.Fatalf("Verify = %q, %v; want %q, nil", id, err, sdkAccessKey)
				}
				return
			}
			if err == nil {
				t.Fatalf("Verify accepted the request as %q, want %s", id, tc.code)
			}
			status := tc.status
			if status == 0 {
				status = http.StatusForbidden
			}
			if err.Code != tc.code || err.Status != status {
				t.Fatalf("Verify = %d %v, want %d %s", err.Status, err, status, tc.code)
			}
			if tc.message != "" && err.Message != tc.message {
				t.Fatalf("message = %q\nwant      %q", err.Message, tc.message)
			}
			if err.Message == "" {
				t.Fatal("empty error message")
			}
			if id != "" {
				t.Fatalf("rejected request still returned access key id %q", id)
			}
		})
	}
}

func FuzzParseAuthorization(f *testing.F) {
	for _, vec := range suiteVectors[:3] {
		f.Add("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=" + vec.signedHeaders + ", Signature=" + vec.signature)
	}
	for _, seed := range []string{
		"AWS4-HMAC-SHA256 Credential=AKID/20260301/us-east-1/ecs/aws4_request,SignedHeaders=host;x-amz-date,Signature=00",
		"AWS4-HMAC-SHA256 Credential=AKID/20260301/us-east-1/ecs/aws4_request, SignedHeaders=host, Signature=",
		"AWS4-HMAC-SHA256 Credential=AKID/20260301/us-east-1/ecs, SignedHeaders=host, Signature=ab",
		"AWS4-HMAC-SHA256 Credential=/////, SignedHeaders=;, Signature=ab",
		"AWS4-HMAC-SHA256 Credential=a/b/c/d/e, Credential=a/b/c/d/e",
		"AWS4-HMAC-SHA256 SignedHeaders=host, Signature=ab",
		"AWS4-HMAC-SHA256 ",
		"AWS4-HMAC-SHA256",
		"AWS4-ECDSA-P256-SHA256 Credential=a/b/c/d/e",
		"Bearer token",
		"AWS AKIDEXAMPLE:c2lnbmF0dXJl",
		"",
		",,,",
		"AWS4-HMAC-SHA256 ,=,==,Signature==",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, header string) {
		a, err := parseAuthorization(header)
		if err != nil {
			if err.Code != "IncompleteSignatureException" || err.Status != http.StatusForbidden || err.Message == "" {
				t.Fatalf("parse error %d %v, want a 403 IncompleteSignatureException with a message", err.Status, err)
			}
			return
		}
		if a.accessKeyID == "" || a.signedHeaders == "" || a.signature == "" {
			t.Fatalf("parsed %q into %+v with an empty access key id, signed headers or signature", header, a)
		}
		for _, part := range []string{a.accessKeyID, a.date, a.region, a.service, a.terminator} {
			if part == "" || strings.Contains(part, "/") {
				t.Fatalf("parsed %q into credential scope element %q", header, part)
			}
		}
		if !validSignedHeaders(a.signedHeaders) {
			t.Fatalf("parsed %q into signed headers %q", header, a.signedHeaders)
		}
		// What parsed must print back to a header that parses the same.
		again, err := parseAuthorization(fmt.Sprintf("AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/%s, SignedHeaders=%s, Signature=%s",
			a.accessKeyID, a.date, a.region, a.service, a.terminator, a.signedHeaders, a.signature))
		if err != nil || again != a {
			t.Fatalf("parsed %q into %+v, but its canonical form parses into %+v, %v", header, a, again, err)
		}
	})
}

// BenchmarkVerify verifies one typical signed ECS call, serially and on all cores. Its
// peer is the SDK signing the same request on the same machine: "verify" reports its
// time as a multiple of that (x-sdk-sign).
func BenchmarkVerify(b *testing.B) {
	o := defaultSignOptions()
	r, body := sdkSignedRequest(b, o)
	v := sdkVerifier(sdkSignTime)
	if _, err := v.Verify(r, body, "ecs"); err != nil {
		b.Fatal(err)
	}
	perOp := func(b *testing.B) float64 { return float64(b.Elapsed().Nanoseconds()) / float64(b.N) }

	var signNs float64
	b.Run("sdk-sign", func(b *testing.B) {
		req := newSDKRequest(b, o)
		signer := v4.NewSigner()
		creds := aws.Credentials{AccessKeyID: o.accessKey, SecretAccessKey: o.secret}
		payloadHash := payloadSHA256(o.body)
		b.ReportAllocs()
		for b.Loop() {
			if err := signer.SignHTTP(context.Background(), creds, req, payloadHash, o.service, o.region, o.at); err != nil {
				b.Fatal(err)
			}
		}
		signNs = perOp(b)
	})
	b.Run("verify", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Verify(r, body, "ecs"); err != nil {
				b.Fatal(err)
			}
		}
		if signNs > 0 {
			b.ReportMetric(perOp(b)/signNs, "x-sdk-sign")
		}
	})
	b.Run("verify-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := v.Verify(r, body, "ecs"); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
