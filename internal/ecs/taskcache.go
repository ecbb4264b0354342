package ecs

import (
	"context"
	"errors"
	"slices"
	"sync"

	"gantry/internal/store"
)

// taskCache keeps the task records this server wrote lately, decoded, with their
// revisions. Agents report on a task soon after it is placed, and its assignment goes out
// just as it is written; reading and decoding the record again for each was a third of
// the server's work under load. A cached record may be older than the store's (another
// server wrote it): writes built on it expect its revision, so a stale one conflicts and
// the writer reads the store instead.
type taskCache struct {
	mu sync.Mutex
	// Two generations: when cur is full, it becomes old and old is dropped, so the
	// cache holds the last taskCacheSize to 2×taskCacheSize records written or read.
	cur, old map[string]cachedTask
}

type cachedTask struct {
	rec *taskRecord // never modified once cached
	rev int64
}

const taskCacheSize = 4096

// get returns a copy of the cached record at key, which the caller may change, and its
// revision; nil when none is cached.
func (c *taskCache) get(key string) (*taskRecord, int64) {
	c.mu.Lock()
	e, ok := c.cur[key]
	if !ok {
		if e, ok = c.old[key]; ok {
			c.putLocked(key, e)
		}
	}
	c.mu.Unlock()
	if !ok {
		return nil, 0
	}
	return e.rec.clone(), e.rev
}

// put caches a copy of rec as stored at rev, unless a newer revision is cached.
func (c *taskCache) put(key string, rec *taskRecord, rev int64) {
	e := cachedTask{rec: rec.clone(), rev: rev}
	c.mu.Lock()
	defer c.mu.Unlock()
	if have, ok := c.cur[key]; ok && have.rev >= rev {
		return
	}
	c.putLocked(key, e)
}

func (c *taskCache) putLocked(key string, e cachedTask) {
	if len(c.cur) >= taskCacheSize {
		c.old, c.cur = c.cur, nil
	}
	if c.cur == nil {
		c.cur = make(map[string]cachedTask, taskCacheSize)
	}
	c.cur[key] = e
}

// drop forgets key, after a write built on the cached record conflicted.
func (c *taskCache) drop(key string) {
	c.mu.Lock()
	delete(c.cur, key)
	delete(c.old, key)
	c.mu.Unlock()
}

// clone copies what writers change in place: the task and its containers and
// attachments (their inner slices are replaced, never changed).
func (r *taskRecord) clone() *taskRecord {
	c := *r
	c.Task.Containers = slices.Clone(r.Task.Containers)
	c.Task.Attachments = slices.Clone(r.Task.Attachments)
	return &c
}

// loadTaskAtLeast reads a task record at revision minRev or later, from the cache when it
// has one that new, else from the store.
func (s *Service) loadTaskAtLeast(ctx context.Context, cluster, id string, minRev int64) (*taskRecord, int64, error) {
	if rec, rev := s.tasks.get(taskKey(cluster, id)); rec != nil && rev >= minRev {
		return rec, rev, nil
	}
	rec, rev, err := s.loadTask(ctx, cluster, id)
	if err == nil {
		s.tasks.put(taskKey(cluster, id), rec, rev)
	}
	return rec, rev, err
}

// commitTask commits writes that store rec at the first write's key, and caches rec at
// the new revision; on a conflict it forgets the cached record.
func (s *Service) commitTask(ctx context.Context, rec *taskRecord, writes []store.Write) error {
	key := writes[0].Key
	rev, err := s.store.CommitRev(ctx, writes...)
	switch {
	case err == nil:
		s.taskCommitted(key, rec, rev)
	case errors.Is(err, store.ErrConflict):
		s.tasks.drop(key)
	}
	return err
}
