package ecr

import (
	"context"
	"encoding/json"
	"slices"
	"strings"

	"gantry/internal/awsapi"
)

// maxPolicyText is ECR's limit on a repository policy.
const maxPolicyText = 10240

type setRepositoryPolicyInput struct {
	RegistryID     string `json:"registryId"`
	RepositoryName string `json:"repositoryName"`
	PolicyText     string `json:"policyText"`
	Force          bool   `json:"force"`
}

type repositoryPolicyOutput struct {
	RegistryID     string `json:"registryId"`
	RepositoryName string `json:"repositoryName"`
	PolicyText     string `json:"policyText,omitempty"`
}

// setRepositoryPolicy stores a repository policy. Gantry records it for the IAM work
// to come; it does not yet restrict access.
func (s *Service) setRepositoryPolicy(ctx context.Context, _ *awsapi.Request, in *setRepositoryPolicyInput) (*repositoryPolicyOutput, error) {
	if err := s.checkRegistryID(in.RegistryID); err != nil {
		return nil, err
	}
	if err := validatePolicyText(in.PolicyText); err != nil {
		return nil, err
	}
	_, err := s.changeRepo(ctx, in.RepositoryName, func(rec *repoRecord) error {
		rec.PolicyText = in.PolicyText
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &repositoryPolicyOutput{RegistryID: s.cfg.Account, RepositoryName: in.RepositoryName, PolicyText: in.PolicyText}, nil
}

// validatePolicyText checks the shape of an IAM policy document: JSON with a Statement.
func validatePolicyText(text string) error {
	if text == "" || len(text) > maxPolicyText {
		return awsapi.InvalidParameter("policyText: must be 1 to %d characters", maxPolicyText)
	}
	var doc struct {
		Statement json.RawMessage `json:"Statement"`
	}
	if err := json.Unmarshal([]byte(text), &doc); err != nil || len(doc.Statement) == 0 {
		return awsapi.InvalidParameter("Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Invalid repository policy provided': want a JSON policy document with a Statement")
	}
	return nil
}

type repositoryRefInput struct {
	RegistryID     string `json:"registryId"`
	RepositoryName string `json:"repositoryName"`
}

func (s *Service) getRepositoryPolicy(ctx context.Context, _ *awsapi.Request, in *repositoryRefInput) (*repositoryPolicyOutput, error) {
	if err := s.checkRegistryID(in.RegistryID); err != nil {
		return nil, err
	}
	rec, _, err := s.loadRepo(ctx, in.RepositoryName)
	if err != nil {
		return nil, err
	}
	if rec.PolicyText == "" {
		return nil, s.policyNotFound(in.RepositoryName)
	}
	return &repositoryPolicyOutput{RegistryID: s.cfg.Account, RepositoryName: in.RepositoryName, PolicyText: rec.PolicyText}, nil
}

func (s *Service) deleteRepositoryPolicy(ctx context.Context, _ *awsapi.Request, in *repositoryRefInput) (*repositoryPolicyOutput, error) {
	if err := s.checkRegistryID(in.RegistryID); err != nil {
		return nil, err
	}
	var old string
	_, err := s.changeRepo(ctx, in.RepositoryName, func(rec *repoRecord) error {
		if rec.PolicyText == "" {
			return s.policyNotFound(in.RepositoryName)
		}
		old, rec.PolicyText = rec.PolicyText, ""
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &repositoryPolicyOutput{RegistryID: s.cfg.Account, RepositoryName: in.RepositoryName, PolicyText: old}, nil
}

func (s *Service) policyNotFound(name string) error {
	return awsapi.ClientError("RepositoryPolicyNotFoundException", "Repository policy does not exist for the repository with name '%s' in the registry with id '%s'", name, s.cfg.Account)
}

// maxTags is ECR's limit of tags per repository.
const maxTags = 50

func validateTags(tags []Tag) error {
	if len(tags) > maxTags {
		return awsapi.ClientError("TooManyTagsException", "tags: %d given; a repository can have at most %d", len(tags), maxTags)
	}
	for i, t := range tags {
		if part, problem := awsapi.CheckTag(t.Key, t.Value); part != "" {
			// ECR spells the members Key and Value.
			return awsapi.InvalidParameter("tags[%d].%s%s: %s", i, strings.ToUpper(part[:1]), part[1:], problem)
		}
	}
	return nil
}

type tagResourceInput struct {
	ResourceArn string `json:"resourceArn"`
	Tags        []Tag  `json:"tags"`
}

type untagResourceInput struct {
	ResourceArn string   `json:"resourceArn"`
	TagKeys     []string `json:"tagKeys"`
}

type listTagsInput struct {
	ResourceArn string `json:"resourceArn"`
}

type listTagsOutput struct {
	Tags []Tag `json:"tags"`
}

type emptyOutput struct{}

// repoFromARN returns the repository name an ECR repository ARN names.
func (s *Service) repoFromARN(arn string) (string, error) {
	name, ok := strings.CutPrefix(arn, s.arn("repository/"))
	if !ok {
		return "", awsapi.InvalidParameter("resourceArn: %q is not a repository ARN of this registry (%s)", arn, s.arn("repository/NAME"))
	}
	return name, nil
}

func (s *Service) tagResource(ctx context.Context, _ *awsapi.Request, in *tagResourceInput) (*emptyOutput, error) {
	name, err := s.repoFromARN(in.ResourceArn)
	if err != nil {
		return nil, err
	}
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}
	_, err = s.changeRepo(ctx, name, func(rec *repoRecord) error {
		for _, t := range in.Tags {
			i := slices.IndexFunc(rec.Tags, func(old Tag) bool { return old.Key == t.Key })
			if i < 0 {
				rec.Tags = append(rec.Tags, t)
			} else {
				rec.Tags[i] = t
			}
		}
		return validateTags(rec.Tags)
	})
	return &emptyOutput{}, err
}

func (s *Service) untagResource(ctx context.Context, _ *awsapi.Request, in *untagResourceInput) (*emptyOutput, error) {
	name, err := s.repoFromARN(in.ResourceArn)
	if err != nil {
		return nil, err
	}
	_, err = s.changeRepo(ctx, name, func(rec *repoRecord) error {
		rec.Tags = slices.DeleteFunc(rec.Tags, func(t Tag) bool { return slices.Contains(in.TagKeys, t.Key) })
		return nil
	})
	return &emptyOutput{}, err
}

func (s *Service) listTagsForResource(ctx context.Context, _ *awsapi.Request, in *listTagsInput) (*listTagsOutput, error) {
	name, err := s.repoFromARN(in.ResourceArn)
	if err != nil {
		return nil, err
	}
	rec, _, err := s.loadRepo(ctx, name)
	if err != nil {
		return nil, err
	}
	if rec.Tags == nil {
		rec.Tags = []Tag{}
	}
	return &listTagsOutput{Tags: rec.Tags}, nil
}
