package ecs

import (
	"context"
	"sync"
	"time"

	"gantry/internal/awsapi"
)

// What WaitTask can wait for.
const (
	// WaitRunning: the task is RUNNING, or past it (its first container exited, or the
	// task STOPPED without ever running).
	WaitRunning = "running"
	// WaitExited: the first container's exit code is known, or the task STOPPED.
	WaitExited = "exited"
	// WaitStopped: the task is STOPPED.
	WaitStopped = "stopped"
)

// defaultWaitRecheck is how often a waiter reads its task even without a change
// committed by this server: another server may have committed it.
const defaultWaitRecheck = 250 * time.Millisecond

// WaitTask returns a task (named by id or ARN in cluster) once it has reached until, or
// as it is when max has passed or ctx ends, and whether it reached until. It saves
// `gantry run` from polling DescribeTasks: the waiter wakes as soon as this server
// commits a change to the task.
func (s *Service) WaitTask(ctx context.Context, clusterIdent, taskIdent, until string, max time.Duration) (*Task, bool, error) {
	reached, ok := waitConditions[until]
	if !ok {
		return nil, false, awsapi.InvalidParameter("until: %q is not one of running, exited, stopped", until)
	}
	cluster, err := s.activeClusterName(ctx, clusterIdent)
	if err != nil {
		return nil, false, err
	}
	id, err := s.taskID(cluster, taskIdent)
	if err != nil {
		return nil, false, err
	}
	deadline := time.NewTimer(max)
	defer deadline.Stop()
	key := taskKey(cluster, id)
	for {
		// Listen before reading, so that no change falls between the two.
		changed, stop := s.waiters.add(key)
		rec, _, err := s.loadTask(ctx, cluster, id)
		if err != nil {
			stop()
			return nil, false, err
		}
		got := reached(&rec.Task)
		done := got
		if !done {
			select {
			case <-changed:
			case <-time.After(s.waitRecheck):
			case <-deadline.C:
				done = true
			case <-ctx.Done():
				done = true
			}
		}
		stop()
		if done {
			seen, err := s.lastSeen(ctx, []string{rec.InstanceID})
			if err != nil {
				return nil, false, err
			}
			return s.presentTask(rec, seen[rec.InstanceID]), got, nil
		}
	}
}

var waitConditions = map[string]func(*Task) bool{
	WaitRunning: func(t *Task) bool {
		return t.LastStatus == TaskRunning || t.LastStatus == TaskStopped || firstExited(t)
	},
	WaitExited:  func(t *Task) bool { return t.LastStatus == TaskStopped || firstExited(t) },
	WaitStopped: func(t *Task) bool { return t.LastStatus == TaskStopped },
}

func firstExited(t *Task) bool { return len(t.Containers) > 0 && t.Containers[0].ExitCode != nil }

// taskWaiters are the WaitTask calls waiting for a change to a task, by key.
type taskWaiters struct {
	mu sync.Mutex
	m  map[string]map[chan struct{}]bool
}

// add registers a waiter for key; the channel is signalled at the next change, and stop
// unregisters it.
func (w *taskWaiters) add(key string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	w.mu.Lock()
	if w.m == nil {
		w.m = map[string]map[chan struct{}]bool{}
	}
	if w.m[key] == nil {
		w.m[key] = map[chan struct{}]bool{}
	}
	w.m[key][ch] = true
	w.mu.Unlock()
	return ch, func() {
		w.mu.Lock()
		delete(w.m[key], ch)
		if len(w.m[key]) == 0 {
			delete(w.m, key)
		}
		w.mu.Unlock()
	}
}

// notify wakes the waiters of key.
func (w *taskWaiters) notify(key string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for ch := range w.m[key] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// taskCommitted records that this server stored rec at key as of rev: it is cached, and
// its waiters wake.
func (s *Service) taskCommitted(key string, rec *taskRecord, rev int64) {
	s.tasks.put(key, rec, rev)
	s.waiters.notify(key)
}
