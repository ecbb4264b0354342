package ecs

import (
	"context"
	"errors"
	"strings"
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

// UpdateContainerInstancesState: a DRAINING instance takes no new task and keeps the ones
// it has (as in ECS, standalone tasks are not stopped); ACTIVE again, it takes tasks. Bad
// input names the field and changes nothing.
func TestDrainingInstanceTakesNoNewTasks(t *testing.T) {
	ctx := context.Background()
	s, inst, arn := oneTask(t)
	setState := func(status string, instances ...string) (*describeContainerInstancesOutput, error) {
		return s.updateContainerInstancesState(ctx, nil, &updateContainerInstancesStateInput{ContainerInstances: instances, Status: status})
	}
	for _, bad := range []struct {
		status    string
		instances []string
		field     string
	}{
		{"INACTIVE", []string{inst}, "status"},
		{"draining", []string{inst}, "status"},
		{"DRAINING", nil, "containerInstances"},
		{"DRAINING", make([]string, 11), "containerInstances"},
	} {
		_, err := setState(bad.status, bad.instances...)
		if e, ok := errors.AsType[*awsapi.Error](err); !ok || e.Code != "InvalidParameterException" || !strings.HasPrefix(e.Message, bad.field+":") {
			t.Errorf("status %q with %d instances: %v, want InvalidParameterException naming %s", bad.status, len(bad.instances), err, bad.field)
		}
	}
	out, err := setState("DRAINING", inst, "0123456789abcdef0123456789abcdef")
	if err != nil || len(out.ContainerInstances) != 1 || out.ContainerInstances[0].Status != "DRAINING" ||
		len(out.Failures) != 1 || out.Failures[0].Reason != "MISSING" {
		t.Fatalf("draining one known and one unknown instance: %v %+v", err, out)
	}
	run, err := s.runTask(ctx, nil, &runTaskInput{TaskDefinition: "web"})
	if err != nil || len(run.Tasks) != 0 || len(run.Failures) != 1 || run.Failures[0].Reason != "MISSING" {
		t.Fatalf("RunTask with the only instance draining: %v %+v, want a MISSING failure", err, run)
	}
	tasks, err := s.describeTasks(ctx, nil, &describeTasksInput{Tasks: []string{arn}})
	if err != nil || len(tasks.Tasks) != 1 || tasks.Tasks[0].DesiredStatus != "RUNNING" {
		t.Fatalf("the draining instance's task: %v %+v, want it still desired RUNNING", err, tasks)
	}
	if out, err := setState("ACTIVE", inst); err != nil || out.ContainerInstances[0].Status != "ACTIVE" {
		t.Fatalf("activating: %v %+v", err, out)
	}
	if run, err := s.runTask(ctx, nil, &runTaskInput{TaskDefinition: "web"}); err != nil || len(run.Tasks) != 1 {
		t.Fatalf("RunTask once the instance is active again: %v %+v", err, run)
	}
}

// An attribute this server just put is what the next placement on this server sees.
func TestPutAttributesIsSeenByTheNextPlacement(t *testing.T) {
	ctx := context.Background()
	s, inst, _ := oneTask(t)
	onSSD := &runTaskInput{TaskDefinition: "web", PlacementConstraints: []PlacementConstraint{{Type: "memberOf", Expression: "attribute:disk == ssd"}}}
	for i, want := range []int{0, 1} {
		if i == 1 {
			if _, err := s.putAttributes(ctx, nil, &attributesInput{Attributes: []Attribute{{Name: "disk", Value: "ssd", TargetID: inst}}}); err != nil {
				t.Fatal(err)
			}
		}
		out, err := s.runTask(ctx, nil, onSSD)
		if err != nil || len(out.Tasks) != want {
			t.Fatalf("RunTask on disk == ssd (attribute put: %v): %v %+v, want %d task", i == 1, err, out, want)
		}
	}
}
