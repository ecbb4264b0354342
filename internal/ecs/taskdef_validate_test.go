package ecs

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ecs/schemas"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	smithy "github.com/aws/smithy-go"

	"gantry/internal/awsapi"
)

// ec2Input is a minimal valid EC2 registration: one container with a hard memory limit.
func ec2Input() *RegisterTaskDefinitionInput {
	return &RegisterTaskDefinitionInput{
		Family: "web",
		ContainerDefinitions: []ContainerDefinition{
			{Name: "app", Image: "nginx:1.27", Memory: new(int32(128))},
		},
	}
}

// fargateInput is a minimal valid Fargate registration.
func fargateInput() *RegisterTaskDefinitionInput {
	return &RegisterTaskDefinitionInput{
		Family:                  "web",
		NetworkMode:             "awsvpc",
		RequiresCompatibilities: []string{"FARGATE"},
		CPU:                     "256",
		Memory:                  "512",
		ContainerDefinitions:    []ContainerDefinition{{Name: "app", Image: "nginx:1.27"}},
	}
}

// withSidecar adds a second, non-essential container named "side".
func withSidecar(in *RegisterTaskDefinitionInput) *ContainerDefinition {
	in.ContainerDefinitions = append(in.ContainerDefinitions,
		ContainerDefinition{Name: "side", Image: "busybox", Memory: new(int32(64)), Essential: new(false)})
	return &in.ContainerDefinitions[1]
}

func port(container int32) PortMapping { return PortMapping{ContainerPort: new(container)} }

func wantAWSError(t *testing.T, err error, code, path string) {
	t.Helper()
	var ae *awsapi.Error
	if !errors.As(err, &ae) {
		t.Fatalf("error = %v; want %s naming %s", err, code, path)
	}
	if ae.Code != code || ae.Status != 400 || !strings.HasPrefix(ae.Message, path+": ") {
		t.Fatalf("error = %d %s %q; want 400 %s starting with %q", ae.Status, ae.Code, ae.Message, code, path+": ")
	}
}

type invalidCase struct {
	name   string
	base   func() *RegisterTaskDefinitionInput
	mutate func(*RegisterTaskDefinitionInput)
	path   string
	code   string // ClientException when empty
}

func runInvalid(t *testing.T, tests []invalidCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := baseOr(tt.base, ec2Input)()
			tt.mutate(in)
			td, err := newTaskDefinition(in)
			if td != nil {
				t.Errorf("got a task definition with an error expected")
			}
			code := tt.code
			if code == "" {
				code = "ClientException"
			}
			wantAWSError(t, err, code, tt.path)
		})
	}
}

func baseOr(f, def func() *RegisterTaskDefinitionInput) func() *RegisterTaskDefinitionInput {
	if f != nil {
		return f
	}
	return def
}

func TestNewTaskDefinitionRejectsTaskLevel(t *testing.T) {
	t.Parallel()
	c0 := func(in *RegisterTaskDefinitionInput) *ContainerDefinition { return &in.ContainerDefinitions[0] }
	runInvalid(t, []invalidCase{
		{name: "no family", mutate: func(in *RegisterTaskDefinitionInput) { in.Family = "" }, path: "family"},
		{name: "family charset", mutate: func(in *RegisterTaskDefinitionInput) { in.Family = "web app" }, path: "family"},
		{name: "family too long", mutate: func(in *RegisterTaskDefinitionInput) { in.Family = strings.Repeat("f", 256) }, path: "family"},
		{name: "no containers", mutate: func(in *RegisterTaskDefinitionInput) { in.ContainerDefinitions = nil }, path: "containerDefinitions"},
		{name: "eleven containers", mutate: func(in *RegisterTaskDefinitionInput) {
			for i := range 10 {
				in.ContainerDefinitions = append(in.ContainerDefinitions, ContainerDefinition{Name: fmt.Sprint("c", i), Image: "busybox", Memory: new(int32(8))})
			}
		}, path: "containerDefinitions"},
		{name: "network mode", mutate: func(in *RegisterTaskDefinitionInput) { in.NetworkMode = "overlay" }, path: "networkMode"},
		{name: "pid mode", mutate: func(in *RegisterTaskDefinitionInput) { in.PidMode = "container" }, path: "pidMode"},
		{name: "ipc mode", mutate: func(in *RegisterTaskDefinitionInput) { in.IpcMode = "shareable" }, path: "ipcMode"},
		{name: "compatibility", mutate: func(in *RegisterTaskDefinitionInput) { in.RequiresCompatibilities = []string{"EC2", "LAMBDA"} }, path: "requiresCompatibilities[1]"},
		{name: "cpu unparsable", mutate: func(in *RegisterTaskDefinitionInput) { in.CPU = "lots" }, path: "cpu"},
		{name: "cpu below EC2 range", mutate: func(in *RegisterTaskDefinitionInput) { in.CPU = "64" }, path: "cpu"},
		{name: "cpu above EC2 range", mutate: func(in *RegisterTaskDefinitionInput) { in.CPU = "193 vCPU" }, path: "cpu"},
		{name: "memory unit", mutate: func(in *RegisterTaskDefinitionInput) { in.Memory = "2 TB" }, path: "memory"},
		{name: "EXTERNAL with awsvpc", mutate: func(in *RegisterTaskDefinitionInput) {
			in.NetworkMode, in.RequiresCompatibilities = "awsvpc", []string{"EXTERNAL"}
		}, path: "networkMode"},
		{name: "placement constraint type", mutate: func(in *RegisterTaskDefinitionInput) {
			in.PlacementConstraints = []TaskDefinitionPlacementConstraint{{Type: "distinctInstance"}}
		}, path: "placementConstraints[0].type"},
		{name: "placement constraint expression", mutate: func(in *RegisterTaskDefinitionInput) {
			in.PlacementConstraints = []TaskDefinitionPlacementConstraint{{Type: "memberOf"}}
		}, path: "placementConstraints[0].expression"},
		{name: "eleven placement constraints", mutate: func(in *RegisterTaskDefinitionInput) {
			for range 11 {
				in.PlacementConstraints = append(in.PlacementConstraints, TaskDefinitionPlacementConstraint{Type: "memberOf", Expression: "attribute:ecs.os-type == linux"})
			}
		}, path: "placementConstraints"},
		{name: "proxy container", mutate: func(in *RegisterTaskDefinitionInput) {
			in.NetworkMode = "awsvpc"
			in.ProxyConfiguration = &ProxyConfiguration{Type: "APPMESH", ContainerName: "envoy"}
		}, path: "proxyConfiguration.containerName"},
		{name: "proxy needs awsvpc", mutate: func(in *RegisterTaskDefinitionInput) {
			in.ProxyConfiguration = &ProxyConfiguration{ContainerName: "app"}
		}, path: "proxyConfiguration"},
		{name: "ephemeral storage", mutate: func(in *RegisterTaskDefinitionInput) {
			in.EphemeralStorage = &EphemeralStorage{SizeInGiB: new(int32(20))}
		}, path: "ephemeralStorage.sizeInGiB"},
		{name: "runtime platform", mutate: func(in *RegisterTaskDefinitionInput) {
			in.RuntimePlatform = &RuntimePlatform{CPUArchitecture: "RISCV64"}
		}, path: "runtimePlatform.cpuArchitecture"},
		{name: "reserved tag", mutate: func(in *RegisterTaskDefinitionInput) { in.Tags = []Tag{{Key: "aws:owner", Value: "x"}} },
			path: "tags[0].key", code: "InvalidParameterException"},
		{name: "size limit", mutate: func(in *RegisterTaskDefinitionInput) {
			c0(in).Environment = []KeyValuePair{{Name: "BIG", Value: strings.Repeat("x", 64<<10)}}
		}, path: "taskDefinition"},
		{name: "no essential container", mutate: func(in *RegisterTaskDefinitionInput) { c0(in).Essential = new(false) }, path: "containerDefinitions"},
	})
}

func TestNewTaskDefinitionRejectsContainers(t *testing.T) {
	t.Parallel()
	c0 := func(in *RegisterTaskDefinitionInput) *ContainerDefinition { return &in.ContainerDefinitions[0] }
	runInvalid(t, []invalidCase{
		{name: "no name", mutate: func(in *RegisterTaskDefinitionInput) { c0(in).Name = "" }, path: "containerDefinitions[0].name"},
		{name: "name charset", mutate: func(in *RegisterTaskDefinitionInput) { c0(in).Name = "app.v1" }, path: "containerDefinitions[0].name"},
		{name: "duplicate name", mutate: func(in *RegisterTaskDefinitionInput) { withSidecar(in).Name = "app" }, path: "containerDefinitions[1].name"},
		{name: "no image", mutate: func(in *RegisterTaskDefinitionInput) { c0(in).Image = "" }, path: "containerDefinitions[0].image"},
		{name: "image too long", mutate: func(in *RegisterTaskDefinitionInput) { c0(in).Image = strings.Repeat("i", 256) }, path: "containerDefinitions[0].image"},
		{name: "image charset", mutate: func(in *RegisterTaskDefinitionInput) { c0(in).Image = "nginx latest" }, path: "containerDefinitions[0].image"},
		{name: "image digest", mutate: func(in *RegisterTaskDefinitionInput) { c0(in).Image = "nginx@sha256:abc" }, path: "containerDefinitions[0].image"},
		{name: "no memory anywhere", mutate: func(in *RegisterTaskDefinitionInput) { c0(in).Memory = nil }, path: "containerDefinitions[0].memory"},
		{name: "memory below 6 MiB", mutate: func(in *RegisterTaskDefinitionInput) { c0(in).Memory = new(int32(4)) }, path: "containerDefinitions[0].memory"},
		{name: "reservation below 6 MiB", mutate: func(in *RegisterTaskDefinitionInput) {
			c0(in).MemoryReservation = new(int32(5))
		}, path: "containerDefinitions[0].memoryReservation"},
		{name: "reservation above memory", mutate: func(in *RegisterTaskDefinitionInput) {
			c0(in).MemoryReservation = new(int32(256))
		}, path: "containerDefinitions[0].memoryReservation"},
		{name: "memory above task memory", mutate: func(in *RegisterTaskDefinitionInput) {
			in.Memory, c0(in).Memory = "512", new(int32(1024))
		}, path: "containerDefinitions[0].memory"},
		{name: "reservations above task memory", mutate: func(in *RegisterTaskDefinitionInput) {
			in.Memory, c0(in).Memory = "512", new(int32(300))
			side := withSidecar(in)
			side.Memory, side.MemoryReservation = nil, new(int32(300))
		}, path: "containerDefinitions"},
		{name: "negative cpu", mutate: func(in *RegisterTaskDefinitionInput) { c0(in).CPU = new(int32(-1)) }, path: "containerDefinitions[0].cpu"},
		{name: "cpu above task cpu", mutate: func(in *RegisterTaskDefinitionInput) {
			in.CPU, c0(in).CPU = "256", new(int32(200))
			withSidecar(in).CPU = new(int32(100))
		}, path: "containerDefinitions"},
		{name: "environment name", mutate: func(in *RegisterTaskDefinitionInput) {
			c0(in).Environment = []KeyValuePair{{Name: "A", Value: "1"}, {Value: "2"}}
		}, path: "containerDefinitions[0].environment[1].name"},
		{name: "environment file type", mutate: func(in *RegisterTaskDefinitionInput) {
			c0(in).EnvironmentFiles = []EnvironmentFile{{Type: "http", Value: "arn:aws:s3:::b/k.env"}}
		}, path: "containerDefinitions[0].environmentFiles[0].type"},
		{name: "eleven environment files", mutate: func(in *RegisterTaskDefinitionInput) {
			for range 11 {
				c0(in).EnvironmentFiles = append(c0(in).EnvironmentFiles, EnvironmentFile{Type: "s3", Value: "arn:aws:s3:::b/k.env"})
			}
		}, path: "containerDefinitions[0].environmentFiles"},
		{name: "secret valueFrom", mutate: func(in *RegisterTaskDefinitionInput) { c0(in).Secrets = []Secret{{Name: "PW"}} },
			path: "containerDefinitions[0].secrets[0].valueFrom"},
		{name: "ulimit name", mutate: func(in *RegisterTaskDefinitionInput) {
			c0(in).Ulimits = []Ulimit{{Name: "files", SoftLimit: new(int32(1)), HardLimit: new(int32(1))}}
		}, path: "containerDefinitions[0].ulimits[0].name"},
		{name: "ulimit soft above hard", mutate: func(in *RegisterTaskDefinitionInput) {
			c0(in).Ulimits = []Ulimit{{Name: "nofile", SoftLimit: new(int32(2048)), HardLimit: new(int32(1024))}}
		}, path: "containerDefinitions[0].ulimits[0].softLimit"},
		{name: "ulimit without hard", mutate: func(in *RegisterTaskDefinitionInput) {
			c0(in).Ulimits = []Ulimit{{Name: "nofile", SoftLimit: new(int32(1024))}}
		}, path: "containerDefinitions[0].ulimits[0]"},
		{name: "ulimit twice", mutate: func(in *RegisterTaskDefinitionInput) {
			u := Ulimit{Name: "nofile", SoftLimit: new(int32(1)), HardLimit: new(int32(1))}
			c0(in).Ulimits = []Ulimit{u, u}
		}, path: "containerDefinitions[0].ulimits[1].name"},
		{name: "log driver", mutate: func(in *RegisterTaskDefinitionInput) {
			c0(in).LogConfiguration = &LogConfiguration{LogDriver: "loki"}
		}, path: "containerDefinitions[0].logConfiguration.logDriver"},
		{name: "log driver missing", mutate: func(in *RegisterTaskDefinitionInput) {
			c0(in).LogConfiguration = &LogConfiguration{Options: map[string]string{"a": "b"}}
		}, path: "containerDefinitions[0].logConfiguration.logDriver"},
		{name: "links outside bridge", mutate: func(in *RegisterTaskDefinitionInput) {
			withSidecar(in)
			in.NetworkMode, c0(in).Links = "host", []string{"side"}
		}, path: "containerDefinitions[0].links"},
		{name: "link to unknown container", mutate: func(in *RegisterTaskDefinitionInput) { c0(in).Links = []string{"db:database"} },
			path: "containerDefinitions[0].links[0]"},
		{name: "link to itself", mutate: func(in *RegisterTaskDefinitionInput) { c0(in).Links = []string{"app"} },
			path: "containerDefinitions[0].links[0]"},
		{name: "hostname with awsvpc", mutate: func(in *RegisterTaskDefinitionInput) {
			in.NetworkMode, c0(in).Hostname = "awsvpc", "web1"
		}, path: "containerDefinitions[0].hostname"},
		{name: "extraHosts with awsvpc", mutate: func(in *RegisterTaskDefinitionInput) {
			in.NetworkMode, c0(in).ExtraHosts = "awsvpc", []HostEntry{{Hostname: "db", IPAddress: "10.0.0.2"}}
		}, path: "containerDefinitions[0].extraHosts"},
		{name: "restart period", mutate: func(in *RegisterTaskDefinitionInput) {
			c0(in).RestartPolicy = &ContainerRestartPolicy{Enabled: new(true), RestartAttemptPeriod: new(int32(30))}
		}, path: "containerDefinitions[0].restartPolicy.restartAttemptPeriod"},
		{name: "restart enabled missing", mutate: func(in *RegisterTaskDefinitionInput) {
			c0(in).RestartPolicy = &ContainerRestartPolicy{}
		}, path: "containerDefinitions[0].restartPolicy.enabled"},
		{name: "swappiness", mutate: func(in *RegisterTaskDefinitionInput) {
			c0(in).LinuxParameters = &LinuxParameters{MaxSwap: new(int32(0)), Swappiness: new(int32(101))}
		}, path: "containerDefinitions[0].linuxParameters.swappiness"},
		{name: "tmpfs size", mutate: func(in *RegisterTaskDefinitionInput) {
			c0(in).LinuxParameters = &LinuxParameters{Tmpfs: []Tmpfs{{ContainerPath: "/tmp"}}}
		}, path: "containerDefinitions[0].linuxParameters.tmpfs[0].size"},
		{name: "device permission", mutate: func(in *RegisterTaskDefinitionInput) {
			c0(in).LinuxParameters = &LinuxParameters{Devices: []Device{{HostPath: "/dev/fuse", Permissions: []string{"exec"}}}}
		}, path: "containerDefinitions[0].linuxParameters.devices[0].permissions[0]"},
		{name: "GPU count", mutate: func(in *RegisterTaskDefinitionInput) {
			c0(in).ResourceRequirements = []ResourceRequirement{{Type: "GPU", Value: "two"}}
		}, path: "containerDefinitions[0].resourceRequirements[0].value"},
		{name: "resource type", mutate: func(in *RegisterTaskDefinitionInput) {
			c0(in).ResourceRequirements = []ResourceRequirement{{Type: "TPU", Value: "1"}}
		}, path: "containerDefinitions[0].resourceRequirements[0].type"},
		{name: "firelens type", mutate: func(in *RegisterTaskDefinitionInput) {
			c0(in).FirelensConfiguration = &FirelensConfiguration{Type: "vector"}
		}, path: "containerDefinitions[0].firelensConfiguration.type"},
	})
}

func TestNewTaskDefinitionRejectsPortMappings(t *testing.T) {
	t.Parallel()
	ports := func(mode string, pms ...PortMapping) func(*RegisterTaskDefinitionInput) {
		return func(in *RegisterTaskDefinitionInput) {
			in.NetworkMode, in.ContainerDefinitions[0].PortMappings = mode, pms
		}
	}
	const p0 = "containerDefinitions[0].portMappings[0]"
	runInvalid(t, []invalidCase{
		{name: "containerPort 0", mutate: ports("", port(0)), path: p0 + ".containerPort"},
		{name: "containerPort 65536", mutate: ports("", port(65536)), path: p0 + ".containerPort"},
		{name: "containerPort missing", mutate: ports("", PortMapping{HostPort: new(int32(80))}), path: p0 + ".containerPort"},
		{name: "hostPort negative", mutate: ports("", PortMapping{ContainerPort: new(int32(80)), HostPort: new(int32(-1))}), path: p0 + ".hostPort"},
		{name: "hostPort 65536", mutate: ports("", PortMapping{ContainerPort: new(int32(80)), HostPort: new(int32(65536))}), path: p0 + ".hostPort"},
		{name: "protocol", mutate: ports("", PortMapping{ContainerPort: new(int32(80)), Protocol: "sctp"}), path: p0 + ".protocol"},
		{name: "appProtocol", mutate: ports("", PortMapping{ContainerPort: new(int32(80)), AppProtocol: "ftp"}), path: p0 + ".appProtocol"},
		{name: "name case", mutate: ports("", PortMapping{ContainerPort: new(int32(80)), Name: "Web"}), path: p0 + ".name"},
		{name: "name leading hyphen", mutate: ports("", PortMapping{ContainerPort: new(int32(80)), Name: "-web"}), path: p0 + ".name"},
		{name: "awsvpc hostPort differs", mutate: ports("awsvpc", PortMapping{ContainerPort: new(int32(80)), HostPort: new(int32(8080))}), path: p0 + ".hostPort"},
		{name: "host hostPort differs", mutate: ports("host", PortMapping{ContainerPort: new(int32(80)), HostPort: new(int32(0))}), path: p0 + ".hostPort"},
		{name: "none mode", mutate: ports("none", port(80)), path: "containerDefinitions[0].portMappings"},
		{name: "duplicate port", mutate: ports("", port(80), port(443), PortMapping{ContainerPort: new(int32(80)), Protocol: "tcp"}),
			path: "containerDefinitions[0].portMappings[2]"},
		{name: "range reversed", mutate: ports("", PortMapping{ContainerPortRange: "9000-8000"}), path: p0 + ".containerPortRange"},
		{name: "range malformed", mutate: ports("", PortMapping{ContainerPortRange: "8000"}), path: p0 + ".containerPortRange"},
		{name: "range in host mode", mutate: ports("host", PortMapping{ContainerPortRange: "8000-8010"}), path: p0 + ".containerPortRange"},
		{name: "range with containerPort", mutate: ports("", PortMapping{ContainerPortRange: "8000-8010", ContainerPort: new(int32(8000))}),
			path: p0 + ".containerPortRange"},
		{name: "range overlaps port", mutate: ports("", PortMapping{ContainerPortRange: "8000-8010"}, port(8005)),
			path: "containerDefinitions[0].portMappings[1]"},
	})
}

func TestNewTaskDefinitionRejectsHealthChecksAndDependencies(t *testing.T) {
	t.Parallel()
	hc := func(mutate func(*HealthCheck)) func(*RegisterTaskDefinitionInput) {
		return func(in *RegisterTaskDefinitionInput) {
			h := &HealthCheck{Command: []string{"CMD-SHELL", "curl -f http://localhost/ || exit 1"}}
			mutate(h)
			in.ContainerDefinitions[0].HealthCheck = h
		}
	}
	dep := func(d ContainerDependency, sidecar func(*ContainerDefinition)) func(*RegisterTaskDefinitionInput) {
		return func(in *RegisterTaskDefinitionInput) {
			sidecar(withSidecar(in))
			in.ContainerDefinitions[0].DependsOn = []ContainerDependency{d}
		}
	}
	keep := func(*ContainerDefinition) {}
	const h = "containerDefinitions[0].healthCheck"
	const d = "containerDefinitions[0].dependsOn[0]"
	runInvalid(t, []invalidCase{
		{name: "no command", mutate: hc(func(h *HealthCheck) { h.Command = nil }), path: h + ".command"},
		{name: "no CMD prefix", mutate: hc(func(h *HealthCheck) { h.Command = []string{"curl", "-f", "localhost"} }), path: h + ".command"},
		{name: "CMD alone", mutate: hc(func(h *HealthCheck) { h.Command = []string{"CMD"} }), path: h + ".command"},
		{name: "interval 4", mutate: hc(func(h *HealthCheck) { h.Interval = new(int32(4)) }), path: h + ".interval"},
		{name: "interval 301", mutate: hc(func(h *HealthCheck) { h.Interval = new(int32(301)) }), path: h + ".interval"},
		{name: "timeout 1", mutate: hc(func(h *HealthCheck) { h.Timeout = new(int32(1)) }), path: h + ".timeout"},
		{name: "timeout 61", mutate: hc(func(h *HealthCheck) { h.Timeout = new(int32(61)) }), path: h + ".timeout"},
		{name: "retries 0", mutate: hc(func(h *HealthCheck) { h.Retries = new(int32(0)) }), path: h + ".retries"},
		{name: "retries 11", mutate: hc(func(h *HealthCheck) { h.Retries = new(int32(11)) }), path: h + ".retries"},
		{name: "startPeriod -1", mutate: hc(func(h *HealthCheck) { h.StartPeriod = new(int32(-1)) }), path: h + ".startPeriod"},
		{name: "startPeriod 301", mutate: hc(func(h *HealthCheck) { h.StartPeriod = new(int32(301)) }), path: h + ".startPeriod"},
		{name: "depends on unknown", mutate: dep(ContainerDependency{ContainerName: "db", Condition: "START"}, keep), path: d + ".containerName"},
		{name: "depends on itself", mutate: dep(ContainerDependency{ContainerName: "app", Condition: "START"}, keep), path: d + ".containerName"},
		{name: "condition unknown", mutate: dep(ContainerDependency{ContainerName: "side", Condition: "READY"}, keep), path: d + ".condition"},
		{name: "condition missing", mutate: dep(ContainerDependency{ContainerName: "side"}, keep), path: d + ".condition"},
		{name: "HEALTHY without health check", mutate: dep(ContainerDependency{ContainerName: "side", Condition: "HEALTHY"}, keep), path: d + ".condition"},
		{name: "SUCCESS on essential", mutate: dep(ContainerDependency{ContainerName: "side", Condition: "SUCCESS"},
			func(c *ContainerDefinition) { c.Essential = nil }), path: d + ".condition"},
		{name: "cycle", mutate: dep(ContainerDependency{ContainerName: "side", Condition: "START"}, func(c *ContainerDefinition) {
			c.DependsOn = []ContainerDependency{{ContainerName: "app", Condition: "START"}}
		}), path: "containerDefinitions[0].dependsOn"},
	})
}

func TestNewTaskDefinitionRejectsVolumes(t *testing.T) {
	t.Parallel()
	vols := func(mount string, vs ...Volume) func(*RegisterTaskDefinitionInput) {
		return func(in *RegisterTaskDefinitionInput) {
			in.Volumes = vs
			if mount != "" {
				in.ContainerDefinitions[0].MountPoints = []MountPoint{{SourceVolume: mount, ContainerPath: "/data"}}
			}
		}
	}
	runInvalid(t, []invalidCase{
		{name: "no name", mutate: vols("", Volume{}), path: "volumes[0].name"},
		{name: "name charset", mutate: vols("", Volume{Name: "my data"}), path: "volumes[0].name"},
		{name: "duplicate name", mutate: vols("", Volume{Name: "data"}, Volume{Name: "data"}), path: "volumes[1].name"},
		{name: "two kinds", mutate: vols("", Volume{Name: "data", Host: &HostVolumeProperties{}, DockerVolumeConfiguration: &DockerVolumeConfiguration{}}),
			path: "volumes[0]"},
		{name: "docker scope", mutate: vols("", Volume{Name: "data", DockerVolumeConfiguration: &DockerVolumeConfiguration{Scope: "global"}}),
			path: "volumes[0].dockerVolumeConfiguration.scope"},
		{name: "efs file system", mutate: vols("", Volume{Name: "data", EFSVolumeConfiguration: &EFSVolumeConfiguration{}}),
			path: "volumes[0].efsVolumeConfiguration.fileSystemId"},
		{name: "efs IAM without encryption", mutate: vols("", Volume{Name: "data", EFSVolumeConfiguration: &EFSVolumeConfiguration{
			FileSystemID: "fs-1", AuthorizationConfig: &EFSAuthorizationConfig{IAM: "ENABLED"}}}),
			path: "volumes[0].efsVolumeConfiguration.transitEncryption"},
		{name: "efs access point root", mutate: vols("", Volume{Name: "data", EFSVolumeConfiguration: &EFSVolumeConfiguration{
			FileSystemID: "fs-1", RootDirectory: "/srv", TransitEncryption: "ENABLED", AuthorizationConfig: &EFSAuthorizationConfig{AccessPointID: "fsap-1"}}}),
			path: "volumes[0].efsVolumeConfiguration.rootDirectory"},
		{name: "fsx auth", mutate: vols("", Volume{Name: "data", FSxWindowsFileServerVolumeConfiguration: &FSxWindowsFileServerVolumeConfiguration{
			FileSystemID: "fs-1", RootDirectory: `\share`}}),
			path: "volumes[0].fsxWindowsFileServerVolumeConfiguration.authorizationConfig"},
		{name: "mount of undeclared volume", mutate: vols("logs", Volume{Name: "data"}), path: "containerDefinitions[0].mountPoints[0].sourceVolume"},
		{name: "mount without path", mutate: func(in *RegisterTaskDefinitionInput) {
			in.Volumes = []Volume{{Name: "data"}}
			in.ContainerDefinitions[0].MountPoints = []MountPoint{{SourceVolume: "data"}}
		}, path: "containerDefinitions[0].mountPoints[0].containerPath"},
		{name: "volumesFrom unknown", mutate: func(in *RegisterTaskDefinitionInput) {
			in.ContainerDefinitions[0].VolumesFrom = []VolumeFrom{{SourceContainer: "db"}}
		}, path: "containerDefinitions[0].volumesFrom[0].sourceContainer"},
		{name: "volumesFrom itself", mutate: func(in *RegisterTaskDefinitionInput) {
			in.ContainerDefinitions[0].VolumesFrom = []VolumeFrom{{SourceContainer: "app"}}
		}, path: "containerDefinitions[0].volumesFrom[0].sourceContainer"},
	})
}

func TestNewTaskDefinitionRejectsFargate(t *testing.T) {
	t.Parallel()
	c0 := func(in *RegisterTaskDefinitionInput) *ContainerDefinition { return &in.ContainerDefinitions[0] }
	runInvalid(t, invalidCases{
		{name: "bridge", mutate: func(in *RegisterTaskDefinitionInput) { in.NetworkMode = "bridge" }, path: "networkMode"},
		{name: "default network mode", mutate: func(in *RegisterTaskDefinitionInput) { in.NetworkMode = "" }, path: "networkMode"},
		{name: "no task cpu", mutate: func(in *RegisterTaskDefinitionInput) { in.CPU = "" }, path: "cpu"},
		{name: "no task memory", mutate: func(in *RegisterTaskDefinitionInput) { in.Memory, c0(in).Memory = "", new(int32(128)) }, path: "memory"},
		{name: "not a Fargate cpu", mutate: func(in *RegisterTaskDefinitionInput) { in.CPU = "384" }, path: "cpu"},
		{name: "pair", mutate: func(in *RegisterTaskDefinitionInput) { in.Memory = "4 GB" }, path: "memory"},
		{name: "privileged", mutate: func(in *RegisterTaskDefinitionInput) { c0(in).Privileged = new(true) }, path: "containerDefinitions[0].privileged"},
		{name: "placement constraints", mutate: func(in *RegisterTaskDefinitionInput) {
			in.PlacementConstraints = []TaskDefinitionPlacementConstraint{{Type: "memberOf", Expression: "attribute:ecs.os-type == linux"}}
		}, path: "placementConstraints"},
		{name: "pid host", mutate: func(in *RegisterTaskDefinitionInput) { in.PidMode = "host" }, path: "pidMode"},
		{name: "ipc", mutate: func(in *RegisterTaskDefinitionInput) { in.IpcMode = "task" }, path: "ipcMode"},
		{name: "host path", mutate: func(in *RegisterTaskDefinitionInput) {
			in.Volumes = []Volume{{Name: "d", Host: &HostVolumeProperties{SourcePath: "/srv"}}}
		}, path: "volumes[0].host.sourcePath"},
		{name: "docker volume", mutate: func(in *RegisterTaskDefinitionInput) {
			in.Volumes = []Volume{{Name: "d", DockerVolumeConfiguration: &DockerVolumeConfiguration{Scope: "task"}}}
		}, path: "volumes[0].dockerVolumeConfiguration"},
		{name: "devices", mutate: func(in *RegisterTaskDefinitionInput) {
			c0(in).LinuxParameters = &LinuxParameters{Devices: []Device{{HostPath: "/dev/fuse"}}}
		}, path: "containerDefinitions[0].linuxParameters.devices"},
		{name: "log driver", mutate: func(in *RegisterTaskDefinitionInput) {
			c0(in).LogConfiguration = &LogConfiguration{LogDriver: "json-file"}
		}, path: "containerDefinitions[0].logConfiguration.logDriver"},
		{name: "awslogs without execution role", mutate: func(in *RegisterTaskDefinitionInput) {
			c0(in).LogConfiguration = &LogConfiguration{LogDriver: "awslogs"}
		}, path: "executionRoleArn"},
		{name: "stop timeout", mutate: func(in *RegisterTaskDefinitionInput) { c0(in).StopTimeout = new(int32(121)) },
			path: "containerDefinitions[0].stopTimeout"},
		{name: "GPU", mutate: func(in *RegisterTaskDefinitionInput) {
			c0(in).ResourceRequirements = []ResourceRequirement{{Type: "GPU", Value: "1"}}
		}, path: "containerDefinitions[0].resourceRequirements"},
	}.withBase(fargateInput))
}

type invalidCases []invalidCase

func (cs invalidCases) withBase(base func() *RegisterTaskDefinitionInput) []invalidCase {
	for i := range cs {
		cs[i].base = base
	}
	return cs
}

func TestNewTaskDefinitionAccepts(t *testing.T) {
	t.Parallel()
	c0 := func(in *RegisterTaskDefinitionInput) *ContainerDefinition { return &in.ContainerDefinitions[0] }
	tests := []struct {
		name   string
		base   func() *RegisterTaskDefinitionInput
		mutate func(*RegisterTaskDefinitionInput)
	}{
		{"minimal EC2", nil, func(*RegisterTaskDefinitionInput) {}},
		{"minimal Fargate", fargateInput, func(*RegisterTaskDefinitionInput) {}},
		{"task memory instead of container memory", nil, func(in *RegisterTaskDefinitionInput) { in.Memory, c0(in).Memory = "2 GB", nil }},
		{"reservation only", nil, func(in *RegisterTaskDefinitionInput) { c0(in).Memory, c0(in).MemoryReservation = nil, new(int32(6)) }},
		{"reservation equal to memory", nil, func(in *RegisterTaskDefinitionInput) { c0(in).MemoryReservation = new(int32(128)) }},
		{"EC2 cpu bounds", nil, func(in *RegisterTaskDefinitionInput) { in.CPU = "0.125 vCPU" }},
		{"EC2 cpu max", nil, func(in *RegisterTaskDefinitionInput) { in.CPU = "196608" }},
		{"family of 255", nil, func(in *RegisterTaskDefinitionInput) { in.Family = strings.Repeat("f", 255) }},
		{"ten containers", nil, func(in *RegisterTaskDefinitionInput) {
			for i := range 9 {
				in.ContainerDefinitions = append(in.ContainerDefinitions, ContainerDefinition{Name: fmt.Sprint("c", i), Image: "busybox", Memory: new(int32(8))})
			}
		}},
		{"image digest", nil, func(in *RegisterTaskDefinitionInput) { c0(in).Image = "nginx@sha256:" + strings.Repeat("ab", 32) }},
		{"health check bounds", nil, func(in *RegisterTaskDefinitionInput) {
			c0(in).HealthCheck = &HealthCheck{Command: []string{"CMD", "true"}, Interval: new(int32(5)), Timeout: new(int32(60)), Retries: new(int32(10)), StartPeriod: new(int32(300))}
		}},
		{"health check NONE", nil, func(in *RegisterTaskDefinitionInput) { c0(in).HealthCheck = &HealthCheck{Command: []string{"NONE"}} }},
		{"HEALTHY dependency", nil, func(in *RegisterTaskDefinitionInput) {
			withSidecar(in).HealthCheck = &HealthCheck{Command: []string{"CMD-SHELL", "true"}}
			c0(in).DependsOn = []ContainerDependency{{ContainerName: "side", Condition: "HEALTHY"}}
		}},
		{"COMPLETE on non-essential", nil, func(in *RegisterTaskDefinitionInput) {
			withSidecar(in)
			c0(in).DependsOn = []ContainerDependency{{ContainerName: "side", Condition: "COMPLETE"}}
		}},
		{"bridge ports", nil, func(in *RegisterTaskDefinitionInput) {
			c0(in).PortMappings = []PortMapping{port(80), {ContainerPort: new(int32(80)), Protocol: "udp"}, {ContainerPort: new(int32(443)), HostPort: new(int32(8443))}, {ContainerPortRange: "9000-9100"}}
		}},
		{"awsvpc port with equal hostPort", nil, func(in *RegisterTaskDefinitionInput) {
			in.NetworkMode = "awsvpc"
			c0(in).PortMappings = []PortMapping{{ContainerPort: new(int32(80)), HostPort: new(int32(80)), Name: "web_80", AppProtocol: "http"}}
		}},
		{"links", nil, func(in *RegisterTaskDefinitionInput) { withSidecar(in); c0(in).Links = []string{"side:sidecar"} }},
		{"ulimits", nil, func(in *RegisterTaskDefinitionInput) {
			c0(in).Ulimits = []Ulimit{{Name: "nofile", SoftLimit: new(int32(1024)), HardLimit: new(int32(1024))}, {Name: "memlock", SoftLimit: new(int32(-1)), HardLimit: new(int32(-1))}}
		}},
		{"EXTERNAL bridge", nil, func(in *RegisterTaskDefinitionInput) { in.RequiresCompatibilities = []string{"EXTERNAL"} }},
		{"MANAGED_INSTANCES", nil, func(in *RegisterTaskDefinitionInput) {
			in.NetworkMode, in.RequiresCompatibilities = "awsvpc", []string{"MANAGED_INSTANCES"}
		}},
		{"EFS with access point", nil, func(in *RegisterTaskDefinitionInput) {
			in.Volumes = []Volume{{Name: "data", EFSVolumeConfiguration: &EFSVolumeConfiguration{FileSystemID: "fs-1", RootDirectory: "/",
				TransitEncryption: "ENABLED", AuthorizationConfig: &EFSAuthorizationConfig{AccessPointID: "fsap-1", IAM: "ENABLED"}}}}
			c0(in).MountPoints = []MountPoint{{SourceVolume: "data", ContainerPath: "/data"}}
		}},
		{"Fargate with awslogs and execution role", fargateInput, func(in *RegisterTaskDefinitionInput) {
			in.ExecutionRoleARN = "arn:aws:iam::123456789012:role/exec"
			c0(in).LogConfiguration = &LogConfiguration{LogDriver: "awslogs", Options: map[string]string{"awslogs-group": "/ecs/web"}}
		}},
		{"Fargate largest", fargateInput, func(in *RegisterTaskDefinitionInput) { in.CPU, in.Memory = "16 vCPU", "120 GB" }},
		{"proxy", nil, func(in *RegisterTaskDefinitionInput) {
			in.NetworkMode = "awsvpc"
			in.ProxyConfiguration = &ProxyConfiguration{Type: "APPMESH", ContainerName: "app", Properties: []KeyValuePair{{Name: "AppPorts", Value: "80"}}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := baseOr(tt.base, ec2Input)()
			tt.mutate(in)
			if _, err := newTaskDefinition(in); err != nil {
				t.Fatalf("newTaskDefinition: %v", err)
			}
		})
	}
}

func TestParseTaskCPU(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want int // 0: rejected
	}{
		{"256", 256}, {"1024", 1024}, {" 512 ", 512},
		{"1 vCPU", 1024}, {"1vcpu", 1024}, {"2 VCPU", 2048}, {"0.5 vCPU", 512}, {".25 vCPU", 256},
		{"0.125 vCPU", 128}, {"16 vCPU", 16384}, {"192 vCPU", 196608},
		{"", 0}, {"0", 0}, {"0 vCPU", 0}, {"-256", 0}, {"+256", 0}, {"256.0", 0}, {"1.5", 0},
		{"0.0001 vCPU", 0}, {"1 cpu", 0}, {"vCPU", 0}, {".", 0}, {"1..5 vCPU", 0}, {"1e3", 0},
		{"2 vCPU 4", 0}, {"99999999999", 0}, {"9999999 vCPU", 0},
	}
	for _, tt := range tests {
		got, err := parseTaskCPU(tt.in)
		if got != tt.want || (err == nil) != (tt.want > 0) {
			t.Errorf("parseTaskCPU(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

func TestParseTaskMemory(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want int
	}{
		{"512", 512}, {"2048", 2048}, {"2 GB", 2048}, {"2gb", 2048}, {"2GiB", 2048}, {"0.5 GB", 512},
		{"512 MiB", 512}, {"512mb", 512}, {"120 GB", 122880}, {"1.5 GB", 1536},
		{"", 0}, {"0", 0}, {"0 GB", 0}, {"2 TB", 0}, {"2 G", 0}, {"512.5 MiB", 0}, {"1.5", 0},
		{"0.0001 GB", 0}, {"-1 GB", 0}, {"GB", 0}, {"3000000 GB", 0},
	}
	for _, tt := range tests {
		got, err := parseTaskMemory(tt.in)
		if got != tt.want || (err == nil) != (tt.want > 0) {
			t.Errorf("parseTaskMemory(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

func FuzzParseTaskCPU(f *testing.F) {
	for _, s := range []string{"256", "1 vCPU", ".25 vCPU", "0.125 vcpu", "-1", "1e9", "999999999999 vCPU", "1.", " 2 VCPU "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := parseTaskCPU(s)
		if err == nil && v <= 0 {
			t.Fatalf("parseTaskCPU(%q) = %d without an error", s, v)
		}
	})
}

func FuzzParseTaskMemory(f *testing.F) {
	for _, s := range []string{"512", "2 GB", "2gb", "0.5 GiB", "512 MiB", "-2 GB", "99999999 GB", "1.0009765625 GB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := parseTaskMemory(s)
		if err == nil && v <= 0 {
			t.Fatalf("parseTaskMemory(%q) = %d without an error", s, v)
		}
	})
}

func TestFargateSizes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cpu          int
		valid, wrong []int
	}{
		{256, []int{512, 1024, 2048}, []int{256, 1536, 3072}},
		{512, []int{1024, 2048, 3072, 4096}, []int{512, 1536, 5120}},
		{1024, []int{2048, 5120, 8192}, []int{1024, 2560, 9216}},
		{2048, []int{4096, 9216, 16384}, []int{3072, 4608, 17408}},
		{4096, []int{8192, 20480, 30720}, []int{7168, 31744, 8704}},
		{8192, []int{16384, 20480, 61440}, []int{12288, 17408, 65536}},
		{16384, []int{32768, 40960, 122880}, []int{24576, 36864, 131072}},
	}
	for _, tt := range tests {
		for _, mem := range tt.valid {
			if err := fargateSize(tt.cpu, mem); err != nil {
				t.Errorf("fargateSize(%d, %d) = %v; want valid", tt.cpu, mem, err)
			}
		}
		for _, mem := range tt.wrong {
			wantAWSError(t, fargateSize(tt.cpu, mem), "ClientException", "memory")
		}
	}
	for _, cpu := range []int{128, 384, 32768} {
		wantAWSError(t, fargateSize(cpu, 2048), "ClientException", "cpu")
	}
	// The message tells the caller what would have been valid.
	err := fargateSize(256, 4096)
	if !strings.Contains(err.Error(), "512, 1024 or 2048") {
		t.Errorf("fargateSize(256, 4096) = %v; want the allowed memory values named", err)
	}
	err = fargateSize(4096, 4096)
	if !strings.Contains(err.Error(), "between 8192 and 30720 in steps of 1024") {
		t.Errorf("fargateSize(4096, 4096) = %v; want the allowed memory range named", err)
	}
}

// jsonMap renders v as a generic JSON value for comparing with AWS's documented output.
func jsonMap(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestDefaultsMatchAWSExample registers the sleep360 example of the AWS CLI reference
// (register-task-definition) and expects the output AWS documents there, plus the
// systemControls list live responses carry today and requiresAttributes, which Gantry
// always returns as a list.
func TestDefaultsMatchAWSExample(t *testing.T) {
	t.Parallel()
	in := &RegisterTaskDefinitionInput{
		Family: "sleep360",
		ContainerDefinitions: []ContainerDefinition{{
			Name: "sleep", Image: "busybox", CPU: new(int32(10)), Memory: new(int32(10)),
			Command: []string{"sleep", "360"}, Essential: new(true),
		}},
	}
	td, err := newTaskDefinition(in)
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	err = json.Unmarshal([]byte(`{
		"family": "sleep360",
		"placementConstraints": [],
		"compatibilities": ["EXTERNAL", "EC2"],
		"volumes": [],
		"requiresAttributes": [],
		"containerDefinitions": [{
			"environment": [], "name": "sleep", "mountPoints": [], "image": "busybox", "cpu": 10,
			"portMappings": [], "command": ["sleep", "360"], "memory": 10, "essential": true,
			"volumesFrom": [], "systemControls": []
		}]
	}`), &want)
	if err != nil {
		t.Fatal(err)
	}
	if got := jsonMap(t, td); !reflect.DeepEqual(got, want) {
		t.Errorf("registered definition =\n%v\nwant\n%v", got, want)
	}
}

// TestDefaultsMatchAWSFargateOutput registers a Fargate definition seen in a live
// DescribeTaskDefinition (2026) and expects the same defaults and computed members.
func TestDefaultsMatchAWSFargateOutput(t *testing.T) {
	t.Parallel()
	in := &RegisterTaskDefinitionInput{
		Family: "batchjobs-api", TaskRoleARN: "arn:aws:iam::123456789012:role/api-task",
		ExecutionRoleARN: "arn:aws:iam::123456789012:role/exec", NetworkMode: "awsvpc",
		RequiresCompatibilities: []string{"FARGATE"}, CPU: "0.5 vCPU", Memory: "1 GB",
		ContainerDefinitions: []ContainerDefinition{{
			Name: "batchjobs-api", Image: "123456789012.dkr.ecr.us-east-1.amazonaws.com/poc/api:latest",
			PortMappings: []PortMapping{port(8080)},
			Environment:  []KeyValuePair{{Name: "ASPNETCORE_URLS", Value: "http://+:8080"}},
			LogConfiguration: &LogConfiguration{LogDriver: "awslogs", Options: map[string]string{
				"awslogs-group": "/ecs/api", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "ecs"}},
		}},
	}
	td, err := newTaskDefinition(in)
	if err != nil {
		t.Fatal(err)
	}
	if td.CPU != "512" || td.Memory != "1024" {
		t.Errorf("cpu, memory = %q, %q; want the normalized 512, 1024", td.CPU, td.Memory)
	}
	if want := []string{"EC2", "MANAGED_INSTANCES", "FARGATE"}; !slices.Equal(td.Compatibilities, want) {
		t.Errorf("compatibilities = %v; want %v", td.Compatibilities, want)
	}
	pm := td.ContainerDefinitions[0].PortMappings[0]
	if *pm.HostPort != 8080 || pm.Protocol != "tcp" {
		t.Errorf("port mapping = %d/%s; want hostPort 8080 and protocol tcp", *pm.HostPort, pm.Protocol)
	}
	var names []string
	for _, a := range td.RequiresAttributes {
		names = append(names, a.Name)
	}
	slices.Sort(names)
	want := []string{
		"com.amazonaws.ecs.capability.docker-remote-api.1.18", "com.amazonaws.ecs.capability.docker-remote-api.1.19",
		"com.amazonaws.ecs.capability.ecr-auth", "com.amazonaws.ecs.capability.logging-driver.awslogs",
		"com.amazonaws.ecs.capability.task-iam-role", "ecs.capability.execution-role-awslogs",
		"ecs.capability.execution-role-ecr-pull", "ecs.capability.task-eni",
	}
	if !slices.Equal(names, want) {
		t.Errorf("requiresAttributes = %v; want %v", names, want)
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	in := ec2Input()
	in.ContainerDefinitions[0].PortMappings = []PortMapping{port(80), {ContainerPortRange: "9000-9001"}}
	in.ContainerDefinitions[0].HealthCheck = &HealthCheck{Command: []string{"CMD", "true"}, Retries: new(int32(5))}
	td, err := newTaskDefinition(in)
	if err != nil {
		t.Fatal(err)
	}
	cd := td.ContainerDefinitions[0]
	if pm := cd.PortMappings[0]; *pm.HostPort != 0 || pm.Protocol != "tcp" {
		t.Errorf("bridge port mapping = hostPort %d, %q; want dynamic hostPort 0 and tcp", *pm.HostPort, pm.Protocol)
	}
	if pm := cd.PortMappings[1]; pm.HostPort != nil || pm.Protocol != "tcp" {
		t.Errorf("port range mapping = %+v; want no hostPort and tcp", pm)
	}
	hc := cd.HealthCheck
	if *hc.Interval != 30 || *hc.Timeout != 5 || *hc.Retries != 5 || hc.StartPeriod != nil {
		t.Errorf("health check = %d/%d/%d/%v; want interval 30, timeout 5, the given retries 5, no startPeriod",
			*hc.Interval, *hc.Timeout, *hc.Retries, hc.StartPeriod)
	}
	if td.NetworkMode != "" {
		t.Errorf("networkMode = %q; want it left absent as AWS does", td.NetworkMode)
	}

	in = ec2Input()
	in.NetworkMode = "host"
	in.ContainerDefinitions[0].PortMappings = []PortMapping{port(8080)}
	if td, err = newTaskDefinition(in); err != nil {
		t.Fatal(err)
	}
	if hp := td.ContainerDefinitions[0].PortMappings[0].HostPort; *hp != 8080 {
		t.Errorf("host mode hostPort = %d; want the container port 8080", *hp)
	}
}

func TestCompatibilities(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		base   func() *RegisterTaskDefinitionInput
		mutate func(*RegisterTaskDefinitionInput)
		want   []string
	}{
		{"bridge", ec2Input, func(*RegisterTaskDefinitionInput) {}, []string{"EXTERNAL", "EC2"}},
		{"awsvpc without task size", ec2Input, func(in *RegisterTaskDefinitionInput) { in.NetworkMode = "awsvpc" }, []string{"EC2", "MANAGED_INSTANCES"}},
		{"awsvpc with Fargate size", ec2Input, func(in *RegisterTaskDefinitionInput) {
			in.NetworkMode, in.CPU, in.Memory = "awsvpc", "1024", "2048"
		}, []string{"EC2", "MANAGED_INSTANCES", "FARGATE"}},
		{"awsvpc with non-Fargate size", ec2Input, func(in *RegisterTaskDefinitionInput) {
			in.NetworkMode, in.CPU, in.Memory = "awsvpc", "1024", "1024"
		}, []string{"EC2", "MANAGED_INSTANCES"}},
		{"privileged", ec2Input, func(in *RegisterTaskDefinitionInput) {
			in.NetworkMode, in.CPU, in.Memory = "awsvpc", "1024", "2048"
			in.ContainerDefinitions[0].Privileged = new(true)
		}, []string{"EC2", "MANAGED_INSTANCES"}},
		{"Fargate required", fargateInput, func(*RegisterTaskDefinitionInput) {}, []string{"EC2", "MANAGED_INSTANCES", "FARGATE"}},
		{"managed instances required in bridge", ec2Input, func(in *RegisterTaskDefinitionInput) {
			in.RequiresCompatibilities = []string{"MANAGED_INSTANCES"}
		}, []string{"EXTERNAL", "EC2", "MANAGED_INSTANCES"}},
	}
	for _, tt := range tests {
		in := tt.base()
		tt.mutate(in)
		td, err := newTaskDefinition(in)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if !slices.Equal(td.Compatibilities, tt.want) {
			t.Errorf("%s: compatibilities = %v; want %v", tt.name, td.Compatibilities, tt.want)
		}
	}
}

func TestNewTaskDefinitionDoesNotAlias(t *testing.T) {
	t.Parallel()
	in := ec2Input()
	in.ContainerDefinitions[0].Command = []string{"serve"}
	in.ContainerDefinitions[0].DockerLabels = map[string]string{"team": "web"}
	in.Tags = []Tag{{Key: "env", Value: "prod"}}
	td, err := newTaskDefinition(in)
	if err != nil {
		t.Fatal(err)
	}
	if in.ContainerDefinitions[0].Essential != nil || in.ContainerDefinitions[0].PortMappings != nil {
		t.Errorf("defaults leaked into the input: %+v", in.ContainerDefinitions[0])
	}
	in.ContainerDefinitions[0].Command[0] = "changed"
	in.ContainerDefinitions[0].DockerLabels["team"] = "changed"
	*in.ContainerDefinitions[0].Memory = 1
	cd := td.ContainerDefinitions[0]
	if cd.Command[0] != "serve" || cd.DockerLabels["team"] != "web" || *cd.Memory != 128 {
		t.Errorf("the result changed with its input: %v %v %d", cd.Command, cd.DockerLabels, *cd.Memory)
	}
}

// fullContainerDefinition sets every member, so that the round trip covers every wire
// name; assertNoZero keeps it complete as members are added.
func fullContainerDefinition() ContainerDefinition {
	i := func(v int32) *int32 { return &v }
	return ContainerDefinition{
		Name: "app", Image: "nginx:1.27",
		RepositoryCredentials: &RepositoryCredentials{CredentialsParameter: "arn:aws:secretsmanager:us-east-1:1:secret:reg"},
		CPU:                   i(256), Memory: i(512), MemoryReservation: i(256),
		Links: []string{"db:database"},
		PortMappings: []PortMapping{{ContainerPort: i(80), HostPort: i(8080), Protocol: "tcp", Name: "web",
			AppProtocol: "http", ContainerPortRange: "9000-9010"}},
		Essential:     new(true),
		RestartPolicy: &ContainerRestartPolicy{Enabled: new(true), IgnoredExitCodes: []int32{137}, RestartAttemptPeriod: i(60)},
		EntryPoint:    []string{"/entrypoint"}, Command: []string{"serve"},
		Environment:      []KeyValuePair{{Name: "A", Value: "1"}},
		EnvironmentFiles: []EnvironmentFile{{Value: "arn:aws:s3:::b/k.env", Type: "s3"}},
		MountPoints:      []MountPoint{{SourceVolume: "data", ContainerPath: "/data", ReadOnly: new(true)}},
		VolumesFrom:      []VolumeFrom{{SourceContainer: "db", ReadOnly: new(false)}},
		LinuxParameters: &LinuxParameters{
			Capabilities:       &KernelCapabilities{Add: []string{"NET_ADMIN"}, Drop: []string{"ALL"}},
			Devices:            []Device{{HostPath: "/dev/fuse", ContainerPath: "/dev/fuse", Permissions: []string{"read"}}},
			InitProcessEnabled: new(true), SharedMemorySize: i(64),
			Tmpfs:   []Tmpfs{{ContainerPath: "/tmp", Size: i(64), MountOptions: []string{"noexec"}}},
			MaxSwap: i(1024), Swappiness: i(60),
		},
		Secrets:      []Secret{{Name: "PW", ValueFrom: "arn:aws:ssm:us-east-1:1:parameter/pw"}},
		DependsOn:    []ContainerDependency{{ContainerName: "db", Condition: "HEALTHY"}},
		StartTimeout: i(30), StopTimeout: i(30), VersionConsistency: "enabled",
		Hostname: "web", User: "1000:1000", WorkingDirectory: "/srv",
		DisableNetworking: new(false), Privileged: new(false), ReadonlyRootFilesystem: new(true),
		DNSServers: []string{"10.0.0.2"}, DNSSearchDomains: []string{"internal"},
		ExtraHosts:            []HostEntry{{Hostname: "db", IPAddress: "10.0.0.3"}},
		DockerSecurityOptions: []string{"no-new-privileges"},
		Interactive:           new(false), PseudoTerminal: new(false),
		DockerLabels: map[string]string{"team": "web"},
		Ulimits:      []Ulimit{{Name: "nofile", SoftLimit: i(1024), HardLimit: i(4096)}},
		LogConfiguration: &LogConfiguration{LogDriver: "awslogs", Options: map[string]string{"awslogs-group": "/ecs/web"},
			SecretOptions: []Secret{{Name: "token", ValueFrom: "arn:aws:ssm:us-east-1:1:parameter/t"}}},
		HealthCheck:    &HealthCheck{Command: []string{"CMD", "true"}, Interval: i(30), Timeout: i(5), Retries: i(3), StartPeriod: i(10)},
		SystemControls: []SystemControl{{Namespace: "net.core.somaxconn", Value: "1024"}},
		ResourceRequirements: []ResourceRequirement{{Value: "1", Type: "GPU", SharingStrategy: &SharingStrategy{
			NvidiaMps: &NvidiaMpsAllocation{Memory: i(1024), MaxComputePercent: i(50)}}}},
		FirelensConfiguration: &FirelensConfiguration{Type: "fluentbit", Options: map[string]string{"enable-ecs-log-metadata": "true"}},
		CredentialSpecs:       []string{"credentialspec:arn:aws:s3:::b/spec.json"},
	}
}

// fullTaskDefinition sets every member of the response shape, volumes of every kind
// included (validation would refuse several kinds on one volume; the wire does not).
func fullTaskDefinition() TaskDefinition {
	i := func(v int32) *int32 { return &v }
	at := awsapi.NewTimestamp(time.Date(2026, 4, 27, 11, 10, 48, 645e6, time.UTC))
	return TaskDefinition{
		TaskDefinitionARN:    "arn:aws:ecs:us-east-1:123456789012:task-definition/web:3",
		ContainerDefinitions: []ContainerDefinition{fullContainerDefinition()},
		Family:               "web", TaskRoleARN: "arn:aws:iam::1:role/task", ExecutionRoleARN: "arn:aws:iam::1:role/exec",
		NetworkMode: "awsvpc", Revision: 3,
		Volumes: []Volume{{
			Name: "data", Host: &HostVolumeProperties{SourcePath: "/srv"},
			DockerVolumeConfiguration: &DockerVolumeConfiguration{Scope: "shared", Autoprovision: new(true), Driver: "local",
				DriverOpts: map[string]string{"type": "nfs"}, Labels: map[string]string{"a": "b"}},
			EFSVolumeConfiguration: &EFSVolumeConfiguration{FileSystemID: "fs-1", RootDirectory: "/", TransitEncryption: "ENABLED",
				TransitEncryptionPort: i(2049), AuthorizationConfig: &EFSAuthorizationConfig{AccessPointID: "fsap-1", IAM: "ENABLED"}},
			S3FilesVolumeConfiguration: &S3FilesVolumeConfiguration{FileSystemARN: "arn:aws:s3files:::fs", RootDirectory: "/",
				TransitEncryptionPort: i(2049), AccessPointARN: "arn:aws:s3files:::ap"},
			FSxWindowsFileServerVolumeConfiguration: &FSxWindowsFileServerVolumeConfiguration{FileSystemID: "fs-2", RootDirectory: `\share`,
				AuthorizationConfig: &FSxWindowsFileServerAuthorizationConfig{CredentialsParameter: "arn:aws:ssm:::p", Domain: "corp"}},
			ConfiguredAtLaunch: new(false),
		}},
		Status: "ACTIVE",
		RequiresAttributes: []Attribute{{Name: "ecs.capability.task-eni", Value: "true", TargetType: "container-instance",
			TargetID: "arn:aws:ecs:us-east-1:1:container-instance/c/1"}},
		PlacementConstraints:    []TaskDefinitionPlacementConstraint{{Type: "memberOf", Expression: "attribute:ecs.os-type == linux"}},
		Compatibilities:         []string{"EC2", "FARGATE"},
		RuntimePlatform:         &RuntimePlatform{CPUArchitecture: "ARM64", OperatingSystemFamily: "LINUX"},
		RequiresCompatibilities: []string{"FARGATE"}, CPU: "1024", Memory: "2048",
		InferenceAccelerators: []InferenceAccelerator{{DeviceName: "dev", DeviceType: "eia2.medium"}},
		PidMode:               "task", IpcMode: "none",
		ProxyConfiguration: &ProxyConfiguration{Type: "APPMESH", ContainerName: "envoy",
			Properties: []KeyValuePair{{Name: "AppPorts", Value: "80"}}},
		RegisteredAt: at, DeregisteredAt: at, DeleteRequestedAt: at,
		RegisteredBy:         "arn:aws:iam::1:user/me",
		EphemeralStorage:     &EphemeralStorage{SizeInGiB: i(21)},
		EnableFaultInjection: new(true),
	}
}

// assertNoZero fails for every struct field reachable from v that is left zero, so a
// member added to a shape without being added to the full fixtures is noticed.
func assertNoZero(t *testing.T, v reflect.Value, path string) {
	t.Helper()
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			t.Errorf("%s is nil", path)
			return
		}
		assertNoZero(t, v.Elem(), path)
	case reflect.Slice, reflect.Map:
		if v.Len() == 0 {
			t.Errorf("%s is empty", path)
		}
		if v.Kind() == reflect.Slice {
			for i := range v.Len() {
				assertNoZero(t, v.Index(i), fmt.Sprintf("%s[%d]", path, i))
			}
		}
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[awsapi.Timestamp]() {
			if v.Interface().(awsapi.Timestamp).IsZero() {
				t.Errorf("%s is zero", path)
			}
			return
		}
		for i := range v.NumField() {
			assertNoZero(t, v.Field(i), path+"."+v.Type().Field(i).Name)
		}
	case reflect.String:
		if v.Len() == 0 {
			t.Errorf("%s is empty", path)
		}
	case reflect.Int32:
		if v.Int() == 0 {
			t.Errorf("%s is 0", path)
		}
	}
}

func TestWireRoundTrip(t *testing.T) {
	t.Parallel()
	cd := fullContainerDefinition()
	assertNoZero(t, reflect.ValueOf(cd), "ContainerDefinition")
	roundTrip(t, &cd, new(ContainerDefinition))

	td := fullTaskDefinition()
	assertNoZero(t, reflect.ValueOf(td), "TaskDefinition")
	roundTrip(t, &td, new(TaskDefinition))
}

func roundTrip[T any](t *testing.T, in, out *T) {
	t.Helper()
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if err := awsapi.DecodeStrict(b, out); err != nil {
		t.Fatalf("decoding %T back: %v", in, err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Errorf("%T changed in a JSON round trip:\n got %+v\nwant %+v", in, out, in)
	}
}

// TestWireNamesMatchSDK compares every struct's JSON names, recursively, with the members
// of the same shape in the SDK's Smithy schemas, the source of truth for the wire.
func TestWireNamesMatchSDK(t *testing.T) {
	t.Parallel()
	checkShape(t, reflect.TypeFor[RegisterTaskDefinitionInput](), schemas.RegisterTaskDefinitionRequest, "RegisterTaskDefinitionInput")
	checkShape(t, reflect.TypeFor[TaskDefinition](), schemas.TaskDefinition, "TaskDefinition")
	checkShape(t, reflect.TypeFor[Task](), schemas.Task, "Task")
	checkShape(t, reflect.TypeFor[ContainerInstance](), schemas.ContainerInstance, "ContainerInstance")
	checkShape(t, reflect.TypeFor[runTaskInput](), schemas.RunTaskRequest, "RunTaskInput")
	checkShape(t, reflect.TypeFor[startTaskInput](), schemas.StartTaskRequest, "StartTaskInput")
	checkShape(t, reflect.TypeFor[registerContainerInstanceInput](), schemas.RegisterContainerInstanceRequest, "RegisterContainerInstanceInput")
	checkShape(t, reflect.TypeFor[listTasksInput](), schemas.ListTasksRequest, "ListTasksInput")
}

func checkShape(t *testing.T, typ reflect.Type, s *smithy.Schema, path string) {
	t.Helper()
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	if typ == reflect.TypeFor[json.RawMessage]() {
		return // accepted as is, and refused where Gantry does not support it
	}
	switch typ.Kind() {
	case reflect.Slice:
		if s.Type() != smithy.ShapeTypeList {
			t.Errorf("%s: a Go slice, but the SDK shape is type %d", path, s.Type())
			return
		}
		checkShape(t, typ.Elem(), s.ListMember(), path+"[]")
	case reflect.Map:
		if s.Type() != smithy.ShapeTypeMap {
			t.Errorf("%s: a Go map, but the SDK shape is type %d", path, s.Type())
		}
	case reflect.Struct:
		checkStruct(t, typ, s, path)
	default:
		checkScalar(t, typ, s, path)
	}
}

func checkStruct(t *testing.T, typ reflect.Type, s *smithy.Schema, path string) {
	t.Helper()
	if typ == reflect.TypeFor[awsapi.Timestamp]() {
		if s.Type() != smithy.ShapeTypeTimestamp {
			t.Errorf("%s: a Timestamp, but the SDK shape is type %d", path, s.Type())
		}
		return
	}
	if s.Type() != smithy.ShapeTypeStructure && s.Type() != smithy.ShapeTypeUnion {
		t.Errorf("%s: a Go struct, but the SDK shape is type %d", path, s.Type())
		return
	}
	ours := map[string]bool{}
	for i := range typ.NumField() {
		f := typ.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		ours[name] = true
		m := s.Member(name)
		if m == nil {
			t.Errorf("%s.%s: not a member of %s in the SDK", path, name, shapeName(s))
			continue
		}
		checkShape(t, f.Type, m, path+"."+name)
	}
	for name := range s.Members() {
		if !ours[name] {
			t.Errorf("%s: missing member %s of %s", path, name, shapeName(s))
		}
	}
}

// shapeName names a shape; a member schema carries its target's name.
func shapeName(s *smithy.Schema) string {
	if s.ID().Name != "" {
		return s.ID().Name
	}
	return s.TargetID().Name
}

func checkScalar(t *testing.T, typ reflect.Type, s *smithy.Schema, path string) {
	t.Helper()
	want := map[reflect.Kind][]smithy.ShapeType{
		reflect.String:  {smithy.ShapeTypeString, smithy.ShapeTypeEnum},
		reflect.Int32:   {smithy.ShapeTypeInteger},
		reflect.Int64:   {smithy.ShapeTypeLong},
		reflect.Float64: {smithy.ShapeTypeDouble},
		reflect.Bool:    {smithy.ShapeTypeBoolean},
	}[typ.Kind()]
	if !slices.Contains(want, s.Type()) {
		t.Errorf("%s: Go %s, but the SDK shape is type %d", path, typ, s.Type())
	}
}

// TestEnumListsMatchSDK keeps the allowed-value lists of validation equal to the SDK's.
func TestEnumListsMatchSDK(t *testing.T) {
	t.Parallel()
	pairs := []struct {
		name      string
		ours, sdk []string
	}{
		{"ulimit names", ulimitNames(), enumStrings(types.UlimitName("").Values())},
		{"log drivers", logDrivers(), enumStrings(types.LogDriver("").Values())},
		{"OS families", osFamilies(), enumStrings(types.OSFamily("").Values())},
	}
	for _, p := range pairs {
		if !slices.Equal(p.ours, p.sdk) {
			t.Errorf("%s = %v; the SDK has %v", p.name, p.ours, p.sdk)
		}
	}
}

func enumStrings[E ~string](vs []E) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = string(v)
	}
	return out
}
