package agent

import (
	"context"
	"slices"

	"gantry/internal/ecs"
	"gantry/internal/runtime"
)

// findLeftovers lists the containers this agent's predecessor left running.
func (a *Agent) findLeftovers(ctx context.Context) error {
	infos, err := a.cfg.Runtime.List(ctx)
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, ci := range infos {
		if arn := ci.Labels[labelTaskArn]; arn != "" {
			a.leftovers[arn] = append(a.leftovers[arn], ci)
		}
	}
	return nil
}

// apply converges the node to an assignment update. It only starts work: runners do the
// slow parts in their own goroutines.
func (a *Agent) apply(ctx context.Context, up ecs.AssignmentUpdate) {
	a.mu.Lock()
	defer a.mu.Unlock()
	wanted := map[string]bool{}
	for _, as := range up.Assignments {
		wanted[as.Task.TaskArn] = true
		a.applyOne(ctx, as)
	}
	for _, arn := range up.Unchanged {
		wanted[arn] = true // as sent before on this connection: nothing to do
	}
	if !up.Full {
		return
	}
	// Tasks the server no longer lists are not ours any more: stop them quietly.
	for _, r := range a.tasks {
		if !wanted[r.arn] {
			r.requestStop(ecs.StopTaskFailedToStart, "Task is no longer assigned to this instance")
		}
	}
	if !a.synced {
		a.synced = true
		go a.removeStrays(context.WithoutCancel(ctx), wanted)
	}
}

// applyOne starts, adopts or stops one assigned task. Called with a.mu held.
func (a *Agent) applyOne(ctx context.Context, as ecs.Assignment) {
	t := as.Task
	a.cfg.Log.Debug("assignment", "task", t.TaskArn, "desired", t.DesiredStatus, "last", t.LastStatus)
	if r := a.tasks[idOf(t.TaskArn)]; r != nil {
		if t.DesiredStatus == ecs.TaskStopped {
			r.requestStop(t.StopCode, t.StoppedReason)
		}
		return
	}
	if t.LastStatus == ecs.TaskStopped {
		return
	}
	left := a.leftovers[t.TaskArn]
	delete(a.leftovers, t.TaskArn)
	r := newTaskRunner(a, as)
	a.tasks[r.id] = r
	started := t.LastStatus == ecs.TaskRunning || ecsAfterRunning(t.LastStatus)
	switch {
	case left != nil && started:
		go r.run(ctx, left)
	case started:
		// It ran here once, but its containers are gone (the node restarted, or they
		// were removed by hand): report it stopped.
		go r.run(ctx, []runtime.ContainerInfo{})
	default:
		// It never got to RUNNING: whatever a crash left half-made is removed, and the
		// launch starts over. In the first assignment set after the agent started, that
		// includes what a predecessor killed before it made any container left: a network
		// namespace or a mount, with no container to find them by.
		if left != nil || !a.synced {
			a.cleanTask(ctx, r.id, r.containerIDs())
		}
		go r.run(ctx, nil)
	}
	if t.DesiredStatus == ecs.TaskStopped {
		r.requestStop(t.StopCode, t.StoppedReason)
	}
}

func ecsAfterRunning(status string) bool {
	return slices.Contains([]string{ecs.TaskDeactivating, ecs.TaskStopping, ecs.TaskDeprovisioning}, status)
}

// forget drops a finished runner.
func (a *Agent) forget(r *taskRunner) {
	a.mu.Lock()
	if a.tasks[r.id] == r {
		delete(a.tasks, r.id)
	}
	a.mu.Unlock()
}

// removeStrays deletes what the first full assignment set does not account for:
// containers of tasks the server does not list, and task networks with no task.
func (a *Agent) removeStrays(ctx context.Context, wanted map[string]bool) {
	a.mu.Lock()
	strays := map[string][]runtime.ContainerInfo{}
	for arn, cis := range a.leftovers {
		if !wanted[arn] {
			strays[arn] = cis
			delete(a.leftovers, arn)
		}
	}
	a.mu.Unlock()
	for arn, cis := range strays {
		ids := make([]string, len(cis))
		for i, ci := range cis {
			ids[i] = ci.ID
		}
		a.cfg.Log.Info("removing containers of a task this instance no longer runs", "task", arn)
		a.cleanTask(ctx, idOf(arn), ids)
	}
	running := func(taskID string) bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.tasks[taskID] != nil
	}
	if err := a.cfg.Network.Cleanup(ctx, running); err != nil {
		a.cfg.Log.Warn("cleaning up task networks", "err", err)
	}
	a.removeStrayMounts(running)
}

// removeStrayMounts unmounts the root filesystems of tasks this agent does not run: a
// predecessor killed between mounting one and creating its container left it with no
// container to find it by. A runner is registered before it mounts anything, so a task
// starting now is not taken for a stray.
func (a *Agent) removeStrayMounts(running func(taskID string) bool) {
	ids, err := a.cfg.Images.Mounts()
	if err != nil {
		a.cfg.Log.Warn("listing root filesystem mounts", "err", err)
		return
	}
	for _, id := range ids {
		if running(taskOfRuntimeID(id)) {
			continue
		}
		a.cfg.Log.Info("removing the root filesystem of a task this instance no longer runs", "mount", id)
		if err := a.cfg.Images.Unmount(id); err != nil {
			a.cfg.Log.Warn("unmounting root filesystem", "mount", id, "err", err)
		}
	}
}

// adopt takes over the containers of a task that was RUNNING before the agent
// restarted: running ones are watched again, ones that exited meanwhile are recorded.
// With no containers left, the task has nothing to run: an error stops it.
func (r *taskRunner) adopt(ctx context.Context, infos []runtime.ContainerInfo) error {
	if len(infos) == 0 {
		return errContainersGone
	}
	if att, ok := r.a.cfg.Network.Get(r.id); ok {
		r.att = att
	}
	var exited []*container
	for _, c := range r.containers {
		i := slices.IndexFunc(infos, func(ci runtime.ContainerInfo) bool { return ci.ID == c.rid })
		if i < 0 {
			continue
		}
		ci := infos[i]
		r.mu.Lock()
		c.created = true
		switch ci.Status {
		case runtime.StatusRunning, runtime.StatusStopping:
			c.started = true
		case runtime.StatusExited, runtime.StatusUnknown:
			c.started = true
			exited = append(exited, c)
		}
		r.mu.Unlock()
		if c.started && !slices.Contains(exited, c) {
			r.watch(ctx, c)
		}
	}
	r.a.cfg.Log.Info("adopted task", "task", r.arn, "containers", len(infos))
	for _, c := range exited {
		st, err := r.a.cfg.Runtime.Wait(ctx, c.rid)
		if err != nil {
			st.Code = 137
		}
		r.recordExit(c, st)
		if deref(c.def.Essential) {
			return errEssentialExited
		}
	}
	return r.startReady(ctx)
}
