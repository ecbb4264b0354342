package ecs

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"gantry/internal/awsapi"
)

// Limits of RegisterTaskDefinition, from the ECS API reference and service quotas.
const (
	maxContainerDefinitions = 10
	maxTaskDefinitionBytes  = 64 << 10 // "Task definition size" quota
	maxPlacementConstraints = 10
	maxNameLen              = 255 // family, container and volume names
	maxImageRefLen          = 255 // ContainerDefinition.image, before any @digest
	maxPortNameLen          = 64
	minContainerMemoryMiB   = 6 // Docker 20.10+ refuses less (ContainerDefinition.memory)
	maxEnvironmentFiles     = 10
	maxIgnoredExitCodes     = 50
	minEC2TaskCPU           = 128    // TaskDefinition.cpu: 0.125 vCPU ...
	maxEC2TaskCPU           = 196608 // ... to 192 vCPU off Fargate
)

// newTaskDefinition validates a RegisterTaskDefinition request the way ECS does and
// returns the task definition ECS would store, with its defaults applied. The caller sets
// taskDefinitionArn, revision, status, registeredAt and registeredBy. Errors are
// *awsapi.Error whose message starts with the offending member's path.
func newTaskDefinition(in *RegisterTaskDefinitionInput) (*TaskDefinition, error) {
	body, err := json.Marshal(in)
	if err != nil {
		return nil, fmt.Errorf("encoding task definition %q: %w", in.Family, err)
	}
	// The quota is on the definition as sent. Re-encoding writes absent container lists as
	// null, so this overstates a request by at most a few hundred bytes.
	if len(body) > maxTaskDefinitionBytes {
		return nil, clientErrorAt("taskDefinition", "Task definition size exceeds the limit: %d bytes encoded, at most %d allowed", len(body), maxTaskDefinitionBytes)
	}
	// Decoding the request into the response shape deep-copies it, so the result shares
	// no slice, map or pointer with the caller's input. Tags are not part of it.
	td := new(TaskDefinition)
	if err := json.Unmarshal(body, td); err != nil {
		return nil, fmt.Errorf("copying task definition %q: %w", in.Family, err)
	}
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}
	c, err := checkTaskDefinition(td)
	if err != nil {
		return nil, err
	}
	c.applyDefaults()
	return td, nil
}

// taskCheck carries what several rules need while one task definition is validated.
type taskCheck struct {
	td         *TaskDefinition
	mode       string         // network mode in effect: bridge when none is given
	cpu, mem   int            // task cpu units and memory MiB; 0 when not given
	containers map[string]int // container name -> index
	volumes    map[string]bool
}

func checkTaskDefinition(td *TaskDefinition) (*taskCheck, error) {
	c := &taskCheck{td: td, mode: cmp.Or(td.NetworkMode, NetworkModeBridge)}
	steps := []func() error{
		c.checkFamily, c.checkModes, c.checkRequiredCompatibilities, c.checkTaskSize,
		c.checkVolumes, c.checkContainers, c.checkMemoryTotals, c.checkCPUTotals,
		c.checkEssential, c.checkDependencyCycles, c.checkPlacementConstraints,
		c.checkProxyConfiguration, c.checkTaskOptions, c.checkLaunchTypes,
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func (c *taskCheck) requires(compat string) bool {
	return slices.Contains(c.td.RequiresCompatibilities, compat)
}

func (c *taskCheck) checkFamily() error {
	if c.td.Family == "" {
		return clientErrorAt("family", "Family should not be null or empty.")
	}
	if !validName(c.td.Family) {
		return clientErrorAt("family", "%s is not valid: up to 255 letters (uppercase and lowercase), numbers, hyphens and underscores are allowed", quoteShort(c.td.Family))
	}
	return nil
}

func (c *taskCheck) checkModes() error {
	td := c.td
	return firstError(
		checkOneOf("networkMode", td.NetworkMode, true, NetworkModeBridge, NetworkModeHost, NetworkModeAwsvpc, NetworkModeNone),
		checkOneOf("pidMode", td.PidMode, true, "host", "task"),
		checkOneOf("ipcMode", td.IpcMode, true, "host", "task", "none"),
	)
}

func (c *taskCheck) checkRequiredCompatibilities() error {
	for i, v := range c.td.RequiresCompatibilities {
		err := checkOneOf(indexPath("requiresCompatibilities", i), v, false,
			CompatibilityEC2, CompatibilityFargate, CompatibilityExternal, CompatibilityManagedInstances)
		if err != nil {
			return err
		}
	}
	return nil
}

// checkTaskSize parses the task-level cpu and memory. The normalized integers replace
// the strings in applyDefaults, as ECS stores "1 vCPU" as "1024".
func (c *taskCheck) checkTaskSize() error {
	var err error
	if c.td.CPU != "" {
		if c.cpu, err = parseTaskCPU(c.td.CPU); err != nil {
			return clientErrorAt("cpu", "Invalid 'cpu' setting for task: %v", err)
		}
		// Fargate has its own table, checked in checkLaunchTypes.
		if !c.requires(CompatibilityFargate) && (c.cpu < minEC2TaskCPU || c.cpu > maxEC2TaskCPU) {
			return clientErrorAt("cpu", "Invalid 'cpu' setting for task: %d units; must be between %d (0.125 vCPU) and %d (192 vCPU)", c.cpu, minEC2TaskCPU, maxEC2TaskCPU)
		}
	}
	if c.td.Memory != "" {
		if c.mem, err = parseTaskMemory(c.td.Memory); err != nil {
			return clientErrorAt("memory", "Invalid 'memory' setting for task: %v", err)
		}
	}
	return nil
}

// checkVolumes applies the Volume rules: unique names of the container-name charset and
// at most one kind of configuration per volume.
func (c *taskCheck) checkVolumes() error {
	c.volumes = make(map[string]bool, len(c.td.Volumes))
	for i := range c.td.Volumes {
		v, p := &c.td.Volumes[i], indexPath("volumes", i)
		switch {
		case v.Name == "":
			return clientErrorAt(p+".name", "Volume.name should not be null or empty.")
		case !validName(v.Name):
			return clientErrorAt(p+".name", "%s is not valid: up to 255 letters (uppercase and lowercase), numbers, hyphens and underscores are allowed", quoteShort(v.Name))
		case c.volumes[v.Name]:
			return clientErrorAt(p+".name", "duplicate volume name %q; volume names must be unique within a task definition", v.Name)
		}
		c.volumes[v.Name] = true
		if err := checkVolumeConfig(p, v); err != nil {
			return err
		}
	}
	return nil
}

func checkVolumeConfig(p string, v *Volume) error {
	kinds := 0
	for _, set := range []bool{v.Host != nil, v.DockerVolumeConfiguration != nil, v.EFSVolumeConfiguration != nil,
		v.S3FilesVolumeConfiguration != nil, v.FSxWindowsFileServerVolumeConfiguration != nil} {
		if set {
			kinds++
		}
	}
	if kinds > 1 {
		return clientErrorAt(p, "specify at most one of host, dockerVolumeConfiguration, efsVolumeConfiguration, s3filesVolumeConfiguration and fsxWindowsFileServerVolumeConfiguration")
	}
	if d := v.DockerVolumeConfiguration; d != nil {
		if err := checkOneOf(p+".dockerVolumeConfiguration.scope", d.Scope, true, "task", "shared"); err != nil {
			return err
		}
	}
	if s := v.S3FilesVolumeConfiguration; s != nil && s.FileSystemARN == "" {
		return clientErrorAt(p+".s3filesVolumeConfiguration.fileSystemArn", "must not be empty")
	}
	return firstError(checkEFSVolume(p+".efsVolumeConfiguration", v.EFSVolumeConfiguration),
		checkFSxVolume(p+".fsxWindowsFileServerVolumeConfiguration", v.FSxWindowsFileServerVolumeConfiguration))
}

// checkEFSVolume applies the EFSVolumeConfiguration rules: IAM authorization and access
// points need transit encryption, and an access point fixes the root directory to "/".
func checkEFSVolume(p string, e *EFSVolumeConfiguration) error {
	if e == nil {
		return nil
	}
	if e.FileSystemID == "" {
		return clientErrorAt(p+".fileSystemId", "must not be empty")
	}
	if err := firstError(
		checkOneOf(p+".transitEncryption", e.TransitEncryption, true, "ENABLED", "DISABLED"),
		checkRange(p+".transitEncryptionPort", e.TransitEncryptionPort, 1, 65535),
	); err != nil {
		return err
	}
	a := e.AuthorizationConfig
	if a == nil {
		return nil
	}
	if err := checkOneOf(p+".authorizationConfig.iam", a.IAM, true, "ENABLED", "DISABLED"); err != nil {
		return err
	}
	if (a.IAM == "ENABLED" || a.AccessPointID != "") && e.TransitEncryption != "ENABLED" {
		return clientErrorAt(p+".transitEncryption", "must be ENABLED when authorizationConfig uses IAM or an access point")
	}
	if a.AccessPointID != "" && e.RootDirectory != "" && e.RootDirectory != "/" {
		return clientErrorAt(p+".rootDirectory", "must be omitted or \"/\" when authorizationConfig.accessPointId is set")
	}
	return nil
}

func checkFSxVolume(p string, f *FSxWindowsFileServerVolumeConfiguration) error {
	switch {
	case f == nil:
		return nil
	case f.FileSystemID == "":
		return clientErrorAt(p+".fileSystemId", "must not be empty")
	case f.RootDirectory == "":
		return clientErrorAt(p+".rootDirectory", "must not be empty")
	case f.AuthorizationConfig == nil || f.AuthorizationConfig.CredentialsParameter == "" || f.AuthorizationConfig.Domain == "":
		return clientErrorAt(p+".authorizationConfig", "credentialsParameter and domain are required")
	}
	return nil
}

// checkContainers checks the container count and names first, since several container
// rules refer to other containers by name, then each container.
func (c *taskCheck) checkContainers() error {
	cds := c.td.ContainerDefinitions
	if len(cds) == 0 || len(cds) > maxContainerDefinitions {
		return clientErrorAt("containerDefinitions", "%d containers given; a task definition has 1 to %d", len(cds), maxContainerDefinitions)
	}
	c.containers = make(map[string]int, len(cds))
	for i := range cds {
		p, name := indexPath("containerDefinitions", i), cds[i].Name
		switch _, dup := c.containers[name]; {
		case name == "":
			return clientErrorAt(p+".name", "Container.name should not be null or empty.")
		case !validName(name):
			return clientErrorAt(p+".name", "%s is not valid: up to 255 letters (uppercase and lowercase), numbers, hyphens and underscores are allowed", quoteShort(name))
		case dup:
			return clientErrorAt(p+".name", "duplicate container name %q; container names must be unique within a task definition", name)
		}
		c.containers[name] = i
	}
	for i := range cds {
		if err := c.checkContainer(indexPath("containerDefinitions", i), &cds[i]); err != nil {
			return err
		}
	}
	return nil
}

func (c *taskCheck) checkContainer(p string, cd *ContainerDefinition) error {
	checks := []func(string, *ContainerDefinition) error{
		checkImage, c.checkContainerResources, c.checkPortMappings, c.checkLinks,
		checkEnvironment, c.checkMounts, checkHealthCheck, c.checkDependsOn, checkUlimits,
		checkLogConfiguration, checkLinuxParameters, c.checkNetworkOptions, checkContainerExtras,
	}
	for _, check := range checks {
		if err := check(p, cd); err != nil {
			return err
		}
	}
	return nil
}

// checkImage applies ContainerDefinition.image: up to 255 characters of letters, digits,
// hyphens, underscores, colons, periods, slashes and number signs, the limit applying
// before the @ of a digest, which must be sha256 with 64 hex digits.
func checkImage(p string, cd *ContainerDefinition) error {
	p += ".image"
	if cd.Image == "" {
		return clientErrorAt(p, "Container.image should not be null or empty.")
	}
	ref, digest, hasDigest := strings.Cut(cd.Image, "@")
	if len(ref) > maxImageRefLen {
		return clientErrorAt(p, "the image name is %d characters; at most %d are allowed (before any @digest)", len(ref), maxImageRefLen)
	}
	if strings.IndexFunc(ref, func(r rune) bool { return !isImageRune(r) }) >= 0 {
		return clientErrorAt(p, "%s is not valid: letters, numbers, hyphens, underscores, colons, periods, forward slashes and number signs are allowed", quoteShort(cd.Image))
	}
	if hex, ok := strings.CutPrefix(digest, "sha256:"); hasDigest && (!ok || !isHex(hex, 64)) {
		return clientErrorAt(p, "the digest must be sha256: followed by 64 hexadecimal characters")
	}
	return nil
}

// checkContainerResources applies the per-container cpu and memory rules; the totals
// against the task size are in checkMemoryTotals and checkCPUTotals.
func (c *taskCheck) checkContainerResources(p string, cd *ContainerDefinition) error {
	if cd.CPU != nil && *cd.CPU < 0 {
		return clientErrorAt(p+".cpu", "must be 0 or more CPU units, got %d", *cd.CPU)
	}
	for _, m := range []struct {
		field string
		v     *int32
	}{{"memory", cd.Memory}, {"memoryReservation", cd.MemoryReservation}} {
		if m.v != nil && *m.v < minContainerMemoryMiB {
			return clientErrorAt(p+"."+m.field, "Invalid '%s' setting for container '%s': %d MiB; the minimum is %d MiB", m.field, cd.Name, *m.v, minContainerMemoryMiB)
		}
	}
	if cd.Memory == nil && cd.MemoryReservation == nil && c.mem == 0 {
		return clientErrorAt(p+".memory", "Invalid setting for container '%s'. At least one of 'memory' or 'memoryReservation' must be specified (or set the task-level memory).", cd.Name)
	}
	if cd.Memory != nil && cd.MemoryReservation != nil && *cd.MemoryReservation > *cd.Memory {
		return clientErrorAt(p+".memoryReservation", "Invalid setting for container '%s': memoryReservation (%d MiB) must not exceed memory (%d MiB)", cd.Name, *cd.MemoryReservation, *cd.Memory)
	}
	if cd.Memory != nil && c.mem > 0 && int(*cd.Memory) > c.mem {
		return clientErrorAt(p+".memory", "Invalid setting for container '%s': memory (%d MiB) must not exceed the task memory (%d MiB)", cd.Name, *cd.Memory, c.mem)
	}
	return nil
}

// checkPortMappings applies the PortMapping rules of the network mode in use and rejects
// a port (or overlapping range) mapped twice for the same protocol.
func (c *taskCheck) checkPortMappings(p string, cd *ContainerDefinition) error {
	if len(cd.PortMappings) > 0 && c.mode == NetworkModeNone {
		return clientErrorAt(p+".portMappings", "port mappings are not supported with networkMode none")
	}
	type span struct {
		lo, hi int
		proto  string
	}
	var seen []span
	for j := range cd.PortMappings {
		pm, pp := &cd.PortMappings[j], indexPath(p+".portMappings", j)
		lo, hi, err := c.checkPortMapping(pp, pm)
		if err != nil {
			return err
		}
		proto := cmp.Or(pm.Protocol, "tcp")
		for _, s := range seen {
			if s.proto == proto && lo <= s.hi && s.lo <= hi {
				return clientErrorAt(pp, "container port %d/%s is mapped more than once", max(lo, s.lo), proto)
			}
		}
		seen = append(seen, span{lo, hi, proto})
	}
	return nil
}

// checkPortMapping checks one mapping and returns the container ports it covers.
func (c *taskCheck) checkPortMapping(pp string, pm *PortMapping) (lo, hi int, err error) {
	if err := firstError(
		checkOneOf(pp+".protocol", pm.Protocol, true, "tcp", "udp"),
		checkOneOf(pp+".appProtocol", pm.AppProtocol, true, "http", "http2", "grpc"),
		checkPortName(pp+".name", pm.Name),
	); err != nil {
		return 0, 0, err
	}
	if pm.ContainerPortRange != "" {
		return c.checkPortRange(pp, pm)
	}
	if pm.ContainerPort == nil {
		return 0, 0, clientErrorAt(pp+".containerPort", "must be given when containerPortRange is not")
	}
	if err := firstError(
		checkRange(pp+".containerPort", pm.ContainerPort, 1, 65535),
		checkRange(pp+".hostPort", pm.HostPort, 0, 65535),
	); err != nil {
		return 0, 0, err
	}
	// PortMapping.hostPort: with awsvpc or host the host port is the container port.
	if (c.mode == NetworkModeAwsvpc || c.mode == NetworkModeHost) && pm.HostPort != nil && *pm.HostPort != *pm.ContainerPort {
		return 0, 0, clientErrorAt(pp+".hostPort", "must be omitted or equal to containerPort (%d) with networkMode %s, got %d", *pm.ContainerPort, c.mode, *pm.HostPort)
	}
	return int(*pm.ContainerPort), int(*pm.ContainerPort), nil
}

// checkPortRange applies PortMapping.containerPortRange: bridge or awsvpc only, no
// containerPort or hostPort beside it, first port below the last, all in 1-65535.
func (c *taskCheck) checkPortRange(pp string, pm *PortMapping) (lo, hi int, err error) {
	switch {
	case c.mode != NetworkModeBridge && c.mode != NetworkModeAwsvpc:
		return 0, 0, clientErrorAt(pp+".containerPortRange", "is supported only with networkMode bridge or awsvpc")
	case pm.ContainerPort != nil || pm.HostPort != nil:
		return 0, 0, clientErrorAt(pp+".containerPortRange", "cannot be combined with containerPort or hostPort")
	}
	a, b, ok := strings.Cut(pm.ContainerPortRange, "-")
	lo, errA := strconv.Atoi(a)
	hi, errB := strconv.Atoi(b)
	if !ok || errA != nil || errB != nil || lo < 1 || hi > 65535 || lo >= hi {
		return 0, 0, clientErrorAt(pp+".containerPortRange", "%s is not valid: want first-last with 1 <= first < last <= 65535", quoteShort(pm.ContainerPortRange))
	}
	return lo, hi, nil
}

// checkPortName applies PortMapping.name: up to 64 lowercase letters, numbers,
// underscores and hyphens, not starting with a hyphen.
func checkPortName(p, name string) error {
	if name == "" {
		return nil
	}
	bad := strings.IndexFunc(name, func(r rune) bool {
		return (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '_' && r != '-'
	})
	if len(name) > maxPortNameLen || bad >= 0 || name[0] == '-' {
		return clientErrorAt(p, "%s is not valid: up to 64 lowercase letters, numbers, underscores and hyphens, not starting with a hyphen", quoteShort(name))
	}
	return nil
}

// checkLinks applies ContainerDefinition.links: bridge mode only, each "name" or
// "name:alias" naming another container of the task.
func (c *taskCheck) checkLinks(p string, cd *ContainerDefinition) error {
	if len(cd.Links) > 0 && c.mode != NetworkModeBridge {
		return clientErrorAt(p+".links", "links are supported only with networkMode bridge, not %s", c.mode)
	}
	for j, link := range cd.Links {
		name, alias, hasAlias := strings.Cut(link, ":")
		lp := indexPath(p+".links", j)
		if !validName(name) || (hasAlias && !validName(alias)) {
			return clientErrorAt(lp, "%s is not valid: want name or name:alias of letters, numbers, hyphens and underscores", quoteShort(link))
		}
		if err := c.checkOtherContainer(lp, cd.Name, name); err != nil {
			return err
		}
	}
	return nil
}

// checkOtherContainer reports a reference that does not name another container.
func (c *taskCheck) checkOtherContainer(p, self, name string) error {
	if name == self {
		return clientErrorAt(p, "container %q cannot refer to itself", self)
	}
	if _, ok := c.containers[name]; !ok {
		return clientErrorAt(p, "%s does not name a container in this task definition", quoteShort(name))
	}
	return nil
}

func checkEnvironment(p string, cd *ContainerDefinition) error {
	for j, kv := range cd.Environment {
		if kv.Name == "" {
			return clientErrorAt(indexPath(p+".environment", j)+".name", "must not be empty")
		}
	}
	if len(cd.EnvironmentFiles) > maxEnvironmentFiles {
		return clientErrorAt(p+".environmentFiles", "%d files given; at most %d are allowed", len(cd.EnvironmentFiles), maxEnvironmentFiles)
	}
	for j, f := range cd.EnvironmentFiles {
		fp := indexPath(p+".environmentFiles", j)
		if err := checkOneOf(fp+".type", f.Type, false, "s3"); err != nil {
			return err
		}
		if f.Value == "" {
			return clientErrorAt(fp+".value", "must be the ARN of an S3 object")
		}
	}
	return checkSecrets(p+".secrets", cd.Secrets)
}

func checkSecrets(p string, secrets []Secret) error {
	for j, s := range secrets {
		switch sp := indexPath(p, j); {
		case s.Name == "":
			return clientErrorAt(sp+".name", "must not be empty")
		case s.ValueFrom == "":
			return clientErrorAt(sp+".valueFrom", "must not be empty")
		}
	}
	return nil
}

// checkMounts applies MountPoint and VolumeFrom: mounts name declared volumes and
// volumesFrom names another container.
func (c *taskCheck) checkMounts(p string, cd *ContainerDefinition) error {
	for j, m := range cd.MountPoints {
		mp := indexPath(p+".mountPoints", j)
		switch {
		case !c.volumes[m.SourceVolume]:
			return clientErrorAt(mp+".sourceVolume", "%s does not name a volume declared in volumes", quoteShort(m.SourceVolume))
		case m.ContainerPath == "":
			return clientErrorAt(mp+".containerPath", "must not be empty")
		}
	}
	for j, v := range cd.VolumesFrom {
		if err := c.checkOtherContainer(indexPath(p+".volumesFrom", j)+".sourceContainer", cd.Name, v.SourceContainer); err != nil {
			return err
		}
	}
	return nil
}

// checkHealthCheck applies HealthCheck: a command starting with CMD or CMD-SHELL (or
// Docker's ["NONE"]), interval 5-300, timeout 2-60, retries 1-10, startPeriod 0-300.
func checkHealthCheck(p string, cd *ContainerDefinition) error {
	hc := cd.HealthCheck
	if hc == nil {
		return nil
	}
	p += ".healthCheck"
	cmdOK := len(hc.Command) == 1 && hc.Command[0] == "NONE" ||
		len(hc.Command) >= 2 && (hc.Command[0] == "CMD" || hc.Command[0] == "CMD-SHELL")
	if !cmdOK {
		return clientErrorAt(p+".command", "must start with CMD or CMD-SHELL followed by the command, e.g. [\"CMD-SHELL\", \"curl -f http://localhost/ || exit 1\"], or be [\"NONE\"]")
	}
	return firstError(
		checkRange(p+".interval", hc.Interval, 5, 300),
		checkRange(p+".timeout", hc.Timeout, 2, 60),
		checkRange(p+".retries", hc.Retries, 1, 10),
		checkRange(p+".startPeriod", hc.StartPeriod, 0, 300),
	)
}

// checkDependsOn applies ContainerDependency: the container is another one of the task;
// HEALTHY needs its health check; COMPLETE and SUCCESS cannot wait on an essential
// container, which by definition must not exit.
func (c *taskCheck) checkDependsOn(p string, cd *ContainerDefinition) error {
	for j, d := range cd.DependsOn {
		dp := indexPath(p+".dependsOn", j)
		if err := firstError(
			c.checkOtherContainer(dp+".containerName", cd.Name, d.ContainerName),
			checkOneOf(dp+".condition", d.Condition, false, "START", "COMPLETE", "SUCCESS", "HEALTHY"),
		); err != nil {
			return err
		}
		target := &c.td.ContainerDefinitions[c.containers[d.ContainerName]]
		switch {
		case d.Condition == "HEALTHY" && target.HealthCheck == nil:
			return clientErrorAt(dp+".condition", "HEALTHY requires container %q to have a healthCheck", d.ContainerName)
		case (d.Condition == "COMPLETE" || d.Condition == "SUCCESS") && boolOr(target.Essential, true):
			return clientErrorAt(dp+".condition", "%s cannot be set on essential container %q; mark it essential: false", d.Condition, d.ContainerName)
		}
	}
	return nil
}

// ulimitNames are the names of the Ulimit enum (SDK types/enums.go, UlimitName).
func ulimitNames() []string {
	return []string{"core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice",
		"nofile", "nproc", "rss", "rtprio", "rttime", "sigpending", "stack"}
}

// checkUlimits applies Ulimit: a known name, once, with both limits and soft <= hard,
// -1 meaning unlimited as in Docker.
func checkUlimits(p string, cd *ContainerDefinition) error {
	seen := map[string]bool{}
	for j, u := range cd.Ulimits {
		up := indexPath(p+".ulimits", j)
		if err := checkOneOf(up+".name", u.Name, false, ulimitNames()...); err != nil {
			return err
		}
		switch {
		case seen[u.Name]:
			return clientErrorAt(up+".name", "ulimit %q is given more than once", u.Name)
		case u.SoftLimit == nil || u.HardLimit == nil:
			return clientErrorAt(up, "softLimit and hardLimit are required")
		case *u.HardLimit != -1 && (*u.SoftLimit == -1 || *u.SoftLimit > *u.HardLimit):
			return clientErrorAt(up+".softLimit", "must not exceed hardLimit (%d), got %d", *u.HardLimit, *u.SoftLimit)
		}
		seen[u.Name] = true
	}
	return nil
}

// logDrivers are the values of the LogDriver enum (SDK types/enums.go).
func logDrivers() []string {
	return []string{"json-file", "syslog", "journald", "gelf", "fluentd", "awslogs", "splunk", "awsfirelens"}
}

func checkLogConfiguration(p string, cd *ContainerDefinition) error {
	lc := cd.LogConfiguration
	if lc == nil {
		return nil
	}
	p += ".logConfiguration"
	return firstError(
		checkOneOf(p+".logDriver", lc.LogDriver, false, logDrivers()...),
		checkSecrets(p+".secretOptions", lc.SecretOptions),
	)
}

// checkLinuxParameters applies LinuxParameters, Device and Tmpfs.
func checkLinuxParameters(p string, cd *ContainerDefinition) error {
	lp := cd.LinuxParameters
	if lp == nil {
		return nil
	}
	p += ".linuxParameters"
	for j, d := range lp.Devices {
		dp := indexPath(p+".devices", j)
		if d.HostPath == "" {
			return clientErrorAt(dp+".hostPath", "must not be empty")
		}
		for k, perm := range d.Permissions {
			if err := checkOneOf(indexPath(dp+".permissions", k), perm, false, "read", "write", "mknod"); err != nil {
				return err
			}
		}
	}
	for j, t := range lp.Tmpfs {
		tp := indexPath(p+".tmpfs", j)
		if t.ContainerPath == "" {
			return clientErrorAt(tp+".containerPath", "must not be empty")
		}
		if t.Size == nil || *t.Size < 1 {
			return clientErrorAt(tp+".size", "must be given as 1 MiB or more")
		}
	}
	return firstError(
		checkRange(p+".sharedMemorySize", lp.SharedMemorySize, 1, 1<<31-1),
		checkRange(p+".maxSwap", lp.MaxSwap, 0, 1<<31-1),
		checkRange(p+".swappiness", lp.Swappiness, 0, 100),
	)
}

// checkNetworkOptions applies ContainerDefinition.hostname and extraHosts, neither of
// which awsvpc supports: the task ENI owns both.
func (c *taskCheck) checkNetworkOptions(p string, cd *ContainerDefinition) error {
	if c.mode == NetworkModeAwsvpc {
		switch {
		case cd.Hostname != "":
			return clientErrorAt(p+".hostname", "hostname is not supported on container when networkMode=awsvpc")
		case len(cd.ExtraHosts) > 0:
			return clientErrorAt(p+".extraHosts", "extraHosts is not supported on container when networkMode=awsvpc")
		}
	}
	for j, h := range cd.ExtraHosts {
		if h.Hostname == "" || h.IPAddress == "" {
			return clientErrorAt(indexPath(p+".extraHosts", j), "hostname and ipAddress are required")
		}
	}
	return nil
}

// checkContainerExtras covers the remaining container members with a rule of their own.
func checkContainerExtras(p string, cd *ContainerDefinition) error {
	if cd.RepositoryCredentials != nil && cd.RepositoryCredentials.CredentialsParameter == "" {
		return clientErrorAt(p+".repositoryCredentials.credentialsParameter", "must not be empty")
	}
	if f := cd.FirelensConfiguration; f != nil {
		if err := checkOneOf(p+".firelensConfiguration.type", f.Type, false, "fluentd", "fluentbit"); err != nil {
			return err
		}
	}
	for j, s := range cd.SystemControls {
		if s.Namespace == "" {
			return clientErrorAt(indexPath(p+".systemControls", j)+".namespace", "must not be empty")
		}
	}
	return firstError(
		checkRange(p+".startTimeout", cd.StartTimeout, 0, 1<<31-1),
		checkRange(p+".stopTimeout", cd.StopTimeout, 0, 1<<31-1),
		checkOneOf(p+".versionConsistency", cd.VersionConsistency, true, "enabled", "disabled"),
		checkRestartPolicy(p+".restartPolicy", cd.RestartPolicy),
		checkResourceRequirements(p+".resourceRequirements", cd.ResourceRequirements),
	)
}

// checkRestartPolicy applies ContainerRestartPolicy: enabled is required, at most 50
// ignored exit codes, restartAttemptPeriod 60-1800 seconds.
func checkRestartPolicy(p string, r *ContainerRestartPolicy) error {
	switch {
	case r == nil:
		return nil
	case r.Enabled == nil:
		return clientErrorAt(p+".enabled", "is required")
	case len(r.IgnoredExitCodes) > maxIgnoredExitCodes:
		return clientErrorAt(p+".ignoredExitCodes", "%d codes given; at most %d are allowed", len(r.IgnoredExitCodes), maxIgnoredExitCodes)
	}
	return checkRange(p+".restartAttemptPeriod", r.RestartAttemptPeriod, 60, 1800)
}

// checkResourceRequirements applies ResourceRequirement: a known type and, for GPUs, a
// whole number of them.
func checkResourceRequirements(p string, rs []ResourceRequirement) error {
	for j, r := range rs {
		rp := indexPath(p, j)
		if err := checkOneOf(rp+".type", r.Type, false, "GPU", "InferenceAccelerator", "NeuronDevice"); err != nil {
			return err
		}
		if n, err := strconv.Atoi(r.Value); r.Type == "GPU" && (err != nil || n < 1) {
			return clientErrorAt(rp+".value", "the number of GPUs must be a positive integer, got %s", quoteShort(r.Value))
		}
		if r.Value == "" {
			return clientErrorAt(rp+".value", "must not be empty")
		}
	}
	return nil
}

// checkMemoryTotals applies the task-memory rule of ContainerDefinition.memory: what the
// containers reserve (memoryReservation, else memory) must fit in the task memory.
func (c *taskCheck) checkMemoryTotals() error {
	if c.mem == 0 {
		return nil
	}
	total := 0
	for _, cd := range c.td.ContainerDefinitions {
		if r := cmp.Or(cd.MemoryReservation, cd.Memory); r != nil {
			total += int(*r)
		}
	}
	if total > c.mem {
		return clientErrorAt("containerDefinitions", "the containers reserve %d MiB of memory in total, more than the task memory of %d MiB", total, c.mem)
	}
	return nil
}

// checkCPUTotals applies the ContainerDefinition.cpu rule: the containers' cpu units
// together must not exceed the task cpu.
func (c *taskCheck) checkCPUTotals() error {
	if c.cpu == 0 {
		return nil
	}
	total := 0
	for _, cd := range c.td.ContainerDefinitions {
		if cd.CPU != nil {
			total += int(*cd.CPU)
		}
	}
	if total > c.cpu {
		return clientErrorAt("containerDefinitions", "the containers reserve %d CPU units in total, more than the task cpu of %d", total, c.cpu)
	}
	return nil
}

// checkEssential applies ContainerDefinition.essential: "All tasks must have at least one
// essential container."
func (c *taskCheck) checkEssential() error {
	for _, cd := range c.td.ContainerDefinitions {
		if boolOr(cd.Essential, true) {
			return nil
		}
	}
	return clientErrorAt("containerDefinitions", "at least one container must be essential")
}

// checkDependencyCycles rejects dependsOn chains that loop, which would leave every
// container in the loop waiting forever.
func (c *taskCheck) checkDependencyCycles() error {
	cds := c.td.ContainerDefinitions
	const (
		unvisited = iota
		visiting
		done
	)
	state := make([]int, len(cds))
	var visit func(i int) bool
	visit = func(i int) bool {
		switch state[i] {
		case visiting:
			return false
		case done:
			return true
		}
		state[i] = visiting
		for _, d := range cds[i].DependsOn {
			if !visit(c.containers[d.ContainerName]) {
				return false
			}
		}
		state[i] = done
		return true
	}
	for i := range cds {
		if !visit(i) {
			return clientErrorAt(indexPath("containerDefinitions", i)+".dependsOn", "container %q is part of a dependency cycle", cds[i].Name)
		}
	}
	return nil
}

// checkPlacementConstraints applies TaskDefinitionPlacementConstraint: at most 10, of
// type memberOf with an expression. The cluster query language itself is checked where
// tasks are placed.
func (c *taskCheck) checkPlacementConstraints() error {
	pcs := c.td.PlacementConstraints
	if len(pcs) > maxPlacementConstraints {
		return clientErrorAt("placementConstraints", "%d constraints given; at most %d are allowed", len(pcs), maxPlacementConstraints)
	}
	for i, pc := range pcs {
		p := indexPath("placementConstraints", i)
		if err := checkOneOf(p+".type", pc.Type, false, "memberOf"); err != nil {
			return err
		}
		if pc.Expression == "" {
			return clientErrorAt(p+".expression", "a memberOf constraint needs a cluster query language expression")
		}
	}
	return nil
}

// checkProxyConfiguration applies ProxyConfiguration: type APPMESH, a containerName of
// the task, and awsvpc networking, which App Mesh on ECS requires.
func (c *taskCheck) checkProxyConfiguration() error {
	pc := c.td.ProxyConfiguration
	if pc == nil {
		return nil
	}
	if err := checkOneOf("proxyConfiguration.type", pc.Type, true, "APPMESH"); err != nil {
		return err
	}
	if _, ok := c.containers[pc.ContainerName]; !ok {
		return clientErrorAt("proxyConfiguration.containerName", "%s does not name a container in this task definition", quoteShort(pc.ContainerName))
	}
	if c.mode != NetworkModeAwsvpc {
		return clientErrorAt("proxyConfiguration", "a proxy configuration requires networkMode awsvpc, not %s", c.mode)
	}
	for j, kv := range pc.Properties {
		if kv.Name == "" {
			return clientErrorAt(indexPath("proxyConfiguration.properties", j)+".name", "must not be empty")
		}
	}
	return nil
}

// checkTaskOptions applies EphemeralStorage (21-200 GiB), RuntimePlatform's enums and
// InferenceAccelerator's required members.
func (c *taskCheck) checkTaskOptions() error {
	td := c.td
	if es := td.EphemeralStorage; es != nil {
		if es.SizeInGiB == nil {
			return clientErrorAt("ephemeralStorage.sizeInGiB", "is required")
		}
		if err := checkRange("ephemeralStorage.sizeInGiB", es.SizeInGiB, 21, 200); err != nil {
			return err
		}
	}
	if rp := td.RuntimePlatform; rp != nil {
		if err := firstError(
			checkOneOf("runtimePlatform.cpuArchitecture", rp.CPUArchitecture, true, "X86_64", "ARM64"),
			checkOneOf("runtimePlatform.operatingSystemFamily", rp.OperatingSystemFamily, true, osFamilies()...),
		); err != nil {
			return err
		}
	}
	for i, a := range td.InferenceAccelerators {
		if a.DeviceName == "" || a.DeviceType == "" {
			return clientErrorAt(indexPath("inferenceAccelerators", i), "deviceName and deviceType are required")
		}
	}
	return nil
}

// osFamilies are the values of the OSFamily enum (SDK types/enums.go).
func osFamilies() []string {
	return []string{"WINDOWS_SERVER_2019_FULL", "WINDOWS_SERVER_2019_CORE", "WINDOWS_SERVER_2016_FULL",
		"WINDOWS_SERVER_2004_CORE", "WINDOWS_SERVER_2022_CORE", "WINDOWS_SERVER_2022_FULL",
		"WINDOWS_SERVER_2025_CORE", "WINDOWS_SERVER_2025_FULL", "WINDOWS_SERVER_20H2_CORE", "LINUX"}
}

// checkLaunchTypes applies the rules of the launch types the definition requires:
// Fargate's (see fargateProblem), and ECS Anywhere's lack of awsvpc for EXTERNAL.
func (c *taskCheck) checkLaunchTypes() error {
	if c.requires(CompatibilityFargate) {
		if err := fargateProblem(c.td, c.cpu, c.mem); err != nil {
			return err
		}
	}
	if c.requires(CompatibilityExternal) && c.mode == NetworkModeAwsvpc {
		return clientErrorAt("networkMode", "networkMode awsvpc is not supported for EXTERNAL (ECS Anywhere) task definitions")
	}
	return nil
}

func isDigits(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' }) < 0
}

func isHex(s string, n int) bool {
	return len(s) == n && strings.IndexFunc(s, func(r rune) bool {
		return (r < '0' || r > '9') && (r < 'a' || r > 'f') && (r < 'A' || r > 'F')
	}) < 0
}

// isImageRune reports the characters ContainerDefinition.image allows before a digest.
func isImageRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_:./#", r)
}

// quoteShort quotes a client value for an error message, cut so that a huge value does
// not make a huge message.
func quoteShort(s string) string {
	const limit = 64
	if len(s) > limit {
		return strconv.Quote(s[:limit]) + "..."
	}
	return strconv.Quote(s)
}

func indexPath(base string, i int) string {
	return base + "[" + strconv.Itoa(i) + "]"
}

// clientErrorAt is the ClientException ECS returns for most task definition problems,
// its message led by the path of the offending member.
func clientErrorAt(path, format string, args ...any) error {
	return awsapi.ClientError("ClientException", "%s: %s", path, fmt.Sprintf(format, args...))
}

// checkOneOf reports v outside allowed; an empty v passes when it is optional.
func checkOneOf(path, v string, optional bool, allowed ...string) error {
	if (v == "" && optional) || slices.Contains(allowed, v) {
		return nil
	}
	if v == "" {
		return clientErrorAt(path, "is required; valid values are %s", strings.Join(allowed, ", "))
	}
	return clientErrorAt(path, "%s is not valid; valid values are %s", quoteShort(v), strings.Join(allowed, ", "))
}

// checkRange reports v outside lo..hi; an absent v passes.
func checkRange(path string, v *int32, lo, hi int32) error {
	if v != nil && (*v < lo || *v > hi) {
		return clientErrorAt(path, "must be between %d and %d, got %d", lo, hi, *v)
	}
	return nil
}

func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func boolOr(b *bool, def bool) bool {
	if b == nil {
		return def
	}
	return *b
}
