package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// loadTaskDef reads a RegisterTaskDefinition request from testdata.
func loadTaskDef(t *testing.T, name string) *ecs.RegisterTaskDefinitionInput {
	t.Helper()
	data, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	in := &ecs.RegisterTaskDefinitionInput{}
	if err := json.Unmarshal(data, in); err != nil {
		t.Fatal(err)
	}
	return in
}

func TestTaskDefinitionRoundTripWithSDK(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := startServer(t, "")
	client := srv.ecs()
	in := loadTaskDef(t, "full-taskdef.json")

	reg, err := client.RegisterTaskDefinition(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	td := reg.TaskDefinition
	if td.Revision != 1 || aws.ToString(td.TaskDefinitionArn) != "arn:aws:ecs:us-east-1:000000000000:task-definition/full:1" ||
		string(td.Status) != "ACTIVE" || td.RegisteredAt == nil || aws.ToString(td.RegisteredBy) != "arn:aws:iam::000000000000:root" {
		t.Fatalf("registered: rev %d arn %s status %s at %v by %s", td.Revision, aws.ToString(td.TaskDefinitionArn), string(td.Status), td.RegisteredAt, aws.ToString(td.RegisteredBy))
	}
	// Task-level sizes in unit form are stored as plain numbers, as ECS does.
	if aws.ToString(td.Cpu) != "1024" || aws.ToString(td.Memory) != "2048" {
		t.Fatalf("cpu/memory: %s/%s", aws.ToString(td.Cpu), aws.ToString(td.Memory))
	}

	got, err := client.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{
		TaskDefinition: aws.String("full"), Include: []types.TaskDefinitionField{types.TaskDefinitionFieldTags}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Tags) != 1 || aws.ToString(got.Tags[0].Key) != "team" {
		t.Fatalf("tags: %+v", got.Tags)
	}
	// Every field given comes back unchanged (defaults may add to it).
	app, init := got.TaskDefinition.ContainerDefinitions[0], got.TaskDefinition.ContainerDefinitions[1]
	wantApp := in.ContainerDefinitions[0]
	wantApp.PortMappings[0].HostPort = aws.Int32(0) // bridge mode: 0 asks for a dynamic host port
	checkFields(t, "app", wantApp, app)
	if !aws.ToBool(app.Essential) || aws.ToBool(init.Essential) {
		t.Fatalf("essential: app %v init %v", app.Essential, init.Essential)
	}
	if init.Cpu != 0 || init.PortMappings == nil || init.Environment == nil {
		t.Fatalf("defaults of a minimal container: cpu %d portMappings %v environment %v", init.Cpu, init.PortMappings, init.Environment)
	}
	if got.TaskDefinition.NetworkMode != types.NetworkModeBridge || len(got.TaskDefinition.Volumes) != 2 || len(got.TaskDefinition.PlacementConstraints) != 1 {
		t.Fatalf("task-level fields: %+v", got.TaskDefinition)
	}
}

// checkFields asserts every member set in want has the same value in got.
func checkFields(t *testing.T, name string, want, got any) {
	t.Helper()
	wv, gv := reflect.ValueOf(want), reflect.ValueOf(got)
	for i := 0; i < wv.NumField(); i++ {
		f := wv.Type().Field(i)
		if !f.IsExported() || wv.Field(i).IsZero() {
			continue
		}
		if !reflect.DeepEqual(wv.Field(i).Interface(), gv.Field(i).Interface()) {
			t.Errorf("%s.%s: got %s, want %s", name, f.Name, jsonOf(gv.Field(i).Interface()), jsonOf(wv.Field(i).Interface()))
		}
	}
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestTaskDefinitionRevisionsAndListing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := startServer(t, "")
	client := srv.ecs()
	register := func(family string) string {
		out, err := client.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
			Family:               aws.String(family),
			ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("c"), Image: aws.String("busybox"), Memory: aws.Int32(16)}},
		})
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("%s:%d", family, out.TaskDefinition.Revision)
	}
	for _, fam := range []string{"web", "web", "web", "web-2", "api"} {
		register(fam)
	}

	list := func(in *ecs.ListTaskDefinitionsInput) []string {
		var names []string
		pages := ecs.NewListTaskDefinitionsPaginator(client, in)
		for pages.HasMorePages() {
			page, err := pages.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, arn := range page.TaskDefinitionArns {
				names = append(names, arn[len("arn:aws:ecs:us-east-1:000000000000:task-definition/"):])
			}
		}
		return names
	}
	if got := list(&ecs.ListTaskDefinitionsInput{MaxResults: aws.Int32(2)}); !slices.Equal(got, []string{"api:1", "web:1", "web:2", "web:3", "web-2:1"}) {
		t.Fatalf("all, ascending, paged by 2: %v", got)
	}
	if got := list(&ecs.ListTaskDefinitionsInput{FamilyPrefix: aws.String("web"), Sort: types.SortOrderDesc, MaxResults: aws.Int32(1)}); !slices.Equal(got, []string{"web:3", "web:2", "web:1"}) {
		t.Fatalf("family web, descending: %v", got)
	}

	// Deregistering the latest revision makes "web" mean web:2.
	if _, err := client.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String("web:3")}); err != nil {
		t.Fatal(err)
	}
	latest, err := client.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("web")})
	if err != nil || latest.TaskDefinition.Revision != 2 {
		t.Fatalf("latest active web: %+v %v", latest, err)
	}
	if got := list(&ecs.ListTaskDefinitionsInput{Status: types.TaskDefinitionStatusInactive}); !slices.Equal(got, []string{"web:3"}) {
		t.Fatalf("inactive: %v", got)
	}
	// Revision numbers are never reused.
	if got := register("web"); got != "web:4" {
		t.Fatalf("next revision after deregistering: %s", got)
	}

	// Families: api loses its only active revision and becomes INACTIVE.
	if _, err := client.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String("arn:aws:ecs:us-east-1:000000000000:task-definition/api:1")}); err != nil {
		t.Fatal(err)
	}
	families := func(in *ecs.ListTaskDefinitionFamiliesInput) []string {
		out, err := client.ListTaskDefinitionFamilies(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		return out.Families
	}
	if got := families(&ecs.ListTaskDefinitionFamiliesInput{}); !slices.Equal(got, []string{"api", "web", "web-2"}) {
		t.Fatalf("families: %v", got)
	}
	if got := families(&ecs.ListTaskDefinitionFamiliesInput{Status: types.TaskDefinitionFamilyStatusActive, FamilyPrefix: aws.String("we")}); !slices.Equal(got, []string{"web", "web-2"}) {
		t.Fatalf("active families with prefix we: %v", got)
	}
	if got := families(&ecs.ListTaskDefinitionFamiliesInput{Status: types.TaskDefinitionFamilyStatusInactive}); !slices.Equal(got, []string{"api"}) {
		t.Fatalf("inactive families: %v", got)
	}

	// Only INACTIVE revisions can be deleted; the rest are per-item failures.
	del, err := client.DeleteTaskDefinitions(ctx, &ecs.DeleteTaskDefinitionsInput{TaskDefinitions: []string{"web:3", "web:1", "web:99"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(del.TaskDefinitions) != 1 || string(del.TaskDefinitions[0].Status) != "DELETE_IN_PROGRESS" || len(del.Failures) != 2 {
		t.Fatalf("delete: %s", jsonOf(del))
	}
	_, err = client.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("nothere")})
	if code := apiErrorCode(t, err); code != "ClientException" {
		t.Fatalf("describe of unknown family: %s", code)
	}
}

func TestTaskDefinitionValidationStoresNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := startServer(t, "")
	client := srv.ecs()
	container := func(name string) types.ContainerDefinition {
		return types.ContainerDefinition{Name: aws.String(name), Image: aws.String("busybox"), Memory: aws.Int32(16)}
	}
	cases := []struct {
		name string
		in   ecs.RegisterTaskDefinitionInput
	}{
		{"no containers", ecs.RegisterTaskDefinitionInput{Family: aws.String("bad"), ContainerDefinitions: []types.ContainerDefinition{}}},
		{"duplicate names", ecs.RegisterTaskDefinitionInput{Family: aws.String("bad"), ContainerDefinitions: []types.ContainerDefinition{container("a"), container("a")}}},
		{"eleven containers", ecs.RegisterTaskDefinitionInput{Family: aws.String("bad"), ContainerDefinitions: func() (cs []types.ContainerDefinition) {
			for i := range 11 {
				cs = append(cs, container(fmt.Sprintf("c%d", i)))
			}
			return cs
		}()}},
		{"fargate bad pair", ecs.RegisterTaskDefinitionInput{Family: aws.String("bad"), RequiresCompatibilities: []types.Compatibility{types.CompatibilityFargate},
			NetworkMode: types.NetworkModeAwsvpc, Cpu: aws.String("256"), Memory: aws.String("4096"), ContainerDefinitions: []types.ContainerDefinition{container("a")}}},
		{"no memory on EC2", ecs.RegisterTaskDefinitionInput{Family: aws.String("bad"), ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("a"), Image: aws.String("busybox")}}}},
		{"bad family", ecs.RegisterTaskDefinitionInput{Family: aws.String("bad family"), ContainerDefinitions: []types.ContainerDefinition{container("a")}}},
	}
	for _, tc := range cases {
		_, err := client.RegisterTaskDefinition(ctx, &tc.in)
		if code := apiErrorCode(t, err); code != "ClientException" && code != "InvalidParameterException" {
			t.Errorf("%s: got %s", tc.name, code)
		}
	}
	out, err := client.ListTaskDefinitionFamilies(ctx, &ecs.ListTaskDefinitionFamiliesInput{})
	if err != nil || len(out.Families) != 0 {
		t.Fatalf("rejected registrations left families behind: %v %v", out.Families, err)
	}
}

func TestTagResource(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := startServer(t, "")
	client := srv.ecs()
	reg, err := client.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("t"),
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("c"), Image: aws.String("busybox"), Memory: aws.Int32(16)}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, arn := range []string{"arn:aws:ecs:us-east-1:000000000000:cluster/default", aws.ToString(reg.TaskDefinition.TaskDefinitionArn)} {
		_, err := client.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String(arn), Tags: []types.Tag{
			{Key: aws.String("a"), Value: aws.String("1")}, {Key: aws.String("b"), Value: aws.String("2")}}})
		if err != nil {
			t.Fatalf("tag %s: %v", arn, err)
		}
		_, err = client.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String(arn), Tags: []types.Tag{{Key: aws.String("a"), Value: aws.String("3")}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := client.UntagResource(ctx, &ecs.UntagResourceInput{ResourceArn: aws.String(arn), TagKeys: []string{"b"}}); err != nil {
			t.Fatal(err)
		}
		out, err := client.ListTagsForResource(ctx, &ecs.ListTagsForResourceInput{ResourceArn: aws.String(arn)})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Tags) != 1 || aws.ToString(out.Tags[0].Key) != "a" || aws.ToString(out.Tags[0].Value) != "3" {
			t.Fatalf("tags of %s: %s", arn, jsonOf(out.Tags))
		}
	}
	_, err = client.ListTagsForResource(ctx, &ecs.ListTagsForResourceInput{ResourceArn: aws.String("arn:aws:ecs:us-east-1:000000000000:cluster/none")})
	if code := apiErrorCode(t, err); code != "ClusterNotFoundException" {
		t.Fatalf("tags of missing cluster: %s", code)
	}
	// Tags beyond the limit of 50 are refused and the existing ones are kept.
	var many []types.Tag
	for i := range 50 {
		many = append(many, types.Tag{Key: aws.String(fmt.Sprintf("k%d", i)), Value: aws.String("v")})
	}
	_, err = client.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String("arn:aws:ecs:us-east-1:000000000000:cluster/default"), Tags: many})
	if code := apiErrorCode(t, err); code != "InvalidParameterException" {
		t.Fatalf("51 tags: %s", code)
	}
}
