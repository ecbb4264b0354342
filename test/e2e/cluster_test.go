package e2e

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"
)

// apiErrorCode returns the AWS error code of err, failing the test if err is not one.
func apiErrorCode(t *testing.T, err error) string {
	t.Helper()
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("want an AWS API error, got %v", err)
	}
	return apiErr.ErrorCode()
}

func TestClusterLifecycleWithSDK(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := startServer(t, "")
	client := srv.ecs()

	// The default cluster exists from the start, and is what a call without a cluster means.
	def, err := client.DescribeClusters(ctx, &ecs.DescribeClustersInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(def.Clusters) != 1 || aws.ToString(def.Clusters[0].ClusterName) != "default" {
		t.Fatalf("describe with no clusters: %+v failures %+v", def.Clusters, def.Failures)
	}

	created, err := client.CreateCluster(ctx, &ecs.CreateClusterInput{
		ClusterName: aws.String("prod"),
		Tags:        []types.Tag{{Key: aws.String("team"), Value: aws.String("web")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	c := created.Cluster
	if aws.ToString(c.ClusterArn) != "arn:aws:ecs:us-east-1:000000000000:cluster/prod" || aws.ToString(c.Status) != "ACTIVE" {
		t.Fatalf("created: arn %s status %s", aws.ToString(c.ClusterArn), aws.ToString(c.Status))
	}
	if len(c.Settings) != 1 || aws.ToString(c.Settings[0].Value) != "disabled" {
		t.Fatalf("default containerInsights setting: %+v", c.Settings)
	}

	// Tags come back only when asked for, as in ECS; missing clusters are failures.
	desc, err := client.DescribeClusters(ctx, &ecs.DescribeClustersInput{
		Clusters: []string{"prod", "arn:aws:ecs:us-east-1:000000000000:cluster/prod", "nope"},
		Include:  []types.ClusterField{types.ClusterFieldTags},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(desc.Clusters) != 2 || len(desc.Clusters[0].Tags) != 1 {
		t.Fatalf("describe by name and ARN: %+v", desc.Clusters)
	}
	if len(desc.Failures) != 1 || aws.ToString(desc.Failures[0].Reason) != "MISSING" ||
		aws.ToString(desc.Failures[0].Arn) != "arn:aws:ecs:us-east-1:000000000000:cluster/nope" {
		t.Fatalf("failures: %+v", desc.Failures)
	}

	updated, err := client.UpdateCluster(ctx, &ecs.UpdateClusterInput{
		Cluster:  aws.String("prod"),
		Settings: []types.ClusterSetting{{Name: types.ClusterSettingNameContainerInsights, Value: aws.String("enabled")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(updated.Cluster.Settings) != 1 || aws.ToString(updated.Cluster.Settings[0].Value) != "enabled" {
		t.Fatalf("update settings: %+v", updated.Cluster.Settings)
	}

	if _, err := client.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String("prod")}); err != nil {
		t.Fatal(err)
	}
	list, err := client.ListClusters(ctx, &ecs.ListClustersInput{})
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(list.ClusterArns, aws.ToString(c.ClusterArn)) {
		t.Fatalf("deleted cluster still listed: %v", list.ClusterArns)
	}
	after, err := client.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{"prod"}})
	if err != nil || len(after.Clusters) != 1 || aws.ToString(after.Clusters[0].Status) != "INACTIVE" {
		t.Fatalf("deleted cluster should describe as INACTIVE: %+v %v", after, err)
	}
	_, err = client.UpdateCluster(ctx, &ecs.UpdateClusterInput{Cluster: aws.String("prod"),
		Settings: []types.ClusterSetting{{Name: types.ClusterSettingNameContainerInsights, Value: aws.String("disabled")}}})
	if code := apiErrorCode(t, err); code != "ClusterNotFoundException" {
		t.Fatalf("update of deleted cluster: %s", code)
	}
}

func TestClusterValidation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := startServer(t, "")
	client := srv.ecs()
	cases := []struct {
		name string
		in   *ecs.CreateClusterInput
	}{
		{"bad name", &ecs.CreateClusterInput{ClusterName: aws.String("no spaces")}},
		{"long name", &ecs.CreateClusterInput{ClusterName: aws.String(string(make([]byte, 256)))}},
		{"reserved tag", &ecs.CreateClusterInput{ClusterName: aws.String("x"), Tags: []types.Tag{{Key: aws.String("aws:x"), Value: aws.String("v")}}}},
		{"bad setting", &ecs.CreateClusterInput{ClusterName: aws.String("x"), Settings: []types.ClusterSetting{{Name: "colour", Value: aws.String("blue")}}}},
	}
	for _, tc := range cases {
		_, err := client.CreateCluster(ctx, tc.in)
		if code := apiErrorCode(t, err); code != "InvalidParameterException" {
			t.Errorf("%s: got %s, want InvalidParameterException", tc.name, code)
		}
	}
	list, err := client.ListClusters(ctx, &ecs.ListClustersInput{})
	if err != nil || len(list.ClusterArns) != 1 {
		t.Fatalf("rejected creates must store nothing: %v %v", list.ClusterArns, err)
	}
	_, err = client.ListClusters(ctx, &ecs.ListClustersInput{MaxResults: aws.Int32(101)})
	if code := apiErrorCode(t, err); code != "InvalidParameterException" {
		t.Errorf("maxResults 101: %s", code)
	}
	_, err = client.ListClusters(ctx, &ecs.ListClustersInput{NextToken: aws.String("garbage")})
	if code := apiErrorCode(t, err); code != "InvalidParameterException" {
		t.Errorf("bad nextToken: %s", code)
	}
}

func TestListClustersPaginates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := startServer(t, "")
	client := srv.ecs()
	want := []string{"arn:aws:ecs:us-east-1:000000000000:cluster/default"}
	for i := range 7 {
		out, err := client.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(fmt.Sprintf("c%d", i))})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, aws.ToString(out.Cluster.ClusterArn))
	}
	var got []string
	pages := ecs.NewListClustersPaginator(client, &ecs.ListClustersInput{MaxResults: aws.Int32(3)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.ClusterArns) > 3 {
			t.Fatalf("page larger than maxResults: %d", len(page.ClusterArns))
		}
		got = append(got, page.ClusterArns...)
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("paged listing:\n got %v\nwant %v", got, want)
	}
}
