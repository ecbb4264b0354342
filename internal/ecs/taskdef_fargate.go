package ecs

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// fargateProblem returns the first reason td cannot run on Fargate, or nil. It serves
// validation when FARGATE is required and the computed compatibilities otherwise. The
// rules are the developer guide's "task definition differences for Fargate" and the
// Fargate task size table; cpu and mem are the parsed task size (0 when absent).
func fargateProblem(td *TaskDefinition, cpu, mem int) error {
	if td.NetworkMode != NetworkModeAwsvpc {
		return clientErrorAt("networkMode", "Fargate only supports network mode 'awsvpc'.")
	}
	if err := firstError(fargateSize(cpu, mem), fargateTaskOptions(td)); err != nil {
		return err
	}
	for i := range td.ContainerDefinitions {
		if err := fargateContainer(indexPath("containerDefinitions", i), &td.ContainerDefinitions[i], td.ExecutionRoleARN); err != nil {
			return err
		}
	}
	return nil
}

func fargateSize(cpu, mem int) error {
	switch {
	case cpu == 0:
		return clientErrorAt("cpu", "Fargate requires that 'cpu' be defined at the task level.")
	case mem == 0:
		return clientErrorAt("memory", "Fargate requires that 'memory' be defined at the task level.")
	}
	choices, ok := fargateMemoryChoices(cpu)
	if !ok {
		return clientErrorAt("cpu", "Invalid 'cpu' setting for task: %d is not a Fargate task size; valid values are 256, 512, 1024, 2048, 4096, 8192 and 16384", cpu)
	}
	if !slices.Contains(choices, mem) {
		return clientErrorAt("memory", "No Fargate configuration exists for given values: %d CPU, %d memory. With cpu %d the memory must be %s", cpu, mem, cpu, describeChoices(choices))
	}
	return nil
}

// fargateMemoryChoices returns the task memory values (MiB) Fargate allows with cpu, per
// the task size table of the developer guide.
func fargateMemoryChoices(cpu int) ([]int, bool) {
	switch cpu {
	case 256:
		return []int{512, 1024, 2048}, true
	case 512:
		return stepRange(1024, 4096, 1024), true
	case 1024:
		return stepRange(2048, 8192, 1024), true
	case 2048:
		return stepRange(4096, 16384, 1024), true
	case 4096:
		return stepRange(8192, 30720, 1024), true
	case 8192:
		return stepRange(16384, 61440, 4096), true
	case 16384:
		return stepRange(32768, 122880, 8192), true
	}
	return nil, false
}

func stepRange(lo, hi, step int) []int {
	var out []int
	for v := lo; v <= hi; v += step {
		out = append(out, v)
	}
	return out
}

// describeChoices lists a few values or, for a long evenly spaced list, its range.
func describeChoices(vs []int) string {
	if len(vs) > 5 {
		return fmt.Sprintf("between %d and %d in steps of %d", vs[0], vs[len(vs)-1], vs[1]-vs[0])
	}
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = strconv.Itoa(v)
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

func fargateTaskOptions(td *TaskDefinition) error {
	switch {
	case len(td.PlacementConstraints) > 0:
		return clientErrorAt("placementConstraints", "task placement constraints are not supported on Fargate")
	case td.PidMode == "host":
		return clientErrorAt("pidMode", "Fargate supports only pidMode task")
	case td.IpcMode != "":
		return clientErrorAt("ipcMode", "ipcMode is not supported on Fargate")
	case len(td.InferenceAccelerators) > 0:
		return clientErrorAt("inferenceAccelerators", "inference accelerators are not supported on Fargate")
	}
	for i, v := range td.Volumes {
		p := indexPath("volumes", i)
		switch {
		case v.Host != nil && v.Host.SourcePath != "":
			return clientErrorAt(p+".host.sourcePath", "host paths are not supported on Fargate; omit sourcePath for a task-scoped volume")
		case v.DockerVolumeConfiguration != nil:
			return clientErrorAt(p+".dockerVolumeConfiguration", "Docker volumes are not supported on Fargate")
		}
	}
	return nil
}

func fargateContainer(p string, cd *ContainerDefinition, executionRole string) error {
	switch {
	case boolOr(cd.Privileged, false):
		return clientErrorAt(p+".privileged", "privileged containers are not supported on Fargate")
	case len(cd.DockerSecurityOptions) > 0:
		return clientErrorAt(p+".dockerSecurityOptions", "dockerSecurityOptions are not supported on Fargate")
	}
	for _, r := range cd.ResourceRequirements {
		if r.Type == "GPU" {
			return clientErrorAt(p+".resourceRequirements", "GPUs are not supported on Fargate")
		}
	}
	if lp := cd.LinuxParameters; lp != nil {
		if field := fargateLinuxField(lp); field != "" {
			return clientErrorAt(p+".linuxParameters."+field, "%s is not supported on Fargate", field)
		}
	}
	if lc := cd.LogConfiguration; lc != nil {
		if err := checkOneOf(p+".logConfiguration.logDriver", lc.LogDriver, false, "awslogs", "splunk", "awsfirelens"); err != nil {
			return err
		}
		if lc.LogDriver == "awslogs" && executionRole == "" {
			return clientErrorAt("executionRoleArn", "Fargate requires task definition to have execution role ARN to support log driver awslogs.")
		}
	}
	// ContainerDefinition.startTimeout/stopTimeout: "The valid values for Fargate are 2-120 seconds."
	return firstError(checkRange(p+".startTimeout", cd.StartTimeout, 2, 120), checkRange(p+".stopTimeout", cd.StopTimeout, 2, 120))
}

// fargateLinuxField names the first LinuxParameters member Fargate does not support.
func fargateLinuxField(lp *LinuxParameters) string {
	switch {
	case len(lp.Devices) > 0:
		return "devices"
	case lp.SharedMemorySize != nil:
		return "sharedMemorySize"
	case len(lp.Tmpfs) > 0:
		return "tmpfs"
	case lp.MaxSwap != nil:
		return "maxSwap"
	case lp.Swappiness != nil:
		return "swappiness"
	}
	return ""
}
