package ecs

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"gantry/internal/awsapi"
	"gantry/internal/store"
)

// Task definition statuses.
const (
	tdActive           = "ACTIVE"
	tdInactive         = "INACTIVE"
	tdDeleteInProgress = "DELETE_IN_PROGRESS"
)

// taskDefRecord is what the store keeps per revision: the definition and its tags, which
// ECS returns beside the definition rather than in it.
type taskDefRecord struct {
	TaskDefinition *TaskDefinition `json:"taskDefinition"`
	Tags           []Tag           `json:"tags"`
}

// familyRecord counts a family's revisions, so the next revision number and whether the
// family still has ACTIVE revisions need no scan.
type familyRecord struct {
	Latest int32 `json:"latest"`
	Active int32 `json:"active"`
}

func taskDefKey(family string, revision int32) string {
	return fmt.Sprintf("%s%s#%010d", taskDefsPrefix, family, revision)
}

type taskDefOutput struct {
	TaskDefinition *TaskDefinition `json:"taskDefinition"`
	Tags           []Tag           `json:"tags,omitempty"`
}

func (s *Service) registerTaskDefinition(ctx context.Context, req *awsapi.Request, in *RegisterTaskDefinitionInput) (*taskDefOutput, error) {
	td, err := newTaskDefinition(in)
	if err != nil {
		return nil, err
	}
	td.Status = tdActive
	td.RegisteredAt = s.now()
	td.RegisteredBy = s.caller(req)
	rec := &taskDefRecord{TaskDefinition: td, Tags: orEmpty(in.Tags)}

	defer s.lockFamily(td.Family)()
	if err := retryOnConflict(ctx, func() error { return s.commitRevision(ctx, rec) }); err != nil {
		return nil, err
	}
	return &taskDefOutput{TaskDefinition: td, Tags: rec.Tags}, nil
}

// commitRevision numbers rec as its family's next revision and stores both atomically.
func (s *Service) commitRevision(ctx context.Context, rec *taskDefRecord) error {
	td := rec.TaskDefinition
	famKey := familiesPrefix + td.Family
	fam, rev, err := getRecord[familyRecord](ctx, s.store, famKey)
	if errors.Is(err, store.ErrNotFound) {
		fam, err = &familyRecord{}, nil
	}
	if err != nil {
		return err
	}
	fam.Latest++
	fam.Active++
	td.Revision = fam.Latest
	td.TaskDefinitionARN = s.arn(fmt.Sprintf("task-definition/%s:%d", td.Family, td.Revision))
	famWrite, err := putRecord(famKey, fam, rev)
	if err != nil {
		return err
	}
	tdWrite, err := putRecord(taskDefKey(td.Family, td.Revision), rec, 0)
	if err != nil {
		return err
	}
	return s.store.Commit(ctx, famWrite, tdWrite)
}

type describeTaskDefinitionInput struct {
	TaskDefinition string   `json:"taskDefinition"`
	Include        []string `json:"include"`
}

func (s *Service) describeTaskDefinition(ctx context.Context, _ *awsapi.Request, in *describeTaskDefinitionInput) (*taskDefOutput, error) {
	for i, f := range in.Include {
		if f != "TAGS" {
			return nil, awsapi.InvalidParameter("include[%d]: %q is invalid; the only value is TAGS", i, f)
		}
	}
	rec, _, err := s.findTaskDef(ctx, in.TaskDefinition)
	if err != nil {
		return nil, err
	}
	out := &taskDefOutput{TaskDefinition: rec.TaskDefinition}
	if len(in.Include) > 0 {
		out.Tags = rec.Tags
	}
	return out, nil
}

var errTaskDefNotFound = awsapi.ClientError("ClientException", "Unable to describe task definition.")

// findTaskDef resolves "family", "family:revision" or an ARN to a stored revision. A bare
// family means its latest ACTIVE revision.
func (s *Service) findTaskDef(ctx context.Context, ident string) (*taskDefRecord, int64, error) {
	family, revision, err := s.parseTaskDefIdent(ident)
	if err != nil {
		return nil, 0, err
	}
	if revision == 0 {
		return s.latestActive(ctx, family)
	}
	rec, rev, err := getRecord[taskDefRecord](ctx, s.store, taskDefKey(family, revision))
	if errors.Is(err, store.ErrNotFound) {
		return nil, 0, errTaskDefNotFound
	}
	return rec, rev, err
}

func (s *Service) latestActive(ctx context.Context, family string) (*taskDefRecord, int64, error) {
	var found *taskDefRecord
	var foundRev int64
	_, err := s.scan(ctx, taskDefsPrefix+family+"#", "", 1, true, func(kv store.KV) (bool, error) {
		rec, err := decodeRecord[taskDefRecord](kv)
		if err != nil || rec.TaskDefinition.Status != tdActive {
			return false, err
		}
		found, foundRev = rec, kv.Revision
		return true, nil
	})
	if err == nil && found == nil {
		err = errTaskDefNotFound
	}
	return found, foundRev, err
}

// parseTaskDefIdent splits a task definition reference; revision 0 means none was given.
func (s *Service) parseTaskDefIdent(ident string) (string, int32, error) {
	if ident == "" {
		return "", 0, awsapi.InvalidParameter("taskDefinition: required; give family, family:revision or an ARN")
	}
	ref := ident
	if strings.HasPrefix(ident, "arn:") {
		var ok bool
		ref, ok = strings.CutPrefix(ident, s.arn("task-definition/"))
		if !ok {
			return "", 0, awsapi.InvalidParameter("taskDefinition: %q is not a task definition ARN of this account and region (%s)", ident, s.arn("task-definition/FAMILY:REVISION"))
		}
	}
	family, revText, hasRev := strings.Cut(ref, ":")
	if !validName(family) {
		return "", 0, awsapi.ClientError("ClientException", "taskDefinition: family %q is invalid; use 1 to 255 letters, numbers, hyphens and underscores", family)
	}
	if !hasRev {
		return family, 0, nil
	}
	rev, err := strconv.ParseInt(revText, 10, 32)
	if err != nil || rev < 1 {
		return "", 0, awsapi.ClientError("ClientException", "taskDefinition: revision %q is invalid; use a positive integer", revText)
	}
	return family, int32(rev), nil
}

type listTaskDefinitionsInput struct {
	FamilyPrefix string `json:"familyPrefix"`
	Status       string `json:"status"`
	Sort         string `json:"sort"`
	NextToken    string `json:"nextToken"`
	MaxResults   *int32 `json:"maxResults"`
}

type listTaskDefinitionsOutput struct {
	TaskDefinitionArns []string `json:"taskDefinitionArns"`
	NextToken          string   `json:"nextToken,omitempty"`
}

func (s *Service) listTaskDefinitions(ctx context.Context, _ *awsapi.Request, in *listTaskDefinitionsInput) (*listTaskDefinitionsOutput, error) {
	status, err := oneOf("status", in.Status, tdActive, tdActive, tdInactive, tdDeleteInProgress)
	if err != nil {
		return nil, err
	}
	order, err := oneOf("sort", in.Sort, "ASC", "ASC", "DESC")
	if err != nil {
		return nil, err
	}
	prefix := taskDefsPrefix
	if in.FamilyPrefix != "" {
		// As in ECS, familyPrefix names one whole family despite its name.
		prefix += in.FamilyPrefix + "#"
	}
	limit, from, err := pageArgs(in.MaxResults, in.NextToken, prefix)
	if err != nil {
		return nil, err
	}
	out := &listTaskDefinitionsOutput{TaskDefinitionArns: []string{}}
	next, err := s.scan(ctx, prefix, from, limit, order == "DESC", func(kv store.KV) (bool, error) {
		rec, err := decodeRecord[taskDefRecord](kv)
		if err != nil || rec.TaskDefinition.Status != status {
			return false, err
		}
		out.TaskDefinitionArns = append(out.TaskDefinitionArns, rec.TaskDefinition.TaskDefinitionARN)
		return true, nil
	})
	out.NextToken = next
	return out, err
}

type listTaskDefinitionFamiliesInput struct {
	FamilyPrefix string `json:"familyPrefix"`
	Status       string `json:"status"`
	NextToken    string `json:"nextToken"`
	MaxResults   *int32 `json:"maxResults"`
}

type listTaskDefinitionFamiliesOutput struct {
	Families  []string `json:"families"`
	NextToken string   `json:"nextToken,omitempty"`
}

func (s *Service) listTaskDefinitionFamilies(ctx context.Context, _ *awsapi.Request, in *listTaskDefinitionFamiliesInput) (*listTaskDefinitionFamiliesOutput, error) {
	status, err := oneOf("status", in.Status, "ALL", tdActive, tdInactive, "ALL")
	if err != nil {
		return nil, err
	}
	prefix := familiesPrefix + in.FamilyPrefix
	limit, from, err := pageArgs(in.MaxResults, in.NextToken, familiesPrefix)
	if err != nil {
		return nil, err
	}
	out := &listTaskDefinitionFamiliesOutput{Families: []string{}}
	next, err := s.scan(ctx, prefix, from, limit, false, func(kv store.KV) (bool, error) {
		fam, err := decodeRecord[familyRecord](kv)
		if err != nil || status == tdActive && fam.Active == 0 || status == tdInactive && fam.Active > 0 {
			return false, err
		}
		out.Families = append(out.Families, strings.TrimPrefix(kv.Key, familiesPrefix))
		return true, nil
	})
	out.NextToken = next
	return out, err
}

type deregisterTaskDefinitionInput struct {
	TaskDefinition string `json:"taskDefinition"`
}

func (s *Service) deregisterTaskDefinition(ctx context.Context, _ *awsapi.Request, in *deregisterTaskDefinitionInput) (*taskDefOutput, error) {
	family, revision, err := s.parseTaskDefIdent(in.TaskDefinition)
	if err != nil {
		return nil, err
	}
	if revision == 0 {
		return nil, awsapi.ClientError("ClientException", "taskDefinition: give a revision (family:revision or a full ARN); %q names a whole family", in.TaskDefinition)
	}
	defer s.lockFamily(family)()
	var td *TaskDefinition
	err = retryOnConflict(ctx, func() error {
		var err error
		td, err = s.deactivate(ctx, family, revision)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &taskDefOutput{TaskDefinition: td}, nil
}

// deactivate marks an ACTIVE revision INACTIVE and updates its family's count atomically.
func (s *Service) deactivate(ctx context.Context, family string, revision int32) (*TaskDefinition, error) {
	key := taskDefKey(family, revision)
	rec, rev, err := getRecord[taskDefRecord](ctx, s.store, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errTaskDefNotFound
	}
	if err != nil || rec.TaskDefinition.Status != tdActive {
		return rec.TaskDefinition, err
	}
	fam, famRev, err := getRecord[familyRecord](ctx, s.store, familiesPrefix+family)
	if err != nil {
		return nil, err
	}
	fam.Active--
	rec.TaskDefinition.Status = tdInactive
	rec.TaskDefinition.DeregisteredAt = s.now()
	tdWrite, err := putRecord(key, rec, rev)
	if err != nil {
		return nil, err
	}
	famWrite, err := putRecord(familiesPrefix+family, fam, famRev)
	if err != nil {
		return nil, err
	}
	return rec.TaskDefinition, s.store.Commit(ctx, tdWrite, famWrite)
}

type deleteTaskDefinitionsInput struct {
	TaskDefinitions []string `json:"taskDefinitions"`
}

type deleteTaskDefinitionsOutput struct {
	TaskDefinitions []*TaskDefinition `json:"taskDefinitions"`
	Failures        []Failure         `json:"failures"`
}

// deleteTaskDefinitions moves INACTIVE revisions to DELETE_IN_PROGRESS. As in ECS they stay
// describable in that state; per-revision problems are failures, not a failed call.
func (s *Service) deleteTaskDefinitions(ctx context.Context, _ *awsapi.Request, in *deleteTaskDefinitionsInput) (*deleteTaskDefinitionsOutput, error) {
	if n := len(in.TaskDefinitions); n == 0 || n > 10 {
		return nil, awsapi.InvalidParameter("taskDefinitions: %d given; delete 1 to 10 revisions per call", n)
	}
	out := &deleteTaskDefinitionsOutput{TaskDefinitions: []*TaskDefinition{}, Failures: []Failure{}}
	for _, ident := range in.TaskDefinitions {
		td, failure, err := s.deleteTaskDefinition(ctx, ident)
		switch {
		case err != nil:
			return nil, err
		case failure != nil:
			out.Failures = append(out.Failures, *failure)
		default:
			out.TaskDefinitions = append(out.TaskDefinitions, td)
		}
	}
	return out, nil
}

func (s *Service) deleteTaskDefinition(ctx context.Context, ident string) (*TaskDefinition, *Failure, error) {
	family, revision, err := s.parseTaskDefIdent(ident)
	if err != nil || revision == 0 {
		return nil, &Failure{Arn: ident, Reason: "INVALID_ARGUMENT", Detail: "give family:revision or a task definition ARN"}, nil
	}
	arn := s.arn(fmt.Sprintf("task-definition/%s:%d", family, revision))
	rec, err := updateRecord(ctx, s.store, taskDefKey(family, revision), func(rec *taskDefRecord) error {
		td := rec.TaskDefinition
		switch td.Status {
		case tdActive:
			return errStillActive
		case tdInactive:
			td.Status = tdDeleteInProgress
			td.DeleteRequestedAt = s.now()
		}
		return nil
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, &Failure{Arn: arn, Reason: "TASK_DEFINITION_NOT_FOUND", Detail: "no such task definition revision"}, nil
	case errors.Is(err, errStillActive):
		return nil, &Failure{Arn: arn, Reason: "The specified task definition is still in ACTIVE status. Please deregister the target and try again."}, nil
	case err != nil:
		return nil, nil, err
	}
	return rec.TaskDefinition, nil, nil
}

var errStillActive = errors.New("task definition is ACTIVE")

// oneOf validates an enum member; an empty value takes def.
func oneOf(field, value, def string, allowed ...string) (string, error) {
	if value == "" {
		return def, nil
	}
	for _, a := range allowed {
		if value == a {
			return value, nil
		}
	}
	return "", awsapi.InvalidParameter("%s: %q is invalid; use one of %s", field, value, strings.Join(allowed, ", "))
}

// pageArgs validates maxResults (1-100, default 100) and decodes nextToken.
func pageArgs(maxResults *int32, token, prefix string) (int, string, error) {
	limit, err := awsapi.PageSize(maxResults, 100, 100)
	if err != nil {
		return 0, "", err
	}
	from, err := awsapi.ResumeAfter(token, prefix)
	return limit, from, err
}
