package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"gantry/internal/awsapi"
	"gantry/internal/ecs"
)

// taskWaitPath answers, signed like the other native endpoints, once a task has reached
// a state: GET ?cluster=&task=&until=running|exited|stopped&timeout=30s returns
// {"reached": true, "task": {...}} (the DescribeTasks shape) when it has, or the task as
// it is with "reached": false when the timeout (at most maxTaskWait) passes first.
// `gantry run` waits with it instead of polling.
const taskWaitPath = "/gantry/v1/tasks/wait"

const maxTaskWait = 5 * time.Minute

func taskWaitHandler(tasks *ecs.Service, authenticate func(*http.Request, []byte) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			http.Error(w, "GET to wait for a task", http.StatusMethodNotAllowed)
			return
		}
		if err := authenticate(r, nil); err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		q := r.URL.Query()
		timeout := 30 * time.Second
		if v := q.Get("timeout"); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 || d > maxTaskWait {
				http.Error(w, "timeout: give a duration between 1ms and 5m, e.g. 30s", http.StatusBadRequest)
				return
			}
			timeout = d
		}
		task, reached, err := tasks.WaitTask(r.Context(), q.Get("cluster"), q.Get("task"), q.Get("until"), timeout)
		if err != nil {
			status := http.StatusInternalServerError
			if apiErr, ok := errors.AsType[*awsapi.Error](err); ok {
				status = apiErr.Status
			}
			http.Error(w, err.Error(), status)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(struct {
			Reached bool      `json:"reached"`
			Task    *ecs.Task `json:"task"`
		}{reached, task})
	})
}
