package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"gantry/internal/awsapi"
	"gantry/internal/ecs"
	"gantry/internal/image"
	"gantry/internal/network"
	"gantry/internal/runtime"
)

// taskRunner drives one task on this node, from its assignment to STOPPED.
type taskRunner struct {
	a             *Agent
	arn, id       string
	td            *ecs.TaskDefinition
	taskMemoryMiB int

	mu         sync.Mutex
	task       ecs.Task // what the agent reports; starts as the server's copy
	containers []*container
	att        *network.Attachment

	stopOnce sync.Once
	stopCh   chan stopRequest // closed-over once: the first stop wins
	events   chan event
	done     chan struct{}
}

// container is one container of the task on this node.
type container struct {
	def     *ecs.ContainerDefinition
	rid     string // runtime id
	created bool
	started bool
	exited  bool
	exit    runtime.ExitStatus
	health  string // "", HEALTHY, UNHEALTHY or UNKNOWN
}

type stopRequest struct{ code, reason string }

// event is a change in one container: it exited, or its health changed.
type event struct {
	c      *container
	exit   *runtime.ExitStatus
	health string
}

func newTaskRunner(a *Agent, as ecs.Assignment) *taskRunner {
	r := &taskRunner{
		a:      a,
		arn:    as.Task.TaskArn,
		id:     idOf(as.Task.TaskArn),
		td:     as.TaskDefinition,
		task:   *as.Task,
		stopCh: make(chan stopRequest, 1),
		events: make(chan event, 4*len(as.TaskDefinition.ContainerDefinitions)+4),
		done:   make(chan struct{}),
	}
	r.taskMemoryMiB, _ = atoi(as.Task.Memory)
	if as.TaskDefinition.Memory == "" && (as.Task.Overrides == nil || as.Task.Overrides.Memory == "") {
		r.taskMemoryMiB = 0 // the sum of container reservations, not a task limit
	}
	for i := range as.TaskDefinition.ContainerDefinitions {
		cd := &as.TaskDefinition.ContainerDefinitions[i]
		r.containers = append(r.containers, &container{def: cd, rid: runtimeID(r.id, cd.Name)})
	}
	return r
}

// requestStop asks the task to stop; only the first request counts.
func (r *taskRunner) requestStop(code, reason string) {
	r.stopOnce.Do(func() { r.stopCh <- stopRequest{code, reason} })
}

// update changes the reported task under the lock and queues a report of the result.
func (r *taskRunner) update(change func(t *ecs.Task)) {
	r.mu.Lock()
	change(&r.task)
	t := r.task
	t.Containers = slices.Clone(t.Containers)
	t.Attachments = slices.Clone(t.Attachments)
	r.mu.Unlock()
	r.a.rep.submit(&t)
}

// setContainer changes one container's reported state within change.
func setContainer(t *ecs.Task, name string, change func(c *ecs.Container)) {
	for i := range t.Containers {
		if t.Containers[i].Name == name {
			change(&t.Containers[i])
		}
	}
}

func now() awsapi.Timestamp { return awsapi.NewTimestamp(time.Now()) }

// run drives the task until it is STOPPED, or until the agent shuts down (ctx ends), in
// which case the containers keep running for the next agent to adopt.
func (r *taskRunner) run(ctx context.Context, adopted []runtime.ContainerInfo) {
	defer close(r.done)
	defer r.a.forget(r)
	launchCtx, cancelLaunch := context.WithCancel(ctx)
	var stop stopRequest
	stopped := make(chan struct{})
	go func() {
		select {
		case stop = <-r.stopCh:
			cancelLaunch()
		case <-launchCtx.Done():
		}
		close(stopped)
	}()
	var err error
	if adopted != nil {
		err = r.adopt(launchCtx, adopted)
	} else {
		err = r.launch(launchCtx)
	}
	if err == nil {
		err = r.monitor(launchCtx)
	}
	cancelLaunch()
	<-stopped
	if ctx.Err() != nil {
		return // the agent is shutting down: leave the task to the next one
	}
	switch {
	case stop.code != "":
	case errors.Is(err, errEssentialExited):
		stop = stopRequest{ecs.StopEssentialContainerExited, "Essential container in task exited"}
	case errors.Is(err, errContainersGone):
		stop = stopRequest{ecs.StopEssentialContainerExited, err.Error()}
	case err != nil:
		stop = stopRequest{ecs.StopTaskFailedToStart, err.Error()}
	}
	r.teardown(ctx, stop)
}

var (
	errEssentialExited = errors.New("essential container exited")
	errContainersGone  = errors.New("Task stopped: its containers are gone from the instance (the instance restarted, or they were removed)")
)

// launch pulls the images, creates the network and the containers, and starts them.
func (r *taskRunner) launch(ctx context.Context) error {
	r.update(func(t *ecs.Task) { t.LastStatus, t.PullStartedAt = ecs.TaskPending, now() })
	imgs, err := r.pullImages(ctx)
	r.update(func(t *ecs.Task) { t.PullStoppedAt = now() })
	if err != nil {
		return err
	}
	r.update(func(t *ecs.Task) { t.LastStatus = ecs.TaskActivating })
	r.publishExposed(imgs)
	if err := r.createAll(ctx, imgs); err != nil {
		return err
	}
	return r.startReady(ctx)
}

// pullImages gets each container's image from the node's store, pulling the missing ones
// (the ECS agent's prefer-cached behaviour: a node-local image is used as is).
func (r *taskRunner) pullImages(ctx context.Context) (map[string]*image.Image, error) {
	imgs := map[string]*image.Image{}
	for _, c := range r.containers {
		ref := c.def.Image
		if imgs[ref] != nil {
			continue
		}
		img, err := r.a.image(ctx, ref)
		if err != nil {
			reason := fmt.Sprintf("CannotPullContainerError: pulling %s: %v", ref, err)
			r.update(func(t *ecs.Task) {
				setContainer(t, c.def.Name, func(ec *ecs.Container) { ec.Reason = reason })
			})
			return nil, errors.New(reason)
		}
		imgs[ref] = img
		r.update(func(t *ecs.Task) {
			for _, o := range r.containers {
				if o.def.Image == ref {
					setContainer(t, o.def.Name, func(ec *ecs.Container) { ec.ImageDigest = img.Digest.String() })
				}
			}
		})
	}
	return imgs, nil
}

// createAll creates the task's network and containers, and starts those that depend on no
// other. All of it overlaps: the root filesystems are mounted while the network namespace
// is made, and the CNI attach, the slow part of the network, runs while the OCI runtime
// creates the containers in that namespace; a container started here is held before its
// process execs until the attach is done (runtime.Run's ready).
func (r *taskRunner) createAll(ctx context.Context, imgs map[string]*image.Image) error {
	mode := networkMode(r.td.NetworkMode)
	var ports []network.PortMapping
	if mode == network.ModeBridge {
		ports = portMappings(r.containers)
	}
	var wg sync.WaitGroup
	var att *network.Attachment // the prepared namespace, once prepared is closed
	var netErr error            // set before connected is closed
	prepared, connected := make(chan struct{}), make(chan struct{})
	wg.Go(func() {
		defer close(connected)
		var err error
		att, err = r.a.cfg.Network.Prepare(ctx, r.id, mode, ports)
		close(prepared)
		if err != nil {
			netErr = fmt.Errorf("preparing the task network: %w", err)
			return
		}
		r.att = att
		if a, err := r.a.cfg.Network.Connect(ctx, r.id); err != nil {
			netErr = fmt.Errorf("connecting the task network: %w", err)
		} else {
			r.att = a
		}
	})
	ready := func(ctx context.Context) error {
		select {
		case <-connected:
			return netErr
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if !network.Attaches(mode) {
		ready = nil // the namespace is complete once prepared: no attach to wait for, no hook
	}
	namespace := func() *network.Attachment { <-prepared; return att }
	errs := make([]error, len(r.containers))
	for i, c := range r.containers {
		wg.Go(func() { errs[i] = r.create(ctx, c, imgs[c.def.Image], namespace, ready) })
	}
	wg.Wait()
	if netErr != nil {
		return netErr // the containers failed with it too, or were not made
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	r.update(func(t *ecs.Task) { r.reportNetwork(t) })
	for _, c := range r.containers {
		if c.started {
			r.running(ctx, c)
		}
	}
	return nil
}

// errNoNamespace stops a container's creation when the task's network namespace could
// not be made; createAll reports why.
var errNoNamespace = errors.New("the task network was not prepared")

// create mounts the container's root filesystem and, once namespace returns the task's
// network namespace, creates the container; one that depends on no other container is
// started too, once ready (when not nil) returns.
func (r *taskRunner) create(ctx context.Context, c *container, img *image.Image, namespace func() *network.Attachment, ready func(context.Context) error) error {
	rootfs, err := r.a.cfg.Images.Mount(ctx, img, c.rid)
	if err != nil {
		return fmt.Errorf("container %s: mounting its root filesystem: %w", c.def.Name, err)
	}
	att := namespace()
	if att == nil {
		return errNoNamespace
	}
	spec, err := r.containerSpec(c.def, img, rootfs, att)
	if err != nil {
		return fmt.Errorf("container %s: %w", c.def.Name, err)
	}
	startNow := len(c.def.DependsOn) == 0
	if startNow {
		err = r.a.cfg.Runtime.Run(ctx, spec, ready)
	} else {
		err = r.a.cfg.Runtime.Create(ctx, spec)
	}
	if err != nil {
		return fmt.Errorf("CannotCreateContainerError: container %s: %w", c.def.Name, err)
	}
	r.mu.Lock()
	c.created, c.started = true, startNow
	r.mu.Unlock()
	r.update(func(t *ecs.Task) {
		setContainer(t, c.def.Name, func(ec *ecs.Container) { ec.RuntimeID = c.rid })
	})
	return nil
}

// reportNetwork puts the task's address and published ports in t.
func (r *taskRunner) reportNetwork(t *ecs.Task) {
	att := r.att
	if att == nil {
		return
	}
	if att.IP != nil && len(t.Attachments) > 0 {
		t.Attachments[0].Status = "ATTACHED"
		t.Attachments[0].Details = []ecs.KeyValuePair{{Name: "privateIPv4Address", Value: att.IP.String()}}
	}
	for _, c := range r.containers {
		var bindings []ecs.NetworkBinding
		for _, pm := range c.def.PortMappings {
			for _, p := range att.Ports {
				if pm.ContainerPort != nil && p.ContainerPort == int(*pm.ContainerPort) && p.Protocol == protocolOr(pm.Protocol) {
					bindings = append(bindings, ecs.NetworkBinding{BindIP: "0.0.0.0", ContainerPort: int32(p.ContainerPort), HostPort: int32(p.HostPort), Protocol: p.Protocol})
				}
			}
		}
		setContainer(t, c.def.Name, func(ec *ecs.Container) {
			if len(bindings) > 0 {
				ec.NetworkBindings = bindings
			}
			if att.Mode == network.ModeAWSVPC && att.IP != nil {
				ec.NetworkInterfaces = []ecs.NetworkInterface{{AttachmentID: attachmentID(t), PrivateIpv4Address: att.IP.String()}}
			}
		})
	}
}

func attachmentID(t *ecs.Task) string {
	if len(t.Attachments) > 0 {
		return t.Attachments[0].ID
	}
	return ""
}

func protocolOr(p string) string {
	if p == "" {
		return "tcp"
	}
	return p
}

// startReady starts every container whose dependsOn conditions hold, and marks the task
// RUNNING once all its essential containers run. A condition that can no longer hold
// (a SUCCESS dependency that failed, say) fails the task.
func (r *taskRunner) startReady(ctx context.Context) error {
	for _, c := range r.containers {
		r.mu.Lock()
		pending := c.created && !c.started
		r.mu.Unlock()
		if !pending {
			continue
		}
		ok, err := r.dependenciesMet(c)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if err := r.a.cfg.Runtime.Start(ctx, c.rid); err != nil {
			return fmt.Errorf("CannotStartContainerError: container %s: %w", c.def.Name, err)
		}
		r.mu.Lock()
		c.started = true
		r.mu.Unlock()
		r.running(ctx, c)
	}
	r.mu.Lock()
	running := !slices.ContainsFunc(r.containers, func(c *container) bool { return deref(c.def.Essential) && !c.started })
	r.mu.Unlock()
	if running {
		r.update(func(t *ecs.Task) {
			if t.LastStatus != ecs.TaskRunning {
				t.LastStatus, t.StartedAt = ecs.TaskRunning, now()
			}
		})
	}
	return nil
}

// running reports a container that was just started RUNNING and watches it.
func (r *taskRunner) running(ctx context.Context, c *container) {
	r.update(func(t *ecs.Task) {
		setContainer(t, c.def.Name, func(ec *ecs.Container) { ec.LastStatus = ecs.TaskRunning })
	})
	r.watch(ctx, c)
}

// dependenciesMet tells whether c may start now.
func (r *taskRunner) dependenciesMet(c *container) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, d := range c.def.DependsOn {
		i := slices.IndexFunc(r.containers, func(o *container) bool { return o.def.Name == d.ContainerName })
		if i < 0 {
			return false, fmt.Errorf("container %s depends on unknown container %s", c.def.Name, d.ContainerName)
		}
		dep := r.containers[i]
		switch d.Condition {
		case "START":
			if !dep.started {
				return false, nil
			}
		case "COMPLETE":
			if !dep.exited {
				return false, nil
			}
		case "SUCCESS":
			if !dep.exited {
				return false, nil
			}
			if dep.exit.Code != 0 {
				return false, fmt.Errorf("container %s: dependency %s exited with %d, condition SUCCESS cannot be met", c.def.Name, dep.def.Name, dep.exit.Code)
			}
		case "HEALTHY":
			if dep.exited {
				return false, fmt.Errorf("container %s: dependency %s exited before it was HEALTHY", c.def.Name, dep.def.Name)
			}
			if dep.health != "HEALTHY" {
				return false, nil
			}
		}
	}
	return true, nil
}

// watch waits for a started container to exit, and runs its health check.
func (r *taskRunner) watch(ctx context.Context, c *container) {
	go func() {
		st, err := r.a.cfg.Runtime.Wait(ctx, c.rid)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			st = runtime.ExitStatus{Code: 137, ExitedAt: time.Now()}
		}
		r.events <- event{c: c, exit: &st}
	}()
	if c.def.HealthCheck != nil {
		go r.checkHealth(ctx, c)
	}
}

// monitor handles container events until an essential container exits or ctx ends (a
// stop request cancels it).
func (r *taskRunner) monitor(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-r.events:
			if err := r.handle(ctx, ev); err != nil {
				return err
			}
		}
	}
}

func (r *taskRunner) handle(ctx context.Context, ev event) error {
	c := ev.c
	if ev.exit == nil {
		r.mu.Lock()
		c.health = ev.health
		r.mu.Unlock()
		r.update(func(t *ecs.Task) {
			setContainer(t, c.def.Name, func(ec *ecs.Container) { ec.HealthStatus = ev.health })
			t.HealthStatus = r.taskHealth()
		})
		return r.startReady(ctx)
	}
	r.recordExit(c, *ev.exit)
	if deref(c.def.Essential) {
		return errEssentialExited
	}
	return r.startReady(ctx)
}

// recordExit notes how a container ended and reports it STOPPED.
func (r *taskRunner) recordExit(c *container, st runtime.ExitStatus) {
	r.mu.Lock()
	if c.exited {
		r.mu.Unlock()
		return
	}
	c.exited, c.exit = true, st
	r.mu.Unlock()
	code := int32(st.Code)
	reason := ""
	if st.OOMKilled {
		reason = "OutOfMemoryError: Container killed due to memory usage"
	}
	r.update(func(t *ecs.Task) {
		setContainer(t, c.def.Name, func(ec *ecs.Container) {
			ec.LastStatus, ec.ExitCode = ecs.TaskStopped, &code
			if reason != "" {
				ec.Reason = reason
			}
		})
	})
}

// taskHealth is the task's health from its essential containers that have health
// checks: UNHEALTHY if any is, HEALTHY if all are, else UNKNOWN. Callers hold r.mu (it
// runs inside update's change function).
func (r *taskRunner) taskHealth() string {
	status, checked := "HEALTHY", false
	for _, c := range r.containers {
		if c.def.HealthCheck == nil || !deref(c.def.Essential) {
			continue
		}
		checked = true
		switch c.health {
		case "UNHEALTHY":
			return "UNHEALTHY"
		case "HEALTHY":
		default:
			status = "UNKNOWN"
		}
	}
	if !checked {
		return "UNKNOWN"
	}
	return status
}

// teardown stops the containers (stop signal, then SIGKILL after each one's
// stopTimeout), removes them with their root filesystems, volumes and network, and
// reports each step down to STOPPED.
func (r *taskRunner) teardown(ctx context.Context, stop stopRequest) {
	r.update(func(t *ecs.Task) {
		if t.StopCode == "" {
			t.StopCode, t.StoppedReason = stop.code, stop.reason
		}
		t.DesiredStatus = ecs.TaskStopped
		if t.LastStatus == ecs.TaskRunning {
			t.LastStatus = ecs.TaskDeactivating
		}
	})
	r.update(func(t *ecs.Task) { t.LastStatus, t.StoppingAt = ecs.TaskStopping, now() })
	var wg sync.WaitGroup
	for _, c := range r.containers {
		r.mu.Lock()
		running := c.started && !c.exited
		r.mu.Unlock()
		if !running {
			continue
		}
		wg.Go(func() {
			timeout := time.Duration(deref(c.def.StopTimeout)) * time.Second
			if c.def.StopTimeout == nil {
				timeout = defaultStopTimeout * time.Second
			}
			if err := r.a.cfg.Runtime.Stop(ctx, c.rid, timeout); err != nil && !errors.Is(err, runtime.ErrNotFound) {
				r.a.cfg.Log.Warn("stopping container", "container", c.rid, "err", err)
			}
			if st, err := r.a.cfg.Runtime.Wait(ctx, c.rid); err == nil {
				r.recordExit(c, st)
			}
		})
	}
	wg.Wait()
	r.update(func(t *ecs.Task) { t.LastStatus, t.ExecutionStoppedAt = ecs.TaskDeprovisioning, now() })
	r.a.cleanTask(ctx, r.id, r.containerIDs())
	r.update(func(t *ecs.Task) {
		t.LastStatus, t.StoppedAt = ecs.TaskStopped, now()
		for i := range t.Containers {
			t.Containers[i].LastStatus = ecs.TaskStopped
		}
	})
}

func (r *taskRunner) containerIDs() []string {
	ids := make([]string, len(r.containers))
	for i, c := range r.containers {
		ids[i] = c.rid
	}
	return ids
}

// cleanTask removes whatever exists on the node for a task: containers, root
// filesystems, task volumes and network. Each step tolerates what is already gone. The
// network (CNI DEL, the slowest part) goes while the containers are deleted: nothing of
// one needs the other.
func (a *Agent) cleanTask(ctx context.Context, taskID string, rids []string) {
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := a.cfg.Network.Teardown(ctx, taskID); err != nil {
			a.cfg.Log.Warn("tearing down task network", "task", taskID, "err", err)
		}
	})
	for _, rid := range rids {
		wg.Go(func() {
			if err := a.cfg.Runtime.Delete(ctx, rid); err != nil && !errors.Is(err, runtime.ErrNotFound) {
				a.cfg.Log.Warn("deleting container", "container", rid, "err", err)
			}
			if err := a.cfg.Images.Unmount(rid); err != nil {
				a.cfg.Log.Warn("unmounting root filesystem", "container", rid, "err", err)
			}
		})
	}
	wg.Wait()
	// Volumes once no container uses them.
	if err := os.RemoveAll(a.volumeDir(taskID)); err != nil {
		a.cfg.Log.Warn("removing task volumes", "task", taskID, "err", err)
	}
}
