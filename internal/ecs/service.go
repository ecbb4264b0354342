package ecs

import (
	"hash/fnv"
	"sync"
	"time"

	"gantry/internal/awsapi"
	"gantry/internal/store"
)

// targetPrefix is the X-Amz-Target prefix of ECS actions.
const targetPrefix = "AmazonEC2ContainerServiceV20141113"

// Principals tells who owns an access key (package iam provides it).
type Principals interface {
	PrincipalFor(accessKeyID string) string
}

// Config holds what ECS needs to know about its surroundings.
type Config struct {
	Region  string
	Account string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// HeartbeatTimeout is how long an agent may stay silent before its instance shows
	// agentConnected false and its tasks connectivity DISCONNECTED; 0 means
	// DefaultHeartbeatTimeout.
	HeartbeatTimeout time.Duration
	// StoppedTaskRetention is how long STOPPED tasks stay describable; 0 means
	// DefaultStoppedTaskRetention.
	StoppedTaskRetention time.Duration
	// AssignmentResync is how often an agent is sent its full assignment set again; 0
	// means DefaultAssignmentResync.
	AssignmentResync time.Duration
}

// Service handles ECS actions against the store.
type Service struct {
	cfg        Config
	store      *store.Store
	principals Principals
	// familyLocks serialise registrations within one family on this server so that
	// concurrent registrations queue instead of failing their compare-and-swap; the
	// store's transaction still guards against other servers.
	familyLocks [64]sync.Mutex
	// view is the scheduler's picture of the instances; committer batches the changes
	// to their usage per cluster (placer.go).
	view          *instanceView
	committer     committer
	maxBatchBytes int
	// tasks caches the task records this server wrote lately (taskcache.go); waiters
	// are the WaitTask calls to wake when it writes one (taskwait.go).
	tasks       taskCache
	waiters     taskWaiters
	waitRecheck time.Duration
	// assignments feeds every connected agent's assignment changes from one store watch.
	assignments *assignmentFeed
}

// New returns the ECS service.
func New(cfg Config, st *store.Store, principals Principals) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Service{cfg: cfg, store: st, principals: principals, assignments: &assignmentFeed{st: st}, waitRecheck: defaultWaitRecheck, maxBatchBytes: defaultMaxBatchBytes}
	s.view = newInstanceView(st)
	return s
}

// API lists the ECS actions for the JSON dispatcher.
func (s *Service) API() *awsapi.Service {
	return &awsapi.Service{
		TargetPrefix: targetPrefix,
		SigningName:  "ecs",
		Actions: map[string]awsapi.Action{
			"CreateCluster":                 awsapi.Handle(s.createCluster),
			"DescribeClusters":              awsapi.Handle(s.describeClusters),
			"ListClusters":                  awsapi.Handle(s.listClusters),
			"UpdateCluster":                 awsapi.Handle(s.updateCluster),
			"UpdateClusterSettings":         awsapi.Handle(s.updateClusterSettings),
			"DeleteCluster":                 awsapi.Handle(s.deleteCluster),
			"RegisterTaskDefinition":        awsapi.Handle(s.registerTaskDefinition),
			"DescribeTaskDefinition":        awsapi.Handle(s.describeTaskDefinition),
			"ListTaskDefinitions":           awsapi.Handle(s.listTaskDefinitions),
			"ListTaskDefinitionFamilies":    awsapi.Handle(s.listTaskDefinitionFamilies),
			"DeregisterTaskDefinition":      awsapi.Handle(s.deregisterTaskDefinition),
			"DeleteTaskDefinitions":         awsapi.Handle(s.deleteTaskDefinitions),
			"TagResource":                   awsapi.Handle(s.tagResource),
			"UntagResource":                 awsapi.Handle(s.untagResource),
			"ListTagsForResource":           awsapi.Handle(s.listTagsForResource),
			"RegisterContainerInstance":     awsapi.Handle(s.registerContainerInstance),
			"DeregisterContainerInstance":   awsapi.Handle(s.deregisterContainerInstance),
			"DescribeContainerInstances":    awsapi.Handle(s.describeContainerInstances),
			"ListContainerInstances":        awsapi.Handle(s.listContainerInstances),
			"UpdateContainerInstancesState": awsapi.Handle(s.updateContainerInstancesState),
			"PutAttributes":                 awsapi.Handle(s.putAttributes),
			"DeleteAttributes":              awsapi.Handle(s.deleteAttributes),
			"ListAttributes":                awsapi.Handle(s.listAttributes),
			"RunTask":                       awsapi.Handle(s.runTask),
			"StartTask":                     awsapi.Handle(s.startTask),
			"StopTask":                      awsapi.Handle(s.stopTaskAction),
			"DescribeTasks":                 awsapi.Handle(s.describeTasks),
			"ListTasks":                     awsapi.Handle(s.listTasks),
		},
	}
}

func (s *Service) arn(resource string) string {
	return awsapi.ARN{Partition: "aws", Service: "ecs", Region: s.cfg.Region, Account: s.cfg.Account, Resource: resource}.String()
}

func (s *Service) lockFamily(family string) func() { return lockStripe(&s.familyLocks, family) }

// lockStripe locks the mutex of locks that key hashes to and returns its unlock.
func lockStripe(locks *[64]sync.Mutex, key string) func() {
	h := fnv.New32a()
	h.Write([]byte(key))
	m := &locks[h.Sum32()%uint32(len(locks))]
	m.Lock()
	return m.Unlock
}

func (s *Service) now() awsapi.Timestamp { return awsapi.NewTimestamp(s.cfg.Now()) }

// caller is the ARN of the principal making the request.
func (s *Service) caller(req *awsapi.Request) string {
	if req == nil { // a call from inside the server
		return ""
	}
	return s.principals.PrincipalFor(req.AccessKeyID)
}
