package awsapi

import (
	"strings"
	"testing"
)

var arnValidCases = []struct {
	in   string
	want ARN
}{
	{"arn:aws:ecs:us-east-1:123456789012:cluster/default",
		ARN{"aws", "ecs", "us-east-1", "123456789012", "cluster/default"}},
	{"arn:aws:ecs:us-east-1:123456789012:task/default/0123456789abcdef",
		ARN{"aws", "ecs", "us-east-1", "123456789012", "task/default/0123456789abcdef"}},
	{"arn:aws:ecs:us-east-1:123456789012:task-definition/web:3",
		ARN{"aws", "ecs", "us-east-1", "123456789012", "task-definition/web:3"}},
	{"arn:aws:logs:us-east-1:123456789012:log-group:/ecs/web:log-stream:ecs/web/abc",
		ARN{"aws", "logs", "us-east-1", "123456789012", "log-group:/ecs/web:log-stream:ecs/web/abc"}},
	{"arn:aws:s3:::my-bucket/some/key", ARN{"aws", "s3", "", "", "my-bucket/some/key"}},
	{"arn:aws-cn:iam::123456789012:role/ecsTaskExecutionRole",
		ARN{"aws-cn", "iam", "", "123456789012", "role/ecsTaskExecutionRole"}},
	{"arn:aws:ecs:us-east-1:123456789012::", ARN{"aws", "ecs", "us-east-1", "123456789012", ":"}},
}

var arnInvalidCases = []string{
	"",
	"arn",
	"arn:aws:ecs:us-east-1:123456789012",
	"arn:aws:ecs:us-east-1:123456789012:",
	"arn::ecs:us-east-1:123456789012:cluster/default",
	"arn:aws::us-east-1:123456789012:cluster/default",
	"ARN:aws:ecs:us-east-1:123456789012:cluster/default",
	"urn:aws:ecs:us-east-1:123456789012:cluster/default",
	" arn:aws:ecs:us-east-1:123456789012:cluster/default",
	"aws:ecs:us-east-1:123456789012:cluster/default",
	"cluster/default",
}

func TestParseARN(t *testing.T) {
	t.Parallel()
	for _, tt := range arnValidCases {
		got, err := ParseARN(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseARN(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
		if s := got.String(); s != tt.in {
			t.Errorf("ParseARN(%q).String() = %q", tt.in, s)
		}
		if s := tt.want.String(); s != tt.in {
			t.Errorf("%+v.String() = %q, want %q", tt.want, s, tt.in)
		}
	}
}

func TestParseARNRejects(t *testing.T) {
	t.Parallel()
	for _, in := range arnInvalidCases {
		got, err := ParseARN(in)
		if err == nil {
			t.Errorf("ParseARN(%q) = %+v, want an error", in, got)
			continue
		}
		if got != (ARN{}) {
			t.Errorf("ParseARN(%q) returned %+v with its error", in, got)
		}
		if !strings.Contains(err.Error(), "not an ARN") || !strings.Contains(err.Error(), in) {
			t.Errorf("ParseARN(%q) error %q does not say what is not an ARN", in, err)
		}
	}
}

func FuzzParseARN(f *testing.F) {
	for _, tt := range arnValidCases {
		f.Add(tt.in)
	}
	for _, in := range arnInvalidCases {
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseARN(s)
		if err != nil {
			return
		}
		if got := a.String(); got != s {
			t.Fatalf("ParseARN(%q).String() = %q", s, got)
		}
		if a.Partition == "" || a.Service == "" || a.Resource == "" {
			t.Fatalf("ParseARN(%q) = %+v with an empty partition, service or resource", s, a)
		}
		for _, part := range []string{a.Partition, a.Service, a.Region, a.Account} {
			if strings.Contains(part, ":") {
				t.Fatalf("ParseARN(%q) = %+v: part %q holds a colon", s, a, part)
			}
		}
	})
}
