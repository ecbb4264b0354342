package ecs

import (
	"gantry/internal/awsapi"
)

// Tag is an ECS resource tag. ECS spells the members in lower case on the wire.
type Tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// maxTags is ECS's limit of tags per resource.
const maxTags = 50

// validateTags applies ECS's tag rules: at most 50 tags, each passing awsapi.CheckTag.
func validateTags(tags []Tag) error {
	if len(tags) > maxTags {
		return awsapi.InvalidParameter("tags: %d tags given; a resource can have at most %d", len(tags), maxTags)
	}
	for i, t := range tags {
		if part, problem := awsapi.CheckTag(t.Key, t.Value); part != "" {
			return awsapi.InvalidParameter("tags[%d].%s: %s", i, part, problem)
		}
	}
	return nil
}
