package agent

import (
	"slices"
	"strings"
	"testing"

	"gantry/internal/ecs"
	"gantry/internal/image"
	"gantry/internal/network"
	"gantry/internal/runtime"
)

func TestHealthCommand(t *testing.T) {
	for _, tc := range []struct {
		in      []string
		want    []string
		wantErr bool
	}{
		{in: []string{"CMD", "curl", "-f", "http://localhost/"}, want: []string{"curl", "-f", "http://localhost/"}},
		{in: []string{"CMD-SHELL", "curl -f http://localhost/ || exit 1"}, want: []string{"/bin/sh", "-c", "curl -f http://localhost/ || exit 1"}},
		{in: []string{"CMD"}, wantErr: true},
		{in: []string{"NONE", "x"}, wantErr: true},
	} {
		got, err := healthCommand(tc.in)
		if (err != nil) != tc.wantErr || !slices.Equal(got, tc.want) {
			t.Errorf("healthCommand(%q) = %q, %v", tc.in, got, err)
		}
	}
}

func TestRuntimeIDFitsTheRuntime(t *testing.T) {
	id := runtimeID(strings.Repeat("a", 32), strings.Repeat("x", 255))
	if len(id) > 128 || !strings.HasPrefix(id, strings.Repeat("a", 32)+"-") {
		t.Fatalf("runtimeID of a 255-character name: %q (%d characters)", id, len(id))
	}
	if runtimeID("t", strings.Repeat("x", 255)) == runtimeID("t", strings.Repeat("x", 254)+"y") {
		t.Fatal("two long names map to one id")
	}
}

// containerSpec applies the definition, the run's overrides and the image config with
// Docker's rules, and ECS's resource fields as cgroup limits.
func TestContainerSpec(t *testing.T) {
	cd := ecs.ContainerDefinition{
		Name: "app", Image: "app:1", Memory: new(int32(64)), MemoryReservation: new(int32(32)), CPU: new(int32(1)),
		Command:     []string{"serve"},
		Environment: []ecs.KeyValuePair{{Name: "A", Value: "1"}, {Name: "B", Value: "2"}},
		Ulimits:     []ecs.Ulimit{{Name: "nofile", SoftLimit: new(int32(100)), HardLimit: new(int32(200))}},
		LinuxParameters: &ecs.LinuxParameters{Capabilities: &ecs.KernelCapabilities{Add: []string{"NET_ADMIN"}},
			Tmpfs: []ecs.Tmpfs{{ContainerPath: "/scratch", Size: new(int32(8))}}},
	}
	td := &ecs.TaskDefinition{Family: "f", ContainerDefinitions: []ecs.ContainerDefinition{cd}}
	r := newTaskRunner(&Agent{cfg: Config{StateDir: t.TempDir()}}, ecs.Assignment{
		Task: &ecs.Task{TaskArn: "arn:aws:ecs:us-east-1:000000000000:task/default/" + strings.Repeat("b", 32), Memory: "32",
			Overrides: &ecs.TaskOverride{ContainerOverrides: []ecs.ContainerOverride{{Name: "app", Command: []string{"serve", "--debug"}, Environment: []ecs.KeyValuePair{{Name: "B", Value: "3"}}}}}},
		TaskDefinition: td,
	})
	img := &image.Image{}
	img.Config.Config.Entrypoint = []string{"/app"}
	img.Config.Config.Cmd = []string{"default"}
	img.Config.Config.Env = []string{"PATH=/bin", "A=0"}
	spec, err := r.containerSpec(&td.ContainerDefinitions[0], img, "/rootfs", &network.Attachment{Mode: network.ModeAWSVPC, NetNS: "/run/netns/x"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"/app", "serve", "--debug"}; !slices.Equal(spec.Args, want) {
		t.Errorf("args %q, want %q", spec.Args, want)
	}
	if want := []string{"PATH=/bin", "A=1", "B=3"}; !slices.Equal(spec.Env, want) {
		t.Errorf("env %q, want %q", spec.Env, want)
	}
	res := spec.Resources
	if res.MemoryLimit != 64<<20 || res.MemoryReservation != 32<<20 || res.CPUShares != 2 {
		t.Errorf("resources %+v: want 64 MiB limit, 32 MiB reservation, 2 shares (the minimum)", res)
	}
	if spec.NetNS != "/run/netns/x" || spec.Labels[labelContainer] != "app" || !spec.NoNewPrivileges {
		t.Errorf("netns %q, labels %v, noNewPrivileges %v", spec.NetNS, spec.Labels, spec.NoNewPrivileges)
	}
	if !slices.Equal(spec.CapAdd, []string{"NET_ADMIN"}) || len(spec.Ulimits) != 1 || spec.Ulimits[0] != (runtime.Ulimit{Name: "nofile", Soft: 100, Hard: 200}) {
		t.Errorf("caps %v, ulimits %+v", spec.CapAdd, spec.Ulimits)
	}
	if !slices.ContainsFunc(spec.Mounts, func(m runtime.Mount) bool { return m.Type == "tmpfs" && m.Target == "/scratch" && m.Size == 8<<20 }) {
		t.Errorf("mounts %+v: want an 8 MiB tmpfs on /scratch", spec.Mounts)
	}
}

func TestExposedPorts(t *testing.T) {
	img := &image.Image{}
	img.Config.Config.ExposedPorts = map[string]struct{}{
		"80/tcp": {}, "53/udp": {}, "8080": {}, "http": {}, "70000/tcp": {}, "9/sctp": {}, "0/tcp": {},
	}
	got := exposedPorts(img)
	want := []network.PortMapping{{ContainerPort: 53, Protocol: "udp"}, {ContainerPort: 80, Protocol: "tcp"}, {ContainerPort: 8080, Protocol: "tcp"}}
	if !slices.Equal(got, want) {
		t.Errorf("exposedPorts = %+v, want %+v (sctp, names and out-of-range ports skipped)", got, want)
	}
	if got := exposedPorts(&image.Image{}); got != nil {
		t.Errorf("an image without exposed ports gave %+v", got)
	}
}
