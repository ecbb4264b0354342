package registry

import (
	"context"
	"errors"
)

// Policy lets the layer above the registry (ECR) govern pushes. A nil Policy allows every
// push and creates repositories on first push.
type Policy interface {
	// BeforePush runs before a manifest is stored under tags in repository name. It may
	// create the upper layer's repository record (ECR's create-on-push) or refuse with an
	// error wrapping ErrRepositoryUnknown. It returns the tags that are immutable: they
	// may be created but never moved to another manifest.
	BeforePush(ctx context.Context, name string, tags []string) (immutable []string, err error)
	// AfterPush runs once a manifest is stored (ECR applies lifecycle policies). Its error
	// is logged; the push has already succeeded.
	AfterPush(ctx context.Context, name string) error
}

var (
	// ErrRepositoryUnknown refuses a push to a repository that does not exist and may not
	// be created by pushing.
	ErrRepositoryUnknown = errors.New("repository does not exist")
	// ErrTagImmutable refuses moving an immutable tag to another manifest.
	ErrTagImmutable = errors.New("tag is immutable")
)
