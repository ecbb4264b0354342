package agent_test

import (
	"testing"

	"gantry/internal/agent"
	"gantry/internal/agent/runtimetest"
	"gantry/internal/runtime"
)

// The hollow runtime keeps the contract the real engine keeps (test/engine runs the same
// suite against it).
func TestHollowRuntimeContract(t *testing.T) {
	runtimetest.Run(t, agent.NewHollowRuntime(), func(id string, labels map[string]string, args ...string) runtime.ContainerSpec {
		return runtime.ContainerSpec{ID: id, Labels: labels, Args: args}
	}, "hollow")
}
