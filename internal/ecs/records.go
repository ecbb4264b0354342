package ecs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"gantry/internal/awsapi"

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
const maxCASRetries = 50

// errBusy is returned when a record kept changing under every retry. It is a
// ThrottlingException because the SDKs retry those on their own.
var errBusy = awsapi.ClientError("ThrottlingException", "the resource is being changed by many requests at once; retry shortly")

// retryOnConflict runs attempt until it does not return store.ErrConflict. Between tries it
// waits a random, growing moment, so that a writer that keeps losing the race to a faster
// one (say, another server looping on the same record) gets its turn.
func retryOnConflict(ctx context.Context, attempt func() error) error {
	for try := range maxCASRetries {
		err := attempt()
		if !errors.Is(err, store.ErrConflict) {
			return err
		}
		backoff := time.Duration(rand.Int64N(int64(try+1) * int64(100*time.Microsecond)))
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return errBusy
}

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
	v, _, err := updateRecordRev(ctx, st, key, mutate)
	return v, err
}

// updateRecordRev is updateRecord that also returns the revision the record was stored at.
func updateRecordRev[T any](ctx context.Context, st *store.Store, key string, mutate func(*T) error) (*T, int64, error) {
	var v *T
	var stored int64
	err := retryOnConflict(ctx, func() error {
		var rev int64
		var err error
		if v, rev, err = getRecord[T](ctx, st, key); err != nil {
			return err
		}
		if err := mutate(v); err != nil {
			return err
		}
		w, err := putRecord(key, v, rev)
		if err != nil {
			return err
		}
		stored, err = st.CommitRev(ctx, w)
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	return v, stored, nil
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
// key `from`, until visit has accepted limit of them. It returns the nextToken that
// resumes the listing when more may remain, else "".
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
					return awsapi.NextToken(kv.Key), nil
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
