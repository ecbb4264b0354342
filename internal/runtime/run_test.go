package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// A held container's process must not run before ready returns, and must run after.
func TestRunHoldsTheProcessUntilReady(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctl := t.TempDir()
	s := f.spec("sh", "-c", "touch /ctl/started; echo up; exit 4")
	s.Mounts = []Mount{{Source: ctl, Target: "/ctl"}}
	f.cleanupContainer(s.ID)
	held, release := make(chan struct{}), make(chan struct{})
	ran := make(chan error, 1)
	go func() {
		ran <- f.r.Run(context.Background(), s, func(ctx context.Context) error {
			close(held)
			<-release
			return nil
		})
	}()
	<-held
	// runc is making the container now; give it ample time to reach the hook.
	time.Sleep(500 * time.Millisecond)
	if _, err := os.Stat(filepath.Join(ctl, "started")); err == nil {
		t.Fatal("the process ran before ready returned")
	}
	select {
	case err := <-ran:
		t.Fatalf("Run returned before ready did: %v", err)
	default:
	}
	close(release)
	if err := <-ran; err != nil {
		t.Fatalf("run: %v", err)
	}
	st, err := f.r.Wait(context.Background(), s.ID)
	if err != nil || st.Code != 4 {
		t.Fatalf("wait = %+v, %v; want code 4", st, err)
	}
	if _, err := os.Stat(filepath.Join(ctl, "started")); err != nil {
		t.Error("the process did not run after ready returned")
	}
	if out := text(f.logs(s.ID)); out != "up\n" {
		t.Errorf("logs = %q", out)
	}
}

func TestRunFailsWithReadysError(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctl := t.TempDir()
	s := f.spec("touch", "/ctl/started")
	s.Mounts = []Mount{{Source: ctl, Target: "/ctl"}}
	f.cleanupContainer(s.ID)
	err := f.r.Run(context.Background(), s, func(context.Context) error {
		return errors.New("bridge gbench0: no free address")
	})
	if err == nil || !strings.Contains(err.Error(), "bridge gbench0: no free address") {
		t.Fatalf("run = %v, want ready's error", err)
	}
	if _, err := os.Stat(filepath.Join(ctl, "started")); err == nil {
		t.Error("the process ran although ready failed")
	}
	f.assertGone(s.ID)
}

func TestRunWithoutReady(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := f.spec("sh", "-c", "echo out; echo err >&2; exit 3")
	f.cleanupContainer(s.ID)
	if err := f.r.Run(context.Background(), s, nil); err != nil {
		t.Fatal(err)
	}
	st, err := f.r.Wait(context.Background(), s.ID)
	if err != nil || st.Code != 3 {
		t.Fatalf("wait = %+v, %v; want code 3", st, err)
	}
	// The two streams are copied apart, so their order in the log is not fixed.
	if logs := f.logs(s.ID); len(logs) != 2 || !slices.ContainsFunc(logs, func(e LogEntry) bool { return e.Stream == "stdout" && e.Log == "out\n" }) ||
		!slices.ContainsFunc(logs, func(e LogEntry) bool { return e.Stream == "stderr" && e.Log == "err\n" }) {
		t.Errorf("logs = %+v", logs)
	}
	if err := f.r.Start(context.Background(), s.ID); err == nil {
		t.Error("Start of a container Run started: no error")
	}
	bad := f.spec("/no/such/binary")
	f.cleanupContainer(bad.ID)
	if err := f.r.Run(context.Background(), bad, nil); err == nil || !strings.Contains(err.Error(), "/no/such/binary") {
		t.Errorf("run of a missing binary = %v, want an error naming it", err)
	}
	f.assertGone(bad.ID)
}

// A caller killed while its container is held (the agent died attaching the network)
// leaves a container that Delete removes at once, not after the hook's timeout.
func TestDeleteOfAContainerHeldForADeadCaller(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := f.newID()
	f.cleanupContainer(id)
	cmd := exec.Command(os.Args[0], "run-held-and-exit", f.stateDir, f.dataDir, f.rootfs, id)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("caller that dies while the container is held: %v: %s", err, out)
	}
	shim, ok := f.r.shimPid(id)
	if !ok {
		t.Fatal("no shim for the held container")
	}
	defer reapOrphan(shim)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := f.r.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	if ctx.Err() != nil {
		t.Fatal("Delete waited for the gate's timeout")
	}
	f.assertGone(id)
}

// runHeldAndExit plays an agent killed while its container is held: ready makes it exit
// once runc is about to reach the gate. Args: state dir, data dir, rootfs, id.
func runHeldAndExit(args []string) int {
	r, err := New(Config{StateDir: args[0], DataDir: args[1], ShimCmd: selfShim(), CgroupParent: testCgroupParent})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	err = r.Run(context.Background(), ContainerSpec{ID: args[3], Rootfs: args[2], Args: []string{"sleep", "100"}},
		func(context.Context) error {
			time.Sleep(300 * time.Millisecond) // let the shim start runc
			os.Exit(0)
			return nil
		})
	fmt.Fprintln(os.Stderr, "run returned:", err)
	return 1
}

// Config.Runtime may name another OCI runtime binary (gantry server --runtime): here a
// wrapper that records its calls and runs runc.
func TestAnotherOCIRuntimeByPath(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	dir := t.TempDir()
	wrapper, calls := filepath.Join(dir, "my-oci-runtime"), filepath.Join(dir, "calls")
	script := "#!/bin/sh\necho \"$@\" >> " + calls + "\nexec runc \"$@\"\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	r, err := New(Config{Runtime: wrapper, StateDir: f.stateDir, DataDir: f.dataDir, ShimCmd: selfShim(), CgroupParent: testCgroupParent})
	if err != nil {
		t.Fatal(err)
	}
	s := f.spec("sh", "-c", "exit 5")
	f.cleanupContainer(s.ID)
	if err := r.Run(context.Background(), s, nil); err != nil {
		t.Fatal(err)
	}
	if st, err := r.Wait(context.Background(), s.ID); err != nil || st.Code != 5 {
		t.Fatalf("wait = %+v, %v; want code 5", st, err)
	}
	if err := r.Delete(context.Background(), s.ID); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(calls)
	for _, op := range []string{"run --detach", "delete"} {
		if !strings.Contains(string(b), op) {
			t.Errorf("the runtime binary was not called for %q; its calls:\n%s", op, b)
		}
	}
	f.assertGone(s.ID)
}
