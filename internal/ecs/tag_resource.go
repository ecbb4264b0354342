package ecs

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"

	"gantry/internal/awsapi"
	"gantry/internal/store"
)

// tagged is a stored record that carries tags.
type tagged interface{ tagList() *[]Tag }

func (c *Cluster) tagList() *[]Tag       { return &c.Tags }
func (r *taskDefRecord) tagList() *[]Tag { return &r.Tags }

type tagResourceInput struct {
	ResourceArn string `json:"resourceArn"`
	Tags        []Tag  `json:"tags"`
}

type emptyOutput struct{}

func (s *Service) tagResource(ctx context.Context, _ *awsapi.Request, in *tagResourceInput) (*emptyOutput, error) {
	if len(in.Tags) == 0 {
		return nil, awsapi.InvalidParameter("tags: required; give at least one tag")
	}
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}
	_, err := s.changeTags(ctx, in.ResourceArn, func(tags *[]Tag) error {
		for _, t := range in.Tags {
			i := slices.IndexFunc(*tags, func(old Tag) bool { return old.Key == t.Key })
			if i < 0 {
				*tags = append(*tags, t)
			} else {
				(*tags)[i] = t
			}
		}
		return validateTags(*tags)
	})
	return &emptyOutput{}, err
}

type untagResourceInput struct {
	ResourceArn string   `json:"resourceArn"`
	TagKeys     []string `json:"tagKeys"`
}

func (s *Service) untagResource(ctx context.Context, _ *awsapi.Request, in *untagResourceInput) (*emptyOutput, error) {
	if len(in.TagKeys) == 0 {
		return nil, awsapi.InvalidParameter("tagKeys: required; give at least one key")
	}
	_, err := s.changeTags(ctx, in.ResourceArn, func(tags *[]Tag) error {
		*tags = slices.DeleteFunc(*tags, func(t Tag) bool { return slices.Contains(in.TagKeys, t.Key) })
		return nil
	})
	return &emptyOutput{}, err
}

type listTagsForResourceInput struct {
	ResourceArn string `json:"resourceArn"`
}

type listTagsForResourceOutput struct {
	Tags []Tag `json:"tags"`
}

func (s *Service) listTagsForResource(ctx context.Context, _ *awsapi.Request, in *listTagsForResourceInput) (*listTagsForResourceOutput, error) {
	tags, err := s.changeTags(ctx, in.ResourceArn, nil)
	if err != nil {
		return nil, err
	}
	return &listTagsForResourceOutput{Tags: orEmpty(tags)}, nil
}

// changeTags applies change to the tags of the resource an ARN names and returns them;
// a nil change only reads them.
func (s *Service) changeTags(ctx context.Context, resourceARN string, change func(*[]Tag) error) ([]Tag, error) {
	kind, id, ok := strings.Cut(strings.TrimPrefix(resourceARN, s.arn("")), "/")
	if !strings.HasPrefix(resourceARN, s.arn("")) || !ok {
		return nil, awsapi.InvalidParameter("resourceArn: %q is not an ECS resource ARN of this account and region (%s)", resourceARN, s.arn("cluster/NAME"))
	}
	switch kind {
	case "cluster":
		tags, err := retag[Cluster](ctx, s.store, clustersPrefix+id, func(c *Cluster) bool { return c.Status == statusActive }, change)
		if errors.Is(err, store.ErrNotFound) {
			return nil, errClusterNotFound
		}
		return tags, err
	case "task-definition":
		family, rev, hasRev := strings.Cut(id, ":")
		n, err := strconv.ParseInt(rev, 10, 32)
		if !hasRev || err != nil || !validName(family) {
			return nil, awsapi.InvalidParameter("resourceArn: %q does not name a task definition revision (task-definition/FAMILY:REVISION)", resourceARN)
		}
		tags, err := retag[taskDefRecord](ctx, s.store, taskDefKey(family, int32(n)), func(*taskDefRecord) bool { return true }, change)
		if errors.Is(err, store.ErrNotFound) {
			return nil, errResourceNotFound
		}
		return tags, err
	}
	return nil, awsapi.InvalidParameter("resourceArn: tagging %s resources is not supported yet", kind)
}

var errResourceNotFound = awsapi.ClientError("ResourceNotFoundException", "The specified resource could not be found.")

// retag reads (change nil) or changes the tags of the record at key, which must exist
// and pass live.
func retag[T any, P interface {
	*T
	tagged
}](ctx context.Context, st *store.Store, key string, live func(*T) bool, change func(*[]Tag) error) ([]Tag, error) {
	check := func(v *T) error {
		if !live(v) {
			return store.ErrNotFound
		}
		if change == nil {
			return nil
		}
		return change(P(v).tagList())
	}
	if change == nil {
		v, _, err := getRecord[T](ctx, st, key)
		if err == nil {
			err = check(v)
		}
		if err != nil {
			return nil, err
		}
		return *P(v).tagList(), nil
	}
	v, err := updateRecord(ctx, st, key, check)
	if err != nil {
		return nil, err
	}
	return *P(v).tagList(), nil
}
