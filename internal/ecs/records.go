package ecs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"gantry/internal/store"
)

// Keys of ECS records in the store.
const (
	clustersPrefix = "/gantry/ecs/clusters/"
	familiesPrefix = "/gantry/ecs/families/"
	// Task definition keys are family + "#" + zero-padded revision: "#" sorts before every
	// character a family name may hold, so key order is family order, then revision order.
	taskDefsPrefix = "/gantry/ecs/taskdefs/"
)

// maxCASRetries bounds read-modify-write retries when other writers keep winning.
const maxCASRetries = 20

// getRecord reads and decodes the JSON record at key; store.ErrNotFound if absent.
func getRecord[T any](ctx context.Context, st *store.Store, key string) (*T, int64, error) {
	kv, err := st.Get(ctx, key)
	if err != nil {
		return nil, 0, err
	}
	v := new(T)
	if err := json.Unmarshal(kv.Value, v); err != nil {
		return nil, 0, fmt.Errorf("decoding %s: %w", key, err)
	}
	return v, kv.Revision, nil
}

// updateRecord applies mutate to the record at key and stores it, retrying when another
// writer changed it in between. mutate must be safe to run more than once.
func updateRecord[T any](ctx context.Context, st *store.Store, key string, mutate func(*T) error) (*T, error) {
	for range maxCASRetries {
		v, rev, err := getRecord[T](ctx, st, key)
		if err != nil {
			return nil, err
		}
		if err := mutate(v); err != nil {
			return nil, err
		}
		val, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		err = st.Commit(ctx, store.Write{Key: key, Value: val, Expect: rev})
		if !errors.Is(err, store.ErrConflict) {
			return v, err
		}
	}
	return nil, fmt.Errorf("updating %s: too many concurrent changes", key)
}

// putRecord writes v at key if the key still has revision expect (0: must not exist).
func putRecord(key string, v any, expect int64) (store.Write, error) {
	val, err := json.Marshal(v)
	if err != nil {
		return store.Write{}, fmt.Errorf("encoding %s: %w", key, err)
	}
	return store.Write{Key: key, Value: val, Expect: expect}, nil
}

// decodeRecord decodes a listed record.
func decodeRecord[T any](kv store.KV) (*T, error) {
	v := new(T)
	if err := json.Unmarshal(kv.Value, v); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", kv.Key, err)
	}
	return v, nil
}

// scan visits records under prefix in key order (reversed with desc), resuming from the
// key `from`, until visit has accepted limit of them. It returns the key to resume from
// when more may remain, else "".
func (s *Service) scan(ctx context.Context, prefix, from string, limit int, desc bool, visit func(store.KV) (bool, error)) (string, error) {
	accepted := 0
	for {
		page, more, err := s.store.List(ctx, prefix, from, limit, desc)
		if err != nil {
			return "", err
		}
		for i, kv := range page {
			ok, err := visit(kv)
			if err != nil {
				return "", err
			}
			if ok {
				accepted++
			}
			if accepted == limit {
				if i < len(page)-1 || more {
					return kv.Key, nil
				}
				return "", nil
			}
		}
		if !more {
			return "", nil
		}
		from = page[len(page)-1].Key
	}
}
