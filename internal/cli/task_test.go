package cli

import (
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

func TestClassifyTaskRef(t *testing.T) {
	tests := []struct {
		ref  string
		want taskRefKind
	}{
		{"arn:aws:ecs:us-east-1:000000000000:task/default/0123456789abcdef0123456789abcdef", taskRefARN},
		{"0123456789abcdef0123456789abcdef", taskRefID},
		{"0123", taskRefNameOrIDPrefix},
		{"0123456789abcdef0123456789abcde", taskRefNameOrIDPrefix},
		{"abc", taskRefName}, // too short to be a prefix
		{"0123456789abcdef0123456789abcdef0", taskRefName}, // longer than an id
		{"ABCD", taskRefName},                              // ids are lower case
		{"web", taskRefName},
		{"cafe-1", taskRefName},
	}
	for _, tt := range tests {
		if got := classifyTaskRef(tt.ref); got != tt.want {
			t.Errorf("classifyTaskRef(%q) = %d, want %d", tt.ref, got, tt.want)
		}
	}
}

func taskArnOf(id string) string { return "arn:aws:ecs:us-east-1:000000000000:task/default/" + id }

func namedTask(id, name string, created time.Time) types.Task {
	t := types.Task{TaskArn: aws.String(taskArnOf(id)), CreatedAt: aws.Time(created)}
	if name != "" {
		t.Tags = []types.Tag{{Key: aws.String("team"), Value: aws.String("x")}, {Key: aws.String(taskNameTag), Value: aws.String(name)}}
	}
	return t
}

func TestNewestNamed(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	tasks := []types.Task{
		namedTask("aa", "web", t0),
		namedTask("bb", "web", t0.Add(time.Minute)),
		namedTask("cc", "db", t0.Add(time.Hour)),
		namedTask("dd", "", t0.Add(2*time.Hour)),
	}
	if arn, ok := newestNamed(tasks, "web"); !ok || arn != taskArnOf("bb") {
		t.Errorf("newestNamed(web) = %q, %v; want the newer task bb", arn, ok)
	}
	if arn, ok := newestNamed(tasks, "db"); !ok || arn != taskArnOf("cc") {
		t.Errorf("newestNamed(db) = %q, %v; want cc", arn, ok)
	}
	if arn, ok := newestNamed(tasks, "-"); ok {
		t.Errorf("newestNamed(-) = %q; an untagged task must not match the placeholder", arn)
	}
}

func TestArnsWithIDPrefix(t *testing.T) {
	arns := []string{taskArnOf("abcd1111"), taskArnOf("abcd2222"), taskArnOf("ef001111"), taskArnOf("abcd1111")}
	tests := []struct {
		prefix string
		want   []string
	}{
		{"abcd1", []string{taskArnOf("abcd1111")}}, // listed twice (RUNNING, then STOPPED), one match
		{"abcd", []string{taskArnOf("abcd1111"), taskArnOf("abcd2222")}},
		{"1111", nil}, // a prefix, not a substring
		{"default", nil},
	}
	for _, tt := range tests {
		if got := arnsWithIDPrefix(arns, tt.prefix); !slices.Equal(got, tt.want) {
			t.Errorf("arnsWithIDPrefix(%q) = %v, want %v", tt.prefix, got, tt.want)
		}
	}
}

func TestTaskStatus(t *testing.T) {
	tests := []struct {
		task types.Task
		want string
	}{
		{types.Task{LastStatus: aws.String("RUNNING"), Containers: []types.Container{{ExitCode: aws.Int32(0)}}}, "RUNNING"},
		{types.Task{LastStatus: aws.String("STOPPED"), Containers: []types.Container{{ExitCode: aws.Int32(0)}}}, "STOPPED (exit 0)"},
		{types.Task{LastStatus: aws.String("STOPPED"), Containers: []types.Container{{ExitCode: aws.Int32(137)}, {ExitCode: aws.Int32(0)}}}, "STOPPED (exit 137)"},
		{types.Task{LastStatus: aws.String("STOPPED"), Containers: []types.Container{{}}}, "STOPPED"}, // never started
		{types.Task{LastStatus: aws.String("STOPPED")}, "STOPPED"},
	}
	for _, tt := range tests {
		if got := taskStatus(tt.task); got != tt.want {
			t.Errorf("taskStatus = %q, want %q", got, tt.want)
		}
	}
}

func TestTaskImageAndName(t *testing.T) {
	task := types.Task{Containers: []types.Container{{Image: aws.String("busybox")}, {Image: aws.String("a")}, {Image: aws.String("b")}}}
	if got := taskImage(task); got != "busybox +2" {
		t.Errorf("taskImage of 3 containers = %q, want %q", got, "busybox +2")
	}
	if got := taskImage(types.Task{}); got != "-" {
		t.Errorf("taskImage without containers = %q, want -", got)
	}
	if got := taskName(task); got != "-" {
		t.Errorf("taskName without the tag = %q, want -", got)
	}
	if got := taskName(namedTask("aa", "web", time.Time{})); got != "web" {
		t.Errorf("taskName = %q, want web", got)
	}
}

func TestTaskPorts(t *testing.T) {
	eni := []types.NetworkInterface{{PrivateIpv4Address: aws.String("10.0.0.7")}}
	tests := []struct {
		name       string
		containers []types.Container
		want       string
	}{
		{"none", []types.Container{{}}, ""},
		{"bindings of all containers", []types.Container{
			{NetworkBindings: []types.NetworkBinding{{HostPort: aws.Int32(8080), ContainerPort: aws.Int32(80), Protocol: types.TransportProtocolTcp}}},
			{NetworkBindings: []types.NetworkBinding{{HostPort: aws.Int32(53), ContainerPort: aws.Int32(53), Protocol: types.TransportProtocolUdp}}},
		}, "8080->80/tcp, 53->53/udp"},
		{"protocol defaults to tcp", []types.Container{{NetworkBindings: []types.NetworkBinding{{HostPort: aws.Int32(32768), ContainerPort: aws.Int32(80)}}}}, "32768->80/tcp"},
		{"port ranges", []types.Container{{NetworkBindings: []types.NetworkBinding{{HostPortRange: aws.String("9000-9009"), ContainerPortRange: aws.String("9000-9009"), Protocol: types.TransportProtocolTcp}}}}, "9000-9009->9000-9009/tcp"},
		{"awsvpc shows the address", []types.Container{{NetworkInterfaces: eni}}, "10.0.0.7"},
		{"bindings win over the address", []types.Container{{NetworkInterfaces: eni, NetworkBindings: []types.NetworkBinding{{HostPort: aws.Int32(80), ContainerPort: aws.Int32(80)}}}}, "80->80/tcp"},
	}
	for _, tt := range tests {
		if got := taskPorts(types.Task{Containers: tt.containers}); got != tt.want {
			t.Errorf("%s: taskPorts = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestHumanDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{-time.Second, "Less than a second"}, // clock skew between client and server
		{500 * time.Millisecond, "Less than a second"},
		{time.Second, "1 second"},
		{59 * time.Second, "59 seconds"},
		{90 * time.Second, "About a minute"},
		{45 * time.Minute, "45 minutes"},
		{70 * time.Minute, "About an hour"},
		{5 * time.Hour, "5 hours"},
		{47 * time.Hour, "47 hours"},
		{3 * 24 * time.Hour, "3 days"},
		{3 * 7 * 24 * time.Hour, "3 weeks"},
		{90 * 24 * time.Hour, "3 months"},
		{3 * 365 * 24 * time.Hour, "3 years"},
	}
	for _, tt := range tests {
		if got := humanDuration(tt.d); got != tt.want {
			t.Errorf("humanDuration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestMatchInstance(t *testing.T) {
	inst := func(id, node string) types.ContainerInstance {
		return types.ContainerInstance{
			ContainerInstanceArn: aws.String("arn:aws:ecs:us-east-1:000000000000:container-instance/default/" + id),
			Ec2InstanceId:        aws.String(node),
		}
	}
	instances := []types.ContainerInstance{inst("abcd1111", "node-1"), inst("abcd2222", "node-2"), inst("beef3333", "beef")}
	tests := []struct {
		ref  string
		want []string
	}{
		{"node-2", []string{"abcd2222"}},
		{"beef", []string{"beef3333"}}, // a node name wins over an id prefix
		{"abcd1", []string{"abcd1111"}},
		{"abcd", []string{"abcd1111", "abcd2222"}},
		{"abc", nil}, // too short to be a prefix
		{"node-3", nil},
	}
	for _, tt := range tests {
		var got []string
		for _, arn := range matchInstance(instances, tt.ref) {
			got = append(got, arnID(arn))
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("matchInstance(%q) = %v, want %v", tt.ref, got, tt.want)
		}
	}
}

func TestResourceUsage(t *testing.T) {
	ci := types.ContainerInstance{
		RegisteredResources: []types.Resource{{Name: aws.String("CPU"), IntegerValue: 2048}, {Name: aws.String("MEMORY"), IntegerValue: 3900}},
		RemainingResources:  []types.Resource{{Name: aws.String("CPU"), IntegerValue: 1024}},
	}
	for _, tt := range []struct{ name, unit, want string }{
		{"CPU", "", "1024/2048"},
		{"MEMORY", " MiB", "0/3900 MiB"}, // nothing remaining is reported as 0
		{"GPU", "", "-"},
	} {
		if got := resourceUsage(ci, tt.name, tt.unit); got != tt.want {
			t.Errorf("resourceUsage(%s) = %q, want %q", tt.name, got, tt.want)
		}
	}
}
