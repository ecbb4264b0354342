package awsapi

import "strings"

// CheckTag applies the rules AWS sets for every resource tag: a key of 1 to 128
// characters outside the reserved aws: namespace and a value of at most 256. It returns
// which part is wrong ("key" or "value") and why, or two empty strings for a good tag.
// Services name the member in their own spelling (ECS "key", ECR "Key").
func CheckTag(key, value string) (part, problem string) {
	switch {
	case key == "" || len(key) > 128:
		return "key", "must be 1 to 128 characters"
	case strings.HasPrefix(strings.ToLower(key), "aws:"):
		return "key", "the aws: prefix is reserved for AWS use"
	case len(value) > 256:
		return "value", "must be at most 256 characters"
	}
	return "", ""
}
