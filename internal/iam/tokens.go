package iam

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"gantry/internal/store"
)

// Join tokens let a machine join the cluster as an agent: `gantry token create` makes
// one, `gantry agent --token` redeems it once for a client certificate and an access
// key. Only a hash of the secret part is stored.
const joinTokensPrefix = "/gantry/iam/jointokens/"

// ErrBadToken means a join token is unknown, expired or already used.
var ErrBadToken = errors.New("join token is invalid, expired or already used; create a new one with 'gantry token create'")

type joinToken struct {
	SecretHash string    `json:"secretHash"`
	Expires    time.Time `json:"expires"`
}

// CreateJoinToken stores a single-use join token valid for ttl and returns "<id>.<secret>".
func (d *Directory) CreateJoinToken(ctx context.Context, ttl time.Duration) (string, time.Time, error) {
	id, secret := randomHex(6), randomHex(16)
	expires := time.Now().Add(ttl).UTC()
	val, err := json.Marshal(joinToken{SecretHash: hashHex(secret), Expires: expires})
	if err != nil {
		return "", time.Time{}, err
	}
	if err := d.st.Commit(ctx, store.Write{Key: joinTokensPrefix + id, Value: val}); err != nil {
		return "", time.Time{}, fmt.Errorf("storing join token: %w", err)
	}
	return id + "." + secret, expires, nil
}

// RedeemJoinToken checks "<id>.<secret>" and deletes it, so that it works once.
func (d *Directory) RedeemJoinToken(ctx context.Context, token string) error {
	id, secret, ok := strings.Cut(token, ".")
	if !ok || id == "" || strings.Contains(id, "/") {
		return ErrBadToken
	}
	kv, err := d.st.Get(ctx, joinTokensPrefix+id)
	if errors.Is(err, store.ErrNotFound) {
		return ErrBadToken
	}
	if err != nil {
		return err
	}
	var jt joinToken
	if err := json.Unmarshal(kv.Value, &jt); err != nil {
		return fmt.Errorf("decoding join token: %w", err)
	}
	if subtle.ConstantTimeCompare([]byte(jt.SecretHash), []byte(hashHex(secret))) != 1 || time.Now().After(jt.Expires) {
		return ErrBadToken
	}
	// Deleting with the read revision makes two concurrent redemptions end with one winner.
	if err := d.st.Commit(ctx, store.Write{Key: kv.Key, Delete: true, Expect: kv.Revision}); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return ErrBadToken
		}
		return err
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func hashHex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
