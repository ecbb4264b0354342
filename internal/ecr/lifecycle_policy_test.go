package ecr

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"gantry/internal/awsapi"
)

var lpNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const lpDay = 24 * time.Hour

// lpImage is an image pushed age before lpNow.
func lpImage(digest string, age time.Duration, tags ...string) Image {
	return Image{Digest: digest, Tags: tags, PushedAt: lpNow.Add(-age)}
}

// lpRule is one rule of a policy text; selection is the inside of the selection object.
func lpRule(priority int, selection string) string {
	return fmt.Sprintf(`{"rulePriority":%d,"description":"Rule %d","selection":{%s},"action":{"type":"expire"}}`, priority, priority, selection)
}

func lpPolicy(rules ...string) string {
	return `{"rules":[` + strings.Join(rules, ",") + `]}`
}

// lpPad pads text with trailing blanks to the 100 characters AWS requires at least, so
// that a test reaches the check it is about.
func lpPad(text string) string {
	return text + strings.Repeat(" ", max(0, lifecyclePolicyMinChars-len(text)))
}

func lpMustParse(t testing.TB, text string) *LifecyclePolicy {
	t.Helper()
	p, err := ParseLifecyclePolicy(text)
	if err != nil {
		t.Fatalf("ParseLifecyclePolicy(%s): %v", text, err)
	}
	return p
}

// lpOutcome renders expirations as "digest@rulePriority", in the order given.
func lpOutcome(exps []Expiration) []string {
	out := []string{}
	for _, e := range exps {
		out = append(out, fmt.Sprintf("%s@%d", e.Image.Digest, e.RulePriority))
	}
	return out
}

// The examples of the ECR User Guide ("Examples of lifecycle policies in Amazon ECR"
// and "Lifecycle policy evaluation rules"), each with the repository contents and the
// outcome the guide states. Where the guide's examples exist in a tagPrefixList and a
// tagPatternList version, both are here.
func TestEvaluateDocumentedExamples(t *testing.T) {
	t.Parallel()
	multiRules := []Image{
		lpImage("A", 10*lpDay, "beta-1", "prod-1"),
		lpImage("B", 9*lpDay, "beta-2", "prod-2"),
		lpImage("C", 8*lpDay, "beta-3"),
	}
	multiTagsAge := []Image{
		lpImage("A", 12*lpDay, "alpha-1"),
		lpImage("B", 11*lpDay, "beta-1"),
		lpImage("C", 10*lpDay, "alpha-2", "beta-2"),
		lpImage("D", 4*lpDay, "alpha-3"),
		lpImage("E", 3*lpDay, "beta-3"),
		lpImage("F", 2*lpDay, "alpha-4", "beta-4"),
	}
	multiTagsCount := []Image{
		lpImage("A", 10*lpDay, "alpha-1", "beta-1", "gamma-1"),
		lpImage("B", 9*lpDay, "alpha-2", "beta-2"),
		lpImage("C", 8*lpDay, "alpha-3", "beta-3", "gamma-2"),
	}
	allImagesCount := []Image{
		lpImage("A", 4*lpDay, "alpha-1"),
		lpImage("B", 3*lpDay, "beta-1"),
		lpImage("C", 2*lpDay),
		lpImage("D", 1*lpDay, "alpha-2"),
	}
	// The guide pushes D and E both "1 day ago" and its outcome keeps E as the newest
	// image; E is pushed an hour later here so that "newest" is not a tie.
	allRuleTypes := []Image{
		lpImage("A", 4*lpDay, "alpha-1", "beta-1"),
		lpImage("B", 3*lpDay),
		lpImage("C", 2*lpDay, "alpha-2"),
		lpImage("D", 1*lpDay, "git hash"),
		lpImage("E", 1*lpDay-time.Hour),
	}
	for _, tc := range []struct {
		name   string
		policy string
		images []Image
		want   []string
	}{{
		name:   "filtering on image age: untagged older than 14 days",
		policy: lpPolicy(lpRule(1, `"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":14`)),
		images: []Image{
			lpImage("old", 15*lpDay), lpImage("exactly14", 14*lpDay), lpImage("young", 13*lpDay),
			lpImage("tagged-old", 30*lpDay, "v1"),
		},
		want: []string{"old@1"},
	}, {
		name:   "filtering on image age: tagPatternList prod* older than 14 days",
		policy: lpPolicy(lpRule(1, `"tagStatus":"tagged","tagPatternList":["prod*"],"countType":"sinceImagePushed","countUnit":"days","countNumber":14`)),
		images: []Image{
			lpImage("prod", 20*lpDay, "prod"), lpImage("prod1", 15*lpDay, "prod1"),
			lpImage("prod2", 10*lpDay, "prod2"), lpImage("dev", 20*lpDay, "dev"), lpImage("untagged", 30*lpDay),
		},
		want: []string{"prod@1", "prod1@1"},
	}, {
		name:   "filtering on image count: keep one untagged image",
		policy: lpPolicy(lpRule(1, `"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1`)),
		images: []Image{
			lpImage("u3", 3*lpDay), lpImage("u2", 2*lpDay), lpImage("u1", 1*lpDay), lpImage("t5", 5*lpDay, "v5"),
		},
		want: []string{"u3@1", "u2@1"},
	}, {
		name: "multiple rules, example A (tagPrefixList)",
		policy: lpPolicy(
			lpRule(1, `"tagStatus":"tagged","tagPrefixList":["prod"],"countType":"imageCountMoreThan","countNumber":1`),
			lpRule(2, `"tagStatus":"tagged","tagPrefixList":["beta"],"countType":"imageCountMoreThan","countNumber":1`)),
		images: multiRules,
		want:   []string{"A@1"},
	}, {
		name: "multiple rules, example A (tagPatternList)",
		policy: lpPolicy(
			lpRule(1, `"tagStatus":"tagged","tagPatternList":["prod*"],"countType":"imageCountMoreThan","countNumber":1`),
			lpRule(2, `"tagStatus":"tagged","tagPatternList":["beta*"],"countType":"imageCountMoreThan","countNumber":1`)),
		images: multiRules,
		want:   []string{"A@1"},
	}, {
		name: "multiple rules, example B (tagPrefixList)",
		policy: lpPolicy(
			lpRule(1, `"tagStatus":"tagged","tagPrefixList":["beta"],"countType":"imageCountMoreThan","countNumber":1`),
			lpRule(2, `"tagStatus":"tagged","tagPrefixList":["prod"],"countType":"imageCountMoreThan","countNumber":1`)),
		images: multiRules,
		want:   []string{"A@1", "B@1"},
	}, {
		name: "multiple rules, example B (tagPatternList)",
		policy: lpPolicy(
			lpRule(1, `"tagStatus":"tagged","tagPatternList":["beta*"],"countType":"imageCountMoreThan","countNumber":1`),
			lpRule(2, `"tagStatus":"tagged","tagPatternList":["prod*"],"countType":"imageCountMoreThan","countNumber":1`)),
		images: multiRules,
		want:   []string{"A@1", "B@1"},
	}, {
		name:   "multiple tags in a single rule, example A (tagPrefixList)",
		policy: lpPolicy(lpRule(1, `"tagStatus":"tagged","tagPrefixList":["alpha","beta"],"countType":"sinceImagePushed","countNumber":5,"countUnit":"days"`)),
		images: multiTagsAge,
		want:   []string{"C@1"},
	}, {
		name:   "multiple tags in a single rule, example A (tagPatternList)",
		policy: lpPolicy(lpRule(1, `"tagStatus":"tagged","tagPatternList":["alpha*","beta*"],"countType":"sinceImagePushed","countNumber":5,"countUnit":"days"`)),
		images: multiTagsAge,
		want:   []string{"C@1"},
	}, {
		name:   "multiple tags in a single rule, example B (tagPrefixList)",
		policy: lpPolicy(lpRule(1, `"tagStatus":"tagged","tagPrefixList":["alpha","beta"],"countType":"imageCountMoreThan","countNumber":1`)),
		images: multiTagsCount,
		want:   []string{"A@1", "B@1"},
	}, {
		name:   "multiple tags in a single rule, example B (tagPatternList)",
		policy: lpPolicy(lpRule(1, `"tagStatus":"tagged","tagPatternList":["alpha*","beta*"],"countType":"imageCountMoreThan","countNumber":1`)),
		images: multiTagsCount,
		want:   []string{"A@1", "B@1"},
	}, {
		name:   "all images, example A: any, keep one",
		policy: lpPolicy(lpRule(1, `"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1`)),
		images: allImagesCount,
		want:   []string{"A@1", "B@1", "C@1"},
	}, {
		name: "all images, example B: every rule type (tagPrefixList)",
		policy: lpPolicy(
			lpRule(1, `"tagStatus":"tagged","tagPrefixList":["alpha"],"countType":"imageCountMoreThan","countNumber":1`),
			lpRule(2, `"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":1`),
			lpRule(3, `"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1`)),
		images: allRuleTypes,
		want:   []string{"A@1", "B@2", "D@3"},
	}, {
		name: "all images, example B: every rule type (tagPatternList)",
		policy: lpPolicy(
			lpRule(1, `"tagStatus":"tagged","tagPatternList":["alpha*"],"countType":"imageCountMoreThan","countNumber":1`),
			lpRule(2, `"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":1`),
			lpRule(3, `"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1`)),
		images: allRuleTypes,
		want:   []string{"A@1", "B@2", "D@3"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := lpOutcome(Evaluate(lpMustParse(t, tc.policy), tc.images, lpNow))
			if !slices.Equal(got, tc.want) {
				t.Errorf("expired %v, want %v", got, tc.want)
			}
		})
	}
}

// A rule that selects an image but keeps it still shields it from every later rule.
func TestEvaluateLowerPriorityRuleCannotExpireImageAHigherRuleSelected(t *testing.T) {
	t.Parallel()
	p := lpMustParse(t, lpPolicy(
		lpRule(1, `"tagStatus":"tagged","tagPrefixList":["release-"],"countType":"imageCountMoreThan","countNumber":10`),
		lpRule(2, `"tagStatus":"any","countType":"sinceImagePushed","countUnit":"days","countNumber":7`)))
	images := []Image{
		lpImage("release-old", 100*lpDay, "release-1.0"),
		lpImage("dev-old", 100*lpDay, "dev-1"),
		lpImage("untagged-old", 50*lpDay),
		lpImage("dev-new", 1*lpDay, "dev-2"),
	}
	got := lpOutcome(Evaluate(p, images, lpNow))
	want := []string{"dev-old@2", "untagged-old@2"}
	if !slices.Equal(got, want) {
		t.Errorf("expired %v, want %v", got, want)
	}
}

// Which images a tagged rule selects, seen through a rule that expires every selected
// image (all images are older than its one day).
func TestEvaluateTagSelection(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		list string // "tagPrefixList" or "tagPatternList"
		tags []string
		on   []string
		want bool
	}{
		{"tagPatternList", []string{"prod*"}, []string{"prod"}, true}, // * matches nothing too
		{"tagPatternList", []string{"prod*"}, []string{"prod-1"}, true},
		{"tagPatternList", []string{"prod*"}, []string{"preprod"}, false},
		{"tagPatternList", []string{"*prod"}, []string{"preprod"}, true},
		{"tagPatternList", []string{"prod"}, []string{"prod-1"}, false}, // no * means the whole tag
		{"tagPatternList", []string{"prod"}, []string{"prod"}, true},
		{"tagPatternList", []string{"p*d"}, []string{"pd"}, true},
		{"tagPatternList", []string{"p*d"}, []string{"prod-1"}, false},
		{"tagPatternList", []string{"*-*-*"}, []string{"a-b-c"}, true},
		{"tagPatternList", []string{"*-*-*"}, []string{"a-b"}, false},
		{"tagPatternList", []string{"*1*2*3*4"}, []string{"x1y2z3w4"}, true},
		{"tagPatternList", []string{"*"}, []string{"anything"}, true},
		{"tagPatternList", []string{"*"}, nil, false}, // tagged rules never select untagged images
		{"tagPatternList", []string{"Prod*"}, []string{"prod"}, false},
		{"tagPatternList", []string{"alpha*", "beta*"}, []string{"alpha-1"}, false},
		{"tagPatternList", []string{"alpha*", "beta*"}, []string{"beta-1", "alpha-1"}, true},
		{"tagPatternList", []string{"alpha*", "*-1"}, []string{"alpha-1"}, true}, // one tag may match several patterns
		{"tagPrefixList", []string{"prod"}, []string{"prod-1"}, true},
		{"tagPrefixList", []string{"prod"}, []string{"preprod"}, false},
		{"tagPrefixList", []string{"prod*"}, []string{"prod-1"}, false}, // a prefix has no wildcards
		{"tagPrefixList", []string{"prod*"}, []string{"prod*x"}, true},
		// "If you specify multiple tags, only the images with all specified tags are
		// selected": one matching prefix is not enough.
		{"tagPrefixList", []string{"alpha", "beta"}, []string{"alpha-1"}, false},
		{"tagPrefixList", []string{"alpha", "beta"}, []string{"alpha-1", "beta-1"}, true},
		{"tagPrefixList", []string{"alpha", "beta"}, []string{"alphabeta"}, false},
		{"tagPrefixList", []string{"al", "alp"}, []string{"alpha"}, true},
	} {
		name := fmt.Sprintf("%s %q on %q", tc.list, tc.tags, tc.on)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			list, _ := json.Marshal(tc.tags)
			p := lpMustParse(t, lpPolicy(lpRule(1, fmt.Sprintf(
				`"tagStatus":"tagged",%q:%s,"countType":"sinceImagePushed","countUnit":"days","countNumber":1`, tc.list, list))))
			got := len(Evaluate(p, []Image{lpImage("img", 2*lpDay, tc.on...)}, lpNow)) == 1
			if got != tc.want {
				t.Errorf("selected = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestEvaluateSinceImagePushed(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		days   int
		pushed time.Time
		want   bool
	}{
		{"exactly countNumber days old is kept", 14, lpNow.Add(-14 * lpDay), false},
		{"a nanosecond older is expired", 14, lpNow.Add(-14*lpDay - 1), true},
		{"pushed after now (clock skew) is kept", 1, lpNow.Add(time.Hour), false},
		{"older than a time.Duration can hold is expired", 36500, time.Time{}, true},
		{"largest countNumber does not overflow", 2147483647, time.Time{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := lpMustParse(t, lpPolicy(lpRule(1, fmt.Sprintf(
				`"tagStatus":"any","countType":"sinceImagePushed","countUnit":"days","countNumber":%d`, tc.days))))
			got := len(Evaluate(p, []Image{{Digest: "img", PushedAt: tc.pushed}}, lpNow)) == 1
			if got != tc.want {
				t.Errorf("expired = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestEvaluateNeverExpiresImagesInUse(t *testing.T) {
	t.Parallel()
	inUse := func(img Image) Image { img.InUse = true; return img }
	for _, tc := range []struct {
		name   string
		policy string
		images []Image
		want   []string
	}{{
		// The old in-use image is kept and takes one of the two slots, so only the
		// newest other image is kept with it.
		name:   "count rule keeps an old in-use image in one of its slots",
		policy: lpPolicy(lpRule(1, `"tagStatus":"any","countType":"imageCountMoreThan","countNumber":2`)),
		images: []Image{
			lpImage("n1", 1*lpDay, "v4"), lpImage("n2", 2*lpDay, "v3"), lpImage("n3", 3*lpDay, "v2"),
			inUse(lpImage("old", 10*lpDay, "v1")),
		},
		want: []string{"n3@1", "n2@1"},
	}, {
		name:   "count rule keeps every in-use image even beyond countNumber",
		policy: lpPolicy(lpRule(1, `"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1`)),
		images: []Image{
			lpImage("newest", 1*lpDay, "v3"), inUse(lpImage("u2", 2*lpDay, "v2")), inUse(lpImage("u1", 3*lpDay, "v1")),
		},
		want: []string{"newest@1"},
	}, {
		name:   "an in-use image among the newest changes nothing",
		policy: lpPolicy(lpRule(1, `"tagStatus":"any","countType":"imageCountMoreThan","countNumber":2`)),
		images: []Image{
			inUse(lpImage("n1", 1*lpDay, "v3")), lpImage("n2", 2*lpDay, "v2"), lpImage("n3", 3*lpDay, "v1"),
		},
		want: []string{"n3@1"},
	}, {
		name:   "age rule skips in-use images",
		policy: lpPolicy(lpRule(1, `"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":1`)),
		images: []Image{inUse(lpImage("running", 30*lpDay)), lpImage("idle", 30*lpDay)},
		want:   []string{"idle@1"},
	}, {
		// Like any image a higher rule selected, an in-use one still counts in a
		// later count rule: it takes the any rule's only slot here.
		name: "an in-use image counts in a later rule too",
		policy: lpPolicy(
			lpRule(1, `"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":1`),
			lpRule(2, `"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1`)),
		images: []Image{inUse(lpImage("running", 12*time.Hour)), lpImage("v1", 2*lpDay, "v1")},
		want:   []string{"v1@2"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := lpOutcome(Evaluate(lpMustParse(t, tc.policy), tc.images, lpNow))
			if !slices.Equal(got, tc.want) {
				t.Errorf("expired %v, want %v", got, tc.want)
			}
		})
	}
}

// The outcome does not depend on the order images come in, and is ordered by rule
// priority, then push time, then digest.
func TestEvaluateIsDeterministic(t *testing.T) {
	t.Parallel()
	p := lpMustParse(t, lpPolicy(
		lpRule(5, `"tagStatus":"tagged","tagPatternList":["rel-*"],"countType":"imageCountMoreThan","countNumber":3`),
		lpRule(9, `"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":2`),
		lpRule(2, `"tagStatus":"tagged","tagPrefixList":["dev"],"countType":"imageCountMoreThan","countNumber":2`),
		lpRule(20, `"tagStatus":"any","countType":"imageCountMoreThan","countNumber":4`)))
	var images []Image
	for i := range 60 {
		var tags []string
		switch i % 4 {
		case 0:
			tags = []string{fmt.Sprintf("rel-%d", i)}
		case 1:
			tags = []string{fmt.Sprintf("dev%d", i)}
		case 2:
			tags = []string{fmt.Sprintf("other-%d", i)}
		}
		// Several images share a push time, so the digest has to break ties.
		images = append(images, lpImage(fmt.Sprintf("sha256:%02d", (i*37)%60), time.Duration(i/3)*lpDay, tags...))
	}
	want := Evaluate(p, images, lpNow)
	if len(want) == 0 {
		t.Fatal("the policy expires nothing; the test needs expirations to compare")
	}
	if !slices.IsSortedFunc(want, func(a, b Expiration) int {
		return cmp.Or(cmp.Compare(a.RulePriority, b.RulePriority), a.Image.PushedAt.Compare(b.Image.PushedAt), cmp.Compare(a.Image.Digest, b.Image.Digest))
	}) {
		t.Errorf("expirations are not ordered by rule, push time, digest: %v", lpOutcome(want))
	}
	if want[0].RulePriority != 2 {
		t.Errorf("first expiration comes from rule %d, want rule 2 (the lowest rulePriority)", want[0].RulePriority)
	}
	// Of two images pushed at the same instant, the one with the smaller digest counts
	// as the newer, whichever comes first.
	keepOne := lpMustParse(t, lpPolicy(lpRule(1, `"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1`)))
	for _, pair := range [][]Image{
		{lpImage("sha256:bb", lpDay), lpImage("sha256:aa", lpDay)},
		{lpImage("sha256:aa", lpDay), lpImage("sha256:bb", lpDay)},
	} {
		if got := lpOutcome(Evaluate(keepOne, pair, lpNow)); !slices.Equal(got, []string{"sha256:bb@1"}) {
			t.Errorf("tie between %s and %s: expired %v, want [sha256:bb@1]", pair[0].Digest, pair[1].Digest, got)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		shuffled := slices.Clone(images)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		if got := Evaluate(p, shuffled, lpNow); !reflect.DeepEqual(got, want) {
			t.Fatalf("shuffled input gave\n%v\nwant\n%v", lpOutcome(got), lpOutcome(want))
		}
	}
}

// Evaluate is a pure function: it leaves the policy and the images as it found them.
func TestEvaluateLeavesInputsAlone(t *testing.T) {
	t.Parallel()
	p := lpMustParse(t, lpPolicy(
		lpRule(3, `"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1`),
		lpRule(1, `"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1`)))
	images := []Image{lpImage("a", 3*lpDay), lpImage("b", 1*lpDay, "x"), lpImage("c", 2*lpDay)}
	pBefore, imagesBefore := lpMustParse(t, lpPolicy(
		lpRule(3, `"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1`),
		lpRule(1, `"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1`))), slices.Clone(images)
	// Rule 3 would expire c too, but rule 1 selected c first.
	if got := lpOutcome(Evaluate(p, images, lpNow)); !slices.Equal(got, []string{"a@1"}) {
		t.Errorf("expired %v, want [a@1]", got)
	}
	if !reflect.DeepEqual(p, pBefore) {
		t.Errorf("Evaluate changed the policy: %+v", p.Rules)
	}
	if !reflect.DeepEqual(images, imagesBefore) {
		t.Errorf("Evaluate changed the images: %+v", images)
	}
	if got := Evaluate(nil, images, lpNow); got != nil {
		t.Errorf("a nil policy expired %v", lpOutcome(got))
	}
}

func TestParseLifecyclePolicyAccepts(t *testing.T) {
	t.Parallel()
	text := `{
	  "rules": [
	    {"rulePriority": 30, "description": "everything else", "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 100}, "action": {"type": "expire"}},
	    {"rulePriority": 10, "selection": {"tagStatus": "tagged", "tagPatternList": ["*test*1*2*3", "test*1*2*3*"], "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 14}, "action": {"type": "expire"}},
	    {"rulePriority": 20, "selection": {"tagStatus": "untagged", "tagPrefixList": [], "countType": "imageCountMoreThan", "countNumber": 1}, "action": {"type": "expire"}}
	  ]
	}`
	want := &LifecyclePolicy{Rules: []LifecycleRule{{
		RulePriority: 30, Description: "everything else",
		Selection: LifecycleSelection{TagStatus: "any", CountType: "imageCountMoreThan", CountNumber: 100},
		Action:    LifecycleAction{Type: "expire"},
	}, {
		RulePriority: 10,
		Selection: LifecycleSelection{TagStatus: "tagged", TagPatternList: []string{"*test*1*2*3", "test*1*2*3*"},
			CountType: "sinceImagePushed", CountUnit: "days", CountNumber: 14},
		Action: LifecycleAction{Type: "expire"},
	}, {
		RulePriority: 20,
		Selection:    LifecycleSelection{TagStatus: "untagged", CountType: "imageCountMoreThan", CountNumber: 1},
		Action:       LifecycleAction{Type: "expire"},
	}}}
	if got := lpMustParse(t, text); !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestParseLifecyclePolicyRejects(t *testing.T) {
	t.Parallel()
	const prefix = "Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: '"
	const failure = prefix + "Lifecycle policy validation failure: "
	any1 := `"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1`
	rule := func(members string) string { return lpPad(lpPolicy(`{` + members + `}`)) }
	for _, tc := range []struct {
		name   string
		policy string
		want   string // the message after the prefix it must start with
	}{
		{"too short", `{"rules":[]}`, prefix + "Member must have length greater than or equal to 100"},
		{"too long", lpPolicy(`{"rulePriority":1,"description":"` + strings.Repeat("x", 30720) + `","selection":{` + any1 + `},"action":{"type":"expire"}}`),
			prefix + "Member must have length less than or equal to 30720"},
		{"not JSON", lpPad(`{"rules":[`), failure + "Could not map policyString into LifecyclePolicy."},
		{"trailing data", lpPad(lpPolicy(lpRule(1, any1)) + ` {}`), failure + "Could not map policyString into LifecyclePolicy."},
		{"not an object", lpPad(`[{"rules":[]}]`), failure + "Could not map policyString into LifecyclePolicy."},
		{"unknown top-level member", lpPad(`{"rules":[],"version":1}`), failure + `policy: object instance has properties which are not allowed by the schema: (["version"])`},
		{"no rules", lpPad(`{}`), failure + `policy: object has missing required properties (["rules"])`},
		{"empty rules", lpPad(`{"rules":[]}`), failure + "rules: array is too short: must have at least 1 elements"},
		{"rules not an array", lpPad(`{"rules":{}}`), failure + `rules: instance type (object) does not match any allowed primitive type (allowed: ["array"])`},
		{"rule not an object", lpPad(`{"rules":[1]}`), failure + `rules[0]: instance type (integer)`},
		{"unknown rule member", rule(`"rulePriority":1,"priority":1,"selection":{` + any1 + `},"action":{"type":"expire"}`),
			failure + `rules[0]: object instance has properties which are not allowed by the schema: (["priority"])`},
		{"member names are case-sensitive", rule(`"RulePriority":1,"selection":{` + any1 + `},"action":{"type":"expire"}`),
			failure + `rules[0]: object instance has properties which are not allowed by the schema: (["RulePriority"])`},
		{"duplicate member", rule(`"rulePriority":1,"rulePriority":2,"selection":{` + any1 + `},"action":{"type":"expire"}`),
			failure + `rules[0]: member "rulePriority" appears more than once`},
		{"missing selection", rule(`"rulePriority":1,"action":{"type":"expire"}`), failure + `rules[0]: object has missing required properties (["selection"])`},
		{"missing action", rule(`"rulePriority":1,"selection":{` + any1 + `}`), failure + `rules[0]: object has missing required properties (["action"])`},
		{"rulePriority 0", lpPolicy(lpRule(0, any1)), failure + "rules[0].rulePriority: numeric instance is lower than the required minimum (minimum: 1, found: 0)"},
		{"negative rulePriority", lpPolicy(lpRule(-3, any1)), failure + "rules[0].rulePriority: numeric instance is lower than the required minimum (minimum: 1, found: -3)"},
		{"fractional rulePriority", rule(`"rulePriority":1.5,"selection":{` + any1 + `},"action":{"type":"expire"}`),
			failure + `rules[0].rulePriority: instance type (number) does not match any allowed primitive type (allowed: ["integer"])`},
		{"rulePriority as a string", rule(`"rulePriority":"1","selection":{` + any1 + `},"action":{"type":"expire"}`),
			failure + `rules[0].rulePriority: instance type (string)`},
		{"rulePriority beyond 32 bits", lpPolicy(lpRule(4294967296, any1)), failure + "rules[0].rulePriority: numeric instance is greater than the required maximum (maximum: 2147483647, found: 4294967296)"},
		{"duplicate rulePriority", lpPolicy(
			lpRule(1, `"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1`), lpRule(1, any1)),
			failure + "rulePriority 1: rulePriority must be unique, but rules[0] and rules[1] both use it"},
		{"description not a string", rule(`"rulePriority":4,"description":7,"selection":{` + any1 + `},"action":{"type":"expire"}`),
			failure + `rulePriority 4: description: instance type (integer)`},
		{"unknown selection member", lpPolicy(lpRule(2, any1+`,"storageClass":"standard"`)),
			failure + `rulePriority 2: selection: object instance has properties which are not allowed by the schema: (["storageClass"])`},
		{"missing countNumber", lpPolicy(lpRule(2, `"tagStatus":"any","countType":"imageCountMoreThan"`)),
			failure + `rulePriority 2: selection: object has missing required properties (["countNumber"])`},
		{"tagStatus in capitals", lpPolicy(lpRule(2, `"tagStatus":"TAGGED","tagPrefixList":["v"],"countType":"imageCountMoreThan","countNumber":1`)),
			failure + `rulePriority 2: selection.tagStatus: instance value ("TAGGED") not found in enum (possible values: ["any","tagged","untagged"])`},
		{"tagged without a tag list", lpPolicy(lpRule(3, `"tagStatus":"tagged","countType":"imageCountMoreThan","countNumber":1`)),
			failure + "rulePriority 3: selection: tagStatus is tagged, so tagPrefixList or tagPatternList must list at least one tag"},
		{"tagged with an empty tag list", lpPolicy(lpRule(3, `"tagStatus":"tagged","tagPatternList":[],"countType":"imageCountMoreThan","countNumber":1`)),
			failure + "rulePriority 3: selection: tagStatus is tagged, so tagPrefixList or tagPatternList must list at least one tag"},
		{"tagged with both tag lists", lpPolicy(lpRule(3, `"tagStatus":"tagged","tagPrefixList":["v"],"tagPatternList":["v*"],"countType":"imageCountMoreThan","countNumber":1`)),
			failure + "rulePriority 3: selection: tagPrefixList and tagPatternList cannot both be specified in one rule"},
		{"untagged with tagPrefixList", lpPolicy(lpRule(3, `"tagStatus":"untagged","tagPrefixList":["v"],"countType":"imageCountMoreThan","countNumber":1`)),
			failure + "rulePriority 3: selection: tagPrefixList must be omitted when tagStatus is untagged"},
		{"any with tagPatternList", lpPolicy(lpRule(3, `"tagStatus":"any","tagPatternList":["v*"],"countType":"imageCountMoreThan","countNumber":1`)),
			failure + "rulePriority 3: selection: tagPatternList must be omitted when tagStatus is any"},
		{"empty prefix", lpPolicy(lpRule(3, `"tagStatus":"tagged","tagPrefixList":["v",""],"countType":"imageCountMoreThan","countNumber":1`)),
			failure + "rulePriority 3: selection.tagPrefixList[1]: must not be empty"},
		{"prefix not a string", lpPolicy(lpRule(3, `"tagStatus":"tagged","tagPrefixList":[1],"countType":"imageCountMoreThan","countNumber":1`)),
			failure + "rulePriority 3: selection.tagPrefixList[0]: instance type (integer)"},
		{"tag list not an array", lpPolicy(lpRule(3, `"tagStatus":"tagged","tagPatternList":"v*","countType":"imageCountMoreThan","countNumber":1`)),
			failure + `rulePriority 3: selection.tagPatternList: instance type (string) does not match any allowed primitive type (allowed: ["array"])`},
		{"pattern with too many wildcards", lpPolicy(lpRule(3, `"tagStatus":"tagged","tagPatternList":["ok*","test*1*2*3*4*5*6"],"countType":"imageCountMoreThan","countNumber":1`)),
			failure + `rulePriority 3: selection.tagPatternList[1]: "test*1*2*3*4*5*6" has 6 wildcards (*); at most 4 are allowed per pattern`},
		{"two untagged rules", lpPolicy(
			lpRule(1, `"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1`),
			lpRule(2, `"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":3`)),
			failure + "Only one rule can select Untagged images: rulePriority 1 and rulePriority 2 both have tagStatus untagged"},
		{"any rule not last", lpPolicy(lpRule(1, any1), lpRule(2, `"tagStatus":"tagged","tagPrefixList":["v"],"countType":"imageCountMoreThan","countNumber":1`)),
			failure + "Rule for tagStatus=ANY must have the lowest priority: rulePriority 1 has tagStatus any, so it needs the highest rulePriority value, but rulePriority 2 is higher"},
		{"two any rules", lpPolicy(lpRule(1, any1), lpRule(2, any1)),
			failure + "Rule for tagStatus=ANY must have the lowest priority: rulePriority 1"},
		{"same prefixes in two rules", lpPolicy(
			lpRule(1, `"tagStatus":"tagged","tagPrefixList":["a","b"],"countType":"imageCountMoreThan","countNumber":1`),
			lpRule(2, `"tagStatus":"tagged","tagPrefixList":["b","a"],"countType":"sinceImagePushed","countUnit":"days","countNumber":3`)),
			failure + `The set of rules must contain a unique set of tag prefixes: rulePriority 1 and rulePriority 2 have the same tagPrefixList ["a" "b"]`},
		{"countType not supported", lpPolicy(lpRule(4, `"tagStatus":"any","countType":"sinceImagePulled","countUnit":"days","countNumber":1`)),
			failure + `rulePriority 4: selection.countType: instance value ("sinceImagePulled") not found in enum (possible values: ["imageCountMoreThan","sinceImagePushed"])`},
		{"countUnit with imageCountMoreThan", lpPolicy(lpRule(4, any1+`,"countUnit":"days"`)),
			failure + "rulePriority 4: selection.countUnit: must be omitted when countType is imageCountMoreThan"},
		{"sinceImagePushed without countUnit", lpPolicy(lpRule(4, `"tagStatus":"any","countType":"sinceImagePushed","countNumber":1`)),
			failure + `rulePriority 4: selection.countUnit: required when countType is sinceImagePushed; give "days"`},
		{"countUnit hours", lpPolicy(lpRule(4, `"tagStatus":"any","countType":"sinceImagePushed","countUnit":"hours","countNumber":1`)),
			failure + `rulePriority 4: selection.countUnit: instance value ("hours") not found in enum (possible values: ["days"])`},
		{"countUnit null", lpPolicy(lpRule(4, `"tagStatus":"any","countType":"sinceImagePushed","countUnit":null,"countNumber":1`)),
			failure + `rulePriority 4: selection.countUnit: instance type (null) does not match any allowed primitive type (allowed: ["string"])`},
		{"countNumber 0", lpPolicy(lpRule(4, `"tagStatus":"any","countType":"imageCountMoreThan","countNumber":0`)),
			failure + "rulePriority 4: selection.countNumber: numeric instance is lower than the required minimum (minimum: 1, found: 0)"},
		{"action transition", lpPolicy(`{"rulePriority":5,"selection":{` + any1 + `},"action":{"type":"transition"}}`),
			failure + `rulePriority 5: action.type: instance value ("transition") not found in enum (possible values: ["expire"])`},
		{"unknown action member", lpPolicy(`{"rulePriority":5,"selection":{` + any1 + `},"action":{"type":"expire","targetStorageClass":"archive"}}`),
			failure + `rulePriority 5: action: object instance has properties which are not allowed by the schema: (["targetStorageClass"])`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := ParseLifecyclePolicy(tc.policy)
			if p != nil {
				t.Errorf("returned a policy: %+v", p)
			}
			var ae *awsapi.Error
			if !errors.As(err, &ae) {
				t.Fatalf("error %v (%T) is not an *awsapi.Error", err, err)
			}
			if ae.Code != "InvalidParameterException" || ae.Status != 400 {
				t.Errorf("code %s, status %d; want InvalidParameterException, 400", ae.Code, ae.Status)
			}
			if !strings.HasPrefix(ae.Message, tc.want) {
				t.Errorf("message\n%s\ndoes not start with\n%s", ae.Message, tc.want)
			}
			if strings.HasPrefix(tc.want, failure) && !strings.HasSuffix(ae.Message, "'") {
				t.Errorf("message %q does not close the constraint quote", ae.Message)
			}
		})
	}
}

// lpSeedPolicies are valid and invalid policy texts the fuzzers start from.
func lpSeedPolicies() []string {
	return []string{
		lpPolicy(lpRule(1, `"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":14`)),
		lpPolicy(lpRule(1, `"tagStatus":"tagged","tagPatternList":["prod*"],"countType":"sinceImagePushed","countUnit":"days","countNumber":14`)),
		lpPolicy(
			lpRule(1, `"tagStatus":"tagged","tagPrefixList":["alpha"],"countType":"imageCountMoreThan","countNumber":1`),
			lpRule(2, `"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":1`),
			lpRule(3, `"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1`)),
		lpPolicy(lpRule(1, `"tagStatus":"tagged","tagPatternList":["*test*1*2*3","test*1*2*3*"],"countType":"imageCountMoreThan","countNumber":3`)),
		lpPolicy(lpRule(7, `"tagStatus":"tagged","tagPatternList":["test*1*2*3*4*5*6"],"countType":"imageCountMoreThan","countNumber":3`)),
		lpPolicy(lpRule(1, `"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1`), lpRule(1, `"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1`)),
		lpPad(`{"rules":[{"rulePriority":1e3}]}`),
		lpPad(`{"rules":[{"rulePriority":1,"description":"\u2028<&>\ud800"}]}`),
	}
}

// FuzzParseLifecyclePolicy checks that no text makes the parser panic, that every
// refusal is an InvalidParameterException, and that an accepted policy encodes back to
// JSON that parses to the same policy.
func FuzzParseLifecyclePolicy(f *testing.F) {
	for _, s := range lpSeedPolicies() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		p, err := ParseLifecyclePolicy(text)
		if err != nil {
			var ae *awsapi.Error
			if !errors.As(err, &ae) || ae.Code != "InvalidParameterException" || ae.Status != 400 {
				t.Fatalf("error %v (%T) is not an InvalidParameterException", err, err)
			}
			if p != nil {
				t.Fatalf("returned a policy with error %v", err)
			}
			return
		}
		if len(p.Rules) == 0 {
			t.Fatal("accepted a policy without rules")
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(p); err != nil {
			t.Fatalf("encoding %+v: %v", p, err)
		}
		// Escaping can lengthen strings (U+2028 becomes \u2028), past the length limit.
		if utf8.RuneCount(buf.Bytes()) > lifecyclePolicyMaxChars {
			return
		}
		q, err := ParseLifecyclePolicy(buf.String())
		if err != nil {
			t.Fatalf("re-parsing the encoding of an accepted policy: %v\n%s", err, buf.String())
		}
		if !reflect.DeepEqual(p, q) {
			t.Fatalf("round trip changed the policy\n got %+v\nwant %+v", q, p)
		}
		_ = Evaluate(p, []Image{lpImage("a", 2*lpDay, "prod-1"), lpImage("b", 40*lpDay)}, lpNow)
	})
}

// lpBytes hands out the bytes of a fuzz input one at a time, then zeros.
type lpBytes []byte

func (b *lpBytes) next() int {
	if len(*b) == 0 {
		return 0
	}
	v := (*b)[0]
	*b = (*b)[1:]
	return int(v)
}

var (
	lpFuzzTags     = []string{"prod-1", "prod-2", "beta-1", "alpha", "v1.0", "latest", "x", "release-prod"}
	lpFuzzPrefixes = []string{"prod", "beta", "alpha", "v", "release-", "l", "x"}
	lpFuzzPatterns = []string{"prod*", "*-1", "a*", "*", "*prod*", "v*.*", "latest", "*e*e*"}
)

// lpFuzzCase builds a valid-looking policy and a repository from fuzz bytes; the
// policy may still break a cross-rule constraint, which the caller skips.
func lpFuzzCase(data []byte) (string, []Image) {
	b := lpBytes(data)
	var rules []string
	untagged := false
	prio := 0
	n := 1 + b.next()%5
	for i := range n {
		prio += 1 + b.next()%3
		status := []string{"tagged", "untagged", "any"}[b.next()%3]
		if status == "untagged" && untagged || status == "any" && i < n-1 {
			status = "tagged"
		}
		untagged = untagged || status == "untagged"
		sel := fmt.Sprintf(`"tagStatus":%q`, status)
		if status == "tagged" {
			name, vocab := "tagPrefixList", lpFuzzPrefixes
			if b.next()%2 == 1 {
				name, vocab = "tagPatternList", lpFuzzPatterns
			}
			var list []string
			for range 1 + b.next()%2 {
				list = append(list, vocab[b.next()%len(vocab)])
			}
			l, _ := json.Marshal(list)
			sel += fmt.Sprintf(`,%q:%s`, name, l)
		}
		if b.next()%2 == 0 {
			sel += fmt.Sprintf(`,"countType":"imageCountMoreThan","countNumber":%d`, 1+b.next()%8)
		} else {
			sel += fmt.Sprintf(`,"countType":"sinceImagePushed","countUnit":"days","countNumber":%d`, 1+b.next()%20)
		}
		rules = append(rules, lpRule(prio, sel))
	}
	var images []Image
	for i := range b.next() % 40 {
		var tags []string
		for range b.next() % 4 {
			tags = append(tags, lpFuzzTags[b.next()%len(lpFuzzTags)])
		}
		img := lpImage(fmt.Sprintf("sha256:%03d", i), time.Duration(b.next())*6*time.Hour, tags...)
		img.InUse = b.next()%5 == 0
		images = append(images, img)
	}
	return lpPolicy(rules...), images
}

// lpSelects is an independent statement of which images a rule selects: tag lists
// become anchored regular expressions, one per entry, each needing some matching tag.
func lpSelects(s LifecycleSelection, tags []string) bool {
	switch s.TagStatus {
	case "any":
		return true
	case "untagged":
		return len(tags) == 0
	}
	var res []*regexp.Regexp
	for _, p := range s.TagPrefixList {
		res = append(res, regexp.MustCompile(`^`+regexp.QuoteMeta(p)))
	}
	for _, p := range s.TagPatternList {
		res = append(res, regexp.MustCompile(`^`+strings.ReplaceAll(regexp.QuoteMeta(p), `\*`, `.*`)+`$`))
	}
	for _, re := range res {
		if !slices.ContainsFunc(tags, re.MatchString) {
			return false
		}
	}
	return len(res) > 0
}

// lpWantExpiredBy states, image by image, which rule (if any) should expire an image:
// the first rule that selects it, if its count says so. Under imageCountMoreThan an
// image goes when countNumber of the rule's images rank before it: images in use, and
// newer images (push time, then digest).
func lpWantExpiredBy(p *LifecyclePolicy, images []Image, i int) int {
	img := images[i]
	rules := slices.SortedFunc(slices.Values(p.Rules), func(a, b LifecycleRule) int { return cmp.Compare(a.RulePriority, b.RulePriority) })
	for _, r := range rules {
		if !lpSelects(r.Selection, img.Tags) {
			continue
		}
		if img.InUse {
			return 0
		}
		if r.Selection.CountType == "sinceImagePushed" {
			if lpNow.Sub(img.PushedAt) > time.Duration(r.Selection.CountNumber)*lpDay {
				return r.RulePriority
			}
			return 0
		}
		before := 0
		for _, o := range images {
			if o.Digest == img.Digest || !lpSelects(r.Selection, o.Tags) {
				continue
			}
			if o.InUse || o.PushedAt.After(img.PushedAt) || o.PushedAt.Equal(img.PushedAt) && o.Digest < img.Digest {
				before++
			}
		}
		if before >= r.Selection.CountNumber {
			return r.RulePriority
		}
		return 0
	}
	return 0
}

// FuzzEvaluate checks Evaluate against an image-by-image statement of the rules on
// generated policies and repositories: only given images are expired, none twice, none
// in use, each by the first rule that selects it and only as its count allows; and the
// outcome does not depend on the order of the images.
func FuzzEvaluate(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{2, 0, 0, 0, 1, 0, 1, 5, 1, 0, 1, 0, 0, 3, 20, 3, 0, 1, 40, 0, 2, 2, 3, 9, 1, 1, 80, 4})
	f.Add(bytes.Repeat([]byte{4, 1, 7, 3, 2, 9, 5, 0, 8, 6}, 30))
	f.Fuzz(func(t *testing.T, data []byte) {
		text, images := lpFuzzCase(data)
		p, err := ParseLifecyclePolicy(text)
		if err != nil {
			return // a generated policy may repeat a tag list; AWS refuses that
		}
		got := Evaluate(p, images, lpNow)
		byDigest := map[string]int{}
		for _, e := range got {
			if _, dup := byDigest[e.Image.Digest]; dup {
				t.Fatalf("%s expired twice: %v", e.Image.Digest, lpOutcome(got))
			}
			byDigest[e.Image.Digest] = e.RulePriority
			k := slices.IndexFunc(images, func(img Image) bool { return img.Digest == e.Image.Digest })
			if k < 0 || !reflect.DeepEqual(images[k], e.Image) {
				t.Fatalf("expired an image it was not given: %+v", e.Image)
			}
			if e.Image.InUse {
				t.Fatalf("expired %s, which is in use", e.Image.Digest)
			}
		}
		for i, img := range images {
			if want, got := lpWantExpiredBy(p, images, i), byDigest[img.Digest]; want != got {
				t.Fatalf("%s (tags %q, pushed %v ago, in use %v): expired by rule %d, want %d (0 = kept)\npolicy %s",
					img.Digest, img.Tags, lpNow.Sub(img.PushedAt), img.InUse, got, want, text)
			}
		}
		reversed := slices.Clone(images)
		slices.Reverse(reversed)
		if again := Evaluate(p, reversed, lpNow); !reflect.DeepEqual(again, got) {
			t.Fatalf("reversed input gave %v, want %v", lpOutcome(again), lpOutcome(got))
		}
	})
}

// BenchmarkEvaluate runs a five-rule policy over a repository of 10,000 images.
func BenchmarkEvaluate(b *testing.B) {
	p := lpMustParse(b, lpPolicy(
		lpRule(1, `"tagStatus":"tagged","tagPrefixList":["release-"],"countType":"imageCountMoreThan","countNumber":50`),
		lpRule(2, `"tagStatus":"tagged","tagPatternList":["pr-*-build*"],"countType":"sinceImagePushed","countUnit":"days","countNumber":7`),
		lpRule(3, `"tagStatus":"tagged","tagPatternList":["*-dev","feature*"],"countType":"imageCountMoreThan","countNumber":20`),
		lpRule(4, `"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":1`),
		lpRule(5, `"tagStatus":"any","countType":"imageCountMoreThan","countNumber":500`)))
	images := make([]Image, 10000)
	for i := range images {
		var tags []string
		switch i % 5 {
		case 0:
			tags = []string{fmt.Sprintf("release-%d", i), "latest-" + fmt.Sprint(i)}
		case 1:
			tags = []string{fmt.Sprintf("pr-%d-build%d", i%97, i)}
		case 2:
			tags = []string{fmt.Sprintf("feature%d-dev", i), fmt.Sprintf("sha-%x", i)}
		case 3:
			tags = []string{fmt.Sprintf("sha-%x", i)}
		}
		images[i] = Image{Digest: fmt.Sprintf("sha256:%064x", i), Tags: tags,
			PushedAt: lpNow.Add(-time.Duration(i) * 17 * time.Minute), InUse: i%997 == 0}
	}
	b.ReportAllocs()
	var n int
	for b.Loop() {
		n = len(Evaluate(p, images, lpNow))
	}
	b.ReportMetric(float64(n), "expired/op")
}
