package ecs

import (
	"cmp"
	"slices"

	"gantry/internal/awsapi"
	"gantry/internal/scheduler"
)

// taskNeeds is what one task of td, with overrides, books on its instance: CPU units,
// MiB of memory and the fixed host ports its network mode publishes.
func taskNeeds(td *TaskDefinition, ov *TaskOverride) (booking, error) {
	b := booking{Family: td.Family}
	cpuText, memText := td.CPU, td.Memory
	if ov != nil && ov.CPU != "" {
		cpuText = ov.CPU
	}
	if ov != nil && ov.Memory != "" {
		memText = ov.Memory
	}
	var err error
	if cpuText != "" {
		if b.CPU, err = parseTaskCPU(cpuText); err != nil {
			return b, awsapi.InvalidParameter("overrides.cpu: %v", err)
		}
	}
	if memText != "" {
		if b.Memory, err = parseTaskMemory(memText); err != nil {
			return b, awsapi.InvalidParameter("overrides.memory: %v", err)
		}
	}
	for _, cd := range td.ContainerDefinitions {
		co := ov.Container(cd.Name)
		if cpuText == "" {
			b.CPU += int(deref(cmp.Or(co.CPU, cd.CPU)))
		}
		if memText == "" {
			// ECS reserves the soft limit when there is one, else the hard limit.
			b.Memory += int(deref(cmp.Or(co.MemoryReservation, cd.MemoryReservation, co.Memory, cd.Memory)))
		}
		for _, pm := range cd.PortMappings {
			port := hostPortOf(td.NetworkMode, pm)
			if port == 0 {
				continue
			}
			if pm.Protocol == "udp" {
				b.PortsUDP = append(b.PortsUDP, port)
			} else {
				b.Ports = append(b.Ports, port)
			}
		}
	}
	if b.Memory == 0 {
		return b, awsapi.ClientError("ClientException", "Invalid setting for container memory: the task definition sets no task memory and no container memory or memoryReservation")
	}
	slices.Sort(b.Ports)
	slices.Sort(b.PortsUDP)
	return b, nil
}

// hostPortOf is the fixed host port a mapping takes on the instance, 0 for none: bridge
// mode publishes hostPort (0 = a dynamic port, not booked), host mode the container port,
// awsvpc and none publish nothing on the host.
func hostPortOf(mode string, pm PortMapping) int {
	switch mode {
	case "", "bridge":
		return int(deref(pm.HostPort))
	case "host":
		return int(deref(pm.ContainerPort))
	}
	return 0
}

// Container returns the override for container name, or an empty one; a nil override
// overrides nothing.
func (ov *TaskOverride) Container(name string) ContainerOverride {
	if ov != nil {
		for _, co := range ov.ContainerOverrides {
			if co.Name == name {
				return co
			}
		}
	}
	return ContainerOverride{}
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// checkOverrides validates overrides against the task definition.
func checkOverrides(td *TaskDefinition, ov *TaskOverride) error {
	if ov == nil {
		return nil
	}
	seen := map[string]bool{}
	for i, co := range ov.ContainerOverrides {
		if !slices.ContainsFunc(td.ContainerDefinitions, func(cd ContainerDefinition) bool { return cd.Name == co.Name }) {
			return awsapi.InvalidParameter("overrides.containerOverrides[%d].name: %q is not a container of %s", i, co.Name, td.TaskDefinitionARN)
		}
		if seen[co.Name] {
			return awsapi.InvalidParameter("overrides.containerOverrides[%d].name: %q is overridden twice", i, co.Name)
		}
		seen[co.Name] = true
		for field, v := range map[string]*int32{"cpu": co.CPU, "memory": co.Memory, "memoryReservation": co.MemoryReservation} {
			if v != nil && *v < 0 {
				return awsapi.InvalidParameter("overrides.containerOverrides[%d].%s: must not be negative", i, field)
			}
		}
		if co.Memory != nil && *co.Memory < 6 {
			return awsapi.InvalidParameter("overrides.containerOverrides[%d].memory: %d MiB is below the 6 MiB minimum", i, *co.Memory)
		}
		for j, kv := range co.Environment {
			if kv.Name == "" {
				return awsapi.InvalidParameter("overrides.containerOverrides[%d].environment[%d].name: required", i, j)
			}
		}
		if len(co.EnvironmentFiles) > 0 || len(co.ResourceRequirements) > 0 {
			return awsapi.InvalidParameter("overrides.containerOverrides[%d]: environmentFiles and resourceRequirements are not supported by Gantry yet", i)
		}
	}
	if len(ov.InferenceAcceleratorOverrides) > 0 {
		return awsapi.InvalidParameter("overrides.inferenceAcceleratorOverrides: Gantry has no inference accelerators")
	}
	if ov.EphemeralStorage != nil {
		return awsapi.InvalidParameter("overrides.ephemeralStorage: not supported by Gantry yet (containers write to their overlay upper directory on the instance's disk)")
	}
	return nil
}

// PlacementConstraint and PlacementStrategy are RunTask's placement members.
type PlacementConstraint struct {
	Type       string `json:"type,omitempty"`
	Expression string `json:"expression,omitempty"`
}

// PlacementStrategy ranks the instances that satisfy the constraints.
type PlacementStrategy struct {
	Type  string `json:"type,omitempty"`
	Field string `json:"field,omitempty"`
}

// placementRequest builds the scheduler request for count tasks: the call's constraints,
// the task definition's memberOf constraints and its requiresAttributes.
func placementRequest(count int, group string, needs booking, td *TaskDefinition, constraints []PlacementConstraint, strategy []PlacementStrategy) scheduler.Request {
	req := scheduler.Request{
		Count: count,
		Group: group,
		Needs: scheduler.Resources{CPU: needs.CPU, MemoryMiB: needs.Memory, Ports: needs.Ports, PortsUDP: needs.PortsUDP},
	}
	for _, c := range constraints {
		req.Constraints = append(req.Constraints, scheduler.Constraint{Type: c.Type, Expression: c.Expression})
	}
	for _, c := range td.PlacementConstraints {
		req.Constraints = append(req.Constraints, scheduler.Constraint{Type: c.Type, Expression: c.Expression})
	}
	for _, a := range td.RequiresAttributes {
		expr := "attribute:" + a.Name + " exists"
		if a.Value != "" {
			expr = "attribute:" + a.Name + " == " + a.Value
		}
		req.Constraints = append(req.Constraints, scheduler.Constraint{Type: "memberOf", Expression: expr})
	}
	for _, s := range strategy {
		req.Strategy = append(req.Strategy, scheduler.Strategy{Type: s.Type, Field: s.Field})
	}
	return req
}
