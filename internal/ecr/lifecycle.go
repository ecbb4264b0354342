package ecr

import (
	"context"
	"fmt"
	"slices"

	"gantry/internal/awsapi"
)

type putLifecyclePolicyInput struct {
	RegistryID          string `json:"registryId"`
	RepositoryName      string `json:"repositoryName"`
	LifecyclePolicyText string `json:"lifecyclePolicyText"`
}

type lifecyclePolicyOutput struct {
	RegistryID          string            `json:"registryId"`
	RepositoryName      string            `json:"repositoryName"`
	LifecyclePolicyText string            `json:"lifecyclePolicyText,omitempty"`
	LastEvaluatedAt     *awsapi.Timestamp `json:"lastEvaluatedAt,omitempty"`
}

// putLifecyclePolicy stores a policy and applies it at once; it runs again after every
// push to the repository and on the server's schedule.
func (s *Service) putLifecyclePolicy(ctx context.Context, _ *awsapi.Request, in *putLifecyclePolicyInput) (*lifecyclePolicyOutput, error) {
	if err := s.checkRegistryID(in.RegistryID); err != nil {
		return nil, err
	}
	if _, err := ParseLifecyclePolicy(in.LifecyclePolicyText); err != nil {
		return nil, err
	}
	if _, err := s.changeRepo(ctx, in.RepositoryName, func(rec *repoRecord) error {
		rec.LifecyclePolicy = in.LifecyclePolicyText
		return nil
	}); err != nil {
		return nil, err
	}
	if err := s.applyLifecycle(ctx, in.RepositoryName); err != nil {
		return nil, err
	}
	return &lifecyclePolicyOutput{RegistryID: s.cfg.Account, RepositoryName: in.RepositoryName, LifecyclePolicyText: in.LifecyclePolicyText}, nil
}

func (s *Service) getLifecyclePolicy(ctx context.Context, _ *awsapi.Request, in *repositoryRefInput) (*lifecyclePolicyOutput, error) {
	if err := s.checkRegistryID(in.RegistryID); err != nil {
		return nil, err
	}
	rec, _, err := s.loadRepo(ctx, in.RepositoryName)
	if err != nil {
		return nil, err
	}
	if rec.LifecyclePolicy == "" {
		return nil, s.lifecycleNotFound(in.RepositoryName)
	}
	return &lifecyclePolicyOutput{RegistryID: s.cfg.Account, RepositoryName: in.RepositoryName,
		LifecyclePolicyText: rec.LifecyclePolicy, LastEvaluatedAt: rec.LifecycleEvaluatedAt}, nil
}

func (s *Service) deleteLifecyclePolicy(ctx context.Context, _ *awsapi.Request, in *repositoryRefInput) (*lifecyclePolicyOutput, error) {
	if err := s.checkRegistryID(in.RegistryID); err != nil {
		return nil, err
	}
	var old string
	_, err := s.changeRepo(ctx, in.RepositoryName, func(rec *repoRecord) error {
		if rec.LifecyclePolicy == "" {
			return s.lifecycleNotFound(in.RepositoryName)
		}
		old, rec.LifecyclePolicy = rec.LifecyclePolicy, ""
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &lifecyclePolicyOutput{RegistryID: s.cfg.Account, RepositoryName: in.RepositoryName, LifecyclePolicyText: old}, nil
}

func (s *Service) lifecycleNotFound(name string) error {
	return awsapi.ClientError("LifecyclePolicyNotFoundException", "Lifecycle policy does not exist for the repository with name '%s' in the registry with id '%s'", name, s.cfg.Account)
}

// lifecycleCandidates turns a repository's images into the evaluator's input.
func (s *Service) lifecycleCandidates(ctx context.Context, name string) ([]Image, error) {
	images, err := s.registry.Images(ctx, name)
	if err != nil {
		return nil, err
	}
	used, err := s.usedImages(ctx)
	if err != nil {
		return nil, err
	}
	prefix := s.cfg.RegistryHost + "/" + name
	out := make([]Image, len(images))
	for i, im := range images {
		d := im.Digest.String()
		inUse := used[d] || used[prefix+"@"+d]
		for _, tag := range im.Tags {
			inUse = inUse || used[prefix+":"+tag]
		}
		out[i] = Image{Digest: d, Tags: im.Tags, PushedAt: im.PushedAt, InUse: inUse}
	}
	return out, nil
}

// usedImages is the set of image references and digests that tasks which are not
// STOPPED run.
func (s *Service) usedImages(ctx context.Context) (map[string]bool, error) {
	used := map[string]bool{}
	if s.inUse == nil {
		return used, nil
	}
	refs, digests, err := s.inUse(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing the images tasks use: %w", err)
	}
	for _, v := range append(refs, digests...) {
		used[v] = true
	}
	return used, nil
}

// applyLifecycle expires what a repository's lifecycle policy selects.
func (s *Service) applyLifecycle(ctx context.Context, name string) error {
	rec, _, err := s.loadRepo(ctx, name)
	if err != nil || rec.LifecyclePolicy == "" {
		return err
	}
	policy, err := ParseLifecyclePolicy(rec.LifecyclePolicy)
	if err != nil {
		return err
	}
	candidates, err := s.lifecycleCandidates(ctx, name)
	if err != nil {
		return err
	}
	for _, exp := range Evaluate(policy, candidates, s.cfg.Now()) {
		d, err := parseImageDigest(exp.Image.Digest)
		if err != nil {
			return err
		}
		if err := s.registry.DeleteImage(ctx, name, d); err != nil && !isManifestUnknown(err) {
			return err
		}
	}
	now := s.now()
	_, err = s.changeRepo(ctx, name, func(rec *repoRecord) error {
		rec.LifecycleEvaluatedAt = &now
		return nil
	})
	return err
}

// AfterPush is the registry's hook after a manifest is stored: the repository's
// lifecycle policy runs, so count-based rules hold right after every push.
func (s *Service) AfterPush(ctx context.Context, name string) error {
	return s.applyLifecycle(ctx, name)
}

// ApplyLifecyclePolicies runs every repository's lifecycle policy (the scheduled pass,
// which catches age-based rules).
func (s *Service) ApplyLifecyclePolicies(ctx context.Context) error {
	kvs, _, err := s.store.List(ctx, reposPrefix, "", 0, false)
	if err != nil {
		return err
	}
	for _, kv := range kvs {
		if err := s.applyLifecycle(ctx, kv.Key[len(reposPrefix):]); err != nil {
			return err
		}
	}
	return nil
}

type startPreviewInput struct {
	RegistryID          string `json:"registryId"`
	RepositoryName      string `json:"repositoryName"`
	LifecyclePolicyText string `json:"lifecyclePolicyText"`
}

type startPreviewOutput struct {
	RegistryID          string `json:"registryId"`
	RepositoryName      string `json:"repositoryName"`
	LifecyclePolicyText string `json:"lifecyclePolicyText"`
	Status              string `json:"status"`
}

// PreviewResult is one image a lifecycle preview would expire.
type PreviewResult struct {
	ImageTags           []string         `json:"imageTags,omitempty"`
	ImageDigest         string           `json:"imageDigest"`
	ImagePushedAt       awsapi.Timestamp `json:"imagePushedAt"`
	Action              previewAction    `json:"action"`
	AppliedRulePriority int              `json:"appliedRulePriority"`
}

type previewAction struct {
	Type string `json:"type"`
}

// preview is a stored lifecycle policy preview; ECR computes it asynchronously, Gantry at
// once, so it is COMPLETE as soon as it is started.
type preview struct {
	PolicyText string          `json:"policyText"`
	Results    []PreviewResult `json:"results"`
}

func (s *Service) startLifecyclePolicyPreview(ctx context.Context, _ *awsapi.Request, in *startPreviewInput) (*startPreviewOutput, error) {
	if err := s.checkRegistryID(in.RegistryID); err != nil {
		return nil, err
	}
	rec, _, err := s.loadRepo(ctx, in.RepositoryName)
	if err != nil {
		return nil, err
	}
	text := in.LifecyclePolicyText
	if text == "" {
		if text = rec.LifecyclePolicy; text == "" {
			return nil, s.lifecycleNotFound(in.RepositoryName)
		}
	}
	policy, err := ParseLifecyclePolicy(text)
	if err != nil {
		return nil, err
	}
	candidates, err := s.lifecycleCandidates(ctx, in.RepositoryName)
	if err != nil {
		return nil, err
	}
	p := &preview{PolicyText: text, Results: []PreviewResult{}}
	for _, exp := range Evaluate(policy, candidates, s.cfg.Now()) {
		p.Results = append(p.Results, PreviewResult{ImageTags: exp.Image.Tags, ImageDigest: exp.Image.Digest,
			ImagePushedAt: awsapi.NewTimestamp(exp.Image.PushedAt), Action: previewAction{Type: "EXPIRE"}, AppliedRulePriority: exp.RulePriority})
	}
	if _, err := s.changeRepo(ctx, in.RepositoryName, func(rec *repoRecord) error {
		rec.Preview = p
		return nil
	}); err != nil {
		return nil, err
	}
	return &startPreviewOutput{RegistryID: s.cfg.Account, RepositoryName: in.RepositoryName, LifecyclePolicyText: text, Status: "IN_PROGRESS"}, nil
}

type getPreviewInput struct {
	RegistryID     string            `json:"registryId"`
	RepositoryName string            `json:"repositoryName"`
	ImageIDs       []ImageIdentifier `json:"imageIds"`
	NextToken      string            `json:"nextToken"`
	MaxResults     *int32            `json:"maxResults"`
	Filter         *imageFilter      `json:"filter"`
}

type getPreviewOutput struct {
	RegistryID          string          `json:"registryId"`
	RepositoryName      string          `json:"repositoryName"`
	LifecyclePolicyText string          `json:"lifecyclePolicyText"`
	Status              string          `json:"status"`
	PreviewResults      []PreviewResult `json:"previewResults"`
	Summary             previewSummary  `json:"summary"`
	NextToken           string          `json:"nextToken,omitempty"`
}

type previewSummary struct {
	ExpiringImageTotalCount int `json:"expiringImageTotalCount"`
}

func (s *Service) getLifecyclePolicyPreview(ctx context.Context, _ *awsapi.Request, in *getPreviewInput) (*getPreviewOutput, error) {
	if err := s.checkRegistryID(in.RegistryID); err != nil {
		return nil, err
	}
	limit, err := awsapi.PageSize(in.MaxResults, 100, 100)
	if err != nil {
		return nil, err
	}
	rec, _, err := s.loadRepo(ctx, in.RepositoryName)
	if err != nil {
		return nil, err
	}
	if rec.Preview == nil {
		return nil, awsapi.ClientError("LifecyclePolicyPreviewNotFoundException", "There is no dry run for this repository; start one with StartLifecyclePolicyPreview")
	}
	results := slices.DeleteFunc(slices.Clone(rec.Preview.Results), func(r PreviewResult) bool {
		if len(in.ImageIDs) > 0 && !slices.ContainsFunc(in.ImageIDs, func(id ImageIdentifier) bool {
			return id.ImageDigest == r.ImageDigest || id.ImageTag != "" && slices.Contains(r.ImageTags, id.ImageTag)
		}) {
			return true
		}
		return in.Filter != nil && in.Filter.TagStatus == "TAGGED" && len(r.ImageTags) == 0 ||
			in.Filter != nil && in.Filter.TagStatus == "UNTAGGED" && len(r.ImageTags) > 0
	})
	total := len(results)
	results, next, err := page(results, in.NextToken, "lifecycle-preview:"+in.RepositoryName+":", limit)
	if err != nil {
		return nil, err
	}
	return &getPreviewOutput{RegistryID: s.cfg.Account, RepositoryName: in.RepositoryName, LifecyclePolicyText: rec.Preview.PolicyText,
		Status: "COMPLETE", PreviewResults: orEmpty(results), Summary: previewSummary{ExpiringImageTotalCount: total}, NextToken: next}, nil
}
