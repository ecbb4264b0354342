package engine

import (
	"context"
	"testing"

	"gantry/internal/agent/runtimetest"
	"gantry/internal/runtime"
)

// The real engine keeps the Runtime contract the agent is written against (the hollow
// runtime of scale tests runs the same suite in internal/agent).
func TestRuntimeContract(t *testing.T) {
	n := newNode(t, "gtengc0", "10.213.83.0/24")
	img := n.busyboxImage(t)
	runtimetest.Run(t, n.rt, func(id string, labels map[string]string, args ...string) runtime.ContainerSpec {
		rootfs, err := n.images.Mount(context.Background(), img, id)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.images.Unmount(id) })
		return runtime.ContainerSpec{ID: id, Image: img.Ref, Rootfs: rootfs, Labels: labels, Args: args, Env: []string{"PATH=/bin"}}
	}, "gt-contract")
}
