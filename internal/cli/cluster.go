package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/spf13/cobra"
)

func newClusterCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Create, list, describe and remove clusters",
	}
	cmd.AddCommand(clusterCreate(g), clusterList(g), clusterDescribe(g), clusterRemove(g))
	return cmd
}

func clusterCreate(g *globals) *cobra.Command {
	var tags []string
	var insights string
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a cluster (like aws ecs create-cluster)",
		Example: `  gantry cluster create prod
  gantry cluster create prod --tag team=web --container-insights enabled`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			client, err := g.ecsClient(cmd.Context())
			if err != nil {
				return err
			}
			in := &ecs.CreateClusterInput{ClusterName: aws.String(args[0])}
			if in.Tags, err = parseTags(tags); err != nil {
				return err
			}
			if insights != "" {
				in.Settings = []types.ClusterSetting{{Name: types.ClusterSettingNameContainerInsights, Value: aws.String(insights)}}
			}
			out, err := client.CreateCluster(cmd.Context(), in)
			if err != nil {
				return err
			}
			return g.printClusters([]types.Cluster{*out.Cluster}, out.Cluster)
		},
	}
	cmd.Flags().StringArrayVar(&tags, "tag", nil, "tag KEY=VALUE (repeatable)")
	cmd.Flags().StringVar(&insights, "container-insights", "", "containerInsights setting: enabled, disabled or enhanced")
	return cmd
}

func clusterList(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List active clusters",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			client, err := g.ecsClient(cmd.Context())
			if err != nil {
				return err
			}
			var arns []string
			pages := ecs.NewListClustersPaginator(client, &ecs.ListClustersInput{})
			for pages.HasMorePages() {
				page, err := pages.NextPage(cmd.Context())
				if err != nil {
					return err
				}
				arns = append(arns, page.ClusterArns...)
			}
			var clusters []types.Cluster
			for start := 0; start < len(arns); start += 100 {
				out, err := client.DescribeClusters(cmd.Context(), &ecs.DescribeClustersInput{Clusters: arns[start:min(start+100, len(arns))]})
				if err != nil {
					return err
				}
				clusters = append(clusters, out.Clusters...)
			}
			return g.printClusters(clusters, clusters)
		},
	}
}

func clusterDescribe(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "describe NAME...",
		Short: "Show clusters in full, as JSON (tags, settings and statistics included)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			client, err := g.ecsClient(cmd.Context())
			if err != nil {
				return err
			}
			out, err := client.DescribeClusters(cmd.Context(), &ecs.DescribeClustersInput{
				Clusters: args,
				Include:  []types.ClusterField{types.ClusterFieldTags, types.ClusterFieldSettings, types.ClusterFieldStatistics, types.ClusterFieldConfigurations},
			})
			if err != nil {
				return err
			}
			if err := printJSON(g.out, out.Clusters); err != nil {
				return err
			}
			return failuresError(out.Failures)
		},
	}
}

func clusterRemove(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "rm NAME...",
		Aliases: []string{"delete"},
		Short:   "Delete clusters (they stay visible as INACTIVE for a while, as in ECS)",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			client, err := g.ecsClient(cmd.Context())
			if err != nil {
				return err
			}
			for _, name := range args {
				if _, err := client.DeleteCluster(cmd.Context(), &ecs.DeleteClusterInput{Cluster: aws.String(name)}); err != nil {
					return fmt.Errorf("deleting cluster %s: %w", name, err)
				}
				fmt.Fprintln(g.out, name)
			}
			return nil
		},
	}
}

// printClusters prints a table of clusters, or jsonValue with -o json.
func (g *globals) printClusters(clusters []types.Cluster, jsonValue any) error {
	if g.output == "json" {
		return printJSON(g.out, jsonValue)
	}
	t := newTable(g.out, "NAME", "STATUS", "INSTANCES", "RUNNING", "PENDING", "SERVICES")
	for _, c := range clusters {
		t.row(aws.ToString(c.ClusterName), aws.ToString(c.Status),
			strconv.Itoa(int(c.RegisteredContainerInstancesCount)), strconv.Itoa(int(c.RunningTasksCount)),
			strconv.Itoa(int(c.PendingTasksCount)), strconv.Itoa(int(c.ActiveServicesCount)))
	}
	return t.flush()
}

// failuresError reports ECS per-item failures (e.g. a missing cluster) as the command's error.
func failuresError(failures []types.Failure) error {
	if len(failures) == 0 {
		return nil
	}
	msgs := make([]string, len(failures))
	for i, f := range failures {
		msgs[i] = aws.ToString(f.Arn) + ": " + aws.ToString(f.Reason)
		if f.Detail != nil {
			msgs[i] += " (" + aws.ToString(f.Detail) + ")"
		}
	}
	return fmt.Errorf("%s", strings.Join(msgs, "; "))
}

func parseTags(kvs []string) ([]types.Tag, error) {
	var tags []types.Tag
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--tag %q: use KEY=VALUE", kv)
		}
		tags = append(tags, types.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	return tags, nil
}
