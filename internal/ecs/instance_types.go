package ecs

import (
	"encoding/json"

	"gantry/internal/awsapi"
)

// ContainerInstance is the ECS container instance shape: one machine running an agent.
type ContainerInstance struct {
	ContainerInstanceArn string           `json:"containerInstanceArn"`
	Ec2InstanceID        string           `json:"ec2InstanceId,omitempty"`
	Version              int64            `json:"version"`
	VersionInfo          *VersionInfo     `json:"versionInfo,omitempty"`
	RemainingResources   []Resource       `json:"remainingResources"`
	RegisteredResources  []Resource       `json:"registeredResources"`
	Status               string           `json:"status"`
	StatusReason         string           `json:"statusReason,omitempty"`
	AgentConnected       bool             `json:"agentConnected"`
	RunningTasksCount    int32            `json:"runningTasksCount"`
	PendingTasksCount    int32            `json:"pendingTasksCount"`
	Attributes           []Attribute      `json:"attributes"`
	RegisteredAt         awsapi.Timestamp `json:"registeredAt,omitzero"`
	Attachments          []Attachment     `json:"attachments"`
	Tags                 []Tag            `json:"tags"`
	CapacityProviderName string           `json:"capacityProviderName,omitempty"`
	// Members Gantry never sets: agent updates, instance health, GPUs.
	AgentUpdateStatus string          `json:"agentUpdateStatus,omitempty"`
	HealthStatus      json.RawMessage `json:"healthStatus,omitempty"`
	GpuDevices        json.RawMessage `json:"gpuDevices,omitempty"`
}

// VersionInfo names the agent and container runtime of an instance.
type VersionInfo struct {
	AgentVersion  string `json:"agentVersion,omitempty"`
	AgentHash     string `json:"agentHash,omitempty"`
	DockerVersion string `json:"dockerVersion,omitempty"`
}

// Resource is a registered or remaining resource of an instance: CPU and MEMORY are
// INTEGER, PORTS and PORTS_UDP are STRINGSET.
type Resource struct {
	Name           string   `json:"name"`
	Type           string   `json:"type"`
	DoubleValue    float64  `json:"doubleValue"`
	LongValue      int64    `json:"longValue"`
	IntegerValue   int32    `json:"integerValue"`
	StringSetValue []string `json:"stringSetValue,omitempty"`
}

// Container instance statuses Gantry uses.
const (
	instanceActive        = "ACTIVE"
	instanceDraining      = "DRAINING"
	instanceInactive      = "INACTIVE"
	instanceRegistering   = "REGISTERING"
	instanceDeregistering = "DEREGISTERING"
)
