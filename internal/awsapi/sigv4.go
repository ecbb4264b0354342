package awsapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	sigV4Algorithm  = "AWS4-HMAC-SHA256"
	sigV4Terminator = "aws4_request"
	amzDateLayout   = "20060102T150405Z"
	unsignedPayload = "UNSIGNED-PAYLOAD"

	// defaultMaxSkew is the clock skew AWS tolerates between signer and server.
	defaultMaxSkew = 15 * time.Minute
	// maxCachedSigningKeys bounds the derived-key cache. A key lives for one UTC day, so
	// this is roughly the number of access keys that can be active at once without misses.
	maxCachedSigningKeys = 1024
)

// Keys looks up the secret of an access key id.
type Keys interface {
	SecretFor(accessKeyID string) (secret string, ok bool)
}

// Verifier checks SigV4 Authorization headers. Its zero value is not usable: Keys must be
// set. A Verifier must not be copied after first use (it holds a cache guarded by a mutex).
type Verifier struct {
	Region  string           // the server's region; a credential scoped to another region is refused
	Keys    Keys             // the access keys requests may be signed with
	Now     func() time.Time // nil means time.Now
	MaxSkew time.Duration    // 0 means 15 minutes, as AWS

	signingKeys signingKeyCache
}

// Verify checks that r (whose body has already been read into body) carries a valid SigV4
// signature for the signing service name `service` (e.g. "ecs"). It returns the access key
// id on success.
//
// The canonical request is rebuilt from the request as the server received it: the path
// from r.RequestURI (so handlers that rewrite r.URL do not break signatures), host from
// r.Host, and header values from r.Header in net/http's canonical key form.
func (v *Verifier) Verify(r *http.Request, body []byte, service string) (accessKeyID string, err *Error) {
	header, err := authorizationHeader(r)
	if err != nil {
		return "", err
	}
	auth, err := parseAuthorization(header)
	if err != nil {
		return "", err
	}
	if err := v.checkScope(auth, service); err != nil {
		return "", err
	}
	date, dateHeader, err := requestTime(r)
	if err != nil {
		return "", err
	}
	if err := checkSignedHeaders(auth.signedHeaders, dateHeader); err != nil {
		return "", err
	}
	var dateBuf [len(amzDateLayout)]byte
	amzDate := date.AppendFormat(dateBuf[:0], amzDateLayout)
	if auth.date != string(amzDate[:8]) {
		return "", invalidSignature("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.", auth.date, string(amzDate[:8]), string(amzDate))
	}
	if err := v.checkSkew(date); err != nil {
		return "", err
	}
	secret, ok := v.Keys.SecretFor(auth.accessKeyID)
	if !ok {
		return "", authError("UnrecognizedClientException", "The security token included in the request is invalid.")
	}
	var hashBuf [len(unsignedPayload) + sha256.Size*2]byte
	payloadHash, err := appendPayloadHash(hashBuf[:0], r, body)
	if err != nil {
		return "", err
	}
	key := v.signingKeys.get(signingScope{auth.accessKeyID, auth.date, auth.region, auth.service}, secret)
	want := requestSignature(&key, r, auth, amzDate, payloadHash)
	got, ok := decodeSignature(auth.signature)
	if !ok || !hmac.Equal(want[:], got[:]) {
		return "", invalidSignature("The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.")
	}
	return auth.accessKeyID, nil
}

func incompleteSignature(format string, args ...any) *Error {
	return authError("IncompleteSignatureException", format, args...)
}

func invalidSignature(format string, args ...any) *Error {
	return authError("InvalidSignatureException", format, args...)
}

// authorizationHeader returns the request's single Authorization header value.
func authorizationHeader(r *http.Request) (string, *Error) {
	values := r.Header["Authorization"]
	switch {
	case len(values) > 1:
		return "", incompleteSignature("the request carries %d Authorization headers; send exactly one", len(values))
	case len(values) == 1 && values[0] != "":
		return values[0], nil
	case strings.Contains(r.URL.RawQuery, "X-Amz-Algorithm="):
		return "", incompleteSignature("query-string authentication (presigned URLs) is not supported; sign the request with an Authorization header")
	}
	return "", authError("MissingAuthenticationTokenException", "Missing Authentication Token")
}

// authorization is a parsed SigV4 Authorization header. All fields are substrings of it.
type authorization struct {
	accessKeyID string
	// The credential scope: date (YYYYMMDD), region, service and terminator.
	date, region, service, terminator string
	signedHeaders                     string // as sent: lower-case names separated by ';'
	signature                         string // lower-case hex
}

// parseAuthorization parses
//
//	AWS4-HMAC-SHA256 Credential=<id>/<date>/<region>/<service>/aws4_request, SignedHeaders=<h1;h2>, Signature=<hex>
//
// checking only its shape; what the scope must contain is checkScope's business.
func parseAuthorization(header string) (authorization, *Error) {
	var a authorization
	algorithm, params, _ := strings.Cut(header, " ")
	if algorithm != sigV4Algorithm {
		if isSchemeName(algorithm) && params != "" {
			return a, incompleteSignature("Authorization header uses unsupported algorithm '%s'; only %s is accepted", algorithm, sigV4Algorithm)
		}
		return a, incompleteSignature("Authorization header must start with %s followed by Credential, SignedHeaders and Signature", sigV4Algorithm)
	}
	var credential string
	var seen [3]bool
	for params != "" {
		var param string
		param, params, _ = strings.Cut(params, ",")
		name, value, _ := strings.Cut(strings.Trim(param, " "), "=")
		var slot int
		switch name {
		case "Credential":
			slot, credential = 0, value
		case "SignedHeaders":
			slot, a.signedHeaders = 1, value
		case "Signature":
			slot, a.signature = 2, value
		default:
			return a, incompleteSignature("Authorization header has unexpected parameter '%s'; expected Credential, SignedHeaders and Signature", name)
		}
		if seen[slot] {
			return a, incompleteSignature("Authorization header has more than one '%s' parameter", name)
		}
		seen[slot] = true
	}
	for i, name := range [...]string{"Credential", "SignedHeaders", "Signature"} {
		if !seen[i] {
			return a, incompleteSignature("Authorization header requires '%s' parameter.", name)
		}
	}
	if err := a.parseCredential(credential); err != nil {
		return a, err
	}
	if !validSignedHeaders(a.signedHeaders) {
		return a, incompleteSignature("Authorization header's SignedHeaders must be a non-empty list of header names separated by ';', got '%s'", a.signedHeaders)
	}
	if a.signature == "" {
		return a, incompleteSignature("Authorization header has an empty Signature")
	}
	return a, nil
}

func (a *authorization) parseCredential(credential string) *Error {
	parts := [...]*string{&a.accessKeyID, &a.date, &a.region, &a.service, &a.terminator}
	malformed := strings.Count(credential, "/") != len(parts)-1
	rest := credential
	for _, p := range parts {
		*p, rest, _ = strings.Cut(rest, "/")
		malformed = malformed || *p == ""
	}
	if malformed {
		return incompleteSignature("Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '%s'", credential)
	}
	return nil
}

// isSchemeName reports whether s looks like an authentication scheme name (and so is safe
// to echo back), rather than a bare token.
func isSchemeName(s string) bool {
	if s == "" || len(s) > 40 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func validSignedHeaders(list string) bool {
	if list == "" {
		return false
	}
	for name := range strings.SplitSeq(list, ";") {
		if name == "" {
			return false
		}
	}
	return true
}

func hasSignedHeader(list, name string) bool {
	for h := range strings.SplitSeq(list, ";") {
		if strings.EqualFold(h, name) {
			return true
		}
	}
	return false
}

// checkScope checks the credential scope names this server's region and the service.
func (v *Verifier) checkScope(a authorization, service string) *Error {
	switch {
	case a.terminator != sigV4Terminator:
		return invalidSignature("Credential should be scoped with a valid terminator: '%s', not '%s'.", sigV4Terminator, a.terminator)
	case a.region != v.Region:
		return invalidSignature("Credential should be scoped to a valid region, not '%s'.", a.region)
	case a.service != service:
		return invalidSignature("Credential should be scoped to correct service: '%s'.", service)
	}
	return nil
}

// requestTime returns the signing time from X-Amz-Date or, failing that, Date, and the
// name of the header it came from.
func requestTime(r *http.Request) (time.Time, string, *Error) {
	if v := r.Header["X-Amz-Date"]; len(v) > 0 {
		t, err := time.Parse(amzDateLayout, v[0])
		if err != nil {
			return t, "", incompleteSignature("X-Amz-Date header '%s' is not an ISO 8601 basic timestamp such as 20150830T123600Z", v[0])
		}
		return t, "x-amz-date", nil
	}
	if v := r.Header["Date"]; len(v) > 0 {
		t, err := http.ParseTime(v[0])
		if err != nil {
			return t, "", incompleteSignature("Date header '%s' is not an HTTP date such as %s", v[0], http.TimeFormat)
		}
		return t.UTC(), "date", nil
	}
	return time.Time{}, "", incompleteSignature("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
}

// checkSignedHeaders checks that the headers binding the request to its host and time
// are covered by the signature.
func checkSignedHeaders(list, dateHeader string) *Error {
	if !hasSignedHeader(list, "host") {
		return incompleteSignature("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
	}
	if !hasSignedHeader(list, dateHeader) {
		return incompleteSignature("'%s' is used as the request date, so it must be a 'SignedHeader' in the AWS Authorization.", dateHeader)
	}
	return nil
}

func (v *Verifier) checkSkew(t time.Time) *Error {
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	skew := v.MaxSkew
	if skew <= 0 {
		skew = defaultMaxSkew
	}
	at := now().UTC()
	if earliest := at.Add(-skew); t.Before(earliest) {
		return invalidSignature("Signature expired: %s is now earlier than %s (%s - %s.)",
			t.Format(amzDateLayout), earliest.Format(amzDateLayout), at.Format(amzDateLayout), skewText(skew))
	}
	if latest := at.Add(skew); t.After(latest) {
		return invalidSignature("Signature not yet current: %s is still later than %s (%s + %s.)",
			t.Format(amzDateLayout), latest.Format(amzDateLayout), at.Format(amzDateLayout), skewText(skew))
	}
	return nil
}

// skewText renders a skew the way AWS does in its messages ("15 min").
func skewText(d time.Duration) string {
	if d%time.Minute == 0 {
		return strconv.FormatInt(int64(d/time.Minute), 10) + " min"
	}
	return d.String()
}

// appendPayloadHash appends the hashed-payload line of the canonical request: the
// X-Amz-Content-Sha256 header when the client sent one (after checking it against the
// body, since the signature only covers the header), else the hex SHA-256 of body.
func appendPayloadHash(dst []byte, r *http.Request, body []byte) ([]byte, *Error) {
	claimed, present := r.Header["X-Amz-Content-Sha256"]
	if present && len(claimed) == 1 && claimed[0] == unsignedPayload {
		return append(dst, unsignedPayload...), nil
	}
	sum := sha256.Sum256(body)
	dst = hex.AppendEncode(dst, sum[:])
	if present && (len(claimed) != 1 || claimed[0] != string(dst)) {
		return nil, ClientError("XAmzContentSHA256Mismatch", "the X-Amz-Content-Sha256 header does not match the SHA-256 of the request body")
	}
	return dst, nil
}

// requestSignature computes the signature r should carry.
func requestSignature(key *[sha256.Size]byte, r *http.Request, a authorization, amzDate, payloadHash []byte) [sha256.Size]byte {
	var creqBuf [1024]byte
	creqHash := sha256.Sum256(appendCanonicalRequest(creqBuf[:0], r, a.signedHeaders, payloadHash))

	var stsBuf [256]byte
	sts := append(stsBuf[:0], sigV4Algorithm+"\n"...)
	sts = append(sts, amzDate...)
	sts = append(sts, '\n')
	sts = append(sts, a.date...)
	sts = append(sts, '/')
	sts = append(sts, a.region...)
	sts = append(sts, '/')
	sts = append(sts, a.service...)
	sts = append(sts, '/')
	sts = append(sts, a.terminator...)
	sts = append(sts, '\n')
	sts = hex.AppendEncode(sts, creqHash[:])
	return hmacSHA256(key, sts)
}

// decodeSignature decodes a lower-case hex signature (as SigV4 defines it).
func decodeSignature(s string) (sig [sha256.Size]byte, ok bool) {
	if len(s) != 2*len(sig) {
		return sig, false
	}
	for i := range sig {
		hi, ok1 := lowerHexValue(s[2*i])
		lo, ok2 := lowerHexValue(s[2*i+1])
		if !ok1 || !ok2 {
			return sig, false
		}
		sig[i] = hi<<4 | lo
	}
	return sig, true
}

func lowerHexValue(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// appendCanonicalRequest appends the SigV4 canonical request of r to dst:
//
//	method \n canonical URI \n canonical query \n canonical headers \n signed headers \n payload hash
func appendCanonicalRequest(dst []byte, r *http.Request, signedHeaders string, payloadHash []byte) []byte {
	dst = append(dst, r.Method...)
	dst = append(dst, '\n')
	dst = appendCanonicalURI(dst, requestPath(r))
	dst = append(dst, '\n')
	dst = appendCanonicalQuery(dst, r.URL.RawQuery)
	dst = append(dst, '\n')
	for name := range strings.SplitSeq(signedHeaders, ";") {
		dst = appendLower(dst, name)
		dst = append(dst, ':')
		dst = appendHeaderValues(dst, r, name)
		dst = append(dst, '\n')
	}
	dst = append(dst, '\n')
	dst = appendLower(dst, signedHeaders)
	dst = append(dst, '\n')
	return append(dst, payloadHash...)
}

// requestPath returns the path as it appeared on the wire, still percent-encoded.
func requestPath(r *http.Request) string {
	if u := r.RequestURI; u != "" && u[0] == '/' {
		path, _, _ := strings.Cut(u, "?")
		return path
	}
	// A request built in-process (or with an absolute-form target): reconstruct the path.
	if r.URL.RawPath != "" {
		if p, err := url.PathUnescape(r.URL.RawPath); err == nil && p == r.URL.Path {
			return r.URL.RawPath
		}
	}
	return r.URL.EscapedPath()
}

// appendCanonicalURI appends the canonical form of a path as received: dot segments
// removed, runs of slashes collapsed, and each segment URI-encoded (so an escape sequence
// on the wire is encoded a second time, as the SDKs sign for every service but S3).
func appendCanonicalURI(dst []byte, path string) []byte {
	var stack [32]string
	segments := stack[:0]
	last := ""
	for rest, more := path, true; more; {
		last, rest, more = strings.Cut(rest, "/")
		switch last {
		case "", ".":
		case "..":
			if len(segments) > 0 {
				segments = segments[:len(segments)-1]
			}
		default:
			segments = append(segments, last)
		}
	}
	dst = append(dst, '/')
	for i, s := range segments {
		if i > 0 {
			dst = append(dst, '/')
		}
		dst = appendURIEncoded(dst, s)
	}
	// A path that ends in a slash (or in a dot segment, which stands for a directory)
	// keeps its trailing slash.
	if len(segments) > 0 && (last == "" || last == "." || last == "..") {
		dst = append(dst, '/')
	}
	return dst
}

type queryParam struct{ key, value string }

// appendCanonicalQuery appends the canonical query string: parameters URI-encoded, sorted
// by key then value. Parameters url.ParseQuery would drop (bad escapes, semicolons) are
// dropped too, since that is what the Go SDK's signer sees of them.
func appendCanonicalQuery(dst []byte, raw string) []byte {
	if raw == "" {
		return dst
	}
	var stack [16]queryParam
	params := stack[:0]
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" || strings.Contains(pair, ";") {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		key, ok1 := canonicalQueryComponent(k)
		value, ok2 := canonicalQueryComponent(v)
		if ok1 && ok2 {
			params = append(params, queryParam{key, value})
		}
	}
	slices.SortFunc(params, func(a, b queryParam) int {
		if c := strings.Compare(a.key, b.key); c != 0 {
			return c
		}
		return strings.Compare(a.value, b.value)
	})
	for i, p := range params {
		if i > 0 {
			dst = append(dst, '&')
		}
		dst = append(dst, p.key...)
		dst = append(dst, '=')
		dst = append(dst, p.value...)
	}
	return dst
}

func canonicalQueryComponent(s string) (string, bool) {
	if isUnreserved(s) {
		return s, true // decoding and re-encoding would give s back
	}
	decoded, err := url.QueryUnescape(s)
	if err != nil {
		return "", false
	}
	return string(appendURIEncoded(nil, decoded)), true
}

// appendHeaderValues appends the canonical value of the named header: each value
// trimmed with inner runs of spaces collapsed, several values joined by commas.
func appendHeaderValues(dst []byte, r *http.Request, name string) []byte {
	if strings.EqualFold(name, "host") {
		// net/http moves Host out of the header map.
		host := r.Host
		if host == "" {
			host = r.URL.Host
		}
		return appendTrimmedValue(dst, host)
	}
	var keyBuf [64]byte
	values := r.Header[string(appendCanonicalHeaderKey(keyBuf[:0], name))]
	if len(values) == 0 && strings.EqualFold(name, "content-length") && r.ContentLength > 0 {
		return strconv.AppendInt(dst, r.ContentLength, 10)
	}
	for i, v := range values {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendTrimmedValue(dst, v)
	}
	return dst
}

// appendCanonicalHeaderKey appends name in the form net/http keys r.Header by (as
// textproto.CanonicalMIMEHeaderKey does, but without allocating).
func appendCanonicalHeaderKey(dst []byte, name string) []byte {
	for i := 0; i < len(name); i++ {
		if !isTokenByte(name[i]) {
			return append(dst, name...) // net/http leaves such names as they are
		}
	}
	upper := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		if upper && 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		} else if !upper && 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
		upper = c == '-'
	}
	return dst
}

func appendTrimmedValue(dst []byte, v string) []byte {
	v = strings.Trim(v, " \t")
	for i := 0; i < len(v); i++ {
		if v[i] == ' ' && i > 0 && v[i-1] == ' ' {
			continue
		}
		dst = append(dst, v[i])
	}
	return dst
}

func appendLower(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// appendURIEncoded percent-encodes every byte of s outside RFC 3986's unreserved set.
func appendURIEncoded(dst []byte, s string) []byte {
	const upperHex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isUnreservedByte(c) {
			dst = append(dst, c)
		} else {
			dst = append(dst, '%', upperHex[c>>4], upperHex[c&0xf])
		}
	}
	return dst
}

func isUnreserved(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isUnreservedByte(s[i]) {
			return false
		}
	}
	return true
}

func isUnreservedByte(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// isTokenByte reports whether c may appear in an HTTP header field name (RFC 9110 tchar).
func isTokenByte(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// signingScope identifies a derived signing key.
type signingScope struct{ accessKeyID, date, region, service string }

type cachedSigningKey struct {
	secret string // to notice a rotated secret behind the same access key id
	key    [sha256.Size]byte
}

// signingKeyCache remembers derived signing keys: deriving one costs four HMACs, and a
// client signs every request of a day with the same one.
type signingKeyCache struct {
	mu   sync.RWMutex
	keys map[signingScope]cachedSigningKey
}

func (c *signingKeyCache) get(s signingScope, secret string) [sha256.Size]byte {
	c.mu.RLock()
	e, ok := c.keys[s]
	c.mu.RUnlock()
	if ok && e.secret == secret {
		return e.key
	}
	key := deriveSigningKey(secret, s)
	// The scope's strings point into the request's Authorization header; keep copies.
	s = signingScope{strings.Clone(s.accessKeyID), strings.Clone(s.date), strings.Clone(s.region), strings.Clone(s.service)}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.keys == nil {
		c.keys = make(map[signingScope]cachedSigningKey)
	}
	if _, present := c.keys[s]; !present && len(c.keys) >= maxCachedSigningKeys {
		for old := range c.keys { // any entry will do: most are from past days
			delete(c.keys, old)
			break
		}
	}
	c.keys[s] = cachedSigningKey{secret: secret, key: key}
	return key
}

// deriveSigningKey computes HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region), service), "aws4_request").
func deriveSigningKey(secret string, s signingScope) [sha256.Size]byte {
	key := []byte("AWS4" + secret)
	for _, data := range [...]string{s.date, s.region, s.service, sigV4Terminator} {
		mac := hmac.New(sha256.New, key)
		io.WriteString(mac, data)
		key = mac.Sum(nil)
	}
	return [sha256.Size]byte(key)
}

// hmacSHA256 is HMAC-SHA256 (RFC 2104) for a 32-byte key, spelled out because it runs on
// every request and crypto/hmac allocates two hash states per use; a key shorter than the
// hash block never needs RFC 2104's key-hashing step.
func hmacSHA256(key *[sha256.Size]byte, msg []byte) [sha256.Size]byte {
	const blockSize = sha256.BlockSize
	var innerBuf [blockSize + 256]byte
	inner := innerBuf[:blockSize]
	var outer [blockSize + sha256.Size]byte
	for i := range blockSize {
		var k byte
		if i < len(key) {
			k = key[i]
		}
		inner[i] = k ^ 0x36
		outer[i] = k ^ 0x5c
	}
	innerSum := sha256.Sum256(append(inner, msg...))
	copy(outer[blockSize:], innerSum[:])
	return sha256.Sum256(outer[:])
}
