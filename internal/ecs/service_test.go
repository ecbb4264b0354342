package ecs

import (
	"context"
	"slices"
	"sync"
	"testing"

	"gantry/internal/awsapi"
	"gantry/internal/store"
)

// rootOnly answers every access key with the root principal.
type rootOnly struct{}

func (rootOnly) PrincipalFor(string) string { return "arn:aws:iam::000000000000:root" }

func newTestService(t testing.TB, st *store.Store) *Service {
	t.Helper()
	return New(Config{Region: "us-east-1", Account: "000000000000"}, st, rootOnly{})
}

func openStore(t testing.TB) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), store.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func minimalTaskDef(family string) *RegisterTaskDefinitionInput {
	mem := int32(16)
	return &RegisterTaskDefinitionInput{Family: family, ContainerDefinitions: []ContainerDefinition{{Name: "c", Image: "busybox", Memory: &mem}}}
}

// Concurrent registrations in one family, through two Service values sharing a store as
// two servers would (so the per-server family lock cannot serialise them), must get
// distinct, gap-free revisions and a family count that matches.
func TestConcurrentRegistrationsGetDistinctRevisions(t *testing.T) {
	st := openStore(t)
	servers := []*Service{newTestService(t, st), newTestService(t, st)}
	const n = 40
	revs := make([]int32, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			out, err := servers[i%2].registerTaskDefinition(context.Background(), &awsapi.Request{}, minimalTaskDef("web"))
			if err == nil {
				revs[i] = out.TaskDefinition.Revision
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("registration %d: %v", i, err)
		}
	}
	slices.Sort(revs)
	for i, r := range revs {
		if r != int32(i+1) {
			t.Fatalf("revisions are not 1..%d: %v", n, revs)
		}
	}
	fam, _, err := getRecord[familyRecord](context.Background(), st, familiesPrefix+"web")
	if err != nil || fam.Latest != n || fam.Active != n {
		t.Fatalf("family record %+v, %v", fam, err)
	}
}

func TestDefaultClusterIsCreatedOnceAndStaysDeleted(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	s := newTestService(t, st)
	if err := s.EnsureDefaultCluster(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.deleteCluster(ctx, nil, &deleteClusterInput{Cluster: "default"}); err != nil {
		t.Fatal(err)
	}
	// A restart must not bring back a default cluster the user deleted.
	if err := s.EnsureDefaultCluster(ctx); err != nil {
		t.Fatal(err)
	}
	out, err := s.describeClusters(ctx, nil, &describeClustersInput{})
	if err != nil || len(out.Clusters) != 1 || out.Clusters[0].Status != statusInactive {
		t.Fatalf("default after delete and restart: %+v %v", out, err)
	}
	// Creating it again revives it, as in ECS.
	created, err := s.createCluster(ctx, nil, &createClusterInput{})
	if err != nil || created.Cluster.ClusterName != "default" || created.Cluster.Status != statusActive {
		t.Fatalf("create with no name: %+v %v", created, err)
	}
}

func TestCreateClusterIsIdempotent(t *testing.T) {
	ctx := context.Background()
	s := newTestService(t, openStore(t))
	first, err := s.createCluster(ctx, nil, &createClusterInput{ClusterName: "prod", Tags: []Tag{{Key: "a", Value: "1"}}})
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.createCluster(ctx, nil, &createClusterInput{ClusterName: "prod"})
	if err != nil || len(again.Cluster.Tags) != 1 || again.Cluster.ClusterArn != first.Cluster.ClusterArn {
		t.Fatalf("second create changed the cluster: %+v %v", again.Cluster, err)
	}
}
