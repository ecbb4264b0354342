package registry

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"gantry/internal/store"
)

// Authenticator checks registry credentials sent with HTTP basic auth (an access key id
// and secret, or later an ECR-style token) and returns the principal's ARN.
type Authenticator interface {
	Authenticate(username, password string) (principal string, ok bool)
}

// tokenTTL is how long a bearer token from /v2/token lasts; clients fetch a new one on 401.
const tokenTTL = time.Hour

const tokenKeyKey = "/gantry/registry/token-key"

// tokens mints and checks the bearer tokens of the Docker token-auth flow. They are
// HMAC-signed with a key kept in the store, so every server of a cluster accepts them.
type tokens struct {
	key []byte
	now func() time.Time
}

type tokenClaims struct {
	Subject string `json:"sub"`
	Expires int64  `json:"exp"`
}

// loadTokenKey returns the signing key, creating it on first start.
func loadTokenKey(ctx context.Context, st *store.Store) ([]byte, error) {
	for {
		kv, err := st.Get(ctx, tokenKeyKey)
		if err == nil {
			return kv.Value, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		key := make([]byte, 32)
		rand.Read(key)
		err = st.Commit(ctx, store.Write{Key: tokenKeyKey, Value: key})
		if err != nil && !errors.Is(err, store.ErrConflict) {
			return nil, fmt.Errorf("storing the registry token key: %w", err)
		}
	}
}

func (t *tokens) mint(principal string, ttl time.Duration) (string, time.Time) {
	exp := t.now().Add(ttl)
	claims, _ := json.Marshal(tokenClaims{Subject: principal, Expires: exp.Unix()})
	payload := base64.RawURLEncoding.EncodeToString(claims)
	return payload + "." + t.sign(payload), exp
}

func (t *tokens) verify(token string) (string, bool) {
	payload, sig, ok := strings.Cut(token, ".")
	if !ok || !hmac.Equal([]byte(sig), []byte(t.sign(payload))) {
		return "", false
	}
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	var c tokenClaims
	if err != nil || json.Unmarshal(raw, &c) != nil || t.now().Unix() >= c.Expires {
		return "", false
	}
	return c.Subject, true
}

func (t *tokens) sign(payload string) string {
	mac := hmac.New(sha256.New, t.key)
	mac.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// tokenUser is the basic-auth user name under which a token (ECR's
// GetAuthorizationToken) is sent as the password, as `docker login -u AWS` does.
const tokenUser = "AWS"

// MintToken issues a registry token for principal, valid for ttl: a bearer token, and a
// basic-auth password for user AWS. ECR's GetAuthorizationToken hands these out.
func (r *Registry) MintToken(principal string, ttl time.Duration) (string, time.Time) {
	return r.tokens.mint(principal, ttl)
}

// basicAuth checks basic credentials: an access key id and secret, or user AWS with a
// token as the password.
func (r *Registry) basicAuth(user, pass string) (string, bool) {
	if user == tokenUser {
		return r.tokens.verify(pass)
	}
	return r.auth.Authenticate(user, pass)
}

// authenticate returns the caller's principal from basic or bearer credentials.
func (r *Registry) authenticate(req *http.Request) (string, bool) {
	if user, pass, ok := req.BasicAuth(); ok {
		return r.basicAuth(user, pass)
	}
	if token, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer "); ok {
		return r.tokens.verify(token)
	}
	return "", false
}

// challenge answers an unauthenticated request with the token-auth challenge docker,
// skopeo and crane follow to /v2/token.
func (r *Registry) challenge(w http.ResponseWriter, req *http.Request) {
	w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="%s/v2/token",service="gantry"`, baseURL(req)))
	writeAPIError(w, errUnauthorized("authentication required: log in with an access key id and secret (gantry login, docker login)"))
}

// serveToken is the token endpoint: basic credentials in, a bearer token out.
func (r *Registry) serveToken(w http.ResponseWriter, req *http.Request) {
	user, pass, ok := req.BasicAuth()
	principal, valid := "", false
	if ok {
		principal, valid = r.basicAuth(user, pass)
	}
	if !valid {
		w.Header().Set("WWW-Authenticate", `Basic realm="gantry"`)
		writeAPIError(w, errUnauthorized("give an access key id and secret (or an authorization token) as basic credentials"))
		return
	}
	token, exp := r.tokens.mint(principal, tokenTTL)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"token": token, "access_token": token,
		"expires_in": int(tokenTTL.Seconds()), "issued_at": exp.Add(-tokenTTL).UTC().Format(time.RFC3339),
	})
}

func baseURL(req *http.Request) string {
	scheme := "http"
	if req.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + req.Host
}
