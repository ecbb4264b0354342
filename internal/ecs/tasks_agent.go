package ecs

import (
	"cmp"
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"time"

	"gantry/internal/awsapi"
	"gantry/internal/iam"
	"gantry/internal/store"
)

// Assignment is a task an agent must run (desiredStatus RUNNING) or stop, with the task
// definition it runs.
type Assignment struct {
	Task           *Task           `json:"task"`
	TaskDefinition *TaskDefinition `json:"taskDefinition"`
}

// AssignmentUpdate is what WatchAssignments sends: with Full, the instance's complete set
// (tasks neither in Assignments nor in Unchanged are no longer the agent's); without it,
// changed tasks and the ids of tasks that left the set (stopped and released).
type AssignmentUpdate struct {
	Full        bool         `json:"full,omitempty"`
	Assignments []Assignment `json:"assignments,omitempty"`
	// Unchanged lists, in a Full update, the ARNs of tasks whose assignment is as this
	// watch last sent it: the periodic resend costs a listing, not every task again.
	Unchanged []string `json:"unchanged,omitempty"`
	Removed   []string `json:"removed,omitempty"`
}

// WatchAssignments sends an instance's assignments: first the full set, then changes as
// they are committed, until ctx ends. When the store's watch breaks it sends the full set
// again, so a receiver never misses a change.
func (s *Service) WatchAssignments(ctx context.Context, instanceArn string) (<-chan AssignmentUpdate, error) {
	_, id, err := s.splitInstanceArn(instanceArn)
	if err != nil {
		return nil, err
	}
	// Buffered, so that changes keep coming while the last one is being delivered: the
	// receiver sends what piled up as one update (Then).
	out := make(chan AssignmentUpdate, assignmentBuffer)
	go func() {
		defer close(out)
		defs := map[string]*TaskDefinition{} // task definitions are immutable: cache them
		sent := map[string]int64{}           // task id → revision of its assignment as sent
		for ctx.Err() == nil {
			if err := s.watchAssignmentsOnce(ctx, id, defs, sent, out); err != nil && ctx.Err() == nil {
				time.Sleep(100 * time.Millisecond)
			}
		}
	}()
	return out, nil
}

func (s *Service) watchAssignmentsOnce(ctx context.Context, instanceID string, defs map[string]*TaskDefinition, sent map[string]int64, out chan<- AssignmentUpdate) error {
	// Subscribe before listing, so that no change falls between the two.
	events, cancel := s.assignments.subscribe(instanceID)
	defer cancel()
	prefix := assignmentsPrefix + instanceID + "/"
	kvs, rev, err := s.store.ListAll(ctx, prefix)
	if err != nil {
		return err
	}
	full := AssignmentUpdate{Full: true, Assignments: []Assignment{}}
	listed := make(map[string]int64, len(kvs))
	for _, kv := range kvs {
		id := idOfKey(kv.Key)
		if sent[id] == kv.Revision {
			a, err := decodeRecord[assignment](kv)
			if err != nil {
				return err
			}
			full.Unchanged = append(full.Unchanged, s.taskArn(a.Cluster, id))
			listed[id] = kv.Revision
			continue
		}
		a, err := s.loadAssignment(ctx, kv, defs)
		if err != nil {
			return err
		}
		if a != nil {
			full.Assignments = append(full.Assignments, *a)
			listed[id] = kv.Revision
		}
	}
	if !send(ctx, out, full) {
		return nil
	}
	clear(sent)
	maps.Copy(sent, listed)
	// The full set goes out again now and then, so a receiver converges even if a
	// change went astray between here and the agent.
	resync := time.After(s.assignmentResync())
	for {
		var ev store.Event
		var ok bool
		select {
		case <-ctx.Done():
			return nil
		case <-resync:
			return nil
		case ev, ok = <-events:
		}
		if !ok {
			return errors.New("assignment feed dropped this instance; listing again")
		}
		if ev.Revision <= rev {
			continue // already in the full set
		}
		var up AssignmentUpdate
		if ev.Deleted {
			up.Removed = []string{idOfKey(ev.Key)}
			delete(sent, idOfKey(ev.Key))
		} else {
			a, err := s.loadAssignment(ctx, ev.KV, defs)
			if err != nil {
				return err
			}
			if a == nil {
				continue
			}
			up.Assignments = []Assignment{*a}
		}
		if !send(ctx, out, up) {
			return nil
		}
		if !ev.Deleted {
			sent[idOfKey(ev.Key)] = ev.Revision
		}
	}
}

// assignmentBuffer is how many updates WatchAssignments may have ready for a slow receiver.
const assignmentBuffer = 64

// Then returns the update that has the effect of u followed by next: next when it is a
// full set (keeping u's assignments of the tasks next names unchanged: next counts them
// as sent, and they were, in u), else u with next's changes after its own (a removed task
// leaves u's full set).
func (u AssignmentUpdate) Then(next AssignmentUpdate) AssignmentUpdate {
	if next.Full {
		out := AssignmentUpdate{Full: true, Unchanged: slices.Clone(next.Unchanged), Removed: next.Removed}
		for _, a := range u.Assignments {
			if i := slices.Index(out.Unchanged, a.Task.TaskArn); i >= 0 {
				out.Unchanged = slices.Delete(out.Unchanged, i, i+1)
				out.Assignments = append(out.Assignments, a)
			}
		}
		out.Assignments = append(out.Assignments, next.Assignments...)
		return out
	}
	out := AssignmentUpdate{Full: u.Full, Unchanged: slices.Clone(u.Unchanged),
		Assignments: slices.Concat(u.Assignments, next.Assignments), Removed: slices.Concat(u.Removed, next.Removed)}
	if u.Full && len(next.Removed) > 0 {
		gone := func(arn string) bool { return slices.Contains(next.Removed, idOfKey(arn)) }
		out.Assignments = slices.DeleteFunc(out.Assignments, func(a Assignment) bool { return gone(a.Task.TaskArn) })
		out.Unchanged = slices.DeleteFunc(out.Unchanged, gone)
	}
	return out
}

// DefaultAssignmentResync is how often WatchAssignments sends an instance's full set
// again, unless Config.AssignmentResync says otherwise.
const DefaultAssignmentResync = 30 * time.Second

func (s *Service) assignmentResync() time.Duration {
	if s.cfg.AssignmentResync > 0 {
		return s.cfg.AssignmentResync
	}
	return DefaultAssignmentResync
}

func send[T any](ctx context.Context, ch chan<- T, v T) bool {
	select {
	case ch <- v:
		return true
	case <-ctx.Done():
		return false
	}
}

// loadAssignment reads the task and task definition behind an assignment entry; nil when
// the task is gone.
func (s *Service) loadAssignment(ctx context.Context, kv store.KV, defs map[string]*TaskDefinition) (*Assignment, error) {
	a, err := decodeRecord[assignment](kv)
	if err != nil {
		return nil, err
	}
	// The task record is written in the same transaction as its assignment, but a watch
	// event can arrive before that revision is readable here (seen under load): read
	// until the record is at least as new as the assignment, for a bounded while.
	var rec *taskRecord
	for wait := time.Millisecond; ; wait *= 2 {
		var rev int64
		rec, rev, err = s.loadTaskAtLeast(ctx, a.Cluster, idOfKey(kv.Key), kv.Revision)
		if err != nil && !errors.Is(err, errTaskNotFound) {
			return nil, err
		}
		if (err == nil && rev >= kv.Revision) || wait > 512*time.Millisecond {
			break
		}
		time.Sleep(wait)
	}
	if rec == nil {
		return nil, nil
	}
	if a.DesiredStatus == TaskStopped {
		rec.Task.DesiredStatus = TaskStopped // the assignment is what the agent must do
	}
	td := defs[rec.Task.TaskDefinitionArn]
	if td == nil {
		tdRec, _, err := s.findTaskDef(ctx, rec.Task.TaskDefinitionArn)
		if err != nil {
			return nil, err
		}
		td = tdRec.TaskDefinition
		defs[td.TaskDefinitionARN] = td
	}
	return &Assignment{Task: &rec.Task, TaskDefinition: td}, nil
}

// mergeReport applies an agent's report r to the stored task t.
func mergeReport(t, r *Task) {
	if taskStatusOrder[r.LastStatus] > taskStatusOrder[t.LastStatus] {
		t.LastStatus = r.LastStatus
	}
	for _, p := range []struct{ dst, src *awsapi.Timestamp }{
		{&t.PullStartedAt, &r.PullStartedAt}, {&t.PullStoppedAt, &r.PullStoppedAt},
		{&t.StartedAt, &r.StartedAt}, {&t.StoppingAt, &r.StoppingAt},
		{&t.ExecutionStoppedAt, &r.ExecutionStoppedAt}, {&t.StoppedAt, &r.StoppedAt},
	} {
		if p.dst.IsZero() && !p.src.IsZero() {
			*p.dst = *p.src
		}
	}
	if r.StopCode != "" && t.StopCode == "" {
		t.StopCode, t.StoppedReason, t.DesiredStatus = r.StopCode, r.StoppedReason, TaskStopped
	}
	if r.HealthStatus != "" {
		t.HealthStatus = r.HealthStatus
	}
	if len(r.Attachments) > 0 && len(t.Attachments) > 0 {
		a := r.Attachments[0]
		t.Attachments[0].Status, t.Attachments[0].Details = a.Status, a.Details
	}
	for _, rc := range r.Containers {
		for i := range t.Containers {
			c := &t.Containers[i]
			if c.Name != rc.Name {
				continue
			}
			if taskStatusOrder[rc.LastStatus] > taskStatusOrder[c.LastStatus] {
				c.LastStatus = rc.LastStatus
			}
			c.ExitCode = cmp.Or(rc.ExitCode, c.ExitCode)
			c.Reason = cmp.Or(rc.Reason, c.Reason)
			c.RuntimeID = cmp.Or(rc.RuntimeID, c.RuntimeID)
			c.ImageDigest = cmp.Or(rc.ImageDigest, c.ImageDigest)
			c.HealthStatus = cmp.Or(rc.HealthStatus, c.HealthStatus)
			if len(rc.NetworkBindings) > 0 {
				c.NetworkBindings = rc.NetworkBindings
			}
			if len(rc.NetworkInterfaces) > 0 {
				c.NetworkInterfaces = rc.NetworkInterfaces
			}
		}
	}
	t.Version++
}

// DefaultStoppedTaskRetention is how long STOPPED tasks stay describable; ECS keeps them
// about an hour.
const DefaultStoppedTaskRetention = time.Hour

// ExpireStoppedTasks removes tasks STOPPED longer ago than the retention period, and
// RunTask client tokens as old, and returns how many tasks it removed.
func (s *Service) ExpireStoppedTasks(ctx context.Context) (int, error) {
	keep := s.cfg.StoppedTaskRetention
	if keep <= 0 {
		keep = DefaultStoppedTaskRetention
	}
	cutoff := s.cfg.Now().Add(-keep)
	removed, err := s.sweep(ctx, tasksPrefix, func(kv store.KV) bool {
		rec, err := decodeRecord[taskRecord](kv)
		return err == nil && rec.Task.LastStatus == TaskStopped && !rec.Task.StoppedAt.After(cutoff)
	})
	if err != nil {
		return removed, err
	}
	_, err = s.sweep(ctx, clientTokensPrefix, func(kv store.KV) bool {
		rec, err := decodeRecord[tokenRecord](kv)
		return err != nil || rec.At.Before(cutoff)
	})
	return removed, err
}

// sweep deletes the records under prefix that expired says are, a page at a time, and
// returns how many it deleted. Each delete expects the revision read: a record changed
// since is left for the next round.
func (s *Service) sweep(ctx context.Context, prefix string, expired func(store.KV) bool) (int, error) {
	from, deleted := "", 0
	for {
		page, more, err := s.store.List(ctx, prefix, from, 500, false)
		if err != nil {
			return deleted, err
		}
		for _, kv := range page {
			if expired(kv) && s.store.Commit(ctx, store.Write{Key: kv.Key, Delete: true, Expect: kv.Revision}) == nil {
				deleted++
			}
		}
		if !more || len(page) == 0 {
			return deleted, nil
		}
		from = page[len(page)-1].Key
	}
}

// TaskArnParts returns the cluster and id of a task ARN of this account and region.
func (s *Service) TaskArnParts(arn string) (cluster, id string, err error) {
	rest, ok := strings.CutPrefix(arn, s.arn("task/"))
	cluster, id, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 {
		return "", "", awsapi.InvalidParameter("task: %q is not a task ARN", arn)
	}
	_, err = s.taskID(cluster, id)
	return cluster, id, err
}

// AuthorizeInstance checks that instanceArn is a registered, not deregistered, instance
// and that principal may act as its agent: an agent's key only for the instance it
// registered, any other key (the in-process agent's root key) for all.
func (s *Service) AuthorizeInstance(ctx context.Context, instanceArn, principal string) error {
	cluster, id, err := s.splitInstanceArn(instanceArn)
	if err != nil {
		return err
	}
	// Every report asks this: the view answers without a read. Who registered an instance
	// never changes; a deregistration the view has not seen yet only lets a report in
	// that then finds its task stopped.
	if err := s.view.wait(ctx); err != nil {
		return err
	}
	rec := s.view.record(cluster, id)
	if rec == nil {
		rec, _, err = getRecord[instanceRecord](ctx, s.store, instanceKey(cluster, id))
	}
	if errors.Is(err, store.ErrNotFound) || (err == nil && rec.Instance.Status == instanceInactive) {
		return awsapi.ClientError("ClientException", "containerInstance: %s is not registered; register the agent again", instanceArn)
	}
	if err != nil {
		return err
	}
	if iam.IsAgentPrincipal(principal) && rec.RegisteredBy != principal {
		return awsapi.AccessDenied(principal, "ecs", "agent", "this key did not register "+instanceArn)
	}
	return nil
}

// TaskLocation returns the ARN of a task (named by id or ARN in cluster), of the
// container instance it runs on, and the name of its first container.
func (s *Service) TaskLocation(ctx context.Context, clusterIdent, taskIdent string) (taskArn, instanceArn, firstContainer string, err error) {
	cluster, err := s.activeClusterName(ctx, clusterIdent)
	if err != nil {
		return "", "", "", err
	}
	id, err := s.taskID(cluster, taskIdent)
	if err != nil {
		return "", "", "", err
	}
	rec, _, err := s.loadTask(ctx, cluster, id)
	if err != nil {
		return "", "", "", err
	}
	if len(rec.Task.Containers) > 0 {
		firstContainer = rec.Task.Containers[0].Name
	}
	return rec.Task.TaskArn, rec.Task.ContainerInstanceArn, firstContainer, nil
}

// ImagesInUse lists the image references and digests of the containers of every task that
// is not STOPPED, for registries that must not expire what runs.
func (s *Service) ImagesInUse(ctx context.Context) (refs, digests []string, err error) {
	from := ""
	for {
		page, more, err := s.store.List(ctx, tasksPrefix, from, 500, false)
		if err != nil {
			return nil, nil, err
		}
		for _, kv := range page {
			rec, err := decodeRecord[taskRecord](kv)
			if err != nil || rec.Task.LastStatus == TaskStopped {
				continue
			}
			for _, c := range rec.Task.Containers {
				refs = append(refs, c.Image)
				if c.ImageDigest != "" {
					digests = append(digests, c.ImageDigest)
				}
			}
		}
		if !more || len(page) == 0 {
			return refs, digests, nil
		}
		from = page[len(page)-1].Key
	}
}
