package agent

import (
	"context"
	"io"
	"time"

	"gantry/internal/runtime"
)

// Health check defaults and bounds from the ECS HealthCheck reference.
const (
	defaultHealthInterval = 30
	defaultHealthTimeout  = 5
	defaultHealthRetries  = 3
)

// checkHealth runs a container's health check command every interval until the
// container exits or ctx ends, and sends an event whenever the status changes. As in
// Docker and ECS, failures during startPeriod do not count, a success then counts at
// once, and `retries` consecutive failures make the container UNHEALTHY.
func (r *taskRunner) checkHealth(ctx context.Context, c *container) {
	hc := c.def.HealthCheck
	args, err := healthCommand(hc.Command)
	if err != nil {
		r.a.cfg.Log.Warn("health check not run", "container", c.rid, "err", err)
		return
	}
	interval := seconds(hc.Interval, defaultHealthInterval)
	timeout := seconds(hc.Timeout, defaultHealthTimeout)
	retries := int(deref(hc.Retries))
	if retries == 0 {
		retries = defaultHealthRetries
	}
	graceUntil := time.Now().Add(seconds(hc.StartPeriod, 0))
	status, failures := "UNKNOWN", 0
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		r.mu.Lock()
		exited := c.exited
		r.mu.Unlock()
		if exited {
			return
		}
		next := status
		if r.probe(ctx, c, args, timeout) {
			next, failures = "HEALTHY", 0
		} else if time.Now().After(graceUntil) {
			if failures++; failures >= retries {
				next = "UNHEALTHY"
			}
		}
		if next != status {
			status = next
			select {
			case r.events <- event{c: c, health: status}:
			case <-ctx.Done():
				return
			}
		}
	}
}

// probe runs the check once; a check that overruns its timeout fails.
func (r *taskRunner) probe(ctx context.Context, c *container, args []string, timeout time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	code, err := r.a.cfg.Runtime.Exec(ctx, c.rid, runtime.ExecSpec{Args: args, Stdout: io.Discard, Stderr: io.Discard})
	return err == nil && code == 0 && ctx.Err() == nil
}

func seconds(v *int32, def int) time.Duration {
	if v == nil {
		return time.Duration(def) * time.Second
	}
	return time.Duration(*v) * time.Second
}
