package iam

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"gantry/internal/store"
)

const (
	keysPrefix = "/gantry/iam/accesskeys/"
	rootKey    = "/gantry/iam/root"
)

// AccessKey is a long-term credential and the principal it acts as.
type AccessKey struct {
	ID        string    `json:"accessKeyId"`
	Secret    string    `json:"secretAccessKey"`
	Principal string    `json:"principalArn"`
	Created   time.Time `json:"createDate"`
}

// Directory answers who owns an access key. It keeps every key in memory because it is
// consulted on every API request.
type Directory struct {
	st   *store.Store
	mu   sync.RWMutex
	keys map[string]AccessKey
}

// Open loads the access keys from st, creating the account's root key on first start,
// and returns the directory and the root key.
func Open(ctx context.Context, st *store.Store, account string) (*Directory, AccessKey, error) {
	root, err := ensureRootKey(ctx, st, account)
	if err != nil {
		return nil, AccessKey{}, err
	}
	kvs, _, err := st.List(ctx, keysPrefix, "", 0, false)
	if err != nil {
		return nil, AccessKey{}, err
	}
	d := &Directory{st: st, keys: make(map[string]AccessKey, len(kvs))}
	for _, kv := range kvs {
		var k AccessKey
		if err := json.Unmarshal(kv.Value, &k); err != nil {
			return nil, AccessKey{}, fmt.Errorf("decoding access key %s: %w", kv.Key, err)
		}
		d.keys[k.ID] = k
	}
	return d, root, nil
}

// CreateKey stores a new access key for principal and returns it.
func (d *Directory) CreateKey(ctx context.Context, principal string) (AccessKey, error) {
	k := newAccessKey(principal)
	val, err := json.Marshal(k)
	if err != nil {
		return AccessKey{}, err
	}
	if err := d.st.Commit(ctx, store.Write{Key: keysPrefix + k.ID, Value: val}); err != nil {
		return AccessKey{}, fmt.Errorf("storing access key: %w", err)
	}
	d.mu.Lock()
	d.keys[k.ID] = k
	d.mu.Unlock()
	return k, nil
}

// SecretFor returns the secret of an access key id, for SigV4 verification.
func (d *Directory) SecretFor(id string) (string, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	k, ok := d.keys[id]
	return k.Secret, ok
}

// PrincipalFor returns the ARN of the principal that owns an access key id.
func (d *Directory) PrincipalFor(id string) string {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.keys[id].Principal
}

// ensureRootKey returns the root key, creating it atomically if this is the first start.
func ensureRootKey(ctx context.Context, st *store.Store, account string) (AccessKey, error) {
	for {
		kv, err := st.Get(ctx, rootKey)
		if err == nil {
			var k AccessKey
			if err := json.Unmarshal(kv.Value, &k); err != nil {
				return AccessKey{}, fmt.Errorf("decoding root access key: %w", err)
			}
			return k, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return AccessKey{}, err
		}
		k := newAccessKey("arn:aws:iam::" + account + ":root")
		val, _ := json.Marshal(k)
		err = st.Commit(ctx,
			store.Write{Key: rootKey, Value: val},
			store.Write{Key: keysPrefix + k.ID, Value: val})
		if err == nil {
			return k, nil
		}
		if !errors.Is(err, store.ErrConflict) {
			return AccessKey{}, fmt.Errorf("storing root access key: %w", err)
		}
		// Another server created it first: read theirs.
	}
}

// newAccessKey makes a key shaped like AWS's: AKIA + 16 base32 characters, and a
// 40-character secret.
func newAccessKey(principal string) AccessKey {
	id := make([]byte, 10)
	secret := make([]byte, 30)
	rand.Read(id)
	rand.Read(secret)
	return AccessKey{
		ID:        "AKIA" + base32.StdEncoding.EncodeToString(id),
		Secret:    base64.StdEncoding.EncodeToString(secret),
		Principal: principal,
		Created:   time.Now().UTC(),
	}
}

// Authenticate checks an access key id and secret sent as plain credentials (the
// registry's basic auth) and returns the owner's ARN.
func (d *Directory) Authenticate(id, secret string) (string, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	k, ok := d.keys[id]
	if !ok || subtle.ConstantTimeCompare([]byte(k.Secret), []byte(secret)) != 1 {
		return "", false
	}
	return k.Principal, true
}

// agentRole is the role path of the keys agents get when they join.
const agentRole = ":role/gantry-agent/"

// AgentPrincipal is the principal of the key an agent on node gets when it joins.
func AgentPrincipal(account, node string) string {
	return "arn:aws:iam::" + account + agentRole + node
}

// IsAgentPrincipal tells whether principal is an agent's: such a key may register its own
// container instance, report on its tasks, serve its tunnel and pull images, nothing else.
func IsAgentPrincipal(principal string) bool {
	return strings.Contains(principal, agentRole)
}
