package ecs

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"gantry/internal/store"
)

// assignmentFeed is one store watch on every instance's assignments, fanned out to the
// subscribers of each instance. One watch per connected agent would not do: with
// hundreds of agents, creating and re-creating that many watches on the embedded store
// was seen to block some of them for good.
type assignmentFeed struct {
	st *store.Store

	mu      sync.Mutex
	subs    map[string]map[*feedSub]bool // by instance id
	running bool
}

// feedSub receives the events of one instance. When it falls behind (its buffer is full)
// or the store's watch breaks, it is closed: the subscriber lists again.
type feedSub struct {
	ch     chan store.Event
	closed bool
}

// subscribeBuffer is how many events a subscriber may have pending before it is dropped
// (and lists again). Each connected agent has one: with a thousand agents, 1024 slots
// each held 60 MiB.
const subscribeBuffer = 256

// subscribe returns a channel of the events under instanceID's assignments committed
// from now on; it is closed when the subscriber must list again. cancel ends it.
func (f *assignmentFeed) subscribe(instanceID string) (<-chan store.Event, func()) {
	sub := &feedSub{ch: make(chan store.Event, subscribeBuffer)}
	f.mu.Lock()
	if f.subs == nil {
		f.subs = map[string]map[*feedSub]bool{}
	}
	if f.subs[instanceID] == nil {
		f.subs[instanceID] = map[*feedSub]bool{}
	}
	f.subs[instanceID][sub] = true
	if !f.running {
		f.running = true
		// The watch starts from now; the subscriber lists after subscribing, so nothing
		// committed between the two is lost (what its listing holds comes again and is
		// skipped by revision).
		rev, err := f.st.Revision(context.Background())
		if err != nil {
			rev = 0
		}
		go f.run(rev)
	}
	f.mu.Unlock()
	return sub.ch, func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.drop(instanceID, sub)
	}
}

// drop removes and closes a subscriber. Called with f.mu held.
func (f *assignmentFeed) drop(instanceID string, sub *feedSub) {
	if !sub.closed {
		sub.closed = true
		close(sub.ch)
	}
	delete(f.subs[instanceID], sub)
	if len(f.subs[instanceID]) == 0 {
		delete(f.subs, instanceID)
	}
}

// run watches every assignment from revision after on until the store is closed; when
// the watch breaks it closes every subscriber (they list again) and watches anew from the
// store's present.
func (f *assignmentFeed) run(after int64) {
	ctx := context.Background()
	for {
		for batch := range f.st.Watch(ctx, assignmentsPrefix, after) {
			f.mu.Lock()
			for _, ev := range batch {
				after = ev.Revision
				instanceID, _, _ := strings.Cut(strings.TrimPrefix(ev.Key, assignmentsPrefix), "/")
				for sub := range f.subs[instanceID] {
					select {
					case sub.ch <- ev:
					default:
						f.drop(instanceID, sub) // too far behind: it lists again
					}
				}
			}
			f.mu.Unlock()
		}
		f.mu.Lock()
		for id, subs := range f.subs {
			for sub := range subs {
				f.drop(id, sub)
			}
		}
		f.mu.Unlock()
		time.Sleep(100 * time.Millisecond)
		rev, err := f.st.Revision(ctx)
		switch {
		case errors.Is(err, store.ErrClosed):
			f.mu.Lock()
			f.running = false
			f.mu.Unlock()
			return
		case err == nil:
			after = rev
		}
	}
}
