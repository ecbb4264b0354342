package ecs

import "gantry/internal/awsapi"

// Wire shapes of ECS task definitions. Member names are the JSON 1.1 names of the
// com.amazonaws.ecs Smithy model as aws-sdk-go-v2/service/ecs v1.104.1 spells them
// (schemas/schemas.go, AddMember). Optional numbers and booleans are pointers so that
// "absent" and "0/false" stay apart; lists that AWS always returns on
// DescribeTaskDefinition carry no omitempty and are filled by newTaskDefinition.

// RegisterTaskDefinitionInput is the RegisterTaskDefinition request.
type RegisterTaskDefinitionInput struct {
	Family                  string                              `json:"family,omitempty"`
	TaskRoleARN             string                              `json:"taskRoleArn,omitempty"`
	ExecutionRoleARN        string                              `json:"executionRoleArn,omitempty"`
	NetworkMode             string                              `json:"networkMode,omitempty"`
	ContainerDefinitions    []ContainerDefinition               `json:"containerDefinitions,omitempty"`
	Volumes                 []Volume                            `json:"volumes,omitempty"`
	PlacementConstraints    []TaskDefinitionPlacementConstraint `json:"placementConstraints,omitempty"`
	RequiresCompatibilities []string                            `json:"requiresCompatibilities,omitempty"`
	CPU                     string                              `json:"cpu,omitempty"`
	Memory                  string                              `json:"memory,omitempty"`
	Tags                    []Tag                               `json:"tags,omitempty"`
	PidMode                 string                              `json:"pidMode,omitempty"`
	IpcMode                 string                              `json:"ipcMode,omitempty"`
	ProxyConfiguration      *ProxyConfiguration                 `json:"proxyConfiguration,omitempty"`
	InferenceAccelerators   []InferenceAccelerator              `json:"inferenceAccelerators,omitempty"`
	EphemeralStorage        *EphemeralStorage                   `json:"ephemeralStorage,omitempty"`
	RuntimePlatform         *RuntimePlatform                    `json:"runtimePlatform,omitempty"`
	EnableFaultInjection    *bool                               `json:"enableFaultInjection,omitempty"`
}

// TaskDefinition is a registered task definition as RegisterTaskDefinition and
// DescribeTaskDefinition return it. Tags travel beside it in those responses, not in it.
type TaskDefinition struct {
	TaskDefinitionARN       string                              `json:"taskDefinitionArn,omitempty"`
	ContainerDefinitions    []ContainerDefinition               `json:"containerDefinitions"`
	Family                  string                              `json:"family,omitempty"`
	TaskRoleARN             string                              `json:"taskRoleArn,omitempty"`
	ExecutionRoleARN        string                              `json:"executionRoleArn,omitempty"`
	NetworkMode             string                              `json:"networkMode,omitempty"`
	Revision                int32                               `json:"revision,omitempty"`
	Volumes                 []Volume                            `json:"volumes"`
	Status                  string                              `json:"status,omitempty"`
	RequiresAttributes      []Attribute                         `json:"requiresAttributes"`
	PlacementConstraints    []TaskDefinitionPlacementConstraint `json:"placementConstraints"`
	Compatibilities         []string                            `json:"compatibilities"`
	RuntimePlatform         *RuntimePlatform                    `json:"runtimePlatform,omitempty"`
	RequiresCompatibilities []string                            `json:"requiresCompatibilities,omitempty"`
	CPU                     string                              `json:"cpu,omitempty"`
	Memory                  string                              `json:"memory,omitempty"`
	InferenceAccelerators   []InferenceAccelerator              `json:"inferenceAccelerators,omitempty"`
	PidMode                 string                              `json:"pidMode,omitempty"`
	IpcMode                 string                              `json:"ipcMode,omitempty"`
	ProxyConfiguration      *ProxyConfiguration                 `json:"proxyConfiguration,omitempty"`
	RegisteredAt            awsapi.Timestamp                    `json:"registeredAt,omitzero"`
	DeregisteredAt          awsapi.Timestamp                    `json:"deregisteredAt,omitzero"`
	DeleteRequestedAt       awsapi.Timestamp                    `json:"deleteRequestedAt,omitzero"`
	RegisteredBy            string                              `json:"registeredBy,omitempty"`
	EphemeralStorage        *EphemeralStorage                   `json:"ephemeralStorage,omitempty"`
	EnableFaultInjection    *bool                               `json:"enableFaultInjection,omitempty"`
}

// ContainerDefinition describes one container of a task definition.
type ContainerDefinition struct {
	Name                   string                  `json:"name,omitempty"`
	Image                  string                  `json:"image,omitempty"`
	RepositoryCredentials  *RepositoryCredentials  `json:"repositoryCredentials,omitempty"`
	CPU                    *int32                  `json:"cpu,omitempty"`
	Memory                 *int32                  `json:"memory,omitempty"`
	MemoryReservation      *int32                  `json:"memoryReservation,omitempty"`
	Links                  []string                `json:"links,omitempty"`
	PortMappings           []PortMapping           `json:"portMappings"`
	Essential              *bool                   `json:"essential,omitempty"`
	RestartPolicy          *ContainerRestartPolicy `json:"restartPolicy,omitempty"`
	EntryPoint             []string                `json:"entryPoint,omitempty"`
	Command                []string                `json:"command,omitempty"`
	Environment            []KeyValuePair          `json:"environment"`
	EnvironmentFiles       []EnvironmentFile       `json:"environmentFiles,omitempty"`
	MountPoints            []MountPoint            `json:"mountPoints"`
	VolumesFrom            []VolumeFrom            `json:"volumesFrom"`
	LinuxParameters        *LinuxParameters        `json:"linuxParameters,omitempty"`
	Secrets                []Secret                `json:"secrets,omitempty"`
	DependsOn              []ContainerDependency   `json:"dependsOn,omitempty"`
	StartTimeout           *int32                  `json:"startTimeout,omitempty"`
	StopTimeout            *int32                  `json:"stopTimeout,omitempty"`
	VersionConsistency     string                  `json:"versionConsistency,omitempty"`
	Hostname               string                  `json:"hostname,omitempty"`
	User                   string                  `json:"user,omitempty"`
	WorkingDirectory       string                  `json:"workingDirectory,omitempty"`
	DisableNetworking      *bool                   `json:"disableNetworking,omitempty"`
	Privileged             *bool                   `json:"privileged,omitempty"`
	ReadonlyRootFilesystem *bool                   `json:"readonlyRootFilesystem,omitempty"`
	DNSServers             []string                `json:"dnsServers,omitempty"`
	DNSSearchDomains       []string                `json:"dnsSearchDomains,omitempty"`
	ExtraHosts             []HostEntry             `json:"extraHosts,omitempty"`
	DockerSecurityOptions  []string                `json:"dockerSecurityOptions,omitempty"`
	Interactive            *bool                   `json:"interactive,omitempty"`
	PseudoTerminal         *bool                   `json:"pseudoTerminal,omitempty"`
	DockerLabels           map[string]string       `json:"dockerLabels,omitempty"`
	Ulimits                []Ulimit                `json:"ulimits,omitempty"`
	LogConfiguration       *LogConfiguration       `json:"logConfiguration,omitempty"`
	HealthCheck            *HealthCheck            `json:"healthCheck,omitempty"`
	SystemControls         []SystemControl         `json:"systemControls"`
	ResourceRequirements   []ResourceRequirement   `json:"resourceRequirements,omitempty"`
	FirelensConfiguration  *FirelensConfiguration  `json:"firelensConfiguration,omitempty"`
	CredentialSpecs        []string                `json:"credentialSpecs,omitempty"`
}

// RepositoryCredentials names the secret holding private registry credentials.
type RepositoryCredentials struct {
	CredentialsParameter string `json:"credentialsParameter,omitempty"`
}

// PortMapping publishes a container port (or port range) on the host or task ENI.
type PortMapping struct {
	ContainerPort      *int32 `json:"containerPort,omitempty"`
	HostPort           *int32 `json:"hostPort,omitempty"`
	Protocol           string `json:"protocol,omitempty"`
	Name               string `json:"name,omitempty"`
	AppProtocol        string `json:"appProtocol,omitempty"`
	ContainerPortRange string `json:"containerPortRange,omitempty"`
}

// ContainerRestartPolicy restarts a container in place when it exits.
type ContainerRestartPolicy struct {
	Enabled              *bool   `json:"enabled,omitempty"`
	IgnoredExitCodes     []int32 `json:"ignoredExitCodes,omitempty"`
	RestartAttemptPeriod *int32  `json:"restartAttemptPeriod,omitempty"`
}

// KeyValuePair is an environment variable or a proxy property.
type KeyValuePair struct {
	Name  string `json:"name,omitempty"`
	Value string `json:"value,omitempty"`
}

// EnvironmentFile is an S3 object of environment variables.
type EnvironmentFile struct {
	Value string `json:"value,omitempty"`
	Type  string `json:"type,omitempty"`
}

// MountPoint mounts a task volume into a container.
type MountPoint struct {
	SourceVolume  string `json:"sourceVolume,omitempty"`
	ContainerPath string `json:"containerPath,omitempty"`
	ReadOnly      *bool  `json:"readOnly,omitempty"`
}

// VolumeFrom mounts every volume of another container of the task.
type VolumeFrom struct {
	SourceContainer string `json:"sourceContainer,omitempty"`
	ReadOnly        *bool  `json:"readOnly,omitempty"`
}

// LinuxParameters are Linux-specific container settings.
type LinuxParameters struct {
	Capabilities       *KernelCapabilities `json:"capabilities,omitempty"`
	Devices            []Device            `json:"devices,omitempty"`
	InitProcessEnabled *bool               `json:"initProcessEnabled,omitempty"`
	SharedMemorySize   *int32              `json:"sharedMemorySize,omitempty"`
	Tmpfs              []Tmpfs             `json:"tmpfs,omitempty"`
	MaxSwap            *int32              `json:"maxSwap,omitempty"`
	Swappiness         *int32              `json:"swappiness,omitempty"`
}

// KernelCapabilities adds to or drops from Docker's default capability set.
type KernelCapabilities struct {
	Add  []string `json:"add,omitempty"`
	Drop []string `json:"drop,omitempty"`
}

// Device exposes a host device in a container.
type Device struct {
	HostPath      string   `json:"hostPath,omitempty"`
	ContainerPath string   `json:"containerPath,omitempty"`
	Permissions   []string `json:"permissions,omitempty"`
}

// Tmpfs is a tmpfs mount; Size is in MiB.
type Tmpfs struct {
	ContainerPath string   `json:"containerPath,omitempty"`
	Size          *int32   `json:"size,omitempty"`
	MountOptions  []string `json:"mountOptions,omitempty"`
}

// Secret injects a Secrets Manager or Parameter Store value.
type Secret struct {
	Name      string `json:"name,omitempty"`
	ValueFrom string `json:"valueFrom,omitempty"`
}

// ContainerDependency orders container start-up within a task.
type ContainerDependency struct {
	ContainerName string `json:"containerName,omitempty"`
	Condition     string `json:"condition,omitempty"`
}

// HostEntry is a line appended to the container's /etc/hosts.
type HostEntry struct {
	Hostname  string `json:"hostname,omitempty"`
	IPAddress string `json:"ipAddress,omitempty"`
}

// Ulimit is a resource limit of the container's processes.
type Ulimit struct {
	Name      string `json:"name,omitempty"`
	SoftLimit *int32 `json:"softLimit,omitempty"`
	HardLimit *int32 `json:"hardLimit,omitempty"`
}

// LogConfiguration selects the container's log driver.
type LogConfiguration struct {
	LogDriver     string            `json:"logDriver,omitempty"`
	Options       map[string]string `json:"options,omitempty"`
	SecretOptions []Secret          `json:"secretOptions,omitempty"`
}

// HealthCheck is the container's Docker health check; durations are in seconds.
type HealthCheck struct {
	Command     []string `json:"command,omitempty"`
	Interval    *int32   `json:"interval,omitempty"`
	Timeout     *int32   `json:"timeout,omitempty"`
	Retries     *int32   `json:"retries,omitempty"`
	StartPeriod *int32   `json:"startPeriod,omitempty"`
}

// SystemControl is a namespaced kernel parameter (sysctl).
type SystemControl struct {
	Namespace string `json:"namespace,omitempty"`
	Value     string `json:"value,omitempty"`
}

// ResourceRequirement reserves GPUs or other accelerators for a container.
type ResourceRequirement struct {
	Value           string           `json:"value,omitempty"`
	Type            string           `json:"type,omitempty"`
	SharingStrategy *SharingStrategy `json:"sharingStrategy,omitempty"`
}

// SharingStrategy is a Smithy union: exactly one member is set.
type SharingStrategy struct {
	NvidiaMps *NvidiaMpsAllocation `json:"nvidiaMps,omitempty"`
}

// NvidiaMpsAllocation shares a GPU through NVIDIA Multi-Process Service.
type NvidiaMpsAllocation struct {
	Memory            *int32 `json:"memory,omitempty"`
	MaxComputePercent *int32 `json:"maxComputePercent,omitempty"`
}

// FirelensConfiguration makes the container a FireLens log router.
type FirelensConfiguration struct {
	Type    string            `json:"type,omitempty"`
	Options map[string]string `json:"options,omitempty"`
}

// Volume is a data volume of the task; at most one of its configurations is set.
type Volume struct {
	Name                                    string                                   `json:"name,omitempty"`
	Host                                    *HostVolumeProperties                    `json:"host,omitempty"`
	DockerVolumeConfiguration               *DockerVolumeConfiguration               `json:"dockerVolumeConfiguration,omitempty"`
	EFSVolumeConfiguration                  *EFSVolumeConfiguration                  `json:"efsVolumeConfiguration,omitempty"`
	S3FilesVolumeConfiguration              *S3FilesVolumeConfiguration              `json:"s3filesVolumeConfiguration,omitempty"`
	FSxWindowsFileServerVolumeConfiguration *FSxWindowsFileServerVolumeConfiguration `json:"fsxWindowsFileServerVolumeConfiguration,omitempty"`
	ConfiguredAtLaunch                      *bool                                    `json:"configuredAtLaunch,omitempty"`
}

// HostVolumeProperties is a bind mount; an empty SourcePath lets Docker pick the path.
type HostVolumeProperties struct {
	SourcePath string `json:"sourcePath,omitempty"`
}

// DockerVolumeConfiguration is a Docker-managed volume.
type DockerVolumeConfiguration struct {
	Scope         string            `json:"scope,omitempty"`
	Autoprovision *bool             `json:"autoprovision,omitempty"`
	Driver        string            `json:"driver,omitempty"`
	DriverOpts    map[string]string `json:"driverOpts,omitempty"`
	Labels        map[string]string `json:"labels,omitempty"`
}

// EFSVolumeConfiguration mounts an Amazon EFS file system.
type EFSVolumeConfiguration struct {
	FileSystemID          string                  `json:"fileSystemId,omitempty"`
	RootDirectory         string                  `json:"rootDirectory,omitempty"`
	TransitEncryption     string                  `json:"transitEncryption,omitempty"`
	TransitEncryptionPort *int32                  `json:"transitEncryptionPort,omitempty"`
	AuthorizationConfig   *EFSAuthorizationConfig `json:"authorizationConfig,omitempty"`
}

// EFSAuthorizationConfig selects the EFS access point and IAM authorization.
type EFSAuthorizationConfig struct {
	AccessPointID string `json:"accessPointId,omitempty"`
	IAM           string `json:"iam,omitempty"`
}

// S3FilesVolumeConfiguration mounts an S3 Files file system.
type S3FilesVolumeConfiguration struct {
	FileSystemARN         string `json:"fileSystemArn,omitempty"`
	RootDirectory         string `json:"rootDirectory,omitempty"`
	TransitEncryptionPort *int32 `json:"transitEncryptionPort,omitempty"`
	AccessPointARN        string `json:"accessPointArn,omitempty"`
}

// FSxWindowsFileServerVolumeConfiguration mounts an FSx for Windows File Server share.
type FSxWindowsFileServerVolumeConfiguration struct {
	FileSystemID        string                                   `json:"fileSystemId,omitempty"`
	RootDirectory       string                                   `json:"rootDirectory,omitempty"`
	AuthorizationConfig *FSxWindowsFileServerAuthorizationConfig `json:"authorizationConfig,omitempty"`
}

// FSxWindowsFileServerAuthorizationConfig names the domain credentials for FSx.
type FSxWindowsFileServerAuthorizationConfig struct {
	CredentialsParameter string `json:"credentialsParameter,omitempty"`
	Domain               string `json:"domain,omitempty"`
}

// TaskDefinitionPlacementConstraint restricts where tasks of the definition run.
type TaskDefinitionPlacementConstraint struct {
	Type       string `json:"type,omitempty"`
	Expression string `json:"expression,omitempty"`
}

// ProxyConfiguration is the App Mesh proxy of the task.
type ProxyConfiguration struct {
	Type          string         `json:"type,omitempty"`
	ContainerName string         `json:"containerName,omitempty"`
	Properties    []KeyValuePair `json:"properties,omitempty"`
}

// InferenceAccelerator is an Elastic Inference device (deprecated by AWS, still on the wire).
type InferenceAccelerator struct {
	DeviceName string `json:"deviceName,omitempty"`
	DeviceType string `json:"deviceType,omitempty"`
}

// EphemeralStorage sizes the task's ephemeral storage in GiB.
type EphemeralStorage struct {
	SizeInGiB *int32 `json:"sizeInGiB,omitempty"`
}

// RuntimePlatform is the OS family and CPU architecture the task needs.
type RuntimePlatform struct {
	CPUArchitecture       string `json:"cpuArchitecture,omitempty"`
	OperatingSystemFamily string `json:"operatingSystemFamily,omitempty"`
}

// Attribute is a container-instance attribute; task definitions list the ones they need.
type Attribute struct {
	Name       string `json:"name"`
	Value      string `json:"value,omitempty"`
	TargetType string `json:"targetType,omitempty"`
	TargetID   string `json:"targetId,omitempty"`
}

// Values of the enums newTaskDefinition branches on (types/enums.go of the SDK).
const (
	NetworkModeBridge = "bridge"
	NetworkModeHost   = "host"
	NetworkModeAwsvpc = "awsvpc"
	NetworkModeNone   = "none"

	CompatibilityEC2              = "EC2"
	CompatibilityFargate          = "FARGATE"
	CompatibilityExternal         = "EXTERNAL"
	CompatibilityManagedInstances = "MANAGED_INSTANCES"
)
