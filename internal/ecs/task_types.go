package ecs

import (
	"encoding/json"

	"gantry/internal/awsapi"
)

// Task is the ECS task shape, as stored and as returned.
type Task struct {
	TaskArn              string           `json:"taskArn"`
	ClusterArn           string           `json:"clusterArn"`
	TaskDefinitionArn    string           `json:"taskDefinitionArn"`
	ContainerInstanceArn string           `json:"containerInstanceArn,omitempty"`
	Overrides            *TaskOverride    `json:"overrides"`
	LastStatus           string           `json:"lastStatus"`
	DesiredStatus        string           `json:"desiredStatus"`
	CPU                  string           `json:"cpu,omitempty"`
	Memory               string           `json:"memory,omitempty"`
	Containers           []Container      `json:"containers"`
	StartedBy            string           `json:"startedBy,omitempty"`
	Version              int64            `json:"version"`
	StoppedReason        string           `json:"stoppedReason,omitempty"`
	StopCode             string           `json:"stopCode,omitempty"`
	Connectivity         string           `json:"connectivity,omitempty"`
	ConnectivityAt       awsapi.Timestamp `json:"connectivityAt,omitzero"`
	PullStartedAt        awsapi.Timestamp `json:"pullStartedAt,omitzero"`
	PullStoppedAt        awsapi.Timestamp `json:"pullStoppedAt,omitzero"`
	ExecutionStoppedAt   awsapi.Timestamp `json:"executionStoppedAt,omitzero"`
	CreatedAt            awsapi.Timestamp `json:"createdAt,omitzero"`
	StartedAt            awsapi.Timestamp `json:"startedAt,omitzero"`
	StoppingAt           awsapi.Timestamp `json:"stoppingAt,omitzero"`
	StoppedAt            awsapi.Timestamp `json:"stoppedAt,omitzero"`
	Group                string           `json:"group,omitempty"`
	LaunchType           string           `json:"launchType,omitempty"`
	Attachments          []Attachment     `json:"attachments"`
	HealthStatus         string           `json:"healthStatus,omitempty"`
	Tags                 []Tag            `json:"tags"`
	EnableExecuteCommand bool             `json:"enableExecuteCommand"`
	AvailabilityZone     string           `json:"availabilityZone,omitempty"`
	Attributes           []Attribute      `json:"attributes,omitempty"`
	CapacityProviderName string           `json:"capacityProviderName,omitempty"`
	PlatformVersion      string           `json:"platformVersion,omitempty"`
	PlatformFamily       string           `json:"platformFamily,omitempty"`
	// Members Gantry never sets, kept so the shape is ECS's whole Task.
	EphemeralStorage        *EphemeralStorage      `json:"ephemeralStorage,omitempty"`
	FargateEphemeralStorage json.RawMessage        `json:"fargateEphemeralStorage,omitempty"`
	InferenceAccelerators   []InferenceAccelerator `json:"inferenceAccelerators,omitempty"`
}

// Container is one container of a task as the agent last reported it.
type Container struct {
	ContainerArn      string             `json:"containerArn"`
	TaskArn           string             `json:"taskArn"`
	Name              string             `json:"name"`
	Image             string             `json:"image"`
	ImageDigest       string             `json:"imageDigest,omitempty"`
	RuntimeID         string             `json:"runtimeId,omitempty"`
	LastStatus        string             `json:"lastStatus"`
	ExitCode          *int32             `json:"exitCode,omitempty"`
	Reason            string             `json:"reason,omitempty"`
	NetworkBindings   []NetworkBinding   `json:"networkBindings"`
	NetworkInterfaces []NetworkInterface `json:"networkInterfaces"`
	HealthStatus      string             `json:"healthStatus,omitempty"`
	CPU               string             `json:"cpu,omitempty"`
	Memory            string             `json:"memory,omitempty"`
	MemoryReservation string             `json:"memoryReservation,omitempty"`
	// Members Gantry never sets (GPUs, Neuron devices, managed agents).
	GpuIDs             []string          `json:"gpuIds,omitempty"`
	NeuronDeviceIDs    []string          `json:"neuronDeviceIds,omitempty"`
	GpuSharingStrategy json.RawMessage   `json:"gpuSharingStrategy,omitempty"`
	ManagedAgents      []json.RawMessage `json:"managedAgents,omitempty"`
}

// NetworkBinding is a published port of a container.
type NetworkBinding struct {
	BindIP        string `json:"bindIP,omitempty"`
	ContainerPort int32  `json:"containerPort"`
	HostPort      int32  `json:"hostPort"`
	Protocol      string `json:"protocol,omitempty"`
	// Port ranges are not published by Gantry yet.
	ContainerPortRange string `json:"containerPortRange,omitempty"`
	HostPortRange      string `json:"hostPortRange,omitempty"`
}

// NetworkInterface is a container's address in awsvpc mode.
type NetworkInterface struct {
	AttachmentID       string `json:"attachmentId,omitempty"`
	PrivateIpv4Address string `json:"privateIpv4Address,omitempty"`
	Ipv6Address        string `json:"ipv6Address,omitempty"`
}

// TaskOverride changes a task's definition for one run.
type TaskOverride struct {
	ContainerOverrides []ContainerOverride `json:"containerOverrides,omitempty"`
	CPU                string              `json:"cpu,omitempty"`
	Memory             string              `json:"memory,omitempty"`
	TaskRoleArn        string              `json:"taskRoleArn,omitempty"`
	ExecutionRoleArn   string              `json:"executionRoleArn,omitempty"`
	EphemeralStorage   *EphemeralStorage   `json:"ephemeralStorage,omitempty"`
	// InferenceAcceleratorOverrides are refused: Gantry has no Elastic Inference.
	InferenceAcceleratorOverrides []json.RawMessage `json:"inferenceAcceleratorOverrides,omitempty"`
}

// ContainerOverride changes one container of a task for one run.
type ContainerOverride struct {
	Name                 string                `json:"name,omitempty"`
	Command              []string              `json:"command,omitempty"`
	Environment          []KeyValuePair        `json:"environment,omitempty"`
	EnvironmentFiles     []EnvironmentFile     `json:"environmentFiles,omitempty"`
	CPU                  *int32                `json:"cpu,omitempty"`
	Memory               *int32                `json:"memory,omitempty"`
	MemoryReservation    *int32                `json:"memoryReservation,omitempty"`
	ResourceRequirements []ResourceRequirement `json:"resourceRequirements,omitempty"`
}

// Task statuses: lastStatus moves down this list; desiredStatus is RUNNING or STOPPED.
const (
	TaskProvisioning   = "PROVISIONING"
	TaskPending        = "PENDING"
	TaskActivating     = "ACTIVATING"
	TaskRunning        = "RUNNING"
	TaskDeactivating   = "DEACTIVATING"
	TaskStopping       = "STOPPING"
	TaskDeprovisioning = "DEPROVISIONING"
	TaskStopped        = "STOPPED"
)

// taskStatusOrder ranks lastStatus values; a report never moves a task backwards.
var taskStatusOrder = map[string]int{
	TaskProvisioning: 1, TaskPending: 2, TaskActivating: 3, TaskRunning: 4,
	TaskDeactivating: 5, TaskStopping: 6, TaskDeprovisioning: 7, TaskStopped: 8,
}

// Stop codes.
const (
	StopTaskFailedToStart         = "TaskFailedToStart"
	StopEssentialContainerExited  = "EssentialContainerExited"
	StopUserInitiated             = "UserInitiated"
	StopServiceSchedulerInitiated = "ServiceSchedulerInitiated"
	StopTerminationNotice         = "TerminationNotice"
)
