package agent

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"gantry/internal/ecs"
)

// permanent is a refusal resending cannot fix.
type permanent struct{}

func (permanent) Error() string   { return "refused" }
func (permanent) Permanent() bool { return true }

// The reporter delivers the newest state of each task, retries failures (of a whole
// request or of one task in it) without reordering a task's states, and drops what the
// server refuses for good.
func TestReporterDeliversNewestInOrder(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	got := map[string][]string{}
	failOnce := map[string]bool{"b": true}
	requestFails := true
	send := func(_ context.Context, batch []*ecs.Task) ([]error, error) {
		mu.Lock()
		defer mu.Unlock()
		if requestFails { // the first request fails as a whole
			requestFails = false
			return nil, errors.New("connection refused")
		}
		errs := make([]error, len(batch))
		for i, tk := range batch {
			switch {
			case tk.TaskArn == "c":
				errs[i] = permanent{}
			case failOnce[tk.TaskArn]:
				failOnce[tk.TaskArn] = false
				errs[i] = errors.New("server busy")
			default:
				got[tk.TaskArn] = append(got[tk.TaskArn], tk.LastStatus)
			}
		}
		return errs, nil
	}
	r := newReporter(send, slog.New(slog.DiscardHandler))
	r.submit(&ecs.Task{TaskArn: "a", LastStatus: ecs.TaskPending})
	r.submit(&ecs.Task{TaskArn: "a", LastStatus: ecs.TaskRunning}) // replaces PENDING before it goes
	r.submit(&ecs.Task{TaskArn: "b", LastStatus: ecs.TaskRunning})
	r.submit(&ecs.Task{TaskArn: "c", LastStatus: ecs.TaskRunning})
	go r.run(ctx, 2)
	for deadline := time.Now().Add(10 * time.Second); !r.idle(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("reports still pending after 10s")
		}
	}
	r.submit(&ecs.Task{TaskArn: "a", LastStatus: ecs.TaskStopped})
	for deadline := time.Now().Add(10 * time.Second); !r.idle(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("reports still pending after 10s")
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got["a"]) != 2 || got["a"][0] != ecs.TaskRunning || got["a"][1] != ecs.TaskStopped {
		t.Errorf("task a: %v, want [RUNNING STOPPED]", got["a"])
	}
	if len(got["b"]) != 1 {
		t.Errorf("task b (failed once): %v, want delivered once after the retry", got["b"])
	}
	if len(got["c"]) != 0 {
		t.Errorf("task c (refused): %v", got["c"])
	}
}
