package ecs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"time"

	"gantry/internal/awsapi"
	"gantry/internal/scheduler"
	"gantry/internal/store"
)

// Keys of task records. A task's assignment entry lives under its instance, so an agent
// watches one small range for the tasks it must run or stop.
const (
	tasksPrefix        = "/gantry/ecs/tasks/"
	assignmentsPrefix  = "/gantry/ecs/assignments/"
	clientTokensPrefix = "/gantry/ecs/clienttokens/"
)

// taskRecord is a task with what the server needs to release it.
type taskRecord struct {
	Task       Task    `json:"task"`
	Cluster    string  `json:"cluster"`
	InstanceID string  `json:"instanceId"`
	Booking    booking `json:"booking"` // what it holds on its instance until STOPPED
}

// assignment is the entry that tells an instance's agent about one of its tasks.
type assignment struct {
	Cluster       string `json:"cluster"`
	DesiredStatus string `json:"desiredStatus"`
}

func taskKey(cluster, id string) string { return tasksPrefix + cluster + "/" + id }
func assignmentKey(instanceID, taskID string) string {
	return assignmentsPrefix + instanceID + "/" + taskID
}

func (s *Service) taskArn(cluster, id string) string { return s.arn("task/" + cluster + "/" + id) }

// taskID accepts a task id or ARN in cluster and returns the id.
func (s *Service) taskID(cluster, ident string) (string, error) {
	return s.resourceID("task", "task", "task", cluster, ident)
}

// loadTask reads a task record and its revision; errTaskNotFound when it is absent.
func (s *Service) loadTask(ctx context.Context, cluster, id string) (*taskRecord, int64, error) {
	rec, rev, err := getRecord[taskRecord](ctx, s.store, taskKey(cluster, id))
	if errors.Is(err, store.ErrNotFound) {
		return nil, 0, errTaskNotFound
	}
	return rec, rev, err
}

type runTaskInput struct {
	Cluster                  string                         `json:"cluster"`
	TaskDefinition           string                         `json:"taskDefinition"`
	Count                    *int32                         `json:"count"`
	Group                    string                         `json:"group"`
	StartedBy                string                         `json:"startedBy"`
	LaunchType               string                         `json:"launchType"`
	Overrides                *TaskOverride                  `json:"overrides"`
	PlacementConstraints     []PlacementConstraint          `json:"placementConstraints"`
	PlacementStrategy        []PlacementStrategy            `json:"placementStrategy"`
	Tags                     []Tag                          `json:"tags"`
	ClientToken              string                         `json:"clientToken"`
	EnableECSManagedTags     bool                           `json:"enableECSManagedTags"`
	EnableExecuteCommand     bool                           `json:"enableExecuteCommand"`
	PropagateTags            string                         `json:"propagateTags"`
	ReferenceID              string                         `json:"referenceId"`
	PlatformVersion          string                         `json:"platformVersion"`
	NetworkConfiguration     *NetworkConfiguration          `json:"networkConfiguration"`
	CapacityProviderStrategy []CapacityProviderStrategyItem `json:"capacityProviderStrategy"`
	VolumeConfigurations     []json.RawMessage              `json:"volumeConfigurations"`
}

// NetworkConfiguration is the awsvpc configuration of RunTask. Gantry gives each awsvpc
// task an address on its instance's task bridge; subnets and security groups are
// accepted for compatibility and not used.
type NetworkConfiguration struct {
	AwsvpcConfiguration *AwsVpcConfiguration `json:"awsvpcConfiguration,omitempty"`
}

// AwsVpcConfiguration names subnets and security groups for awsvpc tasks.
type AwsVpcConfiguration struct {
	Subnets        []string `json:"subnets"`
	SecurityGroups []string `json:"securityGroups,omitempty"`
	AssignPublicIP string   `json:"assignPublicIp,omitempty"`
}

type runTaskOutput struct {
	Tasks    []*Task   `json:"tasks"`
	Failures []Failure `json:"failures"`
}

var errLaunchVolumes = awsapi.InvalidParameter("volumeConfigurations: Amazon EBS volumes configured at launch are not supported by Gantry; use task definition volumes")

// launch is one RunTask or StartTask call after validation.
type launch struct {
	cluster    string
	td         *TaskDefinition
	needs      booking
	overrides  *TaskOverride
	group      string
	startedBy  string
	tags       []Tag
	launchType string
	exec       bool
	token      string
}

func (s *Service) runTask(ctx context.Context, _ *awsapi.Request, in *runTaskInput) (*runTaskOutput, error) {
	count := 1
	if in.Count != nil {
		count = int(*in.Count)
	}
	if count < 1 || count > scheduler.MaxCount {
		return nil, awsapi.InvalidParameter("count: %d is out of range; run 1 to %d tasks per call", count, scheduler.MaxCount)
	}
	if len(in.VolumeConfigurations) > 0 {
		return nil, errLaunchVolumes
	}
	if len(in.CapacityProviderStrategy) > 0 {
		return nil, awsapi.InvalidParameter("capacityProviderStrategy: capacity providers are not supported by Gantry yet; leave it out to run on the cluster's container instances")
	}
	if len(in.PlacementConstraints) > scheduler.MaxConstraints || len(in.PlacementStrategy) > scheduler.MaxStrategies {
		return nil, awsapi.InvalidParameter("placementConstraints/placementStrategy: at most %d constraints and %d strategies", scheduler.MaxConstraints, scheduler.MaxStrategies)
	}
	l, err := s.newLaunch(ctx, in.Cluster, in.TaskDefinition, in.Overrides, in.Group, in.StartedBy, in.LaunchType, in.Tags)
	if err != nil {
		return nil, err
	}
	l.exec, l.token = in.EnableExecuteCommand, in.ClientToken
	if len(l.token) > 64 {
		return nil, awsapi.InvalidParameter("clientToken: at most 64 characters")
	}
	if l.token != "" {
		if out, err := s.replayToken(ctx, l.cluster, l.token); out != nil || err != nil {
			return out, err
		}
	}
	req := placementRequest(count, l.group, l.needs, l.td, in.PlacementConstraints, in.PlacementStrategy)
	return s.place(ctx, l, func(insts []scheduler.Instance) ([]scheduler.Placement, []scheduler.Failure, error) {
		return scheduler.Place(req, insts, rand.New(rand.NewSource(rand.Int63())))
	})
}

// newLaunch validates what RunTask and StartTask have in common.
func (s *Service) newLaunch(ctx context.Context, clusterIdent, tdIdent string, ov *TaskOverride, group, startedBy, launchType string, tags []Tag) (*launch, error) {
	cluster, err := s.activeClusterName(ctx, clusterIdent)
	if err != nil {
		return nil, err
	}
	switch launchType {
	case "", "EC2", "EXTERNAL", "FARGATE":
	default:
		return nil, awsapi.InvalidParameter("launchType: %q is invalid; use EC2, EXTERNAL or FARGATE", launchType)
	}
	if launchType == "" {
		launchType = "EC2"
	}
	rec, _, err := s.findTaskDef(ctx, tdIdent)
	if err != nil {
		return nil, err
	}
	td := rec.TaskDefinition
	if td.Status != tdActive {
		return nil, awsapi.ClientError("ClientException", "TaskDefinition is inactive")
	}
	if err := checkOverrides(td, ov); err != nil {
		return nil, err
	}
	needs, err := taskNeeds(td, ov)
	if err != nil {
		return nil, err
	}
	if group == "" {
		group = "family:" + td.Family
	}
	if len(group) > 255 {
		return nil, awsapi.InvalidParameter("group: at most 255 characters")
	}
	if len(startedBy) > 128 {
		return nil, awsapi.InvalidParameter("startedBy: at most 128 characters")
	}
	if err := validateTags(tags); err != nil {
		return nil, err
	}
	needs.Group = group
	return &launch{cluster: cluster, td: td, needs: needs, overrides: ov, group: group, startedBy: startedBy, tags: tags, launchType: launchType}, nil
}

// placeFunc chooses instances for a launch among the cluster's instances. It may change
// the slice it is given (its own copy).
type placeFunc func([]scheduler.Instance) ([]scheduler.Placement, []scheduler.Failure, error)

// tokenRecord is the answer of a RunTask with a clientToken, kept as long as stopped
// tasks are (the SDKs send a token with every RunTask).
type tokenRecord struct {
	At     time.Time      `json:"at"`
	Output *runTaskOutput `json:"output"`
}

// replayToken returns the answer of an earlier RunTask with the same clientToken, with
// the tasks as they are now; nil when the token is new.
func (s *Service) replayToken(ctx context.Context, cluster, token string) (*runTaskOutput, error) {
	rec, _, err := getRecord[tokenRecord](ctx, s.store, clientTokensPrefix+cluster+"/"+token)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	prev := rec.Output
	for i, t := range prev.Tasks {
		if rec, _, err := getRecord[taskRecord](ctx, s.store, taskKey(cluster, idOfKey(t.TaskArn))); err == nil {
			prev.Tasks[i] = s.presentTask(rec, time.Now())
		}
	}
	return prev, nil
}

// newTask makes the record of a task just placed on rec.
func (s *Service) newTask(l *launch, rec *instanceRecord) *Task {
	id := newID()
	arn := s.taskArn(l.cluster, id)
	now := s.now()
	t := &Task{
		TaskArn:              arn,
		ClusterArn:           s.arn("cluster/" + l.cluster),
		TaskDefinitionArn:    l.td.TaskDefinitionARN,
		ContainerInstanceArn: rec.Instance.ContainerInstanceArn,
		Overrides:            orEmptyOverride(l.overrides),
		LastStatus:           TaskProvisioning,
		DesiredStatus:        TaskRunning,
		CPU:                  fmt.Sprint(l.needs.CPU),
		Memory:               fmt.Sprint(l.needs.Memory),
		StartedBy:            l.startedBy,
		Version:              1,
		CreatedAt:            now,
		Group:                l.group,
		LaunchType:           l.launchType,
		Attachments:          []Attachment{},
		HealthStatus:         "UNKNOWN",
		Tags:                 orEmpty(l.tags),
		EnableExecuteCommand: l.exec,
		Connectivity:         "CONNECTED",
		ConnectivityAt:       now,
	}
	for _, a := range rec.Instance.Attributes {
		if a.Name == "ecs.availability-zone" {
			t.AvailabilityZone = a.Value
		}
	}
	for _, cd := range l.td.ContainerDefinitions {
		c := Container{
			ContainerArn:      s.arn("container/" + l.cluster + "/" + id + "/" + newID()),
			TaskArn:           arn,
			Name:              cd.Name,
			Image:             cd.Image,
			LastStatus:        TaskPending,
			NetworkBindings:   []NetworkBinding{},
			NetworkInterfaces: []NetworkInterface{},
			CPU:               fmt.Sprint(deref(cd.CPU)),
		}
		if cd.HealthCheck != nil {
			c.HealthStatus = "UNKNOWN"
		}
		if cd.Memory != nil {
			c.Memory = fmt.Sprint(*cd.Memory)
		}
		if cd.MemoryReservation != nil {
			c.MemoryReservation = fmt.Sprint(*cd.MemoryReservation)
		}
		t.Containers = append(t.Containers, c)
	}
	if l.td.NetworkMode == NetworkModeAwsvpc {
		t.Attachments = []Attachment{{ID: newID(), Type: "ElasticNetworkInterface", Status: "PRECREATED", Details: []KeyValuePair{}}}
	}
	return t
}

func orEmptyOverride(ov *TaskOverride) *TaskOverride {
	if ov == nil {
		return &TaskOverride{ContainerOverrides: []ContainerOverride{}}
	}
	return ov
}
