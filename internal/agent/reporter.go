package agent

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"gantry/internal/agentconn"
	"gantry/internal/ecs"
)

// reporter delivers task states to the server: the latest state of each task wins over
// any older one not yet sent, reports of one task go out in order (one in flight per
// task), states of many tasks share a request, and transient failures are retried until
// the server takes them, so a state is never lost while the agent runs.
type reporter struct {
	// send delivers a batch and returns the server's verdict per task, or an error
	// for the whole batch.
	send func(context.Context, []*ecs.Task) ([]error, error)
	log  *slog.Logger

	mu       sync.Mutex
	pending  map[string]*ecs.Task
	order    []string // task ARNs with a pending report, oldest first
	inflight map[string]bool
	wake     chan struct{}
}

func newReporter(send func(context.Context, []*ecs.Task) ([]error, error), log *slog.Logger) *reporter {
	return &reporter{send: send, log: log, pending: map[string]*ecs.Task{}, inflight: map[string]bool{}, wake: make(chan struct{}, 1)}
}

// submit queues t (a copy the caller no longer changes) for delivery.
func (r *reporter) submit(t *ecs.Task) {
	r.mu.Lock()
	if _, queued := r.pending[t.TaskArn]; !queued {
		r.order = append(r.order, t.TaskArn)
	}
	r.pending[t.TaskArn] = t
	r.mu.Unlock()
	r.poke()
}

func (r *reporter) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// next takes up to max of the oldest pending reports whose tasks have none in flight.
func (r *reporter) next(max int) []*ecs.Task {
	r.mu.Lock()
	defer r.mu.Unlock()
	var batch []*ecs.Task
	kept := r.order[:0]
	for _, arn := range r.order {
		if len(batch) == max || r.inflight[arn] {
			kept = append(kept, arn)
			continue
		}
		batch = append(batch, r.pending[arn])
		delete(r.pending, arn)
		r.inflight[arn] = true
	}
	clear(r.order[len(kept):])
	r.order = kept
	return batch
}

// done ends a delivery; a failed one is queued again unless a newer state replaced it.
func (r *reporter) done(t *ecs.Task, failed bool) {
	r.mu.Lock()
	delete(r.inflight, t.TaskArn)
	if _, newer := r.pending[t.TaskArn]; failed && !newer {
		r.pending[t.TaskArn] = t
		r.order = append(r.order, t.TaskArn)
	}
	r.mu.Unlock()
	r.poke()
}

// run delivers reports with the given number of workers until ctx ends.
func (r *reporter) run(ctx context.Context, workers int) {
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() { r.work(ctx) })
	}
	wg.Wait()
}

func (r *reporter) work(ctx context.Context) {
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		batch := r.next(agentconn.MaxReportBatch)
		if len(batch) == 0 {
			select {
			case <-r.wake:
			case <-ctx.Done():
			}
			continue
		}
		errs, err := r.send(ctx, batch)
		retry := false
		for i, t := range batch {
			terr := err
			if err == nil {
				terr = errs[i]
			}
			retry = r.settle(t, terr) || retry
		}
		if !retry {
			backoff = 50 * time.Millisecond
			continue
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// settle ends the delivery of t that err answered and tells whether it is to be retried.
func (r *reporter) settle(t *ecs.Task, err error) bool {
	r.log.Debug("report", "task", t.TaskArn, "status", t.LastStatus, "err", err)
	var perm interface{ Permanent() bool }
	switch {
	case err == nil:
		r.done(t, false)
		return false
	case errors.As(err, &perm) && perm.Permanent():
		r.log.Warn("server refused task report; dropping it", "task", t.TaskArn, "status", t.LastStatus, "err", err)
		r.done(t, false)
		return false
	default:
		r.log.Debug("task report failed; retrying", "task", t.TaskArn, "err", err)
		r.done(t, true)
		return true
	}
}

// idle tells whether every submitted report has been delivered (or dropped).
func (r *reporter) idle() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pending) == 0 && len(r.inflight) == 0
}
