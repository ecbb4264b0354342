package ecs

import (
	"context"
	"fmt"
	"testing"

	"gantry/internal/awsapi"
)

// BenchmarkRunTaskThroughEtcd places tasks with RunTask (count 10, spread by instance)
// from 16 concurrent callers onto 1,000 instances: validation, placement on the view,
// and the batched transactions through the embedded etcd, without HTTP or agents.
func BenchmarkRunTaskThroughEtcd(b *testing.B) {
	ctx := context.Background()
	s := newTestService(b, openStore(b))
	if err := s.EnsureDefaultCluster(ctx); err != nil {
		b.Fatal(err)
	}
	for i := range 1000 {
		out, err := s.registerContainerInstance(ctx, nil, &registerContainerInstanceInput{
			InstanceIdentityDocument: fmt.Sprintf(`{"instanceId": "node-%d"}`, i),
			TotalResources:           []Resource{{Name: "CPU", IntegerValue: 1 << 20}, {Name: "MEMORY", IntegerValue: 1 << 24}},
		})
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Heartbeat(ctx, out.ContainerInstance.ContainerInstanceArn, "bench"); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := s.registerTaskDefinition(ctx, &awsapi.Request{}, minimalTaskDef("web")); err != nil {
		b.Fatal(err)
	}
	in := &runTaskInput{TaskDefinition: "web", Count: new(int32(10)), PlacementStrategy: []PlacementStrategy{{Type: "spread", Field: "instanceId"}}}
	b.SetParallelism(8) // 16 callers on 2 cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			out, err := s.runTask(ctx, nil, in)
			if err != nil || len(out.Tasks) != 10 {
				b.Errorf("RunTask: %v, %d placed", err, len(out.Tasks))
				return
			}
		}
	})
	b.ReportMetric(float64(10*b.N)/b.Elapsed().Seconds(), "placements/s")
}
