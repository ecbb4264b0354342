package ecr

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gantry/internal/awsapi"
)

// LifecyclePolicy is an ECR lifecycle policy document, in the JSON shape AWS documents
// ("Lifecycle policy properties in Amazon ECR"). Rules keep the order they were given
// in; Evaluate applies them by rulePriority.
type LifecyclePolicy struct {
	Rules []LifecycleRule `json:"rules"`
}

// LifecycleRule is one rule of a lifecycle policy.
type LifecycleRule struct {
	RulePriority int                `json:"rulePriority"`
	Description  string             `json:"description,omitempty"`
	Selection    LifecycleSelection `json:"selection"`
	Action       LifecycleAction    `json:"action"`
}

// LifecycleSelection says which images a rule looks at (tagStatus and the tag lists)
// and which of those it expires (countType, countUnit, countNumber).
type LifecycleSelection struct {
	TagStatus      string   `json:"tagStatus"`
	TagPrefixList  []string `json:"tagPrefixList,omitempty"`
	TagPatternList []string `json:"tagPatternList,omitempty"`
	CountType      string   `json:"countType"`
	CountUnit      string   `json:"countUnit,omitempty"`
	CountNumber    int      `json:"countNumber"`
}

// LifecycleAction is what a rule does to the images it marks; AWS supports "expire".
type LifecycleAction struct {
	Type string `json:"type"`
}

// Image is what lifecycle evaluation needs to know about one image of a repository.
// InUse is true while a task that is not STOPPED references the image: Gantry never
// expires such an image (ECR users have long asked for this; ECR itself does not).
type Image struct {
	Digest   string
	Tags     []string
	PushedAt time.Time
	InUse    bool
}

// Expiration is one image a policy expires and the rule that expires it.
type Expiration struct {
	Image        Image
	RulePriority int
}

// Limits of the lifecycle policy text (PutLifecyclePolicy, lifecyclePolicyText) and of
// tagPatternList entries, as AWS documents them.
const (
	lifecyclePolicyMinChars  = 100
	lifecyclePolicyMaxChars  = 30720
	lifecyclePatternMaxStars = 4
)

// Members of each object of the document; anything else is refused, like AWS's schema
// validation refuses it.
var (
	lifecyclePolicyMembers    = []string{"rules"}
	lifecycleRuleMembers      = []string{"action", "description", "rulePriority", "selection"}
	lifecycleRuleRequired     = []string{"action", "rulePriority", "selection"}
	lifecycleSelectionMembers = []string{"countNumber", "countType", "countUnit", "tagPatternList", "tagPrefixList", "tagStatus"}
	lifecycleSelectionNeeded  = []string{"countNumber", "countType", "tagStatus"}
	lifecycleActionMembers    = []string{"type"}
)

// lifecycleError is the InvalidParameterException PutLifecyclePolicy and
// StartLifecyclePolicyPreview answer for a policy AWS would refuse; what says what is
// wrong and, inside a rule, names the rule and the member.
func lifecycleError(format string, args ...any) *awsapi.Error {
	return awsapi.ClientError("InvalidParameterException",
		"Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: 'Lifecycle policy validation failure: %s'",
		fmt.Sprintf(format, args...))
}

// ParseLifecyclePolicy decodes and validates a lifecycle policy text the way ECR's
// PutLifecyclePolicy does: members are matched exactly and unknown ones refused, every
// documented constraint is checked, and the first violation comes back as an
// *awsapi.Error (InvalidParameterException) that names the rule and the member.
func ParseLifecyclePolicy(text string) (*LifecyclePolicy, error) {
	switch n := utf8.RuneCountInString(text); {
	case n < lifecyclePolicyMinChars:
		return nil, awsapi.ClientError("InvalidParameterException",
			"Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: 'Member must have length greater than or equal to %d' (it has %d characters)", lifecyclePolicyMinChars, n)
	case n > lifecyclePolicyMaxChars:
		return nil, awsapi.ClientError("InvalidParameterException",
			"Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: 'Member must have length less than or equal to %d' (it has %d characters)", lifecyclePolicyMaxChars, n)
	}
	raw := bytes.TrimSpace([]byte(text))
	if !json.Valid(raw) || raw[0] != '{' {
		return nil, lifecycleError("Could not map policyString into LifecyclePolicy.")
	}
	top, err := lifecycleObject(raw, "", lifecyclePolicyMembers, lifecyclePolicyMembers)
	if err != nil {
		return nil, err
	}
	if lifecycleKind(top["rules"]) != "array" {
		return nil, lifecycleTypeError("rules", top["rules"], "array")
	}
	var items []json.RawMessage
	if err := json.Unmarshal(top["rules"], &items); err != nil {
		return nil, lifecycleError("rules: %v", err)
	}
	if len(items) == 0 {
		return nil, lifecycleError("rules: array is too short: must have at least 1 elements but instance has 0 elements")
	}
	p := &LifecyclePolicy{Rules: make([]LifecycleRule, 0, len(items))}
	for i, item := range items {
		r, err := parseLifecycleRule(item, i)
		if err != nil {
			return nil, err
		}
		p.Rules = append(p.Rules, r)
	}
	if err := p.checkRules(); err != nil {
		return nil, err
	}
	return p, nil
}

// parseLifecycleRule decodes and checks rules[i] on its own; checkRules then checks
// the rules against each other.
func parseLifecycleRule(raw json.RawMessage, i int) (LifecycleRule, error) {
	var r LifecycleRule
	where := fmt.Sprintf("rules[%d]", i)
	obj, err := lifecycleObject(raw, where, lifecycleRuleMembers, lifecycleRuleRequired)
	if err != nil {
		return r, err
	}
	if r.RulePriority, err = lifecycleInt(obj["rulePriority"], where+".rulePriority"); err != nil {
		return r, err
	}
	// From here on the rule is named by its priority, which is how users know it.
	where = fmt.Sprintf("rulePriority %d", r.RulePriority)
	if d, ok := obj["description"]; ok {
		if r.Description, err = lifecycleString(d, where+": description"); err != nil {
			return r, err
		}
	}
	if r.Selection, err = parseLifecycleSelection(obj["selection"], where); err != nil {
		return r, err
	}
	act, err := lifecycleObject(obj["action"], where+": action", lifecycleActionMembers, lifecycleActionMembers)
	if err != nil {
		return r, err
	}
	if r.Action.Type, err = lifecycleEnum(act["type"], where+": action.type", "expire"); err != nil {
		return r, err
	}
	return r, nil
}

func parseLifecycleSelection(raw json.RawMessage, rule string) (LifecycleSelection, error) {
	var s LifecycleSelection
	where := rule + ": selection"
	obj, err := lifecycleObject(raw, where, lifecycleSelectionMembers, lifecycleSelectionNeeded)
	if err != nil {
		return s, err
	}
	if s.TagStatus, err = lifecycleEnum(obj["tagStatus"], where+".tagStatus", "any", "tagged", "untagged"); err != nil {
		return s, err
	}
	if s.TagPrefixList, err = lifecycleTagList(obj, "tagPrefixList", where); err != nil {
		return s, err
	}
	if s.TagPatternList, err = lifecycleTagList(obj, "tagPatternList", where); err != nil {
		return s, err
	}
	if s.CountType, err = lifecycleEnum(obj["countType"], where+".countType", "imageCountMoreThan", "sinceImagePushed"); err != nil {
		return s, err
	}
	if u, ok := obj["countUnit"]; ok {
		if s.CountUnit, err = lifecycleEnum(u, where+".countUnit", "days"); err != nil {
			return s, err
		}
	}
	if s.CountNumber, err = lifecycleInt(obj["countNumber"], where+".countNumber"); err != nil {
		return s, err
	}
	return s, s.check(where)
}

// check applies the documented constraints between the members of one selection.
func (s *LifecycleSelection) check(where string) error {
	prefixes, patterns := len(s.TagPrefixList) > 0, len(s.TagPatternList) > 0
	switch {
	case s.TagStatus == "tagged" && !prefixes && !patterns:
		return lifecycleError("%s: tagStatus is tagged, so tagPrefixList or tagPatternList must list at least one tag", where)
	case s.TagStatus == "tagged" && prefixes && patterns:
		return lifecycleError("%s: tagPrefixList and tagPatternList cannot both be specified in one rule", where)
	case s.TagStatus != "tagged" && prefixes:
		return lifecycleError("%s: tagPrefixList must be omitted when tagStatus is %s", where, s.TagStatus)
	case s.TagStatus != "tagged" && patterns:
		return lifecycleError("%s: tagPatternList must be omitted when tagStatus is %s", where, s.TagStatus)
	}
	for i, p := range s.TagPatternList {
		if n := strings.Count(p, "*"); n > lifecyclePatternMaxStars {
			return lifecycleError("%s.tagPatternList[%d]: %q has %d wildcards (*); at most %d are allowed per pattern", where, i, p, n, lifecyclePatternMaxStars)
		}
	}
	switch {
	case s.CountType == "imageCountMoreThan" && s.CountUnit != "":
		return lifecycleError("%s.countUnit: must be omitted when countType is imageCountMoreThan", where)
	case s.CountType == "sinceImagePushed" && s.CountUnit == "":
		return lifecycleError("%s.countUnit: required when countType is sinceImagePushed; give \"days\"", where)
	}
	return nil
}

// checkRules applies the documented constraints between rules: unique priorities,
// one untagged rule, the any rule last, and no two rules with the same tag list.
func (p *LifecyclePolicy) checkRules() error {
	highest := p.Rules[0].RulePriority
	seen := make(map[int]int, len(p.Rules))
	for i, r := range p.Rules {
		if j, dup := seen[r.RulePriority]; dup {
			return lifecycleError("rulePriority %d: rulePriority must be unique, but rules[%d] and rules[%d] both use it", r.RulePriority, j, i)
		}
		seen[r.RulePriority] = i
		highest = max(highest, r.RulePriority)
	}
	untagged := -1
	for _, r := range p.Rules {
		switch r.Selection.TagStatus {
		case "untagged":
			if untagged >= 0 {
				a, b := min(untagged, r.RulePriority), max(untagged, r.RulePriority)
				return lifecycleError("Only one rule can select Untagged images: rulePriority %d and rulePriority %d both have tagStatus untagged", a, b)
			}
			untagged = r.RulePriority
		case "any":
			if r.RulePriority != highest {
				return lifecycleError("Rule for tagStatus=ANY must have the lowest priority: rulePriority %d has tagStatus any, so it needs the highest rulePriority value, but rulePriority %d is higher", r.RulePriority, highest)
			}
		}
	}
	return p.checkDistinctTagLists()
}

// checkDistinctTagLists enforces "the set of rules must contain a unique set of tag
// prefixes": a second rule with the same list could never expire anything.
func (p *LifecyclePolicy) checkDistinctTagLists() error {
	seen := map[string]int{}
	for _, r := range p.Rules {
		for _, l := range []struct {
			name string
			tags []string
		}{{"tagPrefixList", r.Selection.TagPrefixList}, {"tagPatternList", r.Selection.TagPatternList}} {
			if len(l.tags) == 0 {
				continue
			}
			set := slices.Compact(slices.Sorted(slices.Values(l.tags)))
			key := l.name + "\x00" + strings.Join(set, "\x00")
			if prio, dup := seen[key]; dup {
				a, b := min(prio, r.RulePriority), max(prio, r.RulePriority)
				return lifecycleError("The set of rules must contain a unique set of tag prefixes: rulePriority %d and rulePriority %d have the same %s %q", a, b, l.name, set)
			}
			seen[key] = r.RulePriority
		}
	}
	return nil
}

// lifecycleObject decodes a JSON object member by member, refusing duplicate,
// unknown and missing members; members are matched case-sensitively.
func lifecycleObject(raw json.RawMessage, where string, allowed, required []string) (map[string]json.RawMessage, error) {
	if lifecycleKind(raw) != "object" {
		return nil, lifecycleTypeError(where, raw, "object")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil { // the opening brace
		return nil, lifecycleError("%s: %v", lifecycleWhere(where), err)
	}
	obj := map[string]json.RawMessage{}
	var unknown []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, lifecycleError("%s: %v", lifecycleWhere(where), err)
		}
		key, _ := tok.(string)
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return nil, lifecycleError("%s: %v", lifecycleWhere(where), err)
		}
		if _, dup := obj[key]; dup {
			return nil, lifecycleError("%s: member %q appears more than once", lifecycleWhere(where), key)
		}
		obj[key] = val
		if !slices.Contains(allowed, key) {
			unknown = append(unknown, key)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return nil, lifecycleError("%s: object instance has properties which are not allowed by the schema: (%s)", lifecycleWhere(where), lifecycleQuoted(unknown))
	}
	var missing []string
	for _, k := range required {
		if _, ok := obj[k]; !ok {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return nil, lifecycleError("%s: object has missing required properties (%s)", lifecycleWhere(where), lifecycleQuoted(missing))
	}
	return obj, nil
}

func lifecycleWhere(where string) string {
	if where == "" {
		return "policy"
	}
	return where
}

// lifecycleQuoted renders names as a JSON array, the way AWS's schema errors list them.
func lifecycleQuoted(names []string) string {
	b, _ := json.Marshal(names)
	return string(b)
}

// lifecycleKind names the JSON type of a value the way JSON Schema does.
func lifecycleKind(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "null"
	}
	switch raw[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	if strings.TrimLeft(strings.TrimPrefix(string(raw), "-"), "0123456789") == "" {
		return "integer"
	}
	return "number"
}

func lifecycleTypeError(where string, raw json.RawMessage, want string) *awsapi.Error {
	return lifecycleError("%s: instance type (%s) does not match any allowed primitive type (allowed: [%q])", lifecycleWhere(where), lifecycleKind(raw), want)
}

func lifecycleString(raw json.RawMessage, where string) (string, error) {
	var s string
	if lifecycleKind(raw) != "string" || json.Unmarshal(raw, &s) != nil {
		return "", lifecycleTypeError(where, raw, "string")
	}
	return s, nil
}

func lifecycleEnum(raw json.RawMessage, where string, values ...string) (string, error) {
	s, err := lifecycleString(raw, where)
	if err != nil {
		return "", err
	}
	if !slices.Contains(values, s) {
		return "", lifecycleError("%s: instance value (%q) not found in enum (possible values: %s)", where, s, lifecycleQuoted(values))
	}
	return s, nil
}

// lifecycleInt decodes a positive integer that fits AWS's 32-bit integer members
// (rulePriority, countNumber); 0 is not accepted for either.
func lifecycleInt(raw json.RawMessage, where string) (int, error) {
	if lifecycleKind(raw) != "integer" {
		return 0, lifecycleTypeError(where, raw, "integer")
	}
	text := string(bytes.TrimSpace(raw))
	n, err := strconv.ParseInt(text, 10, 32)
	switch {
	case err != nil && text[0] == '-', err == nil && n < 1:
		return 0, lifecycleError("%s: numeric instance is lower than the required minimum (minimum: 1, found: %s)", where, text)
	case err != nil:
		return 0, lifecycleError("%s: numeric instance is greater than the required maximum (maximum: %d, found: %s)", where, math.MaxInt32, text)
	}
	return int(n), nil
}

// lifecycleTagList decodes tagPrefixList or tagPatternList; an absent or empty list is
// nil, so a policy and its re-encoding compare equal.
func lifecycleTagList(obj map[string]json.RawMessage, name, where string) ([]string, error) {
	raw, ok := obj[name]
	if !ok {
		return nil, nil
	}
	where += "." + name
	if lifecycleKind(raw) != "array" {
		return nil, lifecycleTypeError(where, raw, "array")
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, lifecycleError("%s: %v", where, err)
	}
	var tags []string
	for i, item := range items {
		s, err := lifecycleString(item, fmt.Sprintf("%s[%d]", where, i))
		if err != nil {
			return nil, err
		}
		if s == "" {
			return nil, lifecycleError("%s[%d]: must not be empty", where, i)
		}
		tags = append(tags, s)
	}
	return tags, nil
}

// Evaluate returns the images that policy p expires among images at time now, with
// AWS's semantics ("Lifecycle policy evaluation rules"):
//
//   - Rules apply in ascending rulePriority, and an image is expired by at most one.
//   - A rule selects images by tag: tagged rules select images that, for every entry
//     of the tagPrefixList (tagPatternList), carry some tag that starts with (matches)
//     it; untagged rules select images without tags; any rules select every image.
//   - imageCountMoreThan keeps the countNumber newest selected images (by PushedAt)
//     and marks the rest; sinceImagePushed marks selected images pushed more than
//     countNumber days (of 24 hours) before now.
//   - A rule counts every image it selects, also those an earlier rule selected or
//     expired, but it only expires images that no earlier rule selected: "an image
//     that matches the tagging requirements of a rule cannot be expired by a rule
//     with a lower priority".
//
// In-use images are never expired. Under imageCountMoreThan they are kept first and
// take their slots of countNumber, so the repository still holds at most countNumber
// of the rule's images unless more than that are in use.
//
// Of images pushed at the same instant, the one with the smaller Digest counts as the
// newer, so the outcome never depends on the order of images. The result is ordered by
// rule priority, then PushedAt (oldest first), then Digest.
// p is read, never changed; Evaluate does no I/O.
func Evaluate(p *LifecyclePolicy, images []Image, now time.Time) []Expiration {
	if p == nil || len(images) == 0 {
		return nil
	}
	rules := slices.Clone(p.Rules)
	slices.SortStableFunc(rules, func(a, b LifecycleRule) int { return cmp.Compare(a.RulePriority, b.RulePriority) })

	claimed := make([]bool, len(images)) // selected by a rule with a higher priority
	selected := make([]int, 0, len(images))
	var out []lifecycleExpiry
	for _, r := range rules {
		match := newLifecycleMatcher(&r.Selection)
		selected = selected[:0]
		for i := range images {
			if match(images[i].Tags) {
				selected = append(selected, i)
			}
		}
		for _, i := range r.Selection.mark(images, selected, now) {
			if !claimed[i] {
				out = append(out, lifecycleExpiry{index: i, rule: r.RulePriority})
			}
		}
		for _, i := range selected {
			claimed[i] = true
		}
	}
	slices.SortFunc(out, func(a, b lifecycleExpiry) int {
		x, y := &images[a.index], &images[b.index]
		return cmp.Or(cmp.Compare(a.rule, b.rule), x.PushedAt.Compare(y.PushedAt),
			cmp.Compare(x.Digest, y.Digest), cmp.Compare(a.index, b.index))
	})
	exps := make([]Expiration, len(out))
	for k, e := range out {
		exps[k] = Expiration{Image: images[e.index], RulePriority: e.rule}
	}
	return exps
}

type lifecycleExpiry struct {
	index int // into the images given to Evaluate
	rule  int
}

// newLifecycleMatcher returns the tag selection of s as a function of an image's tags.
func newLifecycleMatcher(s *LifecycleSelection) func(tags []string) bool {
	switch s.TagStatus {
	case "any":
		return func([]string) bool { return true }
	case "untagged":
		return func(tags []string) bool { return len(tags) == 0 }
	case "tagged":
		if len(s.TagPrefixList) > 0 {
			return lifecycleAllMatched(s.TagPrefixList, strings.HasPrefix)
		}
		if len(s.TagPatternList) > 0 {
			return lifecycleAllMatched(s.TagPatternList, func(tag, pattern string) bool { return wildcardMatch(pattern, tag) })
		}
	}
	return func([]string) bool { return false }
}

// lifecycleAllMatched selects images where every entry of list is matched by at least
// one of the image's tags ("only the images with all specified tags are selected").
func lifecycleAllMatched(list []string, matches func(tag, entry string) bool) func(tags []string) bool {
	return func(tags []string) bool {
		for _, entry := range list {
			if !slices.ContainsFunc(tags, func(tag string) bool { return matches(tag, entry) }) {
				return false
			}
		}
		return len(list) > 0
	}
}

// mark returns the images among selected that s's count would expire, in-use images
// aside; selected may be reordered.
func (s *LifecycleSelection) mark(images []Image, selected []int, now time.Time) []int {
	var marked []int
	switch s.CountType {
	case "imageCountMoreThan":
		slices.SortFunc(selected, func(a, b int) int { // newest first
			x, y := &images[a], &images[b]
			return cmp.Or(y.PushedAt.Compare(x.PushedAt), cmp.Compare(x.Digest, y.Digest), cmp.Compare(a, b))
		})
		keep := s.CountNumber
		for _, i := range selected {
			if images[i].InUse {
				keep--
			}
		}
		for _, i := range selected {
			switch {
			case images[i].InUse:
			case keep > 0:
				keep--
			default:
				marked = append(marked, i)
			}
		}
	case "sinceImagePushed":
		for _, i := range selected {
			if !images[i].InUse && lifecycleOlderThan(now, images[i].PushedAt, s.CountNumber) {
				marked = append(marked, i)
			}
		}
	}
	return marked
}

// lifecycleOlderThan reports whether pushed lies more than days whole days of 24 hours
// before now. It counts in seconds so that no countNumber overflows a time.Duration.
func lifecycleOlderThan(now, pushed time.Time, days int) bool {
	sec := now.Unix() - pushed.Unix()
	nsec := now.Nanosecond() - pushed.Nanosecond()
	if nsec < 0 {
		sec, nsec = sec-1, nsec+int(time.Second)
	}
	limit := int64(days) * 24 * 60 * 60
	return sec > limit || sec == limit && nsec > 0
}
