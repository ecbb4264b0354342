package ecr

import (
	"context"
	"time"

	"gantry/internal/awsapi"
	"gantry/internal/registry"
	"gantry/internal/store"
)

// targetPrefix is the X-Amz-Target prefix of ECR actions.
const targetPrefix = "AmazonEC2ContainerRegistry_V20150921"

// Config holds what ECR needs to know about its surroundings.
type Config struct {
	Region  string
	Account string
	// RegistryHost is HOST:PORT of the registry, the prefix of every repositoryUri.
	RegistryHost string
	// NoCreateOnPush refuses pushes to repositories that were not created first; by
	// default a push creates the repository, like an ECR repository creation template.
	NoCreateOnPush bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Service handles ECR actions.
type Service struct {
	inUse    InUseFunc
	cfg      Config
	store    *store.Store
	registry *registry.Registry
	keys     Principals
}

// Principals tells who owns an access key (package iam provides it).
type Principals interface {
	PrincipalFor(accessKeyID string) string
}

// New returns the ECR service. Attach it to the registry with SetRegistry before serving.
func New(cfg Config, st *store.Store, keys Principals) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{cfg: cfg, store: st, keys: keys}
}

// SetRegistry gives ECR the registry whose images it manages. The two refer to each
// other (the registry asks ECR's policy on pushes), so one is wired after the other.
func (s *Service) SetRegistry(r *registry.Registry) { s.registry = r }

// InUseFunc lists the image references and digests that tasks which are not STOPPED run
// (package ecs provides it).
type InUseFunc func(ctx context.Context) (refs, digests []string, err error)

// SetInUse tells lifecycle policies which images tasks use, so they are never expired.
func (s *Service) SetInUse(f InUseFunc) { s.inUse = f }

// API lists the ECR actions for the JSON dispatcher.
func (s *Service) API() *awsapi.Service {
	return &awsapi.Service{
		TargetPrefix: targetPrefix,
		SigningName:  "ecr",
		Actions: map[string]awsapi.Action{
			"CreateRepository":            awsapi.Handle(s.createRepository),
			"DescribeRepositories":        awsapi.Handle(s.describeRepositories),
			"DeleteRepository":            awsapi.Handle(s.deleteRepository),
			"PutImageTagMutability":       awsapi.Handle(s.putImageTagMutability),
			"SetRepositoryPolicy":         awsapi.Handle(s.setRepositoryPolicy),
			"GetRepositoryPolicy":         awsapi.Handle(s.getRepositoryPolicy),
			"DeleteRepositoryPolicy":      awsapi.Handle(s.deleteRepositoryPolicy),
			"TagResource":                 awsapi.Handle(s.tagResource),
			"UntagResource":               awsapi.Handle(s.untagResource),
			"ListTagsForResource":         awsapi.Handle(s.listTagsForResource),
			"ListImages":                  awsapi.Handle(s.listImages),
			"DescribeImages":              awsapi.Handle(s.describeImages),
			"BatchGetImage":               awsapi.Handle(s.batchGetImage),
			"BatchDeleteImage":            awsapi.Handle(s.batchDeleteImage),
			"PutImage":                    awsapi.Handle(s.putImage),
			"GetAuthorizationToken":       awsapi.Handle(s.getAuthorizationToken),
			"PutLifecyclePolicy":          awsapi.Handle(s.putLifecyclePolicy),
			"GetLifecyclePolicy":          awsapi.Handle(s.getLifecyclePolicy),
			"DeleteLifecyclePolicy":       awsapi.Handle(s.deleteLifecyclePolicy),
			"StartLifecyclePolicyPreview": awsapi.Handle(s.startLifecyclePolicyPreview),
			"GetLifecyclePolicyPreview":   awsapi.Handle(s.getLifecyclePolicyPreview),
		},
	}
}

func (s *Service) arn(resource string) string {
	return awsapi.ARN{Partition: "aws", Service: "ecr", Region: s.cfg.Region, Account: s.cfg.Account, Resource: resource}.String()
}

func (s *Service) now() awsapi.Timestamp { return awsapi.NewTimestamp(s.cfg.Now()) }
