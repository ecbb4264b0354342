package ecs

import (
	"context"
	"errors"
	"sync"

	"gantry/internal/awsapi"
	"gantry/internal/store"
)

// ReportTasks merges what the agent of instanceArn reports about its tasks and returns
// one error per report (nil when taken). Each report brings a later lastStatus (never an
// earlier one), timestamps not yet set, the stop code and reason if none is set, health,
// attachments and each container's state. A task that reaches RUNNING counts as running
// on its instance (a marker key, so that the report does not touch the instance record
// the scheduler books on); one that reaches STOPPED releases its booking and leaves the
// agent's assignments.
//
// The reports are stored in one transaction (those that stop tasks go to the cluster's
// committer, which batches them too); a report that conflicts with another writer is
// then retried on its own.
func (s *Service) ReportTasks(ctx context.Context, instanceArn string, reports []*Task) []error {
	errs := make([]error, len(reports))
	cluster, instanceID, err := s.splitInstanceArn(instanceArn)
	if err != nil {
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	ids := make([]string, len(reports))
	var together, alone []int
	var writes []store.Write
	var recs []*taskRecord
	var releases sync.WaitGroup
	seen := map[string]bool{}
	for i, r := range reports {
		if ids[i], errs[i] = s.checkReport(cluster, r); errs[i] != nil {
			continue
		}
		if seen[ids[i]] { // a transaction may write a key only once
			alone = append(alone, i)
			continue
		}
		seen[ids[i]] = true
		rec, rev, ws, err := s.prepareReport(ctx, cluster, instanceID, ids[i], r)
		switch {
		case err != nil:
			errs[i] = err
		case rec == nil: // already STOPPED: nothing to store
		case rec.Task.LastStatus == TaskStopped:
			releases.Go(func() { errs[i] = s.release(ctx, rec, rev) })
		default:
			together, writes, recs = append(together, i), append(writes, ws...), append(recs, rec)
		}
	}
	if writeBytes(writes) > s.maxBatchBytes { // large tasks: one transaction each
		alone = append(alone, together...)
		together, writes = nil, nil
	}
	if len(writes) > 0 {
		rev, err := s.store.CommitRev(ctx, writes...)
		for k, i := range together {
			key := taskKey(cluster, ids[i])
			switch {
			case err == nil:
				s.taskCommitted(key, recs[k], rev)
			case errors.Is(err, store.ErrConflict):
				s.tasks.drop(key)
				alone = append(alone, i)
			default:
				errs[i] = err
			}
		}
	}
	releases.Wait()
	for i := range reports {
		if errors.Is(errs[i], store.ErrConflict) {
			alone = append(alone, i)
		}
	}
	for _, i := range alone {
		errs[i] = s.reportAlone(ctx, cluster, instanceID, ids[i], reports[i])
	}
	return errs
}

// checkReport validates a report and returns its task's id.
func (s *Service) checkReport(cluster string, r *Task) (string, error) {
	id, err := s.taskID(cluster, r.TaskArn)
	if err != nil {
		return "", err
	}
	if _, ok := taskStatusOrder[r.LastStatus]; !ok {
		return "", awsapi.InvalidParameter("lastStatus: %q is not a task status", r.LastStatus)
	}
	return id, nil
}

// reportAlone merges one report, reading the task again as long as others change it.
func (s *Service) reportAlone(ctx context.Context, cluster, instanceID, id string, r *Task) error {
	return retryOnConflict(ctx, func() error {
		rec, rev, writes, err := s.prepareReport(ctx, cluster, instanceID, id, r)
		switch {
		case err != nil || rec == nil:
			return err
		case rec.Task.LastStatus == TaskStopped:
			return s.release(ctx, rec, rev)
		default:
			return s.commitTask(ctx, rec, writes)
		}
	})
}

// prepareReport reads a task, merges report r into it and returns the record with the
// revision read and the writes that store it. The record is nil when the task is
// already STOPPED; when the report stops it, the writes are left to release.
func (s *Service) prepareReport(ctx context.Context, cluster, instanceID, id string, r *Task) (*taskRecord, int64, []store.Write, error) {
	rec, rev, err := s.loadTaskAtLeast(ctx, cluster, id, 0)
	if err != nil {
		return nil, 0, nil, err
	}
	if rec.InstanceID != instanceID {
		return nil, 0, nil, awsapi.InvalidParameter("task: %s does not run on %s", r.TaskArn, s.instanceArn(cluster, instanceID))
	}
	if rec.Task.LastStatus == TaskStopped {
		return nil, 0, nil, nil
	}
	wasRunning := taskStatusOrder[rec.Task.LastStatus] >= taskStatusOrder[TaskRunning]
	wasDesired := rec.Task.DesiredStatus
	mergeReport(&rec.Task, r)
	if rec.Task.LastStatus == TaskStopped {
		return rec, rev, nil, nil
	}
	var writes []store.Write
	if rec.Task.DesiredStatus != wasDesired {
		// The assignment carries the desired status: only a change concerns the agent.
		writes, err = s.assignmentWrites(rec, rev)
	} else {
		var w store.Write
		w, err = putRecord(taskKey(cluster, id), rec, rev)
		writes = []store.Write{w}
	}
	if err != nil {
		return nil, 0, nil, err
	}
	if !wasRunning && rec.Task.LastStatus == TaskRunning {
		writes = append(writes, store.Write{Key: runningKey(cluster, instanceID, id), Value: []byte{}, Expect: store.Any})
	}
	return rec, rev, writes, nil
}
