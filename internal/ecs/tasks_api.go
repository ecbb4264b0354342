package ecs

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"time"

	"gantry/internal/awsapi"
	"gantry/internal/scheduler"
	"gantry/internal/store"
)

type startTaskInput struct {
	Cluster              string                `json:"cluster"`
	ContainerInstances   []string              `json:"containerInstances"`
	TaskDefinition       string                `json:"taskDefinition"`
	Group                string                `json:"group"`
	StartedBy            string                `json:"startedBy"`
	Overrides            *TaskOverride         `json:"overrides"`
	Tags                 []Tag                 `json:"tags"`
	EnableECSManagedTags bool                  `json:"enableECSManagedTags"`
	EnableExecuteCommand bool                  `json:"enableExecuteCommand"`
	PropagateTags        string                `json:"propagateTags"`
	ReferenceID          string                `json:"referenceId"`
	NetworkConfiguration *NetworkConfiguration `json:"networkConfiguration"`
	VolumeConfigurations []json.RawMessage     `json:"volumeConfigurations"`
}

// startTask places one task on each named instance: no strategy, but the instance must
// still have room and satisfy the task definition's constraints.
func (s *Service) startTask(ctx context.Context, _ *awsapi.Request, in *startTaskInput) (*runTaskOutput, error) {
	if len(in.ContainerInstances) == 0 || len(in.ContainerInstances) > scheduler.MaxCount {
		return nil, awsapi.InvalidParameter("containerInstances: give 1 to %d container instance ids or ARNs", scheduler.MaxCount)
	}
	if len(in.VolumeConfigurations) > 0 {
		return nil, errLaunchVolumes
	}
	l, err := s.newLaunch(ctx, in.Cluster, in.TaskDefinition, in.Overrides, in.Group, in.StartedBy, "EC2", in.Tags)
	if err != nil {
		return nil, err
	}
	l.exec = in.EnableExecuteCommand
	wanted := make([]string, len(in.ContainerInstances))
	for i, ident := range in.ContainerInstances {
		id, err := s.instanceID(l.cluster, ident)
		if err != nil {
			return nil, err
		}
		wanted[i] = s.instanceArn(l.cluster, id)
	}
	req := placementRequest(1, l.group, l.needs, l.td, nil, nil)
	return s.place(ctx, l, func(insts []scheduler.Instance) ([]scheduler.Placement, []scheduler.Failure, error) {
		var placements []scheduler.Placement
		var failures []scheduler.Failure
		for _, arn := range wanted {
			i := slices.IndexFunc(insts, func(inst scheduler.Instance) bool { return inst.ARN == arn })
			if i < 0 {
				failures = append(failures, scheduler.Failure{Arn: arn, Reason: scheduler.ReasonMissing})
				continue
			}
			p, f, err := scheduler.Place(req, insts[i:i+1], nil)
			if err != nil {
				return nil, nil, err
			}
			// Book it in the scheduler's view too, so a second task on the same instance
			// sees the first.
			if len(p) > 0 {
				in := &insts[i] // a copy of the view's instance, with its own slices and maps
				in.Remaining.CPU -= l.needs.CPU
				in.Remaining.MemoryMiB -= l.needs.Memory
				in.Remaining.Ports = append(slices.Clip(in.Remaining.Ports), l.needs.Ports...)
				in.Remaining.PortsUDP = append(slices.Clip(in.Remaining.PortsUDP), l.needs.PortsUDP...)
				in.TaskCount++
				in.Groups = maps.Clone(in.Groups)
				if in.Groups == nil {
					in.Groups = map[string]int{}
				}
				in.Groups[l.group]++
			}
			placements, failures = append(placements, p...), append(failures, f...)
		}
		return placements, failures, nil
	})
}

type stopTaskInput struct {
	Cluster string `json:"cluster"`
	Task    string `json:"task"`
	Reason  string `json:"reason"`
}

type taskOutput struct {
	Task *Task `json:"task"`
}

func (s *Service) stopTaskAction(ctx context.Context, _ *awsapi.Request, in *stopTaskInput) (*taskOutput, error) {
	cluster, err := s.activeClusterName(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	id, err := s.taskID(cluster, in.Task)
	if err != nil {
		return nil, err
	}
	if len(in.Reason) > 1024 {
		return nil, awsapi.InvalidParameter("reason: at most 1024 characters")
	}
	reason := in.Reason
	if reason == "" {
		reason = "Task stopped by user"
	}
	t, err := s.stopTask(ctx, cluster, id, StopUserInitiated, reason)
	if err != nil {
		return nil, err
	}
	return &taskOutput{Task: t}, nil
}

var errTaskNotFound = awsapi.InvalidParameter("task: the referenced task was not found")

// stopTask sets a task's desiredStatus to STOPPED; its agent then stops it. A task whose
// instance is gone (deregistered) is stopped on the spot, as no agent will.
func (s *Service) stopTask(ctx context.Context, cluster, id, code, reason string) (*Task, error) {
	var out *Task
	err := retryOnConflict(ctx, func() error {
		rec, rev, err := s.loadTask(ctx, cluster, id)
		if err != nil {
			return err
		}
		t := &rec.Task
		if t.DesiredStatus == TaskStopped {
			out = t
			return nil
		}
		t.DesiredStatus, t.StopCode, t.StoppedReason = TaskStopped, code, reason
		t.Version++
		inst, _, err := getRecord[instanceRecord](ctx, s.store, instanceKey(cluster, rec.InstanceID))
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		out = t
		if inst == nil || inst.Instance.Status == instanceInactive {
			return s.release(ctx, rec, rev)
		}
		writes, err := s.assignmentWrites(rec, rev)
		if err != nil {
			return err
		}
		return s.commitTask(ctx, rec, writes)
	})
	return out, err
}

// assignmentWrites stores a task and tells its agent about the change.
func (s *Service) assignmentWrites(rec *taskRecord, rev int64) ([]store.Write, error) {
	w, err := putRecord(taskKey(rec.Cluster, idOfKey(rec.Task.TaskArn)), rec, rev)
	if err != nil {
		return nil, err
	}
	a, err := putRecord(assignmentKey(rec.InstanceID, idOfKey(rec.Task.TaskArn)), assignment{Cluster: rec.Cluster, DesiredStatus: rec.Task.DesiredStatus}, store.Any)
	return []store.Write{w, a}, err
}

// stoppedWrites marks a task STOPPED now and removes its assignment and running marker:
// the writes expect the task unchanged since it was read at rev. Its instance's usage is
// the caller's (release).
func (s *Service) stoppedWrites(rec *taskRecord, rev int64) ([]store.Write, error) {
	t := &rec.Task
	now := s.now()
	t.LastStatus, t.DesiredStatus = TaskStopped, TaskStopped
	if t.StoppedAt.IsZero() {
		t.StoppedAt = now
	}
	if t.StoppingAt.IsZero() {
		t.StoppingAt = now
	}
	if t.ExecutionStoppedAt.IsZero() {
		t.ExecutionStoppedAt = now
	}
	for i := range t.Containers {
		t.Containers[i].LastStatus = TaskStopped
	}
	id := idOfKey(t.TaskArn)
	w, err := putRecord(taskKey(rec.Cluster, id), rec, rev)
	if err != nil {
		return nil, err
	}
	return []store.Write{w,
		{Key: assignmentKey(rec.InstanceID, id), Delete: true, Expect: store.Any},
		{Key: runningKey(rec.Cluster, rec.InstanceID, id), Delete: true, Expect: store.Any},
	}, nil
}

type describeTasksInput struct {
	Cluster string   `json:"cluster"`
	Tasks   []string `json:"tasks"`
	Include []string `json:"include"`
}

type describeTasksOutput struct {
	Tasks    []*Task   `json:"tasks"`
	Failures []Failure `json:"failures"`
}

func (s *Service) describeTasks(ctx context.Context, _ *awsapi.Request, in *describeTasksInput) (*describeTasksOutput, error) {
	cluster, err := s.activeClusterName(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	if len(in.Tasks) == 0 || len(in.Tasks) > 100 {
		return nil, awsapi.InvalidParameter("tasks: give 1 to 100 task ids or ARNs")
	}
	for _, f := range in.Include {
		if f != "TAGS" {
			return nil, awsapi.InvalidParameter("include: %q is invalid; the only value is TAGS", f)
		}
	}
	out := &describeTasksOutput{Tasks: []*Task{}}
	recs, _, failures, err := lookupRecords[taskRecord](ctx, s, in.Tasks,
		func(ident string) (string, error) { return s.taskID(cluster, ident) },
		func(id string) string { return taskKey(cluster, id) },
		func(id string) string { return s.taskArn(cluster, id) })
	if err != nil {
		return nil, err
	}
	out.Failures = failures
	instIDs := make([]string, len(recs))
	for i, rec := range recs {
		instIDs[i] = rec.InstanceID
	}
	seen, err := s.lastSeen(ctx, instIDs)
	if err != nil {
		return nil, err
	}
	for _, rec := range recs {
		t := s.presentTask(rec, seen[rec.InstanceID])
		if !slices.Contains(in.Include, "TAGS") {
			t.Tags = nil
		}
		out.Tasks = append(out.Tasks, t)
	}
	return out, nil
}

// presentTask is a stored task as the API returns it: a task that is not STOPPED on an
// instance whose agent has gone silent shows connectivity DISCONNECTED since then.
func (s *Service) presentTask(rec *taskRecord, lastSeen time.Time) *Task {
	t := rec.Task
	if t.LastStatus != TaskStopped && !s.connected(lastSeen) {
		t.Connectivity = "DISCONNECTED"
		if !lastSeen.IsZero() {
			t.ConnectivityAt = awsapi.NewTimestamp(lastSeen)
		}
	}
	return &t
}

type listTasksInput struct {
	Cluster           string `json:"cluster"`
	ContainerInstance string `json:"containerInstance"`
	Family            string `json:"family"`
	StartedBy         string `json:"startedBy"`
	ServiceName       string `json:"serviceName"`
	DesiredStatus     string `json:"desiredStatus"`
	LaunchType        string `json:"launchType"`
	DaemonName        string `json:"daemonName"`
	NextToken         string `json:"nextToken"`
	MaxResults        *int32 `json:"maxResults"`
}

type listTasksOutput struct {
	TaskArns  []string `json:"taskArns"`
	NextToken string   `json:"nextToken,omitempty"`
}

func (s *Service) listTasks(ctx context.Context, _ *awsapi.Request, in *listTasksInput) (*listTasksOutput, error) {
	cluster, err := s.activeClusterName(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	limit, err := awsapi.PageSize(in.MaxResults, 100, 100)
	if err != nil {
		return nil, err
	}
	desired := in.DesiredStatus
	switch desired {
	case "":
		desired = TaskRunning
	case TaskRunning, TaskPending, TaskStopped:
	default:
		return nil, awsapi.InvalidParameter("desiredStatus: %q is invalid; use RUNNING, PENDING or STOPPED", in.DesiredStatus)
	}
	if in.ServiceName != "" && in.Family != "" {
		return nil, awsapi.InvalidParameter("family and serviceName cannot both be given")
	}
	instance := ""
	if in.ContainerInstance != "" {
		id, err := s.instanceID(cluster, in.ContainerInstance)
		if err != nil {
			return nil, err
		}
		instance = id
	}
	prefix := tasksPrefix + cluster + "/"
	from, err := awsapi.ResumeAfter(in.NextToken, prefix)
	if err != nil {
		return nil, err
	}
	out := &listTasksOutput{TaskArns: []string{}}
	out.NextToken, err = s.scan(ctx, prefix, from, limit, false, func(kv store.KV) (bool, error) {
		rec, err := decodeRecord[taskRecord](kv)
		if err != nil {
			return false, err
		}
		t := &rec.Task
		// A PENDING filter lists tasks wanted RUNNING that do not run yet, as in ECS.
		match := (desired == TaskPending && t.DesiredStatus == TaskRunning && taskStatusOrder[t.LastStatus] < taskStatusOrder[TaskRunning]) ||
			(desired != TaskPending && t.DesiredStatus == desired)
		match = match && (instance == "" || rec.InstanceID == instance) &&
			(in.Family == "" || familyOf(t.TaskDefinitionArn) == in.Family) &&
			(in.StartedBy == "" || t.StartedBy == in.StartedBy) &&
			(in.ServiceName == "" || t.Group == "service:"+in.ServiceName) &&
			(in.LaunchType == "" || t.LaunchType == in.LaunchType)
		if match {
			out.TaskArns = append(out.TaskArns, t.TaskArn)
		}
		return match, nil
	})
	return out, err
}

// familyOf returns the family of a task definition ARN.
func familyOf(tdArn string) string {
	family, _, _ := strings.Cut(idOfKey(tdArn), ":")
	return family
}
