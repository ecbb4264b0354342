package scheduler

import (
	"errors"
	"fmt"
	"math/rand"
	"reflect"
	"testing"
)

func inst(name, az string, cpu, mem int) Instance {
	return Instance{
		ARN: "arn:" + name, ID: name, Status: "ACTIVE", AgentConnected: true,
		Attributes: map[string]string{"ecs.availability-zone": az},
		Remaining:  Resources{CPU: cpu, MemoryMiB: mem},
	}
}

func arns(ps []Placement) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Instance)
	}
	return out
}

func TestPlaceStrategies(t *testing.T) {
	three := func() []Instance {
		return []Instance{inst("a", "az1", 4096, 4096), inst("b", "az1", 2048, 8192), inst("c", "az2", 3072, 2048)}
	}
	tests := []struct {
		name string
		req  Request
		ins  []Instance
		want []string
	}{
		{"binpack cpu fills the fullest instance first",
			Request{Count: 3, Needs: Resources{CPU: 1024}, Strategy: []Strategy{{"binpack", "cpu"}}},
			three(), []string{"arn:b", "arn:b", "arn:c"}},
		{"binpack memory",
			Request{Count: 2, Needs: Resources{MemoryMiB: 1024}, Strategy: []Strategy{{"binpack", "memory"}}},
			three(), []string{"arn:c", "arn:c"}},
		{"spread instanceId round-robins",
			Request{Count: 6, Group: "g", Needs: Resources{CPU: 1}, Strategy: []Strategy{{"spread", "instanceId"}, {"binpack", "cpu"}}},
			three(), []string{"arn:b", "arn:c", "arn:a", "arn:b", "arn:c", "arn:a"}},
		{"spread host counts existing tasks of the group",
			Request{Count: 1, Group: "g", Strategy: []Strategy{{"spread", "host"}}},
			func() []Instance {
				ins := three()
				ins[0].TaskCount, ins[0].Groups = 1, map[string]int{"g": 1}
				ins[1].TaskCount, ins[1].Groups = 1, map[string]int{"g": 1}
				ins[2].TaskCount, ins[2].Groups = 2, map[string]int{"other": 2}
				return ins
			}(), []string{"arn:c"}},
		{"spread az balances zones, binpack inside",
			Request{Count: 4, Needs: Resources{CPU: 512}, Strategy: []Strategy{{"spread", "attribute:ecs.availability-zone"}, {"binpack", "cpu"}}},
			three(), []string{"arn:b", "arn:c", "arn:b", "arn:c"}},
		{"spread az counts existing tasks in the zone",
			Request{Count: 2, Group: "g", Strategy: []Strategy{{"spread", "attribute:ecs.availability-zone"}, {"binpack", "cpu"}}},
			func() []Instance {
				ins := three()
				ins[2].TaskCount, ins[2].Groups = 1, map[string]int{"g": 1}
				return ins
			}(), []string{"arn:b", "arn:b"}}, // az1 0 → b; then tie 1:1 → binpack b
		{"strategy is best effort: binpack skips what does not fit",
			Request{Count: 1, Needs: Resources{CPU: 3000}, Strategy: []Strategy{{"binpack", "cpu"}}},
			three(), []string{"arn:c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps, fs, err := Place(tt.req, tt.ins, rand.New(rand.NewSource(1)))
			if err != nil || len(fs) != 0 {
				t.Fatalf("Place: %v, failures %v", err, fs)
			}
			if got := arns(ps); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("placed on %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPlaceConstraints(t *testing.T) {
	ins := []Instance{inst("a", "az1", 4096, 4096), inst("b", "az2", 4096, 4096), inst("c", "az3", 4096, 4096)}
	ins[0].Attributes["ecs.instance-type"] = "g2.2xlarge"
	ins[1].Attributes["ecs.instance-type"] = "t2.small"
	ins[2].Attributes["ecs.instance-type"] = "g2.8xlarge"
	ins[2].TaskCount, ins[2].Groups = 1, map[string]int{"database": 1}

	ps, fs, err := Place(Request{Count: 3, Group: "web",
		Strategy:    []Strategy{{"binpack", "cpu"}},
		Constraints: []Constraint{{Type: "memberOf", Expression: "attribute:ecs.instance-type =~ g2.* and not(task:group == database)"}},
	}, ins, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := arns(ps); !reflect.DeepEqual(got, []string{"arn:a", "arn:a", "arn:a"}) {
		t.Errorf("memberOf placed on %v, want only arn:a", got)
	}
	if want := []Failure(nil); !reflect.DeepEqual(fs, want) {
		t.Errorf("failures %v, want none", fs)
	}

	// distinctInstance: one task per instance, and a fourth has nowhere to go.
	ps, fs, err = Place(Request{Count: 4, Group: "web", Strategy: []Strategy{{"binpack", "cpu"}},
		Constraints: []Constraint{{Type: "distinctInstance"}}}, ins, rand.New(rand.NewSource(3)))
	if err != nil {
		t.Fatal(err)
	}
	if got := arns(ps); len(got) != 3 || got[0] == got[1] || got[1] == got[2] || got[0] == got[2] {
		t.Errorf("distinctInstance placed on %v, want three different instances", got)
	}
	if len(fs) != 3 || fs[0].Reason != ReasonAttr {
		t.Errorf("distinctInstance failures %v, want ATTRIBUTE for each instance", fs)
	}

	// memberOf sees this request's earlier placements (runningTasksCount).
	ps, _, err = Place(Request{Count: 3, Group: "web", Strategy: []Strategy{{"binpack", "cpu"}},
		Constraints: []Constraint{{Type: "memberOf", Expression: "runningTasksCount < 2"}}}, ins, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := arns(ps); !reflect.DeepEqual(got, []string{"arn:a", "arn:a", "arn:b"}) {
		t.Errorf("runningTasksCount < 2 placed on %v, want [arn:a arn:a arn:b]", got)
	}
}

func TestPlaceFailureReasons(t *testing.T) {
	base := func() Instance { return inst("a", "az1", 1024, 1024) }
	tests := []struct {
		name   string
		mutate func(*Instance)
		req    Request
		want   string
	}{
		{"cpu", nil, Request{Count: 1, Needs: Resources{CPU: 2048}}, ReasonCPU},
		{"memory", nil, Request{Count: 1, Needs: Resources{MemoryMiB: 2048}}, ReasonMemory},
		{"cpu before memory", nil, Request{Count: 1, Needs: Resources{CPU: 2048, MemoryMiB: 2048}}, ReasonCPU},
		{"tcp port reserved", func(i *Instance) { i.Remaining.Ports = []int{22, 80} }, Request{Count: 1, Needs: Resources{Ports: []int{80}}}, ReasonPorts},
		{"udp port reserved", func(i *Instance) { i.Remaining.PortsUDP = []int{53} }, Request{Count: 1, Needs: Resources{PortsUDP: []int{53}, Ports: []int{53}}}, ReasonPortsUDP},
		{"agent disconnected", func(i *Instance) { i.AgentConnected = false }, Request{Count: 1, Needs: Resources{CPU: 4096}}, ReasonAgent},
		{"attribute", nil, Request{Count: 1, Needs: Resources{CPU: 4096},
			Constraints: []Constraint{{Type: "memberOf", Expression: "attribute:ecs.os-type == windows"}}}, ReasonAttr},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			i := base()
			if tt.mutate != nil {
				tt.mutate(&i)
			}
			ps, fs, err := Place(tt.req, []Instance{i}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(ps) != 0 {
				t.Errorf("placed %v, want nothing", ps)
			}
			if want := []Failure{{Arn: "arn:a", Reason: tt.want}}; !reflect.DeepEqual(fs, want) {
				t.Errorf("failures %v, want %v", fs, want)
			}
		})
	}
}

func TestPlaceMissingAndDraining(t *testing.T) {
	d := inst("d", "az1", 4096, 4096)
	d.Status = "DRAINING"
	for _, ins := range [][]Instance{nil, {d}} {
		ps, fs, err := Place(Request{Count: 1}, ins, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(ps) != 0 || !reflect.DeepEqual(fs, []Failure{{Reason: ReasonMissing}}) {
			t.Errorf("instances %v: placed %v, failures %v; want nothing and MISSING", ins, ps, fs)
		}
	}
}

func TestPlaceBooksResourcesAndPorts(t *testing.T) {
	ins := []Instance{inst("a", "az1", 2048, 2048), inst("b", "az1", 1024, 1024)}
	ins[1].Remaining.Ports = []int{8080}
	req := Request{Count: 3, Needs: Resources{CPU: 512, MemoryMiB: 512, Ports: []int{8080}}, Strategy: []Strategy{{"binpack", "cpu"}}}
	ps, fs, err := Place(req, ins, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Port 8080 is taken on b, and a takes only one task with host port 8080.
	if got := arns(ps); !reflect.DeepEqual(got, []string{"arn:a"}) {
		t.Errorf("placed on %v, want [arn:a]", got)
	}
	want := []Failure{{"arn:a", ReasonPorts}, {"arn:b", ReasonPorts}}
	if !reflect.DeepEqual(fs, want) {
		t.Errorf("failures %v, want %v", fs, want)
	}
	if ins[0].Remaining.CPU != 2048 || len(ins[0].Remaining.Ports) != 0 {
		t.Errorf("Place modified its input: %+v", ins[0].Remaining)
	}
	// Partial success: memory runs out after two tasks.
	ps, fs, _ = Place(Request{Count: 3, Needs: Resources{MemoryMiB: 1024}}, ins[:1], nil)
	if len(ps) != 2 || !reflect.DeepEqual(fs, []Failure{{"arn:a", ReasonMemory}}) {
		t.Errorf("placed %v failures %v, want 2 placements and one RESOURCE:MEMORY", ps, fs)
	}
}

func TestPlaceRandomIsSeeded(t *testing.T) {
	var ins []Instance
	for i := range 20 {
		ins = append(ins, inst(fmt.Sprint("i", i), "az1", 4096, 4096))
	}
	req := Request{Count: 10, Needs: Resources{CPU: 1}, Strategy: []Strategy{{Type: "random"}}}
	run := func(seed int64) []string {
		ps, _, err := Place(req, ins, rand.New(rand.NewSource(seed)))
		if err != nil {
			t.Fatal(err)
		}
		return arns(ps)
	}
	a, b, c := run(7), run(7), run(8)
	if !reflect.DeepEqual(a, b) {
		t.Errorf("same seed, different placements: %v vs %v", a, b)
	}
	if reflect.DeepEqual(a, c) {
		t.Errorf("different seeds, same placements %v", a)
	}
	distinct := map[string]bool{}
	for _, x := range a {
		distinct[x] = true
	}
	if len(distinct) < 3 {
		t.Errorf("random used only %d instances for 10 tasks: %v", len(distinct), a)
	}
	// Random as a later strategy only breaks ties of the earlier ones.
	ins[5].Remaining.CPU = 10
	ps, _, _ := Place(Request{Count: 1, Needs: Resources{CPU: 1}, Strategy: []Strategy{{"binpack", "cpu"}, {Type: "random"}}}, ins, rand.New(rand.NewSource(1)))
	if got := arns(ps); !reflect.DeepEqual(got, []string{"arn:i5"}) {
		t.Errorf("binpack then random placed on %v, want [arn:i5]", got)
	}
}

func TestPlaceInvalid(t *testing.T) {
	ins := []Instance{inst("a", "az1", 1024, 1024)}
	for _, req := range []Request{
		{Count: 0},
		{Count: 11},
		{Count: 1, Strategy: []Strategy{{"binpack", "instanceId"}}},
		{Count: 1, Strategy: []Strategy{{"spread", "cpu"}}},
		{Count: 1, Strategy: []Strategy{{"spread", "attribute:"}}},
		{Count: 1, Strategy: []Strategy{{"pack", "cpu"}}},
		{Count: 1, Strategy: make([]Strategy, 6)},
		{Count: 1, Constraints: []Constraint{{Type: "memberOf", Expression: "attribute:x =="}}},
		{Count: 1, Constraints: []Constraint{{Type: "memberOf"}}},
		{Count: 1, Constraints: []Constraint{{Type: "distinctInstance", Expression: "x"}}},
		{Count: 1, Constraints: []Constraint{{Type: "sameInstance"}}},
	} {
		if _, _, err := Place(req, ins, nil); !errors.Is(err, ErrInvalidRequest) {
			t.Errorf("Place(%+v) error = %v, want ErrInvalidRequest", req, err)
		}
	}
}

func BenchmarkPlace(b *testing.B) {
	azs := []string{"us-east-1a", "us-east-1b", "us-east-1c"}
	ins := make([]Instance, 1000)
	for i := range ins {
		ins[i] = inst(fmt.Sprint("i-", i), azs[i%3], 1024*(1+i%8), 1024*(1+i%16))
		ins[i].TaskCount, ins[i].Groups = 1, map[string]int{"service:web": 1}
	}
	req := Request{Count: 10, Group: "service:web", Needs: Resources{CPU: 256, MemoryMiB: 512},
		Strategy: []Strategy{{"spread", "attribute:ecs.availability-zone"}, {"binpack", "memory"}}}
	rnd := rand.New(rand.NewSource(1))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Place(req, ins, rnd); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*req.Count)/b.Elapsed().Seconds(), "placements/s")
}
