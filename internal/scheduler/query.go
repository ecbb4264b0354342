package scheduler

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Expr is a parsed cluster query language expression.
type Expr interface {
	// Eval reports whether inst is selected by the expression.
	Eval(inst *Instance) bool
	// String prints the expression in a canonical form that ParseExpression
	// reads back to an equal tree.
	String() string
}

// Operator is a comparison operator of a simple expression.
type Operator string

// The comparison operators, named by their symbol forms. The word forms
// (equals, not_equals, greater_than, greater_than_equal, less_than,
// less_than_equal, exists, not_exists, in, not_in, matches, not_matches)
// parse to the same values.
const (
	OpEq        Operator = "=="
	OpNe        Operator = "!="
	OpGt        Operator = ">"
	OpGe        Operator = ">="
	OpLt        Operator = "<"
	OpLe        Operator = "<="
	OpExists    Operator = "exists"
	OpNotExists Operator = "!exists"
	OpIn        Operator = "in"
	OpNotIn     Operator = "!in"
	OpMatch     Operator = "=~"
	OpNotMatch  Operator = "!~"
)

var wordOps = map[string]Operator{
	"equals": OpEq, "not_equals": OpNe, "greater_than": OpGt,
	"greater_than_equal": OpGe, "less_than": OpLt, "less_than_equal": OpLe,
	"exists": OpExists, "not_exists": OpNotExists, "in": OpIn, "not_in": OpNotIn,
	"matches": OpMatch, "not_matches": OpNotMatch,
}

// symbolOps is ordered so that longer symbols are tried first.
var symbolOps = []Operator{OpNotExists, OpNotIn, OpEq, OpNe, OpGe, OpLe, OpMatch, OpNotMatch, OpGt, OpLt}

// Subjects of the cluster query language besides attribute:<name>.
const (
	SubjectAgentConnected    = "agentConnected"
	SubjectAgentVersion      = "agentVersion"
	SubjectEC2InstanceID     = "ec2InstanceId"
	SubjectRegisteredAt      = "registeredAt"
	SubjectRunningTasksCount = "runningTasksCount"
	SubjectTaskGroup         = "task:group"
	attributePrefix          = "attribute:"
)

var (
	opsEquality = []Operator{OpEq, OpNe, OpIn, OpNotIn, OpMatch, OpNotMatch}
	opsOrdered  = []Operator{OpEq, OpNe, OpGt, OpGe, OpLt, OpLe}
	// validOps lists the operators the ECS guide allows per subject; the guide
	// gives no list for attribute:<name>, so attributes accept every operator.
	validOps = map[string][]Operator{
		SubjectAgentConnected:    opsEquality,
		SubjectAgentVersion:      opsOrdered,
		SubjectEC2InstanceID:     opsEquality,
		SubjectRegisteredAt:      opsOrdered,
		SubjectRunningTasksCount: opsOrdered,
		SubjectTaskGroup:         append(slices.Clone(opsEquality), OpExists, OpNotExists),
	}
)

// SyntaxError reports where and why an expression does not parse.
type SyntaxError struct {
	Expr string
	Pos  int // byte offset into Expr
	Msg  string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("expression %q: position %d: %s", e.Expr, e.Pos, e.Msg)
}

// Not negates an expression.
type Not struct{ X Expr }

// And is true when both sides are.
type And struct{ L, R Expr }

// Or is true when either side is.
type Or struct{ L, R Expr }

// Cond is a simple expression: subject operator [argument].
type Cond struct {
	Subject string
	Op      Operator
	Args    []string // none for exists/!exists, one for most, the list for in/!in

	re   *regexp.Regexp
	date time.Time
	// dateDay is set when the registeredAt argument is a date without a time.
	dateDay bool
	num     int
}

// Eval implements Expr.
func (n *Not) Eval(inst *Instance) bool { return !n.X.Eval(inst) }

// Eval implements Expr.
func (a *And) Eval(inst *Instance) bool { return a.L.Eval(inst) && a.R.Eval(inst) }

// Eval implements Expr.
func (o *Or) Eval(inst *Instance) bool { return o.L.Eval(inst) || o.R.Eval(inst) }

func (n *Not) String() string { return "not(" + n.X.String() + ")" }
func (a *And) String() string { return "(" + a.L.String() + " and " + a.R.String() + ")" }
func (o *Or) String() string  { return "(" + o.L.String() + " or " + o.R.String() + ")" }

func (c *Cond) String() string {
	switch c.Op {
	case OpExists, OpNotExists:
		return c.Subject + " " + string(c.Op)
	case OpIn, OpNotIn:
		q := make([]string, len(c.Args))
		for i, a := range c.Args {
			q[i] = quoteArg(a)
		}
		return c.Subject + " " + string(c.Op) + " [" + strings.Join(q, ", ") + "]"
	}
	return c.Subject + " " + string(c.Op) + " " + quoteArg(c.Args[0])
}

func quoteArg(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\r\n\f\v()[],'\"\\") && !strings.Contains(s, "&&") && !strings.Contains(s, "||") {
		return s
	}
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`)
	return "'" + r.Replace(s) + "'"
}

// Eval implements Expr. Negative operators are the negation of their positive
// form, so a missing attribute satisfies != and !in, and task:group != x means
// no task on the instance is in group x.
func (c *Cond) Eval(inst *Instance) bool {
	switch c.Op {
	case OpNe:
		return !c.evalPos(inst, OpEq)
	case OpNotIn:
		return !c.evalPos(inst, OpIn)
	case OpNotMatch:
		return !c.evalPos(inst, OpMatch)
	case OpNotExists:
		return !c.evalPos(inst, OpExists)
	}
	return c.evalPos(inst, c.Op)
}

// values returns the subject's values on inst; task:group has one per task.
func (c *Cond) values(inst *Instance) []string {
	switch c.Subject {
	case SubjectAgentConnected:
		return []string{strconv.FormatBool(inst.AgentConnected)}
	case SubjectAgentVersion:
		return []string{inst.AgentVersion}
	case SubjectEC2InstanceID:
		return []string{inst.ID}
	case SubjectRunningTasksCount:
		return []string{strconv.Itoa(inst.TaskCount)}
	case SubjectTaskGroup:
		var gs []string
		for g, n := range inst.Groups {
			if g != "" && n > 0 {
				gs = append(gs, g)
			}
		}
		return gs
	case SubjectRegisteredAt:
		return []string{inst.RegisteredAt.UTC().Format(time.RFC3339)}
	}
	if v, ok := inst.Attributes[strings.TrimPrefix(c.Subject, attributePrefix)]; ok {
		return []string{v}
	}
	return nil
}

func (c *Cond) evalPos(inst *Instance, op Operator) bool {
	switch c.Subject {
	case SubjectRegisteredAt:
		return c.evalTime(inst.RegisteredAt, op)
	case SubjectRunningTasksCount:
		return cmpOp(op, compareInt(inst.TaskCount, c.num))
	}
	vals := c.values(inst)
	if op == OpExists {
		return len(vals) > 0
	}
	// task:group is true when any task on the instance matches.
	for _, v := range vals {
		if c.match(v, op) {
			return true
		}
	}
	return false
}

func (c *Cond) match(v string, op Operator) bool {
	switch op {
	case OpEq:
		return v == c.Args[0]
	case OpIn:
		return slices.Contains(c.Args, v)
	case OpMatch:
		return c.re.MatchString(v)
	}
	if c.Subject == SubjectAgentVersion {
		return cmpOp(op, compareVersion(v, c.Args[0]))
	}
	return cmpOp(op, compareValue(v, c.Args[0]))
}

func (c *Cond) evalTime(t time.Time, op Operator) bool {
	t = t.UTC().Truncate(time.Second)
	if c.dateDay {
		t = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	}
	switch op {
	case OpEq:
		return t.Equal(c.date)
	case OpGt, OpGe, OpLt, OpLe:
		return cmpOp(op, t.Compare(c.date))
	}
	return false
}

func cmpOp(op Operator, c int) bool {
	switch op {
	case OpEq:
		return c == 0
	case OpGt:
		return c > 0
	case OpGe:
		return c >= 0
	case OpLt:
		return c < 0
	case OpLe:
		return c <= 0
	}
	return false
}

func compareInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// compareValue orders attribute values numerically when both are numbers and
// as strings otherwise.
func compareValue(a, b string) int {
	x, err1 := strconv.ParseFloat(a, 64)
	y, err2 := strconv.ParseFloat(b, 64)
	if err1 == nil && err2 == nil {
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	}
	return strings.Compare(a, b)
}

// compareVersion orders dotted versions segment by segment, numerically where
// both segments are numbers ("1.9.0" < "1.14.5").
func compareVersion(a, b string) int {
	as, bs := strings.Split(strings.TrimPrefix(a, "v"), "."), strings.Split(strings.TrimPrefix(b, "v"), ".")
	for i := 0; i < len(as) || i < len(bs); i++ {
		x, y := "0", "0"
		if i < len(as) {
			x = as[i]
		}
		if i < len(bs) {
			y = bs[i]
		}
		xi, e1 := strconv.Atoi(x)
		yi, e2 := strconv.Atoi(y)
		var c int
		if e1 == nil && e2 == nil {
			c = compareInt(xi, yi)
		} else {
			c = strings.Compare(x, y)
		}
		if c != 0 {
			return c
		}
	}
	return 0
}

// dateLayouts are the registeredAt formats the ECS guide lists:
// 2018-06-18T22:28:28+00:00, 2018-06-18T22:28:28Z, 2018-06-18T22:28:28, 2018-06-18.
var dateLayouts = []string{time.RFC3339, "2006-01-02T15:04:05"}

// ParseExpression parses a cluster query language expression. Compound
// expressions combine simple ones with && (and), || (or) and ! (not); "not"
// binds tightest, then "and", then "or"; parentheses group.
func ParseExpression(s string) (Expr, error) {
	p := &parser{src: s}
	e, err := p.parseOr(0)
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos < len(p.src) {
		return nil, p.errorf("unexpected %q after expression", p.rest(10))
	}
	return e, nil
}

type parser struct {
	src string
	pos int
}

func (p *parser) errorf(format string, a ...any) error {
	return &SyntaxError{Expr: p.src, Pos: p.pos, Msg: fmt.Sprintf(format, a...)}
}

func (p *parser) rest(n int) string {
	r := p.src[p.pos:]
	if len(r) > n {
		r = r[:n]
	}
	return r
}

func (p *parser) skipSpace() {
	for p.pos < len(p.src) && isSpace(p.src[p.pos]) {
		p.pos++
	}
}

func isSpace(b byte) bool {
	return b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == '\f' || b == '\v'
}

// keyword reports whether the next input is word kw standing alone (followed
// by a space, a parenthesis or the end), and consumes it if so.
func (p *parser) keyword(kw string, allowParen bool) bool {
	if !strings.HasPrefix(p.src[p.pos:], kw) {
		return false
	}
	end := p.pos + len(kw)
	if end < len(p.src) && !isSpace(p.src[end]) && !(allowParen && p.src[end] == '(') {
		return false
	}
	p.pos = end
	return true
}

const maxDepth = 100

func (p *parser) parseOr(depth int) (Expr, error) {
	l, err := p.parseAnd(depth)
	if err != nil {
		return nil, err
	}
	for {
		p.skipSpace()
		if strings.HasPrefix(p.src[p.pos:], "||") {
			p.pos += 2
		} else if !p.keyword("or", true) {
			return l, nil
		}
		r, err := p.parseAnd(depth)
		if err != nil {
			return nil, err
		}
		l = &Or{L: l, R: r}
	}
}

func (p *parser) parseAnd(depth int) (Expr, error) {
	l, err := p.parseUnary(depth)
	if err != nil {
		return nil, err
	}
	for {
		p.skipSpace()
		if strings.HasPrefix(p.src[p.pos:], "&&") {
			p.pos += 2
		} else if !p.keyword("and", true) {
			return l, nil
		}
		r, err := p.parseUnary(depth)
		if err != nil {
			return nil, err
		}
		l = &And{L: l, R: r}
	}
}

func (p *parser) parseUnary(depth int) (Expr, error) {
	if depth > maxDepth {
		return nil, p.errorf("expression nested deeper than %d levels", maxDepth)
	}
	p.skipSpace()
	if p.pos >= len(p.src) {
		return nil, p.errorf("expected an expression, found the end")
	}
	switch {
	case p.src[p.pos] == '(':
		p.pos++
		e, err := p.parseOr(depth + 1)
		if err != nil {
			return nil, err
		}
		p.skipSpace()
		if p.pos >= len(p.src) || p.src[p.pos] != ')' {
			return nil, p.errorf("expected ')'")
		}
		p.pos++
		return e, nil
	case p.src[p.pos] == '!':
		p.pos++
		return p.parseNot(depth)
	case p.keyword("not", true):
		return p.parseNot(depth)
	}
	return p.parseCond()
}

func (p *parser) parseNot(depth int) (Expr, error) {
	x, err := p.parseUnary(depth + 1)
	if err != nil {
		return nil, err
	}
	return &Not{X: x}, nil
}

func isSubjectByte(b byte) bool {
	return !isSpace(b) && !strings.ContainsRune("=!<>~()[],'\"&|", rune(b))
}

func (p *parser) parseCond() (Expr, error) {
	start := p.pos
	for p.pos < len(p.src) && isSubjectByte(p.src[p.pos]) {
		p.pos++
	}
	subject := p.src[start:p.pos]
	ops, err := subjectOps(subject)
	if err != nil {
		p.pos = start
		return nil, p.errorf("%v", err)
	}
	p.skipSpace()
	opPos := p.pos
	op, ok := p.parseOperator()
	if !ok {
		return nil, p.errorf("expected an operator after %q, found %q", subject, p.rest(10))
	}
	if !slices.Contains(ops, op) && !strings.HasPrefix(subject, attributePrefix) {
		p.pos = opPos
		return nil, p.errorf("operator %s is not valid for %s", op, subject)
	}
	c := &Cond{Subject: subject, Op: op}
	switch op {
	case OpExists, OpNotExists:
		return c, nil
	case OpIn, OpNotIn:
		if c.Args, err = p.parseList(); err != nil {
			return nil, err
		}
	default:
		p.skipSpace()
		arg, err := p.parseArg(false)
		if err != nil {
			return nil, err
		}
		c.Args = []string{arg}
	}
	return c, p.check(c, opPos)
}

func subjectOps(subject string) ([]Operator, error) {
	if ops, ok := validOps[subject]; ok {
		return ops, nil
	}
	if name, ok := strings.CutPrefix(subject, attributePrefix); ok && name != "" {
		return nil, nil
	}
	if subject == "" {
		return nil, fmt.Errorf("expected a subject")
	}
	return nil, fmt.Errorf("unknown subject %q", subject)
}

func (p *parser) parseOperator() (Operator, bool) {
	for _, op := range symbolOps {
		if strings.HasPrefix(p.src[p.pos:], string(op)) {
			// "!exists"/"!in" are words after "!": require a boundary.
			if (op == OpNotExists || op == OpNotIn) && !p.boundaryAt(p.pos+len(op)) {
				continue
			}
			p.pos += len(op)
			return op, true
		}
	}
	start := p.pos
	for p.pos < len(p.src) && (p.src[p.pos] == '_' || p.src[p.pos] >= 'a' && p.src[p.pos] <= 'z') {
		p.pos++
	}
	if op, ok := wordOps[p.src[start:p.pos]]; ok && p.boundaryAt(p.pos) {
		return op, true
	}
	p.pos = start
	return "", false
}

func (p *parser) boundaryAt(i int) bool {
	return i >= len(p.src) || isSpace(p.src[i]) || strings.ContainsRune("()['\"", rune(p.src[i]))
}

// parseArg reads a literal: a quoted string ('...' or "..." with backslash
// escapes) or a run of characters up to a space or a parenthesis (and, in a
// list, a comma or a bracket) or "&&" / "||".
func (p *parser) parseArg(inList bool) (string, error) {
	if p.pos >= len(p.src) {
		return "", p.errorf("expected an argument, found the end")
	}
	if q := p.src[p.pos]; q == '\'' || q == '"' {
		start := p.pos
		p.pos++
		var b strings.Builder
		for p.pos < len(p.src) {
			ch := p.src[p.pos]
			switch {
			case ch == q:
				p.pos++
				return b.String(), nil
			case ch == '\\' && p.pos+1 < len(p.src):
				b.WriteByte(p.src[p.pos+1])
				p.pos += 2
			default:
				b.WriteByte(ch)
				p.pos++
			}
		}
		p.pos = start
		return "", p.errorf("unterminated quoted argument")
	}
	start := p.pos
	for p.pos < len(p.src) {
		ch := p.src[p.pos]
		if isSpace(ch) || ch == '(' || ch == ')' || ch == '\'' || ch == '"' || inList && (ch == ',' || ch == ']' || ch == '[') ||
			strings.HasPrefix(p.src[p.pos:], "&&") || strings.HasPrefix(p.src[p.pos:], "||") {
			break
		}
		p.pos++
	}
	if p.pos == start {
		return "", p.errorf("expected an argument, found %q", p.rest(10))
	}
	return p.src[start:p.pos], nil
}

// parseList reads an argument list: [a, b, ...].
func (p *parser) parseList() ([]string, error) {
	p.skipSpace()
	if p.pos >= len(p.src) || p.src[p.pos] != '[' {
		return nil, p.errorf("expected an argument list [a, b, ...]")
	}
	p.pos++
	var args []string
	for {
		p.skipSpace()
		a, err := p.parseArg(true)
		if err != nil {
			return nil, err
		}
		args = append(args, a)
		p.skipSpace()
		if p.pos >= len(p.src) {
			return nil, p.errorf("unterminated argument list, expected ']'")
		}
		switch p.src[p.pos] {
		case ',':
			p.pos++
		case ']':
			p.pos++
			return args, nil
		default:
			return nil, p.errorf("expected ',' or ']' in argument list, found %q", p.rest(10))
		}
	}
}

// check validates and pre-computes the argument for the subject and operator.
func (p *parser) check(c *Cond, pos int) error {
	errAt := func(format string, a ...any) error {
		return &SyntaxError{Expr: p.src, Pos: pos, Msg: fmt.Sprintf(format, a...)}
	}
	if c.Op == OpMatch || c.Op == OpNotMatch {
		// ECS uses Java regular expressions with whole-value matching
		// (Pattern.matches); RE2 covers the common subset.
		re, err := regexp.Compile("^(?:" + c.Args[0] + ")$")
		if err != nil {
			return errAt("invalid regular expression %q: %v", c.Args[0], err)
		}
		c.re = re
		return nil
	}
	switch c.Subject {
	case SubjectRegisteredAt:
		d, day, err := parseDate(c.Args[0])
		if err != nil {
			return errAt("registeredAt needs a date like 2018-06-18 or 2018-06-18T22:28:28Z, got %q", c.Args[0])
		}
		c.date, c.dateDay = d, day
	case SubjectRunningTasksCount:
		n, err := strconv.Atoi(c.Args[0])
		if err != nil || n < 0 {
			return errAt("runningTasksCount needs a whole number, got %q", c.Args[0])
		}
		c.num = n
	case SubjectAgentConnected:
		for _, a := range c.Args {
			if a != "true" && a != "false" {
				return errAt("agentConnected needs true or false, got %q", a)
			}
		}
	}
	return nil
}

func parseDate(s string) (time.Time, bool, error) {
	if d, err := time.Parse("2006-01-02", s); err == nil {
		return d, true, nil
	}
	for _, l := range dateLayouts {
		if d, err := time.Parse(l, s); err == nil {
			return d.UTC(), false, nil
		}
	}
	return time.Time{}, false, fmt.Errorf("bad date %q", s)
}
