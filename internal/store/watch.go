package store

import (
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Event is one change seen by Watch: a put of Value, or a deletion.
type Event struct {
	KV
	Deleted bool
}

// ListAll returns every key under prefix and the store revision the listing reflects, so
// that a Watch from that revision misses no change made after it.
func (s *Store) ListAll(ctx context.Context, prefix string) ([]KV, int64, error) {
	if err := s.enter(); err != nil {
		return nil, 0, err
	}
	defer s.mu.RUnlock()
	resp, err := s.kv.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithSerializable())
	if err != nil {
		return nil, 0, fmt.Errorf("listing %s: %w", prefix, err)
	}
	out := make([]KV, len(resp.Kvs))
	for i, kv := range resp.Kvs {
		out[i] = KV{Key: string(kv.Key), Value: kv.Value, Revision: kv.ModRevision}
	}
	return out, resp.Header.Revision, nil
}

// Watch sends the changes under prefix made after revision `after`, batched as etcd
// delivers them, until ctx ends or the watch breaks (for example because the revision was
// compacted away). Either way the channel is closed; a caller that still cares lists
// again with ListAll and watches from the listing's revision.
func (s *Store) Watch(ctx context.Context, prefix string, after int64) <-chan []Event {
	out := make(chan []Event)
	if err := s.enter(); err != nil {
		close(out)
		return out
	}
	ctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	wch := s.kv.Watch(ctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(after+1))
	s.mu.RUnlock()
	go func() {
		defer close(out)
		defer cancel()
		for resp := range wch {
			if resp.Err() != nil || resp.Canceled {
				return
			}
			batch := make([]Event, len(resp.Events))
			for i, ev := range resp.Events {
				batch[i] = Event{
					KV:      KV{Key: string(ev.Kv.Key), Value: ev.Kv.Value, Revision: ev.Kv.ModRevision},
					Deleted: ev.Type == clientv3.EventTypeDelete,
				}
			}
			select {
			case out <- batch:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// Revision returns the store's current revision, from which a Watch sees every later
// change.
func (s *Store) Revision(ctx context.Context) (int64, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.mu.RUnlock()
	resp, err := s.kv.Get(ctx, "\x00", clientv3.WithSerializable(), clientv3.WithCountOnly())
	if err != nil {
		return 0, fmt.Errorf("reading the store's revision: %w", err)
	}
	return resp.Header.Revision, nil
}

// Count returns how many keys there are under prefix.
func (s *Store) Count(ctx context.Context, prefix string) (int64, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.mu.RUnlock()
	resp, err := s.kv.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly(), clientv3.WithSerializable())
	if err != nil {
		return 0, fmt.Errorf("counting %s: %w", prefix, err)
	}
	return resp.Count, nil
}
