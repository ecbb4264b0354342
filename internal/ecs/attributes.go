package ecs

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"gantry/internal/awsapi"
	"gantry/internal/store"
)

// Attribute limits from the ECS API reference.
const (
	maxAttributesPerCall   = 10
	maxAttributeNameLen    = 128
	maxAttributeValueLen   = 128
	maxAttributesPerTarget = 10 // custom attributes per resource
	attributeTargetType    = "container-instance"
)

func atoiAll(ss []string) []int {
	out := make([]int, 0, len(ss))
	for _, s := range ss {
		if n, err := strconv.Atoi(s); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// validateAttributes checks names and values against ECS's character rules.
func validateAttributes(attrs []Attribute) error {
	for i, a := range attrs {
		if a.Name == "" || len(a.Name) > maxAttributeNameLen || strings.Trim(a.Name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_/.") != "" {
			return awsapi.InvalidParameter("attributes[%d].name: %q is invalid; use 1 to 128 letters, numbers, hyphens, underscores, slashes and periods", i, a.Name)
		}
		if len(a.Value) > maxAttributeValueLen || strings.TrimSpace(a.Value) != a.Value ||
			strings.Trim(a.Value, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./@\\: ") != "" {
			return awsapi.InvalidParameter("attributes[%d].value: %q is invalid; use up to 128 letters, numbers, hyphens, underscores, periods, at signs, slashes, colons and inner spaces", i, a.Value)
		}
		if a.TargetType != "" && a.TargetType != attributeTargetType {
			return awsapi.InvalidParameter("attributes[%d].targetType: %q is invalid; the only target type is container-instance", i, a.TargetType)
		}
	}
	return nil
}

type attributesInput struct {
	Cluster    string      `json:"cluster"`
	Attributes []Attribute `json:"attributes"`
}

type attributesOutput struct {
	Attributes []Attribute `json:"attributes"`
}

func (s *Service) putAttributes(ctx context.Context, _ *awsapi.Request, in *attributesInput) (*attributesOutput, error) {
	return s.changeAttributes(ctx, in, func(r *instanceRecord, a Attribute) error {
		r.Instance.Attributes = mergeAttributes(r.Instance.Attributes, []Attribute{a})
		if n := len(customAttributes(r.Instance.Attributes)); n > maxAttributesPerTarget {
			return awsapi.ClientError("AttributeLimitExceededException", "attributes: a container instance can have at most %d custom attributes", maxAttributesPerTarget)
		}
		return nil
	})
}

func (s *Service) deleteAttributes(ctx context.Context, _ *awsapi.Request, in *attributesInput) (*attributesOutput, error) {
	return s.changeAttributes(ctx, in, func(r *instanceRecord, a Attribute) error {
		for i, b := range r.Instance.Attributes {
			if b.Name == a.Name {
				r.Instance.Attributes = append(r.Instance.Attributes[:i], r.Instance.Attributes[i+1:]...)
				return nil
			}
		}
		return awsapi.ClientError("TargetNotFoundException", "attributes: %s has no attribute %q", a.TargetID, a.Name)
	})
}

// changeAttributes applies change to the container instance each attribute targets.
func (s *Service) changeAttributes(ctx context.Context, in *attributesInput, change func(*instanceRecord, Attribute) error) (*attributesOutput, error) {
	cluster, err := s.activeClusterName(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	if len(in.Attributes) == 0 || len(in.Attributes) > maxAttributesPerCall {
		return nil, awsapi.InvalidParameter("attributes: give 1 to %d attributes", maxAttributesPerCall)
	}
	if err := validateAttributes(in.Attributes); err != nil {
		return nil, err
	}
	for i, a := range in.Attributes {
		if strings.HasPrefix(a.Name, "ecs.") || strings.HasPrefix(a.Name, "com.amazonaws.ecs.") {
			return nil, awsapi.InvalidParameter("attributes[%d].name: %q is reserved; ecs.* attributes are set by Gantry", i, a.Name)
		}
		id, err := s.instanceID(cluster, a.TargetID)
		if err != nil {
			return nil, awsapi.InvalidParameter("attributes[%d].targetId: %v", i, err)
		}
		_, err = s.updateInstance(ctx, cluster, id, func(r *instanceRecord) error {
			if r.Instance.Status == instanceInactive {
				return store.ErrNotFound
			}
			return change(r, a)
		})
		if errors.Is(err, store.ErrNotFound) {
			return nil, awsapi.ClientError("TargetNotFoundException", "attributes[%d].targetId: %s is not a registered container instance of cluster %s", i, a.TargetID, cluster)
		}
		if err != nil {
			return nil, err
		}
	}
	return &attributesOutput{Attributes: in.Attributes}, nil
}

type listAttributesInput struct {
	Cluster        string `json:"cluster"`
	TargetType     string `json:"targetType"`
	AttributeName  string `json:"attributeName"`
	AttributeValue string `json:"attributeValue"`
	NextToken      string `json:"nextToken"`
	MaxResults     *int32 `json:"maxResults"`
}

type listAttributesOutput struct {
	Attributes []Attribute `json:"attributes"`
	NextToken  string      `json:"nextToken,omitempty"`
}

func (s *Service) listAttributes(ctx context.Context, _ *awsapi.Request, in *listAttributesInput) (*listAttributesOutput, error) {
	cluster, err := s.activeClusterName(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	if in.TargetType != attributeTargetType {
		return nil, awsapi.InvalidParameter("targetType: required; the only target type is container-instance")
	}
	if in.AttributeValue != "" && in.AttributeName == "" {
		return nil, awsapi.InvalidParameter("attributeValue: give attributeName too")
	}
	limit, err := awsapi.PageSize(in.MaxResults, 100, 100)
	if err != nil {
		return nil, err
	}
	prefix := instancesPrefix + cluster + "/"
	from, err := awsapi.ResumeAfter(in.NextToken, prefix)
	if err != nil {
		return nil, err
	}
	// Pages hold whole instances (all their matching attributes), so a page may hold a few
	// more than maxResults attributes, never fewer than one instance's worth.
	out := &listAttributesOutput{Attributes: []Attribute{}}
	out.NextToken, err = s.scan(ctx, prefix, from, limit, false, func(kv store.KV) (bool, error) {
		rec, err := decodeRecord[instanceRecord](kv)
		if err != nil || rec.Instance.Status == instanceInactive {
			return false, err
		}
		found := false
		for _, a := range rec.Instance.Attributes {
			if (in.AttributeName == "" || a.Name == in.AttributeName) && (in.AttributeValue == "" || a.Value == in.AttributeValue) {
				a.TargetType, a.TargetID = attributeTargetType, rec.Instance.ContainerInstanceArn
				out.Attributes = append(out.Attributes, a)
				found = true
			}
		}
		return found, nil
	})
	return out, err
}
