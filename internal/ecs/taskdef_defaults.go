package ecs

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
)

// applyDefaults fills in what ECS adds to a registered definition: the normalized task
// size, container defaults, the lists DescribeTaskDefinition always returns, and the
// computed requiresAttributes and compatibilities. networkMode stays absent when it was
// not given, as in AWS's own register-task-definition example output.
func (c *taskCheck) applyDefaults() {
	td := c.td
	if c.cpu > 0 {
		td.CPU = strconv.Itoa(c.cpu)
	}
	if c.mem > 0 {
		td.Memory = strconv.Itoa(c.mem)
	}
	for i := range td.ContainerDefinitions {
		containerDefaults(&td.ContainerDefinitions[i], c.mode)
	}
	td.Volumes = orEmpty(td.Volumes)
	td.PlacementConstraints = orEmpty(td.PlacementConstraints)
	td.RequiresAttributes = requiredAttributes(td, c.mode)
	td.Compatibilities = compatibilities(td, c)
}

func containerDefaults(cd *ContainerDefinition, mode string) {
	if cd.Essential == nil {
		cd.Essential = new(true)
	}
	if cd.CPU == nil {
		cd.CPU = new(int32(0))
	}
	cd.PortMappings = orEmpty(cd.PortMappings)
	cd.Environment = orEmpty(cd.Environment)
	cd.MountPoints = orEmpty(cd.MountPoints)
	cd.VolumesFrom = orEmpty(cd.VolumesFrom)
	cd.SystemControls = orEmpty(cd.SystemControls)
	for j := range cd.PortMappings {
		portMappingDefaults(&cd.PortMappings[j], mode)
	}
	// HealthCheck: interval 30, timeout 5 and retries 3 are returned when omitted; a
	// start period exists only when given ("By default, the startPeriod is off").
	if hc := cd.HealthCheck; hc != nil {
		hc.Interval = cmp.Or(hc.Interval, new(int32(30)))
		hc.Timeout = cmp.Or(hc.Timeout, new(int32(5)))
		hc.Retries = cmp.Or(hc.Retries, new(int32(3)))
	}
}

// portMappingDefaults sets protocol tcp and the host port: the container port with
// awsvpc and host networking, 0 (dynamic) with bridge. A port range's host ports are
// chosen when the task runs.
func portMappingDefaults(pm *PortMapping, mode string) {
	pm.Protocol = cmp.Or(pm.Protocol, "tcp")
	if pm.ContainerPortRange != "" || pm.HostPort != nil || pm.ContainerPort == nil {
		return
	}
	if mode == NetworkModeAwsvpc || mode == NetworkModeHost {
		pm.HostPort = new(*pm.ContainerPort)
	} else {
		pm.HostPort = new(int32(0))
	}
}

// compatibilities computes the launch types ECS reports the definition valid for: EC2
// always; EXTERNAL unless it uses awsvpc, which ECS Anywhere lacks; MANAGED_INSTANCES
// for awsvpc definitions (as AWS reports today) or when required; FARGATE when it
// passes every Fargate rule. The order follows what AWS returns.
func compatibilities(td *TaskDefinition, c *taskCheck) []string {
	var out []string
	if c.mode != NetworkModeAwsvpc {
		out = append(out, CompatibilityExternal)
	}
	out = append(out, CompatibilityEC2)
	if c.mode == NetworkModeAwsvpc || c.requires(CompatibilityManagedInstances) {
		out = append(out, CompatibilityManagedInstances)
	}
	if fargateProblem(td, c.cpu, c.mem) == nil {
		out = append(out, CompatibilityFargate)
	}
	return out
}

// Container-instance attributes used in requiresAttributes.
const (
	attrDockerAPI    = "com.amazonaws.ecs.capability.docker-remote-api."
	attrLogDriver    = "com.amazonaws.ecs.capability.logging-driver."
	attrTaskENI      = "ecs.capability.task-eni"
	attrTaskIAMRole  = "com.amazonaws.ecs.capability.task-iam-role"
	attrECRAuth      = "com.amazonaws.ecs.capability.ecr-auth"
	attrExecECRPull  = "ecs.capability.execution-role-ecr-pull"
	attrExecAwslogs  = "ecs.capability.execution-role-awslogs"
	attrHealthCheck  = "ecs.capability.container-health-check"
	attrOrdering     = "ecs.capability.container-ordering"
	attrPidIpcShared = "ecs.capability.pid-ipc-namespace-sharing"
)

// requiredAttributes derives requiresAttributes from the features the definition uses,
// a documented subset of ECS's own rules, in the order first needed:
//   - awsvpc: task-eni; pidMode or ipcMode: pid-ipc-namespace-sharing
//   - taskRoleArn: task-iam-role
//   - an ECR image: ecr-auth, plus execution-role-ecr-pull with an execution role
//   - logConfiguration: logging-driver.<driver> and docker-remote-api.1.18; awslogs also
//     docker-remote-api.1.19 and, with an execution role, execution-role-awslogs
//   - ulimits or dockerLabels: docker-remote-api.1.18; initProcessEnabled: 1.25
//   - healthCheck: container-health-check; dependsOn: container-ordering
func requiredAttributes(td *TaskDefinition, mode string) []Attribute {
	out := []Attribute{}
	add := func(names ...string) {
		for _, n := range names {
			if !slices.ContainsFunc(out, func(a Attribute) bool { return a.Name == n }) {
				out = append(out, Attribute{Name: n})
			}
		}
	}
	if mode == NetworkModeAwsvpc {
		add(attrTaskENI)
	}
	if td.PidMode != "" || td.IpcMode != "" {
		add(attrPidIpcShared)
	}
	if td.TaskRoleARN != "" {
		add(attrTaskIAMRole)
	}
	for i := range td.ContainerDefinitions {
		containerAttributes(&td.ContainerDefinitions[i], td.ExecutionRoleARN != "", add)
	}
	return out
}

func containerAttributes(cd *ContainerDefinition, hasExecRole bool, add func(...string)) {
	if isECRImage(cd.Image) {
		add(attrECRAuth)
		if hasExecRole {
			add(attrExecECRPull)
		}
	}
	if lc := cd.LogConfiguration; lc != nil {
		add(attrLogDriver+lc.LogDriver, attrDockerAPI+"1.18")
		if lc.LogDriver == "awslogs" {
			add(attrDockerAPI + "1.19")
			if hasExecRole {
				add(attrExecAwslogs)
			}
		}
	}
	if len(cd.Ulimits) > 0 || len(cd.DockerLabels) > 0 {
		add(attrDockerAPI + "1.18")
	}
	if lp := cd.LinuxParameters; lp != nil && boolOr(lp.InitProcessEnabled, false) {
		add(attrDockerAPI + "1.25")
	}
	if cd.HealthCheck != nil {
		add(attrHealthCheck)
	}
	if len(cd.DependsOn) > 0 {
		add(attrOrdering)
	}
}

// isECRImage reports whether image lives in a private ECR registry
// (<account>.dkr.ecr.<region>.amazonaws.com[.cn]/...).
func isECRImage(image string) bool {
	registry, _, ok := strings.Cut(image, "/")
	return ok && strings.Contains(registry, ".dkr.ecr.") && strings.Contains(registry, ".amazonaws.com")
}
