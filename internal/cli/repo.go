package cli

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/spf13/cobra"
)

func (g *globals) ecrClient(cmd *cobra.Command) (*ecr.Client, error) {
	cfg, err := g.awsConfig(cmd.Context())
	if err != nil {
		return nil, err
	}
	return ecr.NewFromConfig(cfg), nil
}

func newRepoCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "repo",
		Aliases: []string{"repository"},
		Short:   "Create, list and remove registry repositories, and list their images",
	}
	cmd.AddCommand(repoCreate(g), repoList(g), repoRemove(g), repoImages(g))
	return cmd
}

func repoCreate(g *globals) *cobra.Command {
	var immutable, scanOnPush bool
	var exclusions []string
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a repository (like aws ecr create-repository)",
		Example: `  gantry repo create team/web
  gantry repo create team/web --immutable --exclude 'latest*'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			client, err := g.ecrClient(cmd)
			if err != nil {
				return err
			}
			in := &ecr.CreateRepositoryInput{RepositoryName: aws.String(args[0]),
				ImageScanningConfiguration: &types.ImageScanningConfiguration{ScanOnPush: scanOnPush}}
			in.ImageTagMutability, in.ImageTagMutabilityExclusionFilters = mutability(immutable, exclusions)
			out, err := client.CreateRepository(cmd.Context(), in)
			if err != nil {
				return err
			}
			return g.printRepos([]types.Repository{*out.Repository}, out.Repository)
		},
	}
	cmd.Flags().BoolVar(&immutable, "immutable", false, "tags cannot be moved once pushed")
	cmd.Flags().StringArrayVar(&exclusions, "exclude", nil, "wildcard of tags exempt from the mutability setting (repeatable, up to 5)")
	cmd.Flags().BoolVar(&scanOnPush, "scan-on-push", false, "record that images should be scanned on push")
	return cmd
}

// mutability turns the CLI flags into ECR's setting and exclusion filters.
func mutability(immutable bool, exclusions []string) (types.ImageTagMutability, []types.ImageTagMutabilityExclusionFilter) {
	setting := types.ImageTagMutabilityMutable
	if immutable {
		setting = types.ImageTagMutabilityImmutable
	}
	if len(exclusions) == 0 {
		return setting, nil
	}
	filters := make([]types.ImageTagMutabilityExclusionFilter, len(exclusions))
	for i, e := range exclusions {
		filters[i] = types.ImageTagMutabilityExclusionFilter{FilterType: types.ImageTagMutabilityExclusionFilterTypeWildcard, Filter: aws.String(e)}
	}
	return setting + "_WITH_EXCLUSION", filters
}

func repoList(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List repositories",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			client, err := g.ecrClient(cmd)
			if err != nil {
				return err
			}
			var repos []types.Repository
			pages := ecr.NewDescribeRepositoriesPaginator(client, &ecr.DescribeRepositoriesInput{})
			for pages.HasMorePages() {
				page, err := pages.NextPage(cmd.Context())
				if err != nil {
					return err
				}
				repos = append(repos, page.Repositories...)
			}
			return g.printRepos(repos, map[string]any{"repositories": repos})
		},
	}
}

func repoRemove(g *globals) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "rm NAME...",
		Aliases: []string{"delete"},
		Short:   "Delete repositories (--force also deletes their images)",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			client, err := g.ecrClient(cmd)
			if err != nil {
				return err
			}
			for _, name := range args {
				if _, err := client.DeleteRepository(cmd.Context(), &ecr.DeleteRepositoryInput{RepositoryName: aws.String(name), Force: force}); err != nil {
					return fmt.Errorf("deleting repository %s: %w", name, err)
				}
				fmt.Fprintln(g.out, name)
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "delete the images too")
	return cmd
}

func repoImages(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "images NAME",
		Short: "List a repository's images: tags, digest, size and push time",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			client, err := g.ecrClient(cmd)
			if err != nil {
				return err
			}
			var details []types.ImageDetail
			pages := ecr.NewDescribeImagesPaginator(client, &ecr.DescribeImagesInput{RepositoryName: aws.String(args[0])})
			for pages.HasMorePages() {
				page, err := pages.NextPage(cmd.Context())
				if err != nil {
					return err
				}
				details = append(details, page.ImageDetails...)
			}
			if g.output == "json" {
				return printJSON(g.out, map[string]any{"imageDetails": details})
			}
			t := newTable(g.out, "TAGS", "DIGEST", "SIZE", "PUSHED")
			for _, d := range details {
				tags := strings.Join(d.ImageTags, ",")
				if tags == "" {
					tags = "<untagged>"
				}
				t.row(tags, aws.ToString(d.ImageDigest), humanBytes(aws.ToInt64(d.ImageSizeInBytes)), aws.ToTime(d.ImagePushedAt).Local().Format(time.DateTime))
			}
			return t.flush()
		},
	}
}

// printRepos prints a table of repositories, or jsonValue with -o json.
func (g *globals) printRepos(repos []types.Repository, jsonValue any) error {
	if g.output == "json" {
		return printJSON(g.out, jsonValue)
	}
	t := newTable(g.out, "NAME", "URI", "TAG MUTABILITY", "CREATED")
	for _, r := range repos {
		t.row(aws.ToString(r.RepositoryName), aws.ToString(r.RepositoryUri), string(r.ImageTagMutability), aws.ToTime(r.CreatedAt).Local().Format(time.DateTime))
	}
	return t.flush()
}

// humanBytes prints a size the way docker images does (1024-based, one decimal).
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + "B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f%ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
