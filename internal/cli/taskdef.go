package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/spf13/cobra"
)

func newTaskDefCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "taskdef",
		Aliases: []string{"task-definition"},
		Short:   "Register, list, describe and deregister task definitions",
	}
	cmd.AddCommand(taskDefRegister(g), taskDefList(g), taskDefDescribe(g), taskDefDeregister(g))
	return cmd
}

func taskDefRegister(g *globals) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "register -f FILE",
		Short: "Register a task definition from a JSON file (- for stdin)",
		Long: `Register a task definition. FILE holds the RegisterTaskDefinition request as JSON,
the same document 'aws ecs register-task-definition --cli-input-json' takes:

  {"family": "web", "containerDefinitions": [
     {"name": "web", "image": "busybox", "memory": 64, "command": ["httpd", "-f"]}]}`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			in, err := readTaskDefFile(file, cmd.InOrStdin())
			if err != nil {
				return err
			}
			client, err := g.ecsClient(cmd.Context())
			if err != nil {
				return err
			}
			out, err := client.RegisterTaskDefinition(cmd.Context(), in)
			if err != nil {
				return err
			}
			if g.output == "json" {
				return printJSON(g.out, out)
			}
			fmt.Fprintln(g.out, taskDefName(aws.ToString(out.TaskDefinition.TaskDefinitionArn)))
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "JSON file with the task definition (required)")
	cmd.MarkFlagRequired("file")
	return cmd
}

// readTaskDefFile decodes a RegisterTaskDefinition request, refusing unknown members so a
// misspelt field is reported instead of silently dropped.
func readTaskDefFile(path string, stdin io.Reader) (*ecs.RegisterTaskDefinitionInput, error) {
	var data []byte
	var err error
	if path == "-" {
		data, err = io.ReadAll(stdin)
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("reading task definition: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	in := &ecs.RegisterTaskDefinitionInput{}
	if err := dec.Decode(in); err != nil {
		return nil, fmt.Errorf("%s is not a RegisterTaskDefinition JSON document: %w", path, err)
	}
	return in, nil
}

func taskDefList(g *globals) *cobra.Command {
	var family, status string
	var desc bool
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List task definition revisions",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			client, err := g.ecsClient(cmd.Context())
			if err != nil {
				return err
			}
			in := &ecs.ListTaskDefinitionsInput{Status: types.TaskDefinitionStatus(strings.ToUpper(status))}
			if family != "" {
				in.FamilyPrefix = aws.String(family)
			}
			if desc {
				in.Sort = types.SortOrderDesc
			}
			var arns []string
			pages := ecs.NewListTaskDefinitionsPaginator(client, in)
			for pages.HasMorePages() {
				page, err := pages.NextPage(cmd.Context())
				if err != nil {
					return err
				}
				arns = append(arns, page.TaskDefinitionArns...)
			}
			if g.output == "json" {
				return printJSON(g.out, map[string]any{"taskDefinitionArns": arns})
			}
			t := newTable(g.out, "FAMILY", "REVISION", "ARN")
			for _, arn := range arns {
				fam, rev, _ := strings.Cut(taskDefName(arn), ":")
				t.row(fam, rev, arn)
			}
			return t.flush()
		},
	}
	cmd.Flags().StringVar(&family, "family", "", "only revisions of this family")
	cmd.Flags().StringVar(&status, "status", "ACTIVE", "ACTIVE, INACTIVE or DELETE_IN_PROGRESS")
	cmd.Flags().BoolVar(&desc, "desc", false, "newest first")
	return cmd
}

func taskDefDescribe(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "describe FAMILY[:REVISION]|ARN",
		Short: "Show a task definition as JSON (the latest ACTIVE revision when none is given)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			client, err := g.ecsClient(cmd.Context())
			if err != nil {
				return err
			}
			out, err := client.DescribeTaskDefinition(cmd.Context(), &ecs.DescribeTaskDefinitionInput{
				TaskDefinition: aws.String(args[0]),
				Include:        []types.TaskDefinitionField{types.TaskDefinitionFieldTags},
			})
			if err != nil {
				return err
			}
			return printJSON(g.out, out)
		},
	}
}

func taskDefDeregister(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "deregister FAMILY:REVISION|ARN...",
		Short: "Mark task definition revisions INACTIVE",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			client, err := g.ecsClient(cmd.Context())
			if err != nil {
				return err
			}
			for _, ref := range args {
				out, err := client.DeregisterTaskDefinition(cmd.Context(), &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String(ref)})
				if err != nil {
					return fmt.Errorf("deregistering %s: %w", ref, err)
				}
				fmt.Fprintln(g.out, taskDefName(aws.ToString(out.TaskDefinition.TaskDefinitionArn)))
			}
			return nil
		},
	}
}

// taskDefName shortens a task definition ARN to family:revision.
func taskDefName(arn string) string {
	if _, after, ok := strings.Cut(arn, ":task-definition/"); ok {
		return after
	}
	return arn
}
