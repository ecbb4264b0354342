package agent

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"gantry/internal/image"
	"gantry/internal/network"
	"gantry/internal/runtime"
)

// waitAsync starts Wait for id and returns where its result arrives.
func waitAsync(ctx context.Context, h *HollowRuntime, id string) <-chan runtime.ExitStatus {
	ch := make(chan runtime.ExitStatus, 1)
	go func() {
		st, err := h.Wait(ctx, id)
		if err != nil {
			st.Code = -1
		}
		ch <- st
	}()
	return ch
}

func TestHollowRuntimeWaitEnds(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		end  func(h *HollowRuntime, id string) error
		want int
	}{
		{"stop", func(h *HollowRuntime, id string) error { return h.Stop(ctx, id, time.Hour) }, 0},
		{"kill", func(h *HollowRuntime, id string) error { return h.Kill(ctx, id, syscall.SIGKILL) }, 137},
		{"delete", func(h *HollowRuntime, id string) error { return h.Delete(ctx, id) }, 137},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := NewHollowRuntime()
			if err := h.Create(ctx, runtime.ContainerSpec{ID: "c1", Labels: map[string]string{labelTaskArn: "t"}}); err != nil {
				t.Fatal(err)
			}
			if err := h.Start(ctx, "c1"); err != nil {
				t.Fatal(err)
			}
			got := waitAsync(ctx, h, "c1")
			select {
			case st := <-got:
				t.Fatalf("Wait returned %+v before the container was ended", st)
			case <-time.After(20 * time.Millisecond):
			}
			if err := tc.end(h, "c1"); err != nil {
				t.Fatal(err)
			}
			if st := <-got; st.Code != tc.want {
				t.Fatalf("exit code %d, want %d", st.Code, tc.want)
			}
		})
	}
}

func TestHollowRuntimeStates(t *testing.T) {
	ctx := context.Background()
	h := NewHollowRuntime()
	if _, err := h.Wait(ctx, "nope"); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("Wait of an unknown container: %v, want ErrNotFound", err)
	}
	h.Create(ctx, runtime.ContainerSpec{ID: "c1", Labels: map[string]string{labelTaskArn: "t"}})
	if err := h.Create(ctx, runtime.ContainerSpec{ID: "c1"}); !errors.Is(err, runtime.ErrExists) {
		t.Fatalf("second Create: %v, want ErrExists", err)
	}
	h.Start(ctx, "c1")
	if code, err := h.Exec(ctx, "c1", runtime.ExecSpec{Args: []string{"true"}}); code != 0 || err != nil {
		t.Fatalf("Exec = %d, %v", code, err)
	}
	list, _ := h.List(ctx)
	if len(list) != 1 || list[0].Status != runtime.StatusRunning || list[0].Labels[labelTaskArn] != "t" {
		t.Fatalf("List = %+v", list)
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if _, err := h.Wait(cctx, "c1"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait of a running container past its context: %v", err)
	}
	h.Stop(ctx, "c1", 0)
	list, _ = h.List(ctx)
	if list[0].Status != runtime.StatusExited || list[0].Exit == nil || list[0].Exit.Code != 0 {
		t.Fatalf("List after Stop = %+v", list[0])
	}
	h.Delete(ctx, "c1")
	if err := h.Delete(ctx, "c1"); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("second Delete: %v, want ErrNotFound", err)
	}
}

func TestHollowNetwork(t *testing.T) {
	ctx := context.Background()
	h := NewHollowNetwork()
	var wg sync.WaitGroup
	ips := make([]string, 50)
	for i := range ips {
		wg.Go(func() {
			id := fmt.Sprint("t", i)
			a, err := h.Prepare(ctx, id, network.ModeBridge, []network.PortMapping{{ContainerPort: 80}, {HostPort: 8080, ContainerPort: 81}})
			if err != nil {
				t.Error(err)
				return
			}
			if a.Ports[0].HostPort == 0 || a.Ports[0].Protocol != "tcp" || a.Ports[1].HostPort != 8080 {
				t.Errorf("ports %+v", a.Ports)
			}
			c, err := h.Connect(ctx, id)
			if err != nil || !c.IP.Equal(a.IP) {
				t.Errorf("Connect = %+v, %v; Prepare gave %s", c, err, a.IP)
			}
			ips[i] = a.IP.String()
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, ip := range ips {
		if seen[ip] {
			t.Fatalf("address %s given twice", ip)
		}
		seen[ip] = true
	}
	if _, err := h.Prepare(ctx, "t0", network.ModeAWSVPC, nil); !errors.Is(err, network.ErrExists) {
		t.Fatalf("Prepare of a taken id: %v", err)
	}
	if _, err := h.Connect(ctx, "unknown"); !errors.Is(err, network.ErrBadInput) {
		t.Fatalf("Connect unprepared: %v", err)
	}
	if err := h.Cleanup(ctx, func(id string) bool { return id == "t1" }); err != nil {
		t.Fatal(err)
	}
	if _, ok := h.Get("t1"); !ok {
		t.Fatal("Cleanup removed a kept attachment")
	}
	if _, ok := h.Get("t2"); ok {
		t.Fatal("Cleanup kept an attachment it should remove")
	}
}

func TestHollowImages(t *testing.T) {
	h := NewHollowImages()
	img, err := h.Get("example.com/any:tag")
	if err != nil || img.Config.Config.Cmd[0] != "hollow" || img.Ref != "example.com/any:tag" {
		t.Fatalf("Get = %+v, %v", img, err)
	}
	if list, _ := h.List(); len(list) != 1 {
		t.Fatalf("List after one Get = %d images", len(list))
	}
	if err := h.Remove("never-seen"); !errors.Is(err, image.ErrNotFound) {
		t.Fatalf("Remove of an unknown ref: %v", err)
	}
}
