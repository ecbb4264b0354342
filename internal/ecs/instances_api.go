package ecs

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"gantry/internal/awsapi"
	"gantry/internal/scheduler"
	"gantry/internal/store"
)

type describeContainerInstancesInput struct {
	Cluster            string   `json:"cluster"`
	ContainerInstances []string `json:"containerInstances"`
	Include            []string `json:"include"`
}

type describeContainerInstancesOutput struct {
	ContainerInstances []*ContainerInstance `json:"containerInstances"`
	Failures           []Failure            `json:"failures"`
}

func (s *Service) describeContainerInstances(ctx context.Context, _ *awsapi.Request, in *describeContainerInstancesInput) (*describeContainerInstancesOutput, error) {
	cluster, err := s.activeClusterName(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	if len(in.ContainerInstances) == 0 || len(in.ContainerInstances) > 100 {
		return nil, awsapi.InvalidParameter("containerInstances: give 1 to 100 container instance ids or ARNs")
	}
	for _, f := range in.Include {
		if f != "TAGS" && f != "CONTAINER_INSTANCE_HEALTH" {
			return nil, awsapi.InvalidParameter("include: %q is invalid; use TAGS or CONTAINER_INSTANCE_HEALTH", f)
		}
	}
	recs, ids, failures, err := lookupRecords[instanceRecord](ctx, s, in.ContainerInstances,
		func(ident string) (string, error) { return s.instanceID(cluster, ident) },
		func(id string) string { return instanceKey(cluster, id) },
		func(id string) string { return s.instanceArn(cluster, id) })
	if err != nil {
		return nil, err
	}
	seen, err := s.lastSeen(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := &describeContainerInstancesOutput{ContainerInstances: []*ContainerInstance{}, Failures: failures}
	for i, rec := range recs {
		running, err := s.runningCount(ctx, cluster, ids[i])
		if err != nil {
			return nil, err
		}
		ci := s.present(rec, seen[ids[i]], running)
		if !slices.Contains(in.Include, "TAGS") {
			ci.Tags = nil
		}
		out.ContainerInstances = append(out.ContainerInstances, ci)
	}
	return out, nil
}

// lookupRecords resolves each ident with parse and reads the records in one snapshot,
// returning those found with their ids; idents that do not parse or name nothing become
// MISSING failures (named by arn when they parse), as ECS's Describe* actions report them.
func lookupRecords[T any](ctx context.Context, s *Service, idents []string, parse func(string) (string, error), key, arn func(id string) string) ([]*T, []string, []Failure, error) {
	failures := []Failure{}
	var keys, ids []string
	for _, ident := range idents {
		id, err := parse(ident)
		if err != nil {
			failures = append(failures, Failure{Arn: ident, Reason: "MISSING"})
			continue
		}
		keys, ids = append(keys, key(id)), append(ids, id)
	}
	kvs, err := s.store.GetMany(ctx, keys)
	if err != nil {
		return nil, nil, nil, err
	}
	var recs []*T
	var found []string
	for i, k := range keys {
		kv, ok := kvs[k]
		if !ok {
			failures = append(failures, Failure{Arn: arn(ids[i]), Reason: "MISSING"})
			continue
		}
		rec, err := decodeRecord[T](kv)
		if err != nil {
			return nil, nil, nil, err
		}
		recs, found = append(recs, rec), append(found, ids[i])
	}
	return recs, found, failures, nil
}

type listContainerInstancesInput struct {
	Cluster    string `json:"cluster"`
	Filter     string `json:"filter"`
	Status     string `json:"status"`
	NextToken  string `json:"nextToken"`
	MaxResults *int32 `json:"maxResults"`
}

type listContainerInstancesOutput struct {
	ContainerInstanceArns []string `json:"containerInstanceArns"`
	NextToken             string   `json:"nextToken,omitempty"`
}

func (s *Service) listContainerInstances(ctx context.Context, _ *awsapi.Request, in *listContainerInstancesInput) (*listContainerInstancesOutput, error) {
	cluster, err := s.activeClusterName(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	limit, err := awsapi.PageSize(in.MaxResults, 100, 100)
	if err != nil {
		return nil, err
	}
	if in.Status != "" && !slices.Contains([]string{instanceActive, instanceDraining, instanceRegistering, instanceDeregistering, "REGISTRATION_FAILED"}, in.Status) {
		return nil, awsapi.InvalidParameter("status: %q is invalid; use ACTIVE, DRAINING, REGISTERING, DEREGISTERING or REGISTRATION_FAILED", in.Status)
	}
	var filter scheduler.Expr
	if in.Filter != "" {
		if filter, err = scheduler.ParseExpression(in.Filter); err != nil {
			return nil, awsapi.InvalidParameter("filter: %v", err)
		}
	}
	prefix := instancesPrefix + cluster + "/"
	from, err := awsapi.ResumeAfter(in.NextToken, prefix)
	if err != nil {
		return nil, err
	}
	out := &listContainerInstancesOutput{ContainerInstanceArns: []string{}}
	out.NextToken, err = s.scan(ctx, prefix, from, limit, false, func(kv store.KV) (bool, error) {
		rec, err := decodeRecord[instanceRecord](kv)
		if err != nil {
			return false, err
		}
		st := rec.Instance.Status
		if (in.Status == "" && st == instanceInactive) || (in.Status != "" && st != in.Status) {
			return false, nil
		}
		if filter != nil {
			seen, err := s.lastSeen(ctx, []string{idOfKey(kv.Key)})
			if err != nil {
				return false, err
			}
			inst := schedInstance(rec)
			inst.AgentConnected = s.connected(seen[idOfKey(kv.Key)])
			if !filter.Eval(&inst) {
				return false, nil
			}
		}
		out.ContainerInstanceArns = append(out.ContainerInstanceArns, rec.Instance.ContainerInstanceArn)
		return true, nil
	})
	return out, err
}

func idOfKey(key string) string { return key[strings.LastIndexByte(key, '/')+1:] }

// schedInstance is the scheduler's view of an instance, agentConnected aside (the caller
// knows the heartbeats).
func schedInstance(rec *instanceRecord) scheduler.Instance {
	ci := &rec.Instance
	inst := scheduler.Instance{
		ARN:          ci.ContainerInstanceArn,
		ID:           idOfKey(ci.ContainerInstanceArn),
		Attributes:   make(map[string]string, len(ci.Attributes)),
		RegisteredAt: ci.RegisteredAt.Time,
		Status:       ci.Status,
		Remaining:    remaining(rec),
		TaskCount:    rec.Usage.Tasks,
		Groups:       rec.Usage.Groups,
	}
	if ci.Ec2InstanceID != "" {
		inst.ID = ci.Ec2InstanceID
	}
	if ci.VersionInfo != nil {
		inst.AgentVersion = ci.VersionInfo.AgentVersion
	}
	for _, a := range ci.Attributes {
		inst.Attributes[a.Name] = a.Value
	}
	return inst
}

// remaining is what an instance has left for the scheduler: registered CPU and memory
// less its tasks', and, as ECS's remainingResources lists them, the host ports taken
// (reserved at registration or booked by a task).
func remaining(rec *instanceRecord) scheduler.Resources {
	var r scheduler.Resources
	for _, res := range rec.Instance.RegisteredResources {
		switch res.Name {
		case "CPU":
			r.CPU = int(res.IntegerValue) - rec.Usage.CPU
		case "MEMORY":
			r.MemoryMiB = int(res.IntegerValue) - rec.Usage.Memory
		case "PORTS":
			r.Ports = append(atoiAll(res.StringSetValue), rec.Usage.Ports...)
		case "PORTS_UDP":
			r.PortsUDP = append(atoiAll(res.StringSetValue), rec.Usage.PortsUDP...)
		}
	}
	return r
}

type updateContainerInstancesStateInput struct {
	Cluster            string   `json:"cluster"`
	ContainerInstances []string `json:"containerInstances"`
	Status             string   `json:"status"`
}

func (s *Service) updateContainerInstancesState(ctx context.Context, _ *awsapi.Request, in *updateContainerInstancesStateInput) (*describeContainerInstancesOutput, error) {
	cluster, err := s.activeClusterName(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	if in.Status != instanceActive && in.Status != instanceDraining {
		return nil, awsapi.InvalidParameter("status: %q is invalid; use ACTIVE or DRAINING", in.Status)
	}
	if len(in.ContainerInstances) == 0 || len(in.ContainerInstances) > 10 {
		return nil, awsapi.InvalidParameter("containerInstances: give 1 to 10 container instance ids or ARNs")
	}
	out := &describeContainerInstancesOutput{ContainerInstances: []*ContainerInstance{}, Failures: []Failure{}}
	for _, ident := range in.ContainerInstances {
		id, err := s.instanceID(cluster, ident)
		if err != nil {
			out.Failures = append(out.Failures, Failure{Arn: ident, Reason: "MISSING"})
			continue
		}
		rec, err := s.updateInstance(ctx, cluster, id, func(r *instanceRecord) error {
			if r.Instance.Status == instanceInactive {
				return store.ErrNotFound
			}
			if r.Instance.Status != in.Status {
				r.Instance.Status = in.Status
				r.Instance.Version++
			}
			return nil
		})
		if errors.Is(err, store.ErrNotFound) {
			out.Failures = append(out.Failures, Failure{Arn: s.instanceArn(cluster, id), Reason: "MISSING"})
			continue
		}
		if err != nil {
			return nil, err
		}
		seen, err := s.lastSeen(ctx, []string{id})
		if err != nil {
			return nil, err
		}
		running, err := s.runningCount(ctx, cluster, id)
		if err != nil {
			return nil, err
		}
		out.ContainerInstances = append(out.ContainerInstances, s.present(rec, seen[id], running))
	}
	return out, nil
}

type deregisterContainerInstanceInput struct {
	Cluster           string `json:"cluster"`
	ContainerInstance string `json:"containerInstance"`
	Force             *bool  `json:"force"`
}

func (s *Service) deregisterContainerInstance(ctx context.Context, _ *awsapi.Request, in *deregisterContainerInstanceInput) (*containerInstanceOutput, error) {
	cluster, err := s.activeClusterName(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	id, err := s.instanceID(cluster, in.ContainerInstance)
	if err != nil {
		return nil, err
	}
	force := in.Force != nil && *in.Force
	rec, err := s.updateInstance(ctx, cluster, id, func(r *instanceRecord) error {
		if r.Instance.Status == instanceInactive {
			return store.ErrNotFound
		}
		if r.Usage.Tasks > 0 && !force {
			return awsapi.InvalidParameter("containerInstance: %s still has %d tasks; stop them first, or pass force to deregister anyway (its tasks are then stopped)", in.ContainerInstance, r.Usage.Tasks)
		}
		r.Instance.Status = instanceInactive
		r.Instance.Version++
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, awsapi.InvalidParameter("containerInstance: %s is not a registered container instance of cluster %s", in.ContainerInstance, cluster)
	}
	if err != nil {
		return nil, err
	}
	taskIDs, err := s.tasksOnInstance(ctx, id)
	if err != nil {
		return nil, err
	}
	for _, taskID := range taskIDs {
		if _, err := s.stopTask(ctx, cluster, taskID, StopTerminationNotice, "Container instance deregistration forced by user"); err != nil && !errors.Is(err, errTaskNotFound) {
			return nil, err
		}
	}
	return &containerInstanceOutput{ContainerInstance: s.present(rec, time.Time{}, 0)}, nil
}
