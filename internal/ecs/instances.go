package ecs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"gantry/internal/awsapi"
	"gantry/internal/iam"
	"gantry/internal/store"
)

// Keys of container instance records. Instances are keyed by cluster so a cluster's
// instances are one range read; heartbeats live apart so that the frequent heartbeat
// writes never conflict with bookings on the instance record.
const (
	instancesPrefix  = "/gantry/ecs/instances/"
	heartbeatsPrefix = "/gantry/ecs/heartbeats/"
)

// instanceRecord is a container instance with what its tasks hold (see usage).
type instanceRecord struct {
	Instance ContainerInstance `json:"instance"`
	Cluster  string            `json:"cluster"`
	Usage    usage             `json:"usage"`
	// RegisteredBy is the principal that registered the instance: an agent's key may
	// act only for the instance it registered.
	RegisteredBy string `json:"registeredBy,omitempty"`
}

// heartbeat is the last sign of life of an instance's agent.
type heartbeat struct {
	At     time.Time `json:"at"`
	Server string    `json:"server,omitempty"`
}

func instanceKey(cluster, id string) string { return instancesPrefix + cluster + "/" + id }

func newID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (s *Service) instanceArn(cluster, id string) string {
	return s.arn("container-instance/" + cluster + "/" + id)
}

// instanceID accepts a container instance id or ARN in cluster and returns the id.
func (s *Service) instanceID(cluster, ident string) (string, error) {
	return s.resourceID("containerInstance", "container-instance", "container instance", cluster, ident)
}

// resourceID accepts the id (32 hex digits) or ARN of a resource of kind in cluster, as
// the request member field names it, and returns the id.
func (s *Service) resourceID(field, kind, noun, cluster, ident string) (string, error) {
	id := ident
	if strings.HasPrefix(ident, "arn:") {
		var ok bool
		if id, ok = strings.CutPrefix(ident, s.arn(kind+"/"+cluster+"/")); !ok {
			return "", awsapi.InvalidParameter("%s: %q is not a %s ARN of cluster %s (%s)", field, ident, noun, cluster, s.arn(kind+"/"+cluster+"/ID"))
		}
	}
	if len(id) != 32 || strings.Trim(id, "0123456789abcdef") != "" {
		return "", awsapi.InvalidParameter("%s: %q is not a %s id (32 hex digits) or ARN", field, ident, noun)
	}
	return id, nil
}

// identityDocument is the part of an EC2 instance identity document Gantry reads; agents
// send the same shape with their machine's name as instanceId.
type identityDocument struct {
	InstanceID       string `json:"instanceId"`
	AvailabilityZone string `json:"availabilityZone"`
}

type registerContainerInstanceInput struct {
	Cluster                           string            `json:"cluster"`
	InstanceIdentityDocument          string            `json:"instanceIdentityDocument"`
	InstanceIdentityDocumentSignature string            `json:"instanceIdentityDocumentSignature"`
	TotalResources                    []Resource        `json:"totalResources"`
	VersionInfo                       *VersionInfo      `json:"versionInfo"`
	ContainerInstanceArn              string            `json:"containerInstanceArn"`
	Attributes                        []Attribute       `json:"attributes"`
	PlatformDevices                   []json.RawMessage `json:"platformDevices"`
	Tags                              []Tag             `json:"tags"`
}

type containerInstanceOutput struct {
	ContainerInstance *ContainerInstance `json:"containerInstance"`
}

func (s *Service) registerContainerInstance(ctx context.Context, req *awsapi.Request, in *registerContainerInstanceInput) (*containerInstanceOutput, error) {
	cluster, err := s.activeClusterName(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	var doc identityDocument
	if in.InstanceIdentityDocument != "" {
		if err := json.Unmarshal([]byte(in.InstanceIdentityDocument), &doc); err != nil {
			return nil, awsapi.InvalidParameter("instanceIdentityDocument: not a JSON identity document: %v", err)
		}
	}
	registered, err := checkTotalResources(in.TotalResources)
	if err != nil {
		return nil, err
	}
	if err := validateAttributes(in.Attributes); err != nil {
		return nil, err
	}
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}
	attrs := mergeAttributes(defaultInstanceAttributes(doc), in.Attributes)
	now := s.now()
	caller := s.caller(req)
	if in.ContainerInstanceArn != "" {
		return s.reregister(ctx, cluster, caller, in, doc, registered, attrs)
	}
	id := newID()
	rec := &instanceRecord{Cluster: cluster, RegisteredBy: caller, Instance: ContainerInstance{
		ContainerInstanceArn: s.instanceArn(cluster, id),
		Ec2InstanceID:        doc.InstanceID,
		Version:              1,
		VersionInfo:          in.VersionInfo,
		RegisteredResources:  registered,
		Status:               instanceActive,
		Attributes:           attrs,
		RegisteredAt:         now,
		Attachments:          []Attachment{},
		Tags:                 orEmpty(in.Tags),
	}}
	w, err := putRecord(instanceKey(cluster, id), rec, 0)
	if err != nil {
		return nil, err
	}
	rev, err := s.store.CommitRev(ctx, w)
	if err != nil {
		return nil, err
	}
	s.view.put(cluster, id, rec, rev)
	return &containerInstanceOutput{ContainerInstance: s.present(rec, time.Time{}, 0)}, nil
}

// updateInstance changes an instance record (compare-and-swap, retried) and puts the
// result in the instance view at once: a RunTask right after, on this server, must see
// the change (an instance made ACTIVE again, an attribute a constraint asks for), not
// wait for the watch to bring it.
func (s *Service) updateInstance(ctx context.Context, cluster, id string, mutate func(*instanceRecord) error) (*instanceRecord, error) {
	rec, rev, err := updateRecordRev(ctx, s.store, instanceKey(cluster, id), mutate)
	if err != nil {
		return nil, err
	}
	s.view.put(cluster, id, rec, rev)
	return rec, nil
}

// reregister updates an instance that registers again (an agent restarting): resources,
// attributes and version change, bookings stay.
func (s *Service) reregister(ctx context.Context, cluster, caller string, in *registerContainerInstanceInput, doc identityDocument, registered []Resource, attrs []Attribute) (*containerInstanceOutput, error) {
	id, err := s.instanceID(cluster, in.ContainerInstanceArn)
	if err != nil {
		return nil, err
	}
	rec, err := s.updateInstance(ctx, cluster, id, func(r *instanceRecord) error {
		if r.Instance.Status == instanceInactive {
			return awsapi.ClientError("ClientException", "containerInstanceArn: %s was deregistered; register without containerInstanceArn to join as a new instance", in.ContainerInstanceArn)
		}
		if iam.IsAgentPrincipal(caller) && r.RegisteredBy != caller {
			return awsapi.AccessDenied(caller, "ecs", "RegisterContainerInstance", "this key did not register "+in.ContainerInstanceArn)
		}
		r.Instance.RegisteredResources = registered
		r.Instance.Attributes = mergeAttributes(attrs, customAttributes(r.Instance.Attributes))
		r.Instance.VersionInfo = in.VersionInfo
		r.Instance.Ec2InstanceID = doc.InstanceID
		r.Instance.Version++
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, awsapi.ClientError("ClientException", "containerInstanceArn: %s is not registered in cluster %s", in.ContainerInstanceArn, cluster)
	}
	if err != nil {
		return nil, err
	}
	running, err := s.runningCount(ctx, cluster, id)
	if err != nil {
		return nil, err
	}
	return &containerInstanceOutput{ContainerInstance: s.present(rec, time.Time{}, running)}, nil
}

// checkTotalResources validates what an agent offers: CPU and MEMORY integers, PORTS and
// PORTS_UDP string sets of port numbers.
func checkTotalResources(rs []Resource) ([]Resource, error) {
	out := make([]Resource, 0, len(rs))
	seen := map[string]bool{}
	for i, r := range rs {
		if seen[r.Name] {
			return nil, awsapi.InvalidParameter("totalResources[%d].name: %s is given twice", i, r.Name)
		}
		seen[r.Name] = true
		switch r.Name {
		case "CPU", "MEMORY":
			v := r.IntegerValue
			if v == 0 {
				v = int32(r.LongValue)
			}
			if v <= 0 {
				return nil, awsapi.InvalidParameter("totalResources[%d].integerValue: %s must be a positive integer", i, r.Name)
			}
			out = append(out, Resource{Name: r.Name, Type: "INTEGER", IntegerValue: v})
		case "PORTS", "PORTS_UDP":
			for j, p := range r.StringSetValue {
				if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
					return nil, awsapi.InvalidParameter("totalResources[%d].stringSetValue[%d]: %q is not a port number (1-65535)", i, j, p)
				}
			}
			out = append(out, Resource{Name: r.Name, Type: "STRINGSET", StringSetValue: orEmpty(r.StringSetValue)})
		default:
			return nil, awsapi.InvalidParameter("totalResources[%d].name: %q is not a resource Gantry schedules; use CPU, MEMORY, PORTS or PORTS_UDP", i, r.Name)
		}
	}
	for _, name := range []string{"CPU", "MEMORY"} {
		if !seen[name] {
			return nil, awsapi.InvalidParameter("totalResources: %s is required", name)
		}
	}
	for _, name := range []string{"PORTS", "PORTS_UDP"} {
		if !seen[name] {
			out = append(out, Resource{Name: name, Type: "STRINGSET", StringSetValue: []string{}})
		}
	}
	return out, nil
}

// defaultInstanceAttributes are the ecs.* attributes every instance has: the
// capabilities of Gantry's agent that task definitions' requiresAttributes name.
func defaultInstanceAttributes(doc identityDocument) []Attribute {
	names := []string{
		"ecs.os-type", "ecs.os-family", "ecs.cpu-architecture",
		attrTaskENI, attrHealthCheck, attrOrdering, attrPidIpcShared, attrTaskIAMRole, attrECRAuth, attrExecECRPull,
		attrLogDriver + "json-file", attrLogDriver + "awslogs", attrExecAwslogs,
	}
	for _, v := range []string{"1.17", "1.18", "1.19", "1.21", "1.24", "1.25", "1.29", "1.30"} {
		names = append(names, attrDockerAPI+v)
	}
	values := map[string]string{"ecs.os-type": "linux", "ecs.os-family": "LINUX", "ecs.cpu-architecture": goarchToECS()}
	attrs := make([]Attribute, 0, len(names)+1)
	for _, n := range names {
		attrs = append(attrs, Attribute{Name: n, Value: values[n]})
	}
	if doc.AvailabilityZone != "" {
		attrs = append(attrs, Attribute{Name: "ecs.availability-zone", Value: doc.AvailabilityZone})
	}
	return attrs
}

// goarchToECS names the server's architecture as ECS does (x86_64, arm64). Agents send
// their own as a custom ecs.cpu-architecture attribute, which replaces this one.
func goarchToECS() string {
	if runtime.GOARCH == "amd64" {
		return "x86_64"
	}
	return runtime.GOARCH
}

// customAttributes are the attributes set with PutAttributes (or by the agent) that are
// not Gantry's own ecs.* ones.
func customAttributes(attrs []Attribute) []Attribute {
	var out []Attribute
	for _, a := range attrs {
		if !strings.HasPrefix(a.Name, "ecs.") && !strings.HasPrefix(a.Name, "com.amazonaws.ecs.") {
			out = append(out, a)
		}
	}
	return out
}

// mergeAttributes returns base with over applied: an attribute of the same name is replaced.
func mergeAttributes(base, over []Attribute) []Attribute {
	out := slices.Clone(base)
	for _, a := range over {
		a.TargetType, a.TargetID = "", ""
		if i := slices.IndexFunc(out, func(b Attribute) bool { return b.Name == a.Name }); i >= 0 {
			out[i] = a
		} else {
			out = append(out, a)
		}
	}
	return orEmpty(out)
}

// present turns a stored instance into the API shape: remaining resources from its usage,
// task counts from usage and the running tasks counted apart, agentConnected from its
// last heartbeat (zero: never seen).
func (s *Service) present(rec *instanceRecord, lastSeen time.Time, running int) *ContainerInstance {
	ci := rec.Instance
	ci.AgentConnected = s.connected(lastSeen)
	ci.RunningTasksCount = int32(running)
	ci.PendingTasksCount = int32(max(0, rec.Usage.Tasks-running))
	u := rec.Usage
	ci.RemainingResources = make([]Resource, 0, len(ci.RegisteredResources))
	for _, r := range ci.RegisteredResources {
		switch r.Name {
		case "CPU":
			r.IntegerValue -= int32(u.CPU)
		case "MEMORY":
			r.IntegerValue -= int32(u.Memory)
		case "PORTS":
			r.StringSetValue = appendPorts(slices.Clone(r.StringSetValue), u.Ports)
		case "PORTS_UDP":
			r.StringSetValue = appendPorts(slices.Clone(r.StringSetValue), u.PortsUDP)
		}
		ci.RemainingResources = append(ci.RemainingResources, r)
	}
	return &ci
}

func appendPorts(dst []string, ports []int) []string {
	for _, p := range ports {
		dst = append(dst, strconv.Itoa(p))
	}
	return dst
}

// connected tells whether an agent last seen at lastSeen (zero: never) counts as
// connected now.
func (s *Service) connected(lastSeen time.Time) bool {
	return !lastSeen.IsZero() && s.cfg.Now().Sub(lastSeen) < s.heartbeatTimeout()
}

// heartbeatTimeout is how long an agent may stay silent and still count as connected.
func (s *Service) heartbeatTimeout() time.Duration {
	if s.cfg.HeartbeatTimeout > 0 {
		return s.cfg.HeartbeatTimeout
	}
	return DefaultHeartbeatTimeout
}

// DefaultHeartbeatTimeout is three missed heartbeats at the agent protocol's 5 s interval.
const DefaultHeartbeatTimeout = 15 * time.Second

// Heartbeat records that the agent of an instance answered just now, through server.
func (s *Service) Heartbeat(ctx context.Context, instanceArn, server string) error {
	_, id, err := s.splitInstanceArn(instanceArn)
	if err != nil {
		return err
	}
	hb := heartbeat{At: s.cfg.Now(), Server: server}
	val, err := json.Marshal(hb)
	if err != nil {
		return err
	}
	if err := s.store.Commit(ctx, store.Write{Key: heartbeatsPrefix + id, Value: val, Expect: store.Any}); err != nil {
		return err
	}
	s.view.saw(id, hb.At)
	return nil
}

// splitInstanceArn returns the cluster and id of a container instance ARN.
func (s *Service) splitInstanceArn(arn string) (string, string, error) {
	rest, ok := strings.CutPrefix(arn, s.arn("container-instance/"))
	cluster, id, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 {
		return "", "", awsapi.InvalidParameter("containerInstance: %q is not a container instance ARN", arn)
	}
	_, err := s.instanceID(cluster, id)
	return cluster, id, err
}

// lastSeen returns the heartbeats of the given instance ids, from the instance view (the
// heartbeats this server stores go there at once, other servers' by the store's watch).
func (s *Service) lastSeen(ctx context.Context, ids []string) (map[string]time.Time, error) {
	if err := s.view.wait(ctx); err != nil {
		return nil, err
	}
	return s.view.lastSeen(ids), nil
}

// activeClusterName resolves a cluster name or ARN ("" is the default cluster) and checks
// the cluster exists and is ACTIVE.
func (s *Service) activeClusterName(ctx context.Context, ident string) (string, error) {
	if ident == "" {
		ident = defaultClusterName
	}
	name, err := s.clusterName(ident)
	if err != nil {
		return "", err
	}
	c, _, err := getRecord[Cluster](ctx, s.store, clustersPrefix+name)
	if errors.Is(err, store.ErrNotFound) || (err == nil && c.Status != statusActive) {
		return "", errClusterNotFound
	}
	return name, err
}
