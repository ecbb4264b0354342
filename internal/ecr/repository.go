package ecr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"gantry/internal/awsapi"
	"gantry/internal/registry"
	"gantry/internal/store"
)

const reposPrefix = "/gantry/ecr/repos/"

// Repository is ECR's repository shape.
type Repository struct {
	RepositoryArn                      string                  `json:"repositoryArn"`
	RegistryID                         string                  `json:"registryId"`
	RepositoryName                     string                  `json:"repositoryName"`
	RepositoryURI                      string                  `json:"repositoryUri"`
	CreatedAt                          awsapi.Timestamp        `json:"createdAt"`
	ImageTagMutability                 string                  `json:"imageTagMutability"`
	ImageTagMutabilityExclusionFilters []ExclusionFilter       `json:"imageTagMutabilityExclusionFilters,omitempty"`
	ImageScanningConfiguration         ScanningConfiguration   `json:"imageScanningConfiguration"`
	EncryptionConfiguration            EncryptionConfiguration `json:"encryptionConfiguration"`
}

// ExclusionFilter names tags exempt from a repository's tag mutability setting.
type ExclusionFilter struct {
	FilterType string `json:"filterType"`
	Filter     string `json:"filter"`
}

// ScanningConfiguration records whether images are scanned on push.
type ScanningConfiguration struct {
	ScanOnPush bool `json:"scanOnPush"`
}

// EncryptionConfiguration records how images are encrypted at rest.
type EncryptionConfiguration struct {
	EncryptionType string `json:"encryptionType"`
	KmsKey         string `json:"kmsKey,omitempty"`
}

// Tag is an ECR resource tag; ECR spells its members with capitals.
type Tag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

// repoRecord is what the store keeps per repository.
type repoRecord struct {
	Repository      Repository `json:"repository"`
	Tags            []Tag      `json:"tags,omitempty"`
	PolicyText      string     `json:"policyText,omitempty"`
	LifecyclePolicy string     `json:"lifecyclePolicy,omitempty"`
	// LifecycleEvaluatedAt is when the lifecycle policy last ran.
	LifecycleEvaluatedAt *awsapi.Timestamp `json:"lifecycleEvaluatedAt,omitempty"`
	// Preview is the latest lifecycle policy preview.
	Preview *preview `json:"preview,omitempty"`
}

// repoNameRE is ECR's repositoryName pattern.
var repoNameRE = regexp.MustCompile(`^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$`)

func validateRepoName(name string) error {
	if len(name) < 2 || len(name) > 256 || !repoNameRE.MatchString(name) {
		return awsapi.InvalidParameter("repositoryName: %q is invalid; use 2 to 256 lower-case letters, digits and . _ - separators, with / between path components", name)
	}
	return nil
}

// checkRegistryID accepts an absent registryId or this account's.
func (s *Service) checkRegistryID(id string) error {
	if id != "" && id != s.cfg.Account {
		return awsapi.InvalidParameter("registryId: %q is not this registry; use %s or leave it out", id, s.cfg.Account)
	}
	return nil
}

func (s *Service) repoNotFound(name string) error {
	return awsapi.ClientError("RepositoryNotFoundException", "The repository with name '%s' does not exist in the registry with id '%s'", name, s.cfg.Account)
}

// loadRepo reads a repository record, or RepositoryNotFoundException.
func (s *Service) loadRepo(ctx context.Context, name string) (*repoRecord, int64, error) {
	if err := validateRepoName(name); err != nil {
		return nil, 0, err
	}
	kv, err := s.store.Get(ctx, reposPrefix+name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, 0, s.repoNotFound(name)
	}
	if err != nil {
		return nil, 0, err
	}
	rec := new(repoRecord)
	if err := json.Unmarshal(kv.Value, rec); err != nil {
		return nil, 0, fmt.Errorf("decoding repository %s: %w", name, err)
	}
	return rec, kv.Revision, nil
}

// changeRepo applies change to a repository record with compare-and-swap.
func (s *Service) changeRepo(ctx context.Context, name string, change func(*repoRecord) error) (*repoRecord, error) {
	for range 20 {
		rec, rev, err := s.loadRepo(ctx, name)
		if err != nil {
			return nil, err
		}
		if err := change(rec); err != nil {
			return nil, err
		}
		val, _ := json.Marshal(rec)
		err = s.store.Commit(ctx, store.Write{Key: reposPrefix + name, Value: val, Expect: rev})
		if !errors.Is(err, store.ErrConflict) {
			return rec, err
		}
	}
	return nil, awsapi.ClientError("ThrottlingException", "repository %s is being changed by many requests at once; retry", name)
}

// newRepository builds a repository record with ECR's defaults.
func (s *Service) newRepository(name string) *repoRecord {
	return &repoRecord{Repository: Repository{
		RepositoryArn:              s.arn("repository/" + name),
		RegistryID:                 s.cfg.Account,
		RepositoryName:             name,
		RepositoryURI:              s.cfg.RegistryHost + "/" + name,
		CreatedAt:                  s.now(),
		ImageTagMutability:         "MUTABLE",
		ImageScanningConfiguration: ScanningConfiguration{},
		EncryptionConfiguration:    EncryptionConfiguration{EncryptionType: "AES256"},
	}}
}

// createRepo stores a new repository record; it fails with
// RepositoryAlreadyExistsException if the name is taken.
func (s *Service) createRepo(ctx context.Context, rec *repoRecord) error {
	val, _ := json.Marshal(rec)
	err := s.store.Commit(ctx, store.Write{Key: reposPrefix + rec.Repository.RepositoryName, Value: val})
	if errors.Is(err, store.ErrConflict) {
		return awsapi.ClientError("RepositoryAlreadyExistsException", "The repository with name '%s' already exists in the registry with id '%s'", rec.Repository.RepositoryName, s.cfg.Account)
	}
	return err
}

type createRepositoryInput struct {
	RegistryID                         string                   `json:"registryId"`
	RepositoryName                     string                   `json:"repositoryName"`
	Tags                               []Tag                    `json:"tags"`
	ImageTagMutability                 string                   `json:"imageTagMutability"`
	ImageTagMutabilityExclusionFilters []ExclusionFilter        `json:"imageTagMutabilityExclusionFilters"`
	ImageScanningConfiguration         *ScanningConfiguration   `json:"imageScanningConfiguration"`
	EncryptionConfiguration            *EncryptionConfiguration `json:"encryptionConfiguration"`
}

type repositoryOutput struct {
	Repository Repository `json:"repository"`
}

func (s *Service) createRepository(ctx context.Context, _ *awsapi.Request, in *createRepositoryInput) (*repositoryOutput, error) {
	if err := s.checkRegistryID(in.RegistryID); err != nil {
		return nil, err
	}
	if err := validateRepoName(in.RepositoryName); err != nil {
		return nil, err
	}
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}
	rec := s.newRepository(in.RepositoryName)
	rec.Tags = in.Tags
	if err := setMutability(&rec.Repository, in.ImageTagMutability, in.ImageTagMutabilityExclusionFilters); err != nil {
		return nil, err
	}
	if in.ImageScanningConfiguration != nil {
		rec.Repository.ImageScanningConfiguration = *in.ImageScanningConfiguration
	}
	if in.EncryptionConfiguration != nil {
		if err := validateEncryption(in.EncryptionConfiguration); err != nil {
			return nil, err
		}
		rec.Repository.EncryptionConfiguration = *in.EncryptionConfiguration
	}
	if err := s.createRepo(ctx, rec); err != nil {
		return nil, err
	}
	return &repositoryOutput{Repository: rec.Repository}, nil
}

// setMutability validates and applies a tag mutability setting and its exclusions.
func setMutability(r *Repository, mutability string, filters []ExclusionFilter) error {
	if mutability == "" {
		mutability = "MUTABLE"
	}
	if !slices.Contains([]string{"MUTABLE", "IMMUTABLE", "MUTABLE_WITH_EXCLUSION", "IMMUTABLE_WITH_EXCLUSION"}, mutability) {
		return awsapi.InvalidParameter("imageTagMutability: %q is invalid; use MUTABLE, IMMUTABLE, MUTABLE_WITH_EXCLUSION or IMMUTABLE_WITH_EXCLUSION", mutability)
	}
	withExclusion := strings.HasSuffix(mutability, "_WITH_EXCLUSION")
	switch {
	case withExclusion && (len(filters) == 0 || len(filters) > 5):
		return awsapi.InvalidParameter("imageTagMutabilityExclusionFilters: %s needs 1 to 5 filters, got %d", mutability, len(filters))
	case !withExclusion && len(filters) > 0:
		return awsapi.InvalidParameter("imageTagMutabilityExclusionFilters: only allowed with MUTABLE_WITH_EXCLUSION or IMMUTABLE_WITH_EXCLUSION")
	}
	for i, f := range filters {
		if f.FilterType != "WILDCARD" {
			return awsapi.InvalidParameter("imageTagMutabilityExclusionFilters[%d].filterType: %q is invalid; the only type is WILDCARD", i, f.FilterType)
		}
		if len(f.Filter) > 128 || !exclusionFilterChars.MatchString(f.Filter) {
			return awsapi.InvalidParameter("imageTagMutabilityExclusionFilters[%d].filter: %q is invalid; use 1 to 128 letters, digits, . _ - and * wildcards", i, f.Filter)
		}
	}
	r.ImageTagMutability, r.ImageTagMutabilityExclusionFilters = mutability, filters
	return nil
}

// exclusionFilterChars is checked with the length apart (1-128): a bounded repeat
// compiles into a large program that cost every gantry process half a millisecond at start.
var exclusionFilterChars = regexp.MustCompile(`^[0-9a-zA-Z._*-]+$`)

// immutableTags returns which of tags a repository's mutability setting freezes.
func immutableTags(r *Repository, tags []string) []string {
	var out []string
	for _, tag := range tags {
		excluded := slices.ContainsFunc(r.ImageTagMutabilityExclusionFilters, func(f ExclusionFilter) bool {
			return wildcardMatch(f.Filter, tag)
		})
		switch r.ImageTagMutability {
		case "IMMUTABLE":
			out = append(out, tag)
		case "IMMUTABLE_WITH_EXCLUSION":
			if !excluded {
				out = append(out, tag)
			}
		case "MUTABLE_WITH_EXCLUSION":
			if excluded {
				out = append(out, tag)
			}
		}
	}
	return out
}

func validateEncryption(e *EncryptionConfiguration) error {
	if !slices.Contains([]string{"AES256", "KMS", "KMS_DSSE"}, e.EncryptionType) {
		return awsapi.InvalidParameter("encryptionConfiguration.encryptionType: %q is invalid; use AES256, KMS or KMS_DSSE", e.EncryptionType)
	}
	if e.EncryptionType == "AES256" && e.KmsKey != "" {
		return awsapi.InvalidParameter("encryptionConfiguration.kmsKey: only allowed with KMS encryption")
	}
	return nil
}

type describeRepositoriesInput struct {
	RegistryID      string   `json:"registryId"`
	RepositoryNames []string `json:"repositoryNames"`
	NextToken       string   `json:"nextToken"`
	MaxResults      *int32   `json:"maxResults"`
}

type describeRepositoriesOutput struct {
	Repositories []Repository `json:"repositories"`
	NextToken    string       `json:"nextToken,omitempty"`
}

func (s *Service) describeRepositories(ctx context.Context, _ *awsapi.Request, in *describeRepositoriesInput) (*describeRepositoriesOutput, error) {
	if err := s.checkRegistryID(in.RegistryID); err != nil {
		return nil, err
	}
	if len(in.RepositoryNames) > 0 {
		if in.MaxResults != nil || in.NextToken != "" {
			return nil, awsapi.InvalidParameter("repositoryNames cannot be combined with maxResults or nextToken")
		}
		if len(in.RepositoryNames) > 100 {
			return nil, awsapi.InvalidParameter("repositoryNames: at most 100 names")
		}
		out := &describeRepositoriesOutput{Repositories: []Repository{}}
		for _, name := range in.RepositoryNames {
			rec, _, err := s.loadRepo(ctx, name)
			if err != nil {
				return nil, err
			}
			out.Repositories = append(out.Repositories, rec.Repository)
		}
		return out, nil
	}
	limit, err := awsapi.PageSize(in.MaxResults, 1000, 1000)
	if err != nil {
		return nil, err
	}
	from, err := awsapi.ResumeAfter(in.NextToken, reposPrefix)
	if err != nil {
		return nil, err
	}
	kvs, more, err := s.store.List(ctx, reposPrefix, from, limit, false)
	if err != nil {
		return nil, err
	}
	out := &describeRepositoriesOutput{Repositories: []Repository{}}
	for _, kv := range kvs {
		var rec repoRecord
		if err := json.Unmarshal(kv.Value, &rec); err != nil {
			return nil, fmt.Errorf("decoding %s: %w", kv.Key, err)
		}
		out.Repositories = append(out.Repositories, rec.Repository)
	}
	if more {
		out.NextToken = awsapi.NextToken(kvs[len(kvs)-1].Key)
	}
	return out, nil
}

type deleteRepositoryInput struct {
	RegistryID     string `json:"registryId"`
	RepositoryName string `json:"repositoryName"`
	Force          bool   `json:"force"`
}

func (s *Service) deleteRepository(ctx context.Context, _ *awsapi.Request, in *deleteRepositoryInput) (*repositoryOutput, error) {
	if err := s.checkRegistryID(in.RegistryID); err != nil {
		return nil, err
	}
	rec, _, err := s.loadRepo(ctx, in.RepositoryName)
	if err != nil {
		return nil, err
	}
	images, err := s.registry.Images(ctx, in.RepositoryName)
	if err != nil {
		return nil, err
	}
	if len(images) > 0 && !in.Force {
		return nil, awsapi.ClientError("RepositoryNotEmptyException", "The repository with name '%s' in registry with id '%s' cannot be deleted because it still contains images; delete them first or pass force", in.RepositoryName, s.cfg.Account)
	}
	if err := s.registry.DeleteRepository(ctx, in.RepositoryName); err != nil {
		return nil, err
	}
	if err := s.store.Commit(ctx, store.Write{Key: reposPrefix + in.RepositoryName, Delete: true, Expect: store.Any}); err != nil {
		return nil, err
	}
	return &repositoryOutput{Repository: rec.Repository}, nil
}

type putImageTagMutabilityInput struct {
	RegistryID                         string            `json:"registryId"`
	RepositoryName                     string            `json:"repositoryName"`
	ImageTagMutability                 string            `json:"imageTagMutability"`
	ImageTagMutabilityExclusionFilters []ExclusionFilter `json:"imageTagMutabilityExclusionFilters"`
}

type putImageTagMutabilityOutput struct {
	RegistryID                         string            `json:"registryId"`
	RepositoryName                     string            `json:"repositoryName"`
	ImageTagMutability                 string            `json:"imageTagMutability"`
	ImageTagMutabilityExclusionFilters []ExclusionFilter `json:"imageTagMutabilityExclusionFilters,omitempty"`
}

func (s *Service) putImageTagMutability(ctx context.Context, _ *awsapi.Request, in *putImageTagMutabilityInput) (*putImageTagMutabilityOutput, error) {
	if err := s.checkRegistryID(in.RegistryID); err != nil {
		return nil, err
	}
	if in.ImageTagMutability == "" {
		return nil, awsapi.InvalidParameter("imageTagMutability: required")
	}
	rec, err := s.changeRepo(ctx, in.RepositoryName, func(rec *repoRecord) error {
		return setMutability(&rec.Repository, in.ImageTagMutability, in.ImageTagMutabilityExclusionFilters)
	})
	if err != nil {
		return nil, err
	}
	r := rec.Repository
	return &putImageTagMutabilityOutput{RegistryID: r.RegistryID, RepositoryName: r.RepositoryName,
		ImageTagMutability: r.ImageTagMutability, ImageTagMutabilityExclusionFilters: r.ImageTagMutabilityExclusionFilters}, nil
}

// BeforePush is the registry's push hook: it creates the repository on first push
// (unless configured not to) and reports which of the pushed tags are immutable.
func (s *Service) BeforePush(ctx context.Context, name string, tags []string) ([]string, error) {
	if err := validateRepoName(name); err != nil {
		return nil, fmt.Errorf("%s is not a valid ECR repository name (2 to 256 characters): %w", name, registry.ErrRepositoryUnknown)
	}
	rec, _, err := s.loadRepo(ctx, name)
	var apiErr *awsapi.Error
	if errors.As(err, &apiErr) && apiErr.Code == "RepositoryNotFoundException" {
		if s.cfg.NoCreateOnPush {
			return nil, fmt.Errorf("repository %s does not exist; create it first (gantry repo create %s): %w", name, name, registry.ErrRepositoryUnknown)
		}
		rec = s.newRepository(name)
		if err := s.createRepo(ctx, rec); err != nil && !errors.As(err, &apiErr) {
			return nil, err
		}
		if rec, _, err = s.loadRepo(ctx, name); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	return immutableTags(&rec.Repository, tags), nil
}
