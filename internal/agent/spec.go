package agent

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gantry/internal/agentconn"
	"gantry/internal/ecs"
	"gantry/internal/image"
	"gantry/internal/network"
	"gantry/internal/runtime"
)

// Labels the agent puts on its containers, so that after a restart it knows which task
// and container definition each one belongs to.
const (
	labelTaskArn   = "gantry.task-arn"
	labelContainer = "gantry.container-name"
)

// defaultStopTimeout is ECS's ECS_CONTAINER_STOP_TIMEOUT default.
const defaultStopTimeout = 30

// runtimeID names a task's container in the runtime: unique per task and definition,
// within the runtime's 128-character limit (container names may have 255).
func runtimeID(taskID, container string) string {
	const room = 128 - 32 - 1
	if len(container) > room {
		sum := sha256.Sum256([]byte(container))
		container = container[:room-9] + "-" + hex.EncodeToString(sum[:4])
	}
	return taskID + "-" + container
}

// taskOfRuntimeID is the task id a runtime id (or mount id) was made from.
func taskOfRuntimeID(id string) string {
	taskID, _, _ := strings.Cut(id, "-")
	return taskID
}

// networkMode maps a task definition's networkMode to the network package's.
func networkMode(mode string) string {
	switch mode {
	case ecs.NetworkModeAwsvpc:
		return network.ModeAWSVPC
	case ecs.NetworkModeHost:
		return network.ModeHost
	case ecs.NetworkModeNone:
		return network.ModeNone
	}
	return network.ModeBridge
}

// portMappings lists the host port mappings of a task's containers.
func portMappings(cs []*container) []network.PortMapping {
	var out []network.PortMapping
	for _, c := range cs {
		for _, pm := range c.def.PortMappings {
			if pm.ContainerPort == nil {
				continue
			}
			out = append(out, network.PortMapping{HostPort: int(deref(pm.HostPort)), ContainerPort: int(*pm.ContainerPort), Protocol: protocolOr(pm.Protocol)})
		}
	}
	return out
}

// publishExposed adds, to each container labelled agentconn.LabelPublishAll="true", a
// dynamic host port mapping for every port its image exposes and its definition does not
// map already.
func (r *taskRunner) publishExposed(imgs map[string]*image.Image) {
	for _, c := range r.containers {
		img := imgs[c.def.Image]
		if c.def.DockerLabels[agentconn.LabelPublishAll] != "true" || img == nil {
			continue
		}
		def := *c.def // the assignment's definition is shared: change a copy
		def.PortMappings = slices.Clone(def.PortMappings)
		for _, p := range exposedPorts(img) {
			mapped := slices.ContainsFunc(def.PortMappings, func(pm ecs.PortMapping) bool {
				return pm.ContainerPort != nil && int(*pm.ContainerPort) == p.ContainerPort && protocolOr(pm.Protocol) == p.Protocol
			})
			if !mapped {
				port, zero := int32(p.ContainerPort), int32(0)
				def.PortMappings = append(def.PortMappings, ecs.PortMapping{ContainerPort: &port, HostPort: &zero, Protocol: p.Protocol})
			}
		}
		c.def = &def
	}
}

// exposedPorts reads the image config's ExposedPorts ("80/tcp", "53/udp", "8080"), in
// order; entries that are not a port are skipped.
func exposedPorts(img *image.Image) []network.PortMapping {
	if img.Config.Config.ExposedPorts == nil {
		return nil
	}
	var out []network.PortMapping
	for _, k := range slices.Sorted(maps.Keys(img.Config.Config.ExposedPorts)) {
		port, proto, _ := strings.Cut(k, "/")
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			continue
		}
		if proto = protocolOr(proto); proto == "tcp" || proto == "udp" {
			out = append(out, network.PortMapping{ContainerPort: n, Protocol: proto})
		}
	}
	return out
}

// containerSpec builds the runtime spec of one container of a task: the image's config
// with the definition and the task's overrides applied, ECS's resource fields as cgroup
// limits, its mounts, and the task's network.
func (r *taskRunner) containerSpec(cd *ecs.ContainerDefinition, img *image.Image, rootfs string, att *network.Attachment) (runtime.ContainerSpec, error) {
	co := r.task.Overrides.Container(cd.Name)
	id := runtimeID(r.id, cd.Name)
	spec := runtime.ContainerSpec{
		ID:              id,
		Image:           cd.Image,
		Rootfs:          rootfs,
		Hostname:        cd.Hostname,
		Privileged:      deref(cd.Privileged),
		ReadonlyRootfs:  deref(cd.ReadonlyRootFilesystem),
		Terminal:        deref(cd.PseudoTerminal),
		NoNewPrivileges: !deref(cd.Privileged),
		Labels:          map[string]string{labelTaskArn: r.arn, labelContainer: cd.Name},
		LogMaxBytes:     r.a.cfg.LogMaxBytes,
		LogMaxFiles:     r.a.cfg.LogMaxFiles,
	}
	maps.Copy(spec.Labels, cd.DockerLabels)
	if spec.Hostname == "" {
		spec.Hostname = r.id[:12]
	}
	switch {
	case att == nil || att.Mode == network.ModeHost:
		spec.NetNS = runtime.NetNSHost
	default:
		spec.NetNS = att.NetNS
	}
	extra := map[string]string{}
	for _, h := range cd.ExtraHosts {
		extra[h.Hostname] = h.IPAddress
	}
	if spec.NetNS != runtime.NetNSHost {
		spec.Hosts = network.HostsFile(spec.Hostname, nil, extra)
		host, _ := os.ReadFile("/etc/resolv.conf")
		spec.ResolvConf = network.ResolvConfFrom(host, cd.DNSServers, cd.DNSSearchDomains)
	}
	env := make([]string, 0, len(cd.Environment)+len(co.Environment))
	for _, kv := range slices.Concat(cd.Environment, co.Environment) {
		env = append(env, kv.Name+"="+kv.Value)
	}
	o := runtime.Overrides{Entrypoint: cd.EntryPoint, Command: cd.Command, Env: env, User: cd.User, WorkingDir: cd.WorkingDirectory}
	if co.Command != nil {
		o.Command = co.Command
	}
	c := img.Config.Config
	if err := runtime.ApplyImageConfig(&spec, runtime.ImageConfig{Entrypoint: c.Entrypoint, Cmd: c.Cmd, Env: c.Env, User: c.User, WorkingDir: c.WorkingDir, StopSignal: c.StopSignal}, o); err != nil {
		return spec, err
	}
	r.applyResources(&spec, cd, co)
	if err := r.applyLinux(&spec, cd); err != nil {
		return spec, err
	}
	mounts, err := r.mounts(cd)
	if err != nil {
		return spec, err
	}
	spec.Mounts = append(spec.Mounts, mounts...)
	return spec, nil
}

// applyResources turns ECS's container cpu/memory/memoryReservation (overridden per run)
// into cgroup limits. A task-level memory with no container limit caps each container
// at the task's amount (Gantry has no task-level cgroup yet).
func (r *taskRunner) applyResources(spec *runtime.ContainerSpec, cd *ecs.ContainerDefinition, co ecs.ContainerOverride) {
	mem := deref(cmp.Or(co.Memory, cd.Memory))
	if mem == 0 && r.taskMemoryMiB > 0 {
		mem = int32(r.taskMemoryMiB)
	}
	spec.Resources.MemoryLimit = int64(mem) << 20
	spec.Resources.MemoryReservation = int64(deref(cmp.Or(co.MemoryReservation, cd.MemoryReservation))) << 20
	if cpu := deref(cmp.Or(co.CPU, cd.CPU)); cpu > 0 {
		spec.Resources.CPUShares = uint64(max(cpu, 2))
	}
	for _, u := range cd.Ulimits {
		spec.Ulimits = append(spec.Ulimits, runtime.Ulimit{Name: u.Name, Soft: uint64(deref(u.SoftLimit)), Hard: uint64(deref(u.HardLimit))})
	}
}

// applyLinux applies linuxParameters: capabilities, tmpfs mounts and /dev/shm size.
func (r *taskRunner) applyLinux(spec *runtime.ContainerSpec, cd *ecs.ContainerDefinition) error {
	lp := cd.LinuxParameters
	if lp == nil {
		return nil
	}
	if lp.Capabilities != nil {
		spec.CapAdd, spec.CapDrop = lp.Capabilities.Add, lp.Capabilities.Drop
	}
	if lp.SharedMemorySize != nil {
		spec.Resources.ShmSize = int64(*lp.SharedMemorySize) << 20
	}
	for _, t := range lp.Tmpfs {
		spec.Mounts = append(spec.Mounts, runtime.Mount{Type: "tmpfs", Target: t.ContainerPath, Size: int64(deref(t.Size)) << 20})
	}
	if len(lp.Devices) > 0 {
		return fmt.Errorf("container %s: linuxParameters.devices is not supported by Gantry yet", cd.Name)
	}
	return nil
}

// mounts resolves a container's mountPoints against the task's volumes: host volumes
// bind their sourcePath, shared Docker volumes a directory per name that outlives tasks,
// other volumes a directory of the task (ECS's task-scoped Docker volumes), removed with
// the task.
func (r *taskRunner) mounts(cd *ecs.ContainerDefinition) ([]runtime.Mount, error) {
	var out []runtime.Mount
	for _, mp := range cd.MountPoints {
		i := slices.IndexFunc(r.td.Volumes, func(v ecs.Volume) bool { return v.Name == mp.SourceVolume })
		if i < 0 {
			return nil, fmt.Errorf("container %s: mountPoints: no volume named %q in the task definition", cd.Name, mp.SourceVolume)
		}
		v := r.td.Volumes[i]
		var src string
		switch {
		case v.Host != nil && v.Host.SourcePath != "":
			src = v.Host.SourcePath
		case v.EFSVolumeConfiguration != nil || v.FSxWindowsFileServerVolumeConfiguration != nil:
			return nil, fmt.Errorf("volume %s: EFS and FSx volumes are not supported by Gantry", v.Name)
		case v.DockerVolumeConfiguration != nil && v.DockerVolumeConfiguration.Scope == "shared":
			// A named volume: one directory per name, kept across tasks, like docker's.
			src = filepath.Join(r.a.cfg.StateDir, "named-volumes", v.Name)
			if err := os.MkdirAll(src, 0o755); err != nil {
				return nil, fmt.Errorf("volume %s: %w", v.Name, err)
			}
		default:
			src = filepath.Join(r.a.volumeDir(r.id), v.Name)
			if err := os.MkdirAll(src, 0o755); err != nil {
				return nil, fmt.Errorf("volume %s: %w", v.Name, err)
			}
		}
		out = append(out, runtime.Mount{Source: src, Target: mp.ContainerPath, ReadOnly: deref(mp.ReadOnly)})
	}
	return out, nil
}

// healthCommand turns an ECS healthCheck command into the process to exec.
func healthCommand(cmd []string) ([]string, error) {
	if len(cmd) < 2 {
		return nil, fmt.Errorf("healthCheck.command %q: want [\"CMD\", ...] or [\"CMD-SHELL\", \"...\"]", cmd)
	}
	switch cmd[0] {
	case "CMD":
		return cmd[1:], nil
	case "CMD-SHELL":
		return []string{"/bin/sh", "-c", strings.Join(cmd[1:], " ")}, nil
	}
	return nil, fmt.Errorf("healthCheck.command %q: the first item must be CMD or CMD-SHELL", cmd)
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
