package store

import (
	"context"
	"errors"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
)

var (
	// ErrNotFound means the key does not exist.
	ErrNotFound = errors.New("store: key not found")
	// ErrConflict means a write's expected revision did not match: someone else changed
	// the key first (or created it, or deleted it). Re-read and retry, or report it.
	ErrConflict = errors.New("store: revision conflict")
)

// KV is one stored value and the etcd revision of its last change.
type KV struct {
	Key      string
	Value    []byte
	Revision int64
}

// Any as Write.Expect skips the revision check.
const Any int64 = -1

// Write is one change in an atomic Commit.
type Write struct {
	Key    string
	Value  []byte
	Delete bool
	// Expect is the revision the key must have for the commit to apply: 0 means the key
	// must not exist yet, Any means no check.
	Expect int64
}

// Reads are serializable: served from this member's applied state without a round of
// consensus. The store has exactly one member and etcd acknowledges a write only once it
// is applied, so every read still sees every acknowledged write; a multi-member store
// must switch these to linearizable reads.

// Get returns the value at key, or ErrNotFound.
func (s *Store) Get(ctx context.Context, key string) (KV, error) {
	if err := s.enter(); err != nil {
		return KV{}, err
	}
	defer s.mu.RUnlock()
	resp, err := s.kv.Get(ctx, key, clientv3.WithSerializable())
	if err != nil {
		return KV{}, fmt.Errorf("reading %s: %w", key, err)
	}
	if len(resp.Kvs) == 0 {
		return KV{}, ErrNotFound
	}
	kv := resp.Kvs[0]
	return KV{Key: string(kv.Key), Value: kv.Value, Revision: kv.ModRevision}, nil
}

// GetMany reads several keys in one consistent snapshot; missing keys are absent from the map.
func (s *Store) GetMany(ctx context.Context, keys []string) (map[string]KV, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	ops := make([]clientv3.Op, len(keys))
	for i, k := range keys {
		ops[i] = clientv3.OpGet(k, clientv3.WithSerializable())
	}
	resp, err := s.kv.Txn(ctx).Then(ops...).Commit()
	if err != nil {
		return nil, fmt.Errorf("reading %d keys: %w", len(keys), err)
	}
	out := make(map[string]KV, len(keys))
	for _, r := range resp.Responses {
		for _, kv := range r.GetResponseRange().Kvs {
			out[string(kv.Key)] = KV{Key: string(kv.Key), Value: kv.Value, Revision: kv.ModRevision}
		}
	}
	return out, nil
}

// List returns up to limit keys under prefix (all when limit is 0) in key order, and
// whether more remain. Listing resumes after the key `from` when it is not empty; with
// desc the order is reversed and listing resumes before `from`.
func (s *Store) List(ctx context.Context, prefix, from string, limit int, desc bool) ([]KV, bool, error) {
	if err := s.enter(); err != nil {
		return nil, false, err
	}
	defer s.mu.RUnlock()
	start, end := prefix, clientv3.GetPrefixRangeEnd(prefix)
	switch {
	case from != "" && desc:
		end = from
	case from != "":
		start = from + "\x00"
	}
	opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithSerializable()}
	if desc {
		opts = append(opts, clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend))
	}
	if limit > 0 {
		opts = append(opts, clientv3.WithLimit(int64(limit)))
	}
	resp, err := s.kv.Get(ctx, start, opts...)
	if err != nil {
		return nil, false, fmt.Errorf("listing %s: %w", prefix, err)
	}
	out := make([]KV, len(resp.Kvs))
	for i, kv := range resp.Kvs {
		out[i] = KV{Key: string(kv.Key), Value: kv.Value, Revision: kv.ModRevision}
	}
	return out, resp.More, nil
}

// Commit applies all writes atomically if every Expect holds, else none and ErrConflict.
func (s *Store) Commit(ctx context.Context, writes ...Write) error {
	_, err := s.CommitRev(ctx, writes...)
	return err
}

// CommitRev is Commit that also returns the revision the writes were stored at, which
// is the revision of each written key from then on.
func (s *Store) CommitRev(ctx context.Context, writes ...Write) (int64, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.mu.RUnlock()
	var conds []clientv3.Cmp
	ops := make([]clientv3.Op, 0, len(writes))
	for _, w := range writes {
		if w.Expect != Any {
			conds = append(conds, clientv3.Compare(clientv3.ModRevision(w.Key), "=", w.Expect))
		}
		if w.Delete {
			ops = append(ops, clientv3.OpDelete(w.Key))
		} else {
			ops = append(ops, clientv3.OpPut(w.Key, string(w.Value)))
		}
	}
	resp, err := s.kv.Txn(ctx).If(conds...).Then(ops...).Commit()
	if err != nil {
		return 0, fmt.Errorf("committing %d writes: %w", len(writes), err)
	}
	if !resp.Succeeded {
		return 0, ErrConflict
	}
	return resp.Header.Revision, nil
}
