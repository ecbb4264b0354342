package runtimetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"syscall"
	"testing"
	"time"

	"gantry/internal/agent"
	"gantry/internal/runtime"
)

// SpecFunc returns a spec that runs args in a container with the given id and labels.
type SpecFunc func(id string, labels map[string]string, args ...string) runtime.ContainerSpec

// serving is a container that runs until its stop signal (SIGTERM), then exits 0.
var serving = []string{"sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done"}

// Run checks rt against the contract. Container ids start with prefix, so that runs of
// the suite on one machine do not collide.
func Run(t *testing.T, rt agent.Runtime, spec SpecFunc, prefix string) {
	t.Run("Lifecycle", func(t *testing.T) { lifecycle(t, rt, spec, prefix+"-life") })
	t.Run("KillReportsTheSignal", func(t *testing.T) { kill(t, rt, spec, prefix+"-kill") })
	t.Run("UnknownContainers", func(t *testing.T) { unknown(t, rt, prefix+"-none") })
	t.Run("RunWaitsForReady", func(t *testing.T) { runReady(t, rt, spec, prefix+"-run") })
	t.Run("RunFailsWithReady", func(t *testing.T) { runNotReady(t, rt, spec, prefix+"-norun") })
}

// runReady: Run calls ready and returns once the container runs, not before ready does.
func runReady(t *testing.T, rt agent.Runtime, spec SpecFunc, id string) {
	ctx := context.Background()
	labels := map[string]string{"gantry.test": id}
	var readied bool
	ready := func(context.Context) error {
		time.Sleep(50 * time.Millisecond)
		readied = true
		return nil
	}
	if err := rt.Run(ctx, spec(id, labels, serving...), ready); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Delete(context.Background(), id) })
	if !readied {
		t.Fatal("Run returned before ready did")
	}
	expectListed(t, rt, id, runtime.StatusRunning, labels)
	if err := rt.Stop(ctx, id, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if st := wait(t, rt, id); st.Code != 0 {
		t.Fatalf("stopped with its stop signal: exit %+v, want code 0", st)
	}
}

// runNotReady: an error from ready fails Run with it, and leaves no container.
func runNotReady(t *testing.T, rt agent.Runtime, spec SpecFunc, id string) {
	notReady := errors.New("no address left on the bridge")
	err := rt.Run(context.Background(), spec(id, nil, serving...), func(context.Context) error { return notReady })
	t.Cleanup(func() { rt.Delete(context.Background(), id) })
	if !errors.Is(err, notReady) {
		t.Fatalf("Run with a failing ready: %v, want its error", err)
	}
	if slices.ContainsFunc(list(t, rt), func(c runtime.ContainerInfo) bool { return c.ID == id }) {
		t.Fatalf("%s listed after a failed Run", id)
	}
}

// lifecycle: create, start, exec, stop with the stop signal, delete, each visible in List.
func lifecycle(t *testing.T, rt agent.Runtime, spec SpecFunc, id string) {
	ctx := context.Background()
	labels := map[string]string{"gantry.test": id}
	if err := rt.Create(ctx, spec(id, labels, serving...)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Delete(context.Background(), id) })
	expectListed(t, rt, id, runtime.StatusCreated, labels)
	if err := rt.Create(ctx, spec(id, labels, serving...)); !errors.Is(err, runtime.ErrExists) {
		t.Fatalf("creating %s twice: %v, want ErrExists", id, err)
	}
	if _, err := rt.Exec(ctx, id, runtime.ExecSpec{Args: []string{"true"}}); err == nil {
		t.Fatal("exec in a container that was never started succeeded")
	}
	if err := rt.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	expectListed(t, rt, id, runtime.StatusRunning, labels)
	if code, err := rt.Exec(ctx, id, runtime.ExecSpec{Args: []string{"true"}}); err != nil || code != 0 {
		t.Fatalf("exec true: code %d, %v", code, err)
	}
	if err := rt.Kill(ctx, id, 0); err != nil {
		t.Fatalf("signal 0 to a running container: %v", err)
	}
	if err := rt.Stop(ctx, id, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if st := wait(t, rt, id); st.Code != 0 {
		t.Fatalf("stopped with its stop signal: exit %+v, want code 0", st)
	}
	expectListed(t, rt, id, runtime.StatusExited, labels)
	if err := rt.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(list(t, rt), func(c runtime.ContainerInfo) bool { return c.ID == id }) {
		t.Fatalf("%s still listed after Delete", id)
	}
}

// kill: SIGKILL ends a container with 128+9, as a shell would report it.
func kill(t *testing.T, rt agent.Runtime, spec SpecFunc, id string) {
	ctx := context.Background()
	if err := rt.Create(ctx, spec(id, nil, serving...)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Delete(context.Background(), id) })
	if err := rt.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := rt.Kill(ctx, id, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if st := wait(t, rt, id); st.Code != 137 {
		t.Fatalf("killed: exit %+v, want code 137", st)
	}
}

// unknown: every call on a container that does not exist says so with ErrNotFound.
func unknown(t *testing.T, rt agent.Runtime, id string) {
	ctx := context.Background()
	_, waitErr := rt.Wait(ctx, id)
	_, execErr := rt.Exec(ctx, id, runtime.ExecSpec{Args: []string{"true"}})
	for name, err := range map[string]error{
		"Start":  rt.Start(ctx, id),
		"Kill":   rt.Kill(ctx, id, syscall.SIGTERM),
		"Stop":   rt.Stop(ctx, id, time.Second),
		"Wait":   waitErr,
		"Exec":   execErr,
		"Delete": rt.Delete(ctx, id),
		"Logs":   rt.Logs(ctx, id, runtime.LogOptions{}, func(runtime.LogEntry) error { return nil }),
	} {
		if !errors.Is(err, runtime.ErrNotFound) {
			t.Errorf("%s of an unknown container: %v, want ErrNotFound", name, err)
		}
	}
}

func wait(t *testing.T, rt agent.Runtime, id string) runtime.ExitStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := rt.Wait(ctx, id)
	if err != nil {
		t.Fatalf("waiting for %s: %v", id, err)
	}
	return st
}

func list(t *testing.T, rt agent.Runtime) []runtime.ContainerInfo {
	t.Helper()
	infos, err := rt.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return infos
}

// expectListed checks that List shows id with the status and labels.
func expectListed(t *testing.T, rt agent.Runtime, id string, status runtime.Status, labels map[string]string) {
	t.Helper()
	for _, c := range list(t, rt) {
		if c.ID != id {
			continue
		}
		if c.Status != status {
			t.Fatalf("%s listed as %s, want %s", id, c.Status, status)
		}
		for k, v := range labels {
			if c.Labels[k] != v {
				t.Fatalf("%s listed with labels %v, want %s=%s", id, c.Labels, k, v)
			}
		}
		return
	}
	t.Fatalf("%s not listed: %v", id, fmt.Sprint(list(t, rt)))
}
