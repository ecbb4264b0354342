package scheduler

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

func queryInstance() *Instance {
	return &Instance{
		ARN: "arn:aws:ecs:us-east-1:000000000000:container-instance/default/a", ID: "i-abcd1234",
		Attributes: map[string]string{
			"ecs.instance-type":     "g2.2xlarge",
			"ecs.availability-zone": "us-east-1a",
			"stack":                 "prod",
			"slots":                 "8",
		},
		AgentConnected: true,
		AgentVersion:   "1.9.0",
		RegisteredAt:   time.Date(2016, 11, 1, 10, 0, 0, 0, time.UTC),
		Status:         "ACTIVE",
		TaskCount:      1,
		Groups:         map[string]int{"service:production": 1},
	}
}

// TestExpressionDocExamples evaluates every example of the ECS guide's
// "Cluster query language" page, plus the word forms, against one instance.
func TestExpressionDocExamples(t *testing.T) {
	tests := []struct {
		expr string
		want bool
	}{
		// Examples from the guide.
		{"attribute:ecs.instance-type == t2.small", false},
		{"attribute:ecs.availability-zone in [us-east-1a, us-east-1b]", true},
		{"attribute:ecs.instance-type =~ g2.*", true},
		{"attribute:ecs.instance-type =~ g2.* and attribute:ecs.availability-zone != us-east-1d", true},
		{"task:group == service:production", true},
		{"not(task:group == database)", true},
		{"runningTasksCount == 1", true},
		{"agentVersion < 1.14.5", true},
		{"registeredAt < 2018-02-13", true},
		{"registeredAt >= 2016-11-01", true},
		{"ec2InstanceId in ['i-abcd1234', 'i-wxyz5678']", true},
		{"(attribute:ecs.availability-zone == us-east-1b or attribute:stack == prod) and runningTasksCount < 2", true},
		// Word forms and symbols.
		{"attribute:stack equals prod", true},
		{"attribute:stack not_equals prod", false},
		{"attribute:slots greater_than 10", false},
		{"attribute:slots greater_than_equal 8", true},
		{"attribute:slots less_than 10", true},
		{"attribute:slots less_than_equal 7", false},
		{"attribute:stack exists", true},
		{"attribute:nope exists", false},
		{"attribute:nope !exists", true},
		{"attribute:nope not_exists", true},
		{"attribute:stack not_in [dev, test]", true},
		{"attribute:stack !in [prod]", false},
		{"attribute:ecs.instance-type matches 'g2\\..*'", true},
		{"attribute:ecs.instance-type not_matches g2", true}, // whole-value match
		{"attribute:ecs.instance-type !~ g2.*", false},
		{"agentConnected == true", true},
		{"agentConnected != true", false},
		{"agentVersion >= 1.9", true},
		{"agentVersion > 1.10.0", false}, // numeric, not string, order
		{"registeredAt == 2016-11-01", true},
		{"registeredAt > 2016-11-01T10:00:00Z", false},
		{"registeredAt >= 2016-11-01T10:00:00+00:00", true},
		{"registeredAt < 2016-11-01T10:00:01", true},
		{"ec2InstanceId =~ i-abc.*", true},
		{"task:group != service:production", false},
		{"task:group in [database, service:production]", true},
		{"task:group exists", true},
		{"!(task:group == service:production)", false},
		{"! task:group == database && runningTasksCount > 0", true},
		{"attribute:stack == dev || attribute:stack == prod", true},
		{"attribute:stack == dev or attribute:stack == qa and runningTasksCount == 1", false}, // and binds tighter
		{"not attribute:stack == dev", true},
		{"attribute:stack==prod&&runningTasksCount==1", true},
	}
	inst := queryInstance()
	for _, tt := range tests {
		e, err := ParseExpression(tt.expr)
		if err != nil {
			t.Errorf("ParseExpression(%q): %v", tt.expr, err)
			continue
		}
		if got := e.Eval(inst); got != tt.want {
			t.Errorf("%q (%s).Eval = %v, want %v", tt.expr, e, got, tt.want)
		}
		roundTrip(t, tt.expr, e)
	}
}

func TestExpressionTaskGroupAnyTask(t *testing.T) {
	inst := queryInstance()
	inst.TaskCount, inst.Groups = 3, map[string]int{"family:a": 1, "database": 1}
	for expr, want := range map[string]bool{
		"task:group == database":      true,
		"task:group == family:a":      true,
		"not(task:group == database)": false,
		"runningTasksCount == 3":      true,
	} {
		e, err := ParseExpression(expr)
		if err != nil {
			t.Fatal(err)
		}
		if got := e.Eval(inst); got != want {
			t.Errorf("%q = %v, want %v", expr, got, want)
		}
	}
	inst.TaskCount, inst.Groups = 0, nil
	e, _ := ParseExpression("task:group exists")
	if e.Eval(inst) {
		t.Error("task:group exists on an instance without tasks")
	}
}

func TestParseExpressionErrors(t *testing.T) {
	tests := []struct {
		expr string
		pos  int
	}{
		{"", 0},
		{"foo == bar", 0},
		{"attribute: == x", 0},
		{"attribute:a", 11},
		{"attribute:a ==", 14},
		{"attribute:a == x and", 20},
		{"(attribute:a == x", 17},
		{"attribute:a == x)", 16},
		{"attribute:a in x", 15},
		{"attribute:a in [x, y", 20},
		{"attribute:a in [x y]", 18},
		{"attribute:a =~ 'x", 15},
		{"attribute:a =~ (", 15},
		{"attribute:a =~ a[", 12},
		{"agentVersion in [1]", 13},
		{"registeredAt exists", 13},
		{"registeredAt < yesterday", 13},
		{"runningTasksCount > many", 18},
		{"agentConnected == maybe", 15},
		{"attribute:a bogus x", 12},
	}
	for _, tt := range tests {
		_, err := ParseExpression(tt.expr)
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("ParseExpression(%q) error = %v, want a *SyntaxError", tt.expr, err)
			continue
		}
		if se.Pos != tt.pos {
			t.Errorf("ParseExpression(%q) error at %d (%v), want position %d", tt.expr, se.Pos, err, tt.pos)
		}
	}
}

// roundTrip checks that e prints to text that parses to an equal tree.
func roundTrip(t *testing.T, src string, e Expr) {
	t.Helper()
	s := e.String()
	e2, err := ParseExpression(s)
	if err != nil {
		t.Fatalf("%q printed as %q, which does not parse: %v", src, s, err)
	}
	if !equalExpr(e, e2) {
		t.Fatalf("%q printed as %q, which parses to a different tree %q", src, s, e2)
	}
}

func equalExpr(a, b Expr) bool {
	switch x := a.(type) {
	case *Not:
		y, ok := b.(*Not)
		return ok && equalExpr(x.X, y.X)
	case *And:
		y, ok := b.(*And)
		return ok && equalExpr(x.L, y.L) && equalExpr(x.R, y.R)
	case *Or:
		y, ok := b.(*Or)
		return ok && equalExpr(x.L, y.L) && equalExpr(x.R, y.R)
	case *Cond:
		y, ok := b.(*Cond)
		return ok && x.Subject == y.Subject && x.Op == y.Op && reflect.DeepEqual(x.Args, y.Args)
	}
	return false
}

func FuzzParseExpression(f *testing.F) {
	for _, s := range []string{
		"attribute:ecs.instance-type =~ g2.* and attribute:ecs.availability-zone != us-east-1d",
		"task:group == service:production",
		"not(task:group == database)",
		"runningTasksCount == 1",
		"registeredAt >= 2016-11-01",
		"ec2InstanceId in ['i-abcd1234', 'i-wxyz5678']",
		"(a:b == c || attribute:x !exists) && !agentConnected == false",
		"attribute:x == 'a \\' b'",
	} {
		f.Add(s)
	}
	inst := queryInstance()
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseExpression(s)
		if err != nil {
			return
		}
		e.Eval(inst)
		roundTrip(t, s, e)
	})
}
