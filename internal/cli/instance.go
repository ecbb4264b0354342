package cli

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/spf13/cobra"
)

func newInstanceCommand(g *globals) *cobra.Command {
	var cluster string
	cmd := &cobra.Command{
		Use:     "instance",
		Aliases: []string{"instances", "container-instance"},
		Short:   "List, describe, drain and activate the machines (container instances) of a cluster",
		Long: `A container instance is a machine whose agent registered with a cluster. INSTANCE is
its id (the end of its ARN), a unique prefix of the id (4 characters or more), its ARN,
or its node name (ec2InstanceId, as 'gantry instance ls' shows under NAME).`,
	}
	cmd.PersistentFlags().StringVar(&cluster, "cluster", "default", "cluster the instances belong to")
	cmd.AddCommand(instanceList(g, &cluster), instanceDescribe(g, &cluster),
		instanceSetState(g, &cluster, types.ContainerInstanceStatusDraining),
		instanceSetState(g, &cluster, types.ContainerInstanceStatusActive))
	return cmd
}

func instanceList(g *globals, cluster *string) *cobra.Command {
	var filter, status string
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List container instances with their free CPU and memory",
		Long: `List the container instances of a cluster (all but INACTIVE ones unless --status
says otherwise). CPU is remaining/registered CPU units, MEMORY remaining/registered MiB.
--filter takes the cluster query language of ECS placement constraints.`,
		Example: `  gantry instance ls
  gantry instance ls --cluster prod --status DRAINING
  gantry instance ls --filter 'attribute:ecs.availability-zone == zone-a'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			client, err := g.ecsClient(cmd.Context())
			if err != nil {
				return err
			}
			in := &ecs.ListContainerInstancesInput{Cluster: cluster, Status: types.ContainerInstanceStatus(strings.ToUpper(status))}
			if filter != "" {
				in.Filter = aws.String(filter)
			}
			instances, failures, err := listInstances(cmd.Context(), client, *cluster, in)
			if err != nil {
				return err
			}
			if g.output == "json" {
				if err := printJSON(g.out, &ecs.DescribeContainerInstancesOutput{ContainerInstances: instances, Failures: failures}); err != nil {
					return err
				}
				return failuresError(failures)
			}
			t := newTable(g.out, "INSTANCE ID", "NAME", "STATUS", "AGENT", "RUNNING", "PENDING", "CPU", "MEMORY", "AZ")
			for _, ci := range instances {
				t.row(arnID(aws.ToString(ci.ContainerInstanceArn)), aws.ToString(ci.Ec2InstanceId), aws.ToString(ci.Status),
					agentState(ci.AgentConnected), strconv.Itoa(int(ci.RunningTasksCount)), strconv.Itoa(int(ci.PendingTasksCount)),
					resourceUsage(ci, "CPU", ""), resourceUsage(ci, "MEMORY", " MiB"), instanceAttribute(ci, "ecs.availability-zone"))
			}
			if err := t.flush(); err != nil {
				return err
			}
			return failuresError(failures)
		},
	}
	cmd.Flags().StringVar(&filter, "filter", "", "cluster query language expression the instances must match")
	cmd.Flags().StringVar(&status, "status", "", "only instances in this status: ACTIVE, DRAINING, REGISTERING, DEREGISTERING or REGISTRATION_FAILED")
	return cmd
}

func instanceDescribe(g *globals, cluster *string) *cobra.Command {
	return &cobra.Command{
		Use:   "describe INSTANCE...",
		Short: "Show container instances in full as a JSON array (resources, attributes, tags)",
		Long: `Show container instances in full as a JSON array, whatever -o says: registered and
remaining resources, attributes, agent and health state, tags.`,
		Example: `  gantry instance describe node-1
  gantry instance describe --cluster prod 6b2e node-2`,
		Args: atLeastOne("INSTANCE (list them with 'gantry instance ls')"),
		RunE: func(cmd *cobra.Command, args []string) error {
			client, err := g.ecsClient(cmd.Context())
			if err != nil {
				return err
			}
			refs, err := resolveInstances(cmd.Context(), client, *cluster, args)
			if err != nil {
				return err
			}
			instances, failures, err := describeInstances(cmd.Context(), client, *cluster, refs)
			if err != nil {
				return err
			}
			if err := printJSON(g.out, instances); err != nil {
				return err
			}
			return failuresError(failures)
		},
	}
}

// instanceSetState returns `instance drain` or `instance activate`.
func instanceSetState(g *globals, cluster *string, status types.ContainerInstanceStatus) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "drain INSTANCE...",
		Short: "Set container instances DRAINING so no new tasks are placed on them",
		Long: `Set container instances DRAINING, e.g. before maintenance: the scheduler places no
new tasks on them. As in ECS, the tasks already there keep running until stopped ('gantry
ps'); --stop-tasks stops them too (each with StopTask: its stop signal, then SIGKILL after
its stopTimeout). Undo it with 'gantry instance activate'. Each instance's id is printed
once done.`,
		Example: `  gantry instance drain node-1
  gantry instance drain --stop-tasks node-1
  gantry instance drain --cluster prod node-1 node-2`,
	}
	var stopTasks bool
	if status == types.ContainerInstanceStatusDraining {
		cmd.Flags().BoolVar(&stopTasks, "stop-tasks", false, "also stop the tasks running on the instances (ECS leaves them running)")
	}
	if status == types.ContainerInstanceStatusActive {
		cmd.Use = "activate INSTANCE..."
		cmd.Short = "Set container instances ACTIVE again so tasks can be placed on them"
		cmd.Long = `Set container instances ACTIVE again (after 'gantry instance drain') so the scheduler
places tasks on them. Each instance's id is printed once done.`
		cmd.Example = `  gantry instance activate node-1`
	}
	cmd.Args = atLeastOne("INSTANCE (list them with 'gantry instance ls')")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		client, err := g.ecsClient(cmd.Context())
		if err != nil {
			return err
		}
		refs, err := resolveInstances(cmd.Context(), client, *cluster, args)
		if err != nil {
			return err
		}
		merged := &ecs.UpdateContainerInstancesStateOutput{ContainerInstances: []types.ContainerInstance{}}
		// UpdateContainerInstancesState takes at most 10 instances a call.
		for start := 0; start < len(refs); start += 10 {
			out, err := client.UpdateContainerInstancesState(cmd.Context(), &ecs.UpdateContainerInstancesStateInput{
				Cluster:            cluster,
				ContainerInstances: refs[start:min(start+10, len(refs))],
				Status:             status,
			})
			if err != nil {
				return fmt.Errorf("setting container instances %s: %w", status, err)
			}
			merged.ContainerInstances = append(merged.ContainerInstances, out.ContainerInstances...)
			merged.Failures = append(merged.Failures, out.Failures...)
		}
		if stopTasks {
			if err := stopInstanceTasks(cmd.Context(), client, *cluster, merged.ContainerInstances); err != nil {
				return err
			}
		}
		if g.output == "json" {
			if err := printJSON(g.out, merged); err != nil {
				return err
			}
		} else {
			for _, ci := range merged.ContainerInstances {
				fmt.Fprintln(g.out, arnID(aws.ToString(ci.ContainerInstanceArn)))
			}
		}
		return failuresError(merged.Failures)
	}
	return cmd
}

// drainReason is the stoppedReason of tasks stopped by 'gantry instance drain --stop-tasks'.
const drainReason = "Container instance draining (gantry instance drain --stop-tasks)"

// stopInstanceTasks stops every task that should be running on the instances, saying how
// many on stderr.
func stopInstanceTasks(ctx context.Context, client *ecs.Client, cluster string, instances []types.ContainerInstance) error {
	for _, ci := range instances {
		arns, err := listTasksWhere(ctx, client, &ecs.ListTasksInput{Cluster: aws.String(cluster),
			ContainerInstance: ci.ContainerInstanceArn, DesiredStatus: types.DesiredStatusRunning})
		if err != nil {
			return fmt.Errorf("listing the tasks of %s: %w", arnID(aws.ToString(ci.ContainerInstanceArn)), err)
		}
		noun := "tasks"
		if len(arns) == 1 {
			noun = "task"
		}
		fmt.Fprintf(os.Stderr, "stopping %d %s on %s\n", len(arns), noun, aws.ToString(ci.Ec2InstanceId))
		for _, arn := range arns {
			_, err := client.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String(cluster), Task: aws.String(arn), Reason: aws.String(drainReason)})
			if err != nil {
				return fmt.Errorf("stopping task %s: %w", arnID(arn), err)
			}
		}
	}
	return nil
}

// instanceReader is what finding container instances needs from the ECS API.
type instanceReader interface {
	ecs.ListContainerInstancesAPIClient
	DescribeContainerInstances(context.Context, *ecs.DescribeContainerInstancesInput, ...func(*ecs.Options)) (*ecs.DescribeContainerInstancesOutput, error)
}

// listInstances lists the container instances in matches and describes them.
func listInstances(ctx context.Context, client instanceReader, cluster string, in *ecs.ListContainerInstancesInput) ([]types.ContainerInstance, []types.Failure, error) {
	var arns []string
	pages := ecs.NewListContainerInstancesPaginator(client, in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, nil, err
		}
		arns = append(arns, page.ContainerInstanceArns...)
	}
	instances, failures, err := describeInstances(ctx, client, cluster, arns)
	if err != nil {
		return nil, nil, err
	}
	slices.SortStableFunc(instances, func(a, b types.ContainerInstance) int {
		return strings.Compare(aws.ToString(a.Ec2InstanceId), aws.ToString(b.Ec2InstanceId))
	})
	return instances, failures, nil
}

// describeInstances describes container instances with tags and health, 100 at a time.
func describeInstances(ctx context.Context, client instanceReader, cluster string, refs []string) ([]types.ContainerInstance, []types.Failure, error) {
	instances := []types.ContainerInstance{}
	var failures []types.Failure
	for start := 0; start < len(refs); start += 100 {
		out, err := client.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{
			Cluster:            aws.String(cluster),
			ContainerInstances: refs[start:min(start+100, len(refs))],
			Include:            []types.ContainerInstanceField{types.ContainerInstanceFieldTags, types.ContainerInstanceFieldContainerInstanceHealth},
		})
		if err != nil {
			return nil, nil, err
		}
		instances = append(instances, out.ContainerInstances...)
		failures = append(failures, out.Failures...)
	}
	return instances, failures, nil
}

// resolveInstances turns what a user typed for container instances into ids or ARNs the
// API takes; it lists the cluster's instances once, and only when a node name or an id
// prefix needs it.
func resolveInstances(ctx context.Context, client instanceReader, cluster string, refs []string) ([]string, error) {
	var listed []types.ContainerInstance
	out := make([]string, 0, len(refs))
	for _, ref := range refs {
		if strings.HasPrefix(ref, "arn:") || (len(ref) == 32 && isLowerHex(ref)) {
			out = append(out, ref)
			continue
		}
		if listed == nil {
			var err error
			if listed, _, err = listInstances(ctx, client, cluster, &ecs.ListContainerInstancesInput{Cluster: aws.String(cluster)}); err != nil {
				return nil, err
			}
		}
		switch matches := matchInstance(listed, ref); len(matches) {
		case 1:
			out = append(out, matches[0])
		case 0:
			return nil, fmt.Errorf("no container instance named or with id %q in cluster %s (list them with 'gantry instance ls')", ref, cluster)
		default:
			return nil, fmt.Errorf("%q matches %d container instances in cluster %s; use the INSTANCE ID 'gantry instance ls' shows", ref, len(matches), cluster)
		}
	}
	return out, nil
}

// matchInstance returns the ARNs of the instances whose node name is ref or, when none
// is, whose id starts with ref (4 hex characters or more).
func matchInstance(instances []types.ContainerInstance, ref string) []string {
	var byName, arns []string
	for _, ci := range instances {
		arn := aws.ToString(ci.ContainerInstanceArn)
		if aws.ToString(ci.Ec2InstanceId) == ref {
			byName = append(byName, arn)
		}
		arns = append(arns, arn)
	}
	if len(byName) > 0 || len(ref) < 4 || !isLowerHex(ref) {
		return byName
	}
	return arnsWithIDPrefix(arns, ref)
}

func agentState(connected bool) string {
	if connected {
		return "connected"
	}
	return "disconnected"
}

// resourceUsage shows an integer resource as remaining/registered, followed by unit.
func resourceUsage(ci types.ContainerInstance, name, unit string) string {
	registered, ok := resourceValue(ci.RegisteredResources, name)
	if !ok {
		return "-"
	}
	remaining, _ := resourceValue(ci.RemainingResources, name)
	return strconv.Itoa(int(remaining)) + "/" + strconv.Itoa(int(registered)) + unit
}

func resourceValue(resources []types.Resource, name string) (int32, bool) {
	for _, r := range resources {
		if aws.ToString(r.Name) == name {
			return r.IntegerValue, true
		}
	}
	return 0, false
}

// instanceAttribute returns the value of the named attribute, or "-".
func instanceAttribute(ci types.ContainerInstance, name string) string {
	for _, a := range ci.Attributes {
		if aws.ToString(a.Name) == name && a.Value != nil {
			return aws.ToString(a.Value)
		}
	}
	return "-"
}
