package ecs

import (
	"context"
	"testing"

	"gantry/internal/awsapi"
	"gantry/internal/iam"
)

// keyPrincipals maps access key ids to principals.
type keyPrincipals map[string]string

func (k keyPrincipals) PrincipalFor(id string) string { return k[id] }

// An agent's key acts only for the instance it registered; other keys for any.
func TestAgentKeysActOnlyForTheirInstance(t *testing.T) {
	ctx := context.Background()
	agentA, agentB := iam.AgentPrincipal("000000000000", "a"), iam.AgentPrincipal("000000000000", "b")
	s := New(Config{Region: "us-east-1", Account: "000000000000"}, openStore(t), keyPrincipals{
		"KA": agentA, "KB": agentB, "ROOT": "arn:aws:iam::000000000000:root"})
	if err := s.EnsureDefaultCluster(ctx); err != nil {
		t.Fatal(err)
	}
	in := &registerContainerInstanceInput{TotalResources: []Resource{{Name: "CPU", IntegerValue: 1024}, {Name: "MEMORY", IntegerValue: 512}}}
	out, err := s.registerContainerInstance(ctx, &awsapi.Request{AccessKeyID: "KA"}, in)
	if err != nil {
		t.Fatal(err)
	}
	arn := out.ContainerInstance.ContainerInstanceArn
	for _, c := range []struct {
		principal string
		ok        bool
	}{{agentA, true}, {agentB, false}, {"arn:aws:iam::000000000000:root", true}} {
		if err := s.AuthorizeInstance(ctx, arn, c.principal); (err == nil) != c.ok {
			t.Errorf("AuthorizeInstance(%s) = %v, want allowed %v", c.principal, err, c.ok)
		}
	}
	again := *in
	again.ContainerInstanceArn = arn
	if _, err := s.registerContainerInstance(ctx, &awsapi.Request{AccessKeyID: "KB"}, &again); err == nil {
		t.Fatal("another agent's key re-registered the instance")
	}
	if _, err := s.registerContainerInstance(ctx, &awsapi.Request{AccessKeyID: "KA"}, &again); err != nil {
		t.Fatalf("its own agent re-registering: %v", err)
	}
}
