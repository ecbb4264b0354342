package ecs

import (
	"strings"

	"gantry/internal/awsapi"
)

// Tag is an ECS resource tag. ECS spells the members in lower case on the wire.
type Tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// maxTags is ECS's limit of tags per resource.
const maxTags = 50

// validateTags applies ECS's tag rules: at most 50, keys 1-128 characters, values up to
// 256, and no keys in the reserved aws: namespace.
func validateTags(tags []Tag) error {
	if len(tags) > maxTags {
		return awsapi.InvalidParameter("tags: %d tags given; a resource can have at most %d", len(tags), maxTags)
	}
	for i, t := range tags {
		switch {
		case t.Key == "" || len(t.Key) > 128:
			return awsapi.InvalidParameter("tags[%d].key: must be 1 to 128 characters", i)
		case len(t.Value) > 256:
			return awsapi.InvalidParameter("tags[%d].value: must be at most 256 characters", i)
		case strings.HasPrefix(strings.ToLower(t.Key), "aws:"):
			return awsapi.InvalidParameter("tags[%d].key: the aws: prefix is reserved for AWS use", i)
		}
	}
	return nil
}
