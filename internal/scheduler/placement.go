package scheduler

import (
	"errors"
	"fmt"
	"maps"
	"math/rand"
	"slices"
	"strings"
	"time"
)

// ErrInvalidRequest marks a request that can never be placed as written (bad
// strategy, constraint, expression or count); API handlers map it to
// InvalidParameterException.
var ErrInvalidRequest = errors.New("invalid placement request")

// Instance is a read-only snapshot of a container instance.
type Instance struct {
	ARN string
	// ID is the instance id that spread on instanceId/host balances over and
	// ec2InstanceId selects.
	ID             string
	Attributes     map[string]string // ecs.availability-zone, ecs.os-type, custom attributes, ...
	AgentConnected bool
	AgentVersion   string
	RegisteredAt   time.Time
	Status         string // only ACTIVE instances take new tasks
	// Remaining is what is still free: CPU units and MiB, and, as in ECS's
	// remainingResources, the host ports already reserved (taken).
	Remaining Resources
	// TaskCount is how many tasks run or are pending there; Groups counts them by task
	// group (tasks without a group are in TaskCount only).
	TaskCount int
	Groups    map[string]int
}

// Resources is an amount of CPU units (1024 per core) and memory in MiB, with
// TCP and UDP host ports.
type Resources struct {
	CPU, MemoryMiB  int
	Ports, PortsUDP []int
}

// Request asks for Count tasks of the same shape.
type Request struct {
	Count       int
	Group       string    // task group, e.g. "family:web" or "service:web"
	Needs       Resources // per task; Ports/PortsUDP are fixed host ports
	Strategy    []Strategy
	Constraints []Constraint
}

// Strategy is a placement strategy: binpack (cpu|memory), spread
// (instanceId|host|attribute:<name>) or random.
type Strategy struct{ Type, Field string }

// Constraint is a placement constraint: distinctInstance, or memberOf with a
// cluster query language Expression.
type Constraint struct{ Type, Expression string }

// Placement is where one task goes.
type Placement struct{ Instance string }

// Failure says why a task could not go on an instance (Arn), with an ECS
// reason.
type Failure struct{ Arn, Reason string }

// ECS failure reasons.
const (
	ReasonCPU      = "RESOURCE:CPU"
	ReasonMemory   = "RESOURCE:MEMORY"
	ReasonPorts    = "RESOURCE:PORTS"
	ReasonPortsUDP = "RESOURCE:PORTS_UDP"
	ReasonAttr     = "ATTRIBUTE"
	ReasonAgent    = "AGENT"
	ReasonMissing  = "MISSING"
)

// Limits ECS documents for RunTask.
const (
	MaxCount       = 10
	MaxStrategies  = 5
	MaxConstraints = 10
)

// DefaultServiceStrategy is the strategy ECS uses for service tasks when
// none is given: "For tasks running as part of an Amazon ECS service, the task
// placement strategy is spread using the attribute:ecs.availability-zone."
// (ECS developer guide, task placement). ECS documents no default for
// standalone tasks, so Place itself applies none: without strategies it picks
// at random among the instances that fit.
func DefaultServiceStrategy() []Strategy {
	return []Strategy{{Type: "spread", Field: "attribute:ecs.availability-zone"}}
}

// Place chooses instances for req.Count tasks, one task at a time, so that
// each choice sees the resources, ports and tasks of the earlier ones.
// Constraints are binding; strategies rank the instances that fit, each one
// breaking the ties of those before it, and rnd breaks what ties remain (a nil
// rnd takes the first in input order). A task that fits nowhere yields one
// Failure per instance with the first reason it failed, in the order AGENT,
// ATTRIBUTE, RESOURCE:CPU, RESOURCE:MEMORY, RESOURCE:PORTS,
// RESOURCE:PORTS_UDP; repeated failures are reported once. Instances that
// are not ACTIVE are not candidates; when no instance is, the single failure
// is MISSING with an empty Arn (the caller knows the cluster). Place does not
// modify instances.
func Place(req Request, instances []Instance, rnd *rand.Rand) ([]Placement, []Failure, error) {
	p, err := newPlanner(req, instances)
	if err != nil {
		return nil, nil, err
	}
	if len(p.cands) == 0 {
		return nil, []Failure{{Reason: ReasonMissing}}, nil
	}
	var (
		placements []Placement
		failures   []Failure
		seen       = map[Failure]bool{}
		fit        = make([]int, 0, len(p.cands))
		// reasons holds why each candidate cannot take the next task. Booking a task
		// changes only the candidate it went to, so only that one is looked at again.
		reasons = make([]string, len(p.cands))
	)
	for i := range p.cands {
		reasons[i] = p.reason(i)
	}
	for range req.Count {
		fit = fit[:0]
		for i, r := range reasons {
			if r == "" {
				fit = append(fit, i)
			}
		}
		if len(fit) == 0 {
			for i, r := range reasons {
				if f := (Failure{Arn: p.cands[i].inst.ARN, Reason: r}); !seen[f] {
					seen[f] = true
					failures = append(failures, f)
				}
			}
			continue
		}
		i := p.choose(fit, rnd)
		p.book(i)
		reasons[i] = p.reason(i)
		placements = append(placements, Placement{Instance: p.cands[i].inst.ARN})
	}
	return placements, failures, nil
}

// cand is an instance plus what this request has booked on it so far.
type cand struct {
	inst      *Instance
	cpu, mem  int
	ports     []int // booked by this request
	portsUDP  []int
	placed    int // tasks of this request placed here
	groupSize int // tasks of req.Group here, including placed
}

type planner struct {
	req      Request
	cands    []cand
	memberOf []Expr
	distinct bool
	// spread indexes, per spread-by-attribute strategy, which value each candidate has,
	// so the per-task scan compares integers instead of looking up maps.
	spread map[string]*spreadIndex
	keys   []int // narrow's scratch
}

// spreadIndex counts tasks of the group per value of one attribute.
type spreadIndex struct {
	valueOf []int // per candidate: index into counts
	counts  []int // per attribute value: tasks of the group
}

func newPlanner(req Request, instances []Instance) (*planner, error) {
	p := &planner{req: req, cands: make([]cand, 0, len(instances)), keys: make([]int, 0, len(instances))}
	if err := p.validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidRequest, err)
	}
	for i := range instances {
		inst := &instances[i]
		if inst.Status != "ACTIVE" {
			continue
		}
		c := cand{inst: inst, cpu: inst.Remaining.CPU, mem: inst.Remaining.MemoryMiB}
		if req.Group != "" {
			c.groupSize = inst.Groups[req.Group]
		}
		p.cands = append(p.cands, c)
	}
	for _, s := range req.Strategy {
		name, ok := strings.CutPrefix(s.Field, attributePrefix)
		if s.Type != "spread" || !ok {
			continue
		}
		if p.spread == nil {
			p.spread = map[string]*spreadIndex{}
		}
		p.spread[name] = newSpreadIndex(p.cands, name)
	}
	return p, nil
}

func newSpreadIndex(cands []cand, attribute string) *spreadIndex {
	idx := &spreadIndex{valueOf: make([]int, len(cands))}
	values := map[string]int{}
	for i, c := range cands {
		v, ok := values[c.inst.Attributes[attribute]]
		if !ok {
			v = len(idx.counts)
			values[c.inst.Attributes[attribute]] = v
			idx.counts = append(idx.counts, 0)
		}
		idx.valueOf[i] = v
		idx.counts[v] += c.groupSize
	}
	return idx
}

func (p *planner) validate() error {
	req := p.req
	if req.Count < 1 || req.Count > MaxCount {
		return fmt.Errorf("count %d is outside 1..%d", req.Count, MaxCount)
	}
	if req.Needs.CPU < 0 || req.Needs.MemoryMiB < 0 {
		return fmt.Errorf("task cpu and memory must not be negative")
	}
	if len(req.Strategy) > MaxStrategies {
		return fmt.Errorf("%d placement strategies, at most %d allowed", len(req.Strategy), MaxStrategies)
	}
	if len(req.Constraints) > MaxConstraints {
		return fmt.Errorf("%d placement constraints, at most %d allowed", len(req.Constraints), MaxConstraints)
	}
	for _, s := range req.Strategy {
		if err := validateStrategy(s); err != nil {
			return err
		}
	}
	for _, c := range req.Constraints {
		switch c.Type {
		case "distinctInstance":
			if c.Expression != "" {
				return fmt.Errorf("placement constraint distinctInstance takes no expression")
			}
			p.distinct = true
		case "memberOf":
			if c.Expression == "" {
				return fmt.Errorf("placement constraint memberOf needs an expression")
			}
			e, err := ParseExpression(c.Expression)
			if err != nil {
				return fmt.Errorf("placement constraint memberOf: %w", err)
			}
			p.memberOf = append(p.memberOf, e)
		default:
			return fmt.Errorf("unknown placement constraint type %q (want distinctInstance or memberOf)", c.Type)
		}
	}
	return nil
}

func validateStrategy(s Strategy) error {
	switch s.Type {
	case "binpack":
		if s.Field != "cpu" && s.Field != "memory" {
			return fmt.Errorf("placement strategy binpack: field %q must be cpu or memory", s.Field)
		}
	case "spread":
		name, ok := strings.CutPrefix(s.Field, attributePrefix)
		if s.Field != "instanceId" && s.Field != "host" && (!ok || name == "") {
			return fmt.Errorf("placement strategy spread: field %q must be instanceId, host or attribute:<name>", s.Field)
		}
	case "random":
		// ECS: "For the random placement strategy, this field is not used."
	default:
		return fmt.Errorf("unknown placement strategy type %q (want binpack, spread or random)", s.Type)
	}
	return nil
}

// reason returns why the next task cannot go on cands[i], or "".
func (p *planner) reason(i int) string {
	c := &p.cands[i]
	if !c.inst.AgentConnected {
		return ReasonAgent
	}
	if p.distinct && (c.placed > 0 || c.groupSize > 0) {
		return ReasonAttr
	}
	if len(p.memberOf) > 0 {
		view := c.inst
		if c.placed > 0 {
			v := *c.inst
			v.TaskCount += c.placed
			if p.req.Group != "" {
				v.Groups = maps.Clone(c.inst.Groups)
				if v.Groups == nil {
					v.Groups = map[string]int{}
				}
				v.Groups[p.req.Group] += c.placed
			}
			view = &v
		}
		for _, e := range p.memberOf {
			if !e.Eval(view) {
				return ReasonAttr
			}
		}
	}
	switch {
	case c.cpu < p.req.Needs.CPU:
		return ReasonCPU
	case c.mem < p.req.Needs.MemoryMiB:
		return ReasonMemory
	case portsTaken(p.req.Needs.Ports, c.inst.Remaining.Ports, c.ports):
		return ReasonPorts
	case portsTaken(p.req.Needs.PortsUDP, c.inst.Remaining.PortsUDP, c.portsUDP):
		return ReasonPortsUDP
	}
	return ""
}

func portsTaken(want, reserved, booked []int) bool {
	for _, w := range want {
		if slices.Contains(reserved, w) || slices.Contains(booked, w) {
			return true
		}
	}
	return false
}

// choose narrows fit by each strategy in turn and breaks remaining ties with
// rnd.
func (p *planner) choose(fit []int, rnd *rand.Rand) int {
	best := fit
	for _, s := range p.req.Strategy {
		if len(best) == 1 {
			break
		}
		if s.Type == "random" {
			break
		}
		best = p.narrow(best, s)
	}
	if len(best) == 1 || rnd == nil {
		return best[0]
	}
	return best[rnd.Intn(len(best))]
}

// narrow keeps the candidates with the lowest key for s: remaining cpu or
// memory for binpack, tasks of the group for spread. Keys go to a scratch
// slice in one tight loop per kind: this runs for every task over every
// candidate that fits.
func (p *planner) narrow(idx []int, s Strategy) []int {
	keys := p.keys[:0]
	switch s.Field {
	case "cpu":
		for _, i := range idx {
			keys = append(keys, p.cands[i].cpu)
		}
	case "memory":
		for _, i := range idx {
			keys = append(keys, p.cands[i].mem)
		}
	case "instanceId", "host":
		ownOnly := boolInt(p.req.Group == "")
		for _, i := range idx {
			keys = append(keys, p.cands[i].groupSize+p.cands[i].placed*ownOnly)
		}
	default:
		spread := p.spread[strings.TrimPrefix(s.Field, attributePrefix)]
		for _, i := range idx {
			keys = append(keys, spread.counts[spread.valueOf[i]])
		}
	}
	p.keys = keys
	// Filter in place: idx is the planner's own scratch slice.
	out := idx[:0]
	min := 0
	for n, i := range idx {
		k := keys[n]
		switch {
		case len(out) == 0 || k < min:
			out, min = append(out[:0], i), k
		case k == min:
			out = append(out, i)
		}
	}
	return out
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// book records one task of the request on cands[i].
func (p *planner) book(i int) {
	c := &p.cands[i]
	c.cpu -= p.req.Needs.CPU
	c.mem -= p.req.Needs.MemoryMiB
	c.ports = append(c.ports, p.req.Needs.Ports...)
	c.portsUDP = append(c.portsUDP, p.req.Needs.PortsUDP...)
	c.placed++
	if p.req.Group != "" {
		c.groupSize++
	}
	for _, spread := range p.spread {
		spread.counts[spread.valueOf[i]]++
	}
}
