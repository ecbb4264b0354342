package ecs

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"gantry/internal/scheduler"
	"gantry/internal/store"
)

// instanceView is this server's picture of every container instance for placement:
// records decoded once, kept current by store watches on instances and heartbeats, and
// updated at once with what this server commits itself. Reading and decoding every
// instance of a cluster for each RunTask was the scheduler's main cost with a thousand
// instances. The view may lag behind the store; placements still commit expecting each
// instance's revision, and a conflict refreshes the instances it names.
type instanceView struct {
	st *store.Store

	start sync.Once
	ready chan struct{} // closed once the first listing is in

	mu       sync.Mutex
	clusters map[string]map[string]*viewEntry // cluster → instance id → entry
	order    map[string][]string              // cluster → its instance ids in key order; nil when to be sorted again
	seen     map[string]time.Time             // last heartbeat by instance id
}

// viewEntry is one instance as of revision rev. rec is never modified once in the view.
type viewEntry struct {
	rec   *instanceRecord
	rev   int64
	sched scheduler.Instance
}

func newInstanceView(st *store.Store) *instanceView {
	return &instanceView{st: st, ready: make(chan struct{}),
		clusters: map[string]map[string]*viewEntry{}, order: map[string][]string{}, seen: map[string]time.Time{}}
}

// wait starts the view on first use and waits for its first listing.
func (v *instanceView) wait(ctx context.Context) error {
	v.start.Do(func() { go v.run() })
	select {
	case <-v.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run lists instances and heartbeats, then follows both watches; when either breaks it
// lists again. It runs until the store is closed.
func (v *instanceView) run() {
	ctx := context.Background()
	first := true
	for {
		instRev, hbRev, err := v.list(ctx)
		if errors.Is(err, store.ErrClosed) {
			return
		}
		if err != nil {
			time.Sleep(200 * time.Millisecond)
			continue
		}
		if first {
			close(v.ready)
			first = false
		}
		v.follow(ctx, instRev, hbRev)
		time.Sleep(50 * time.Millisecond)
	}
}

// list reads every instance and heartbeat into the view and returns the revisions the
// listings reflect.
func (v *instanceView) list(ctx context.Context) (int64, int64, error) {
	insts, instRev, err := v.st.ListAll(ctx, instancesPrefix)
	if err != nil {
		return 0, 0, err
	}
	hbs, hbRev, err := v.st.ListAll(ctx, heartbeatsPrefix)
	if err != nil {
		return 0, 0, err
	}
	listed := map[string]bool{}
	for _, kv := range insts {
		listed[kv.Key] = true
		v.apply(store.Event{KV: kv})
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	for cluster, entries := range v.clusters {
		for id, e := range entries {
			if !listed[instanceKey(cluster, id)] && e.rev <= instRev {
				delete(entries, id)
				delete(v.order, cluster)
			}
		}
	}
	for _, kv := range hbs {
		v.applyHeartbeat(store.Event{KV: kv})
	}
	return instRev, hbRev, nil
}

// follow applies both watches' events until one of them breaks.
func (v *instanceView) follow(ctx context.Context, instRev, hbRev int64) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	insts := v.st.Watch(ctx, instancesPrefix, instRev)
	hbs := v.st.Watch(ctx, heartbeatsPrefix, hbRev)
	for {
		select {
		case batch, ok := <-insts:
			if !ok {
				return
			}
			for _, ev := range batch {
				v.apply(ev)
			}
		case batch, ok := <-hbs:
			if !ok {
				return
			}
			v.mu.Lock()
			for _, ev := range batch {
				v.applyHeartbeat(ev)
			}
			v.mu.Unlock()
		}
	}
}

// apply takes an instance event into the view unless the view already holds a newer
// revision of that instance (its own commits arrive through put first).
func (v *instanceView) apply(ev store.Event) {
	rest := strings.TrimPrefix(ev.Key, instancesPrefix)
	cluster, id, ok := strings.Cut(rest, "/")
	if !ok {
		return
	}
	if ev.Deleted {
		v.mu.Lock()
		if e := v.clusters[cluster][id]; e != nil && e.rev < ev.Revision {
			delete(v.clusters[cluster], id)
			delete(v.order, cluster)
		}
		v.mu.Unlock()
		return
	}
	if v.has(cluster, id, ev.Revision) {
		return // this server's own commit, put in the view as it committed
	}
	rec, err := decodeRecord[instanceRecord](ev.KV)
	if err != nil {
		return // an undecodable record cannot take tasks; the API reports the error
	}
	v.put(cluster, id, rec, ev.Revision)
}

// record returns the view's record of an instance (not to be modified), nil when the view
// has none.
func (v *instanceView) record(cluster, id string) *instanceRecord {
	v.mu.Lock()
	defer v.mu.Unlock()
	if e := v.clusters[cluster][id]; e != nil {
		return e.rec
	}
	return nil
}

// has tells whether the view holds the instance at revision rev or later.
func (v *instanceView) has(cluster, id string, rev int64) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	e := v.clusters[cluster][id]
	return e != nil && e.rev >= rev
}

// applyHeartbeat records an agent's last sign of life. Called with v.mu held.
func (v *instanceView) applyHeartbeat(ev store.Event) {
	id := strings.TrimPrefix(ev.Key, heartbeatsPrefix)
	if ev.Deleted {
		delete(v.seen, id)
		return
	}
	var hb heartbeat
	if json.Unmarshal(ev.Value, &hb) == nil {
		v.sawLocked(id, hb.At)
	}
}

// saw records a heartbeat this server stored, before the watch brings it back.
func (v *instanceView) saw(id string, at time.Time) {
	v.mu.Lock()
	v.sawLocked(id, at)
	v.mu.Unlock()
}

// sawLocked keeps the later of two heartbeats (a listing may bring an older one than a
// write-through). Called with v.mu held.
func (v *instanceView) sawLocked(id string, at time.Time) {
	if at.After(v.seen[id]) {
		v.seen[id] = at
	}
}

// lastSeen returns the last heartbeats of the given instances (absent: never seen).
func (v *instanceView) lastSeen(ids []string) map[string]time.Time {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make(map[string]time.Time, len(ids))
	for _, id := range ids {
		if at, ok := v.seen[id]; ok {
			out[id] = at
		}
	}
	return out
}

// put stores rec as of rev unless the view holds a newer revision.
func (v *instanceView) put(cluster, id string, rec *instanceRecord, rev int64) {
	sched := schedInstance(rec)
	v.mu.Lock()
	defer v.mu.Unlock()
	entries := v.clusters[cluster]
	if entries == nil {
		entries = map[string]*viewEntry{}
		v.clusters[cluster] = entries
	}
	e := entries[id]
	if e != nil && e.rev >= rev {
		return
	}
	if e == nil {
		delete(v.order, cluster)
	}
	entries[id] = &viewEntry{rec: rec, rev: rev, sched: sched}
}

// refresh reads the named instances of cluster from the store, for when a commit found
// them changed before the watch said so.
func (v *instanceView) refresh(ctx context.Context, cluster string, ids []string) error {
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = instanceKey(cluster, id)
	}
	kvs, err := v.st.GetMany(ctx, keys)
	if err != nil {
		return err
	}
	for _, kv := range kvs {
		v.apply(store.Event{KV: kv})
	}
	return nil
}

// snapshot returns the cluster's instances that are not INACTIVE, in key order (as a
// listing of the store gives them, so that placement among equals does not depend on
// map order) and in the scheduler's shape with agentConnected as connected says of their
// last heartbeat, and every instance's entry by id.
func (v *instanceView) snapshot(cluster string, connected func(lastSeen time.Time) bool) ([]scheduler.Instance, map[string]*viewEntry) {
	v.mu.Lock()
	defer v.mu.Unlock()
	all := v.clusters[cluster]
	ids, ok := v.order[cluster]
	if !ok {
		ids = slices.Sorted(maps.Keys(all))
		v.order[cluster] = ids
	}
	insts := make([]scheduler.Instance, 0, len(ids))
	entries := make(map[string]*viewEntry, len(ids))
	for _, id := range ids {
		e := all[id]
		entries[id] = e
		if e.rec.Instance.Status == instanceInactive {
			continue
		}
		inst := e.sched
		inst.AgentConnected = connected(v.seen[id])
		insts = append(insts, inst)
	}
	return insts, entries
}
