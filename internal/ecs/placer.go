package ecs

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"gantry/internal/awsapi"
	"gantry/internal/scheduler"
	"gantry/internal/store"
)

// Every change to an instance's usage (a placement books, a STOPPED task releases) is a
// job for its cluster's committer: one goroutine per busy cluster that takes whatever
// jobs queued while its last transaction was being stored and commits them together,
// each placement seeing the bookings of the jobs before it. One transaction per RunTask
// capped placements at the store's commit rate; batching is group commit. Transactions
// still expect every touched instance's revision, so another server's scheduler can
// never double-book an instance.

// clusterJob is one placement (launch and choose) or one release (release and
// releaseRev, the task's revision when it was read).
type clusterJob struct {
	launch *launch
	choose placeFunc

	release    *taskRecord
	releaseRev int64

	out  *runTaskOutput
	err  error
	done chan struct{}
}

// committer queues jobs per cluster and runs one committing goroutine per busy cluster.
type committer struct {
	mu     sync.Mutex
	queues map[string][]*clusterJob
	busy   map[string]bool
}

// maxBatchTasks bounds the tasks placed or released by one transaction (its bytes are
// bounded apart, by Service.maxBatchBytes).
const maxBatchTasks = 200

// commitTimeout bounds one batch's store work; the callers have their own deadlines.
const commitTimeout = 30 * time.Second

// place chooses instances for a launch among its cluster's instances and commits the
// tasks it places, with their bookings, in the cluster's next transaction.
func (s *Service) place(ctx context.Context, l *launch, choose placeFunc) (*runTaskOutput, error) {
	if err := s.view.wait(ctx); err != nil {
		return nil, err
	}
	j := &clusterJob{launch: l, choose: choose}
	if err := s.submit(ctx, l.cluster, j); err != nil {
		return nil, err
	}
	return j.out, nil
}

// release marks a task STOPPED and frees what it booked on its instance, in one
// transaction that expects the task at rev (store.ErrConflict if it changed since).
func (s *Service) release(ctx context.Context, rec *taskRecord, rev int64) error {
	if err := s.view.wait(ctx); err != nil {
		return err
	}
	return s.submit(ctx, rec.Cluster, &clusterJob{release: rec, releaseRev: rev})
}

// submit queues j for its cluster's committer and waits for its outcome.
func (s *Service) submit(ctx context.Context, cluster string, j *clusterJob) error {
	j.done = make(chan struct{})
	c := &s.committer
	c.mu.Lock()
	if c.queues == nil {
		c.queues, c.busy = map[string][]*clusterJob{}, map[string]bool{}
	}
	c.queues[cluster] = append(c.queues[cluster], j)
	if !c.busy[cluster] {
		c.busy[cluster] = true
		go s.commitLoop(cluster)
	}
	c.mu.Unlock()
	select {
	case <-j.done:
		return j.err
	case <-ctx.Done():
		return ctx.Err() // the job may still be committed, as a request cut off late may be
	}
}

// commitLoop commits the cluster's queued jobs, a batch at a time, until none is left.
func (s *Service) commitLoop(cluster string) {
	c := &s.committer
	for {
		c.mu.Lock()
		jobs := takeBatch(c.queues, cluster)
		if len(jobs) == 0 {
			delete(c.busy, cluster)
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		s.commitJobs(cluster, jobs)
		for _, j := range jobs {
			close(j.done)
		}
	}
}

// takeBatch removes from the cluster's queue the jobs of the next transaction.
func takeBatch(queues map[string][]*clusterJob, cluster string) []*clusterJob {
	q := queues[cluster]
	n, tasks := 0, 0
	for n < len(q) && (n == 0 || tasks+jobTasks(q[n]) <= maxBatchTasks) {
		tasks += jobTasks(q[n])
		n++
	}
	jobs := q[:n:n]
	if n == len(q) {
		delete(queues, cluster)
	} else {
		queues[cluster] = q[n:]
	}
	return jobs
}

// jobTasks is how many tasks a job may write.
func jobTasks(j *clusterJob) int {
	if j.launch != nil {
		return scheduler.MaxCount
	}
	return 1
}

// commitJobs commits jobs together; when another writer changed a touched instance or
// task first, it tries again once with fresh instances, then commits the jobs one by
// one so that one job's conflict does not fail the others.
func (s *Service) commitJobs(cluster string, jobs []*clusterJob) {
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	for attempt := 0; attempt < 2; attempt++ {
		err := s.commitBatch(ctx, cluster, jobs)
		if err == nil || (!errors.Is(err, store.ErrConflict) && !errors.Is(err, errBatchTooLarge)) {
			return
		}
		if errors.Is(err, errBatchTooLarge) {
			break
		}
	}
	for _, j := range jobs {
		s.commitAlone(ctx, cluster, j)
	}
}

// defaultMaxBatchBytes bounds the bytes one batch writes, well under the store's request
// limit (etcd's 1.5 MiB): tasks with many containers make records of tens of KiB.
const defaultMaxBatchBytes = 1 << 20

// errBatchTooLarge means a batch of several jobs would write more than the limit; its
// jobs are then committed one by one.
var errBatchTooLarge = errors.New("batch over the transaction size limit")

// commitAlone commits one job, retrying as instances change under it. A placement whose
// client token another call stored first gets that call's answer; a release whose task
// changed reports the conflict, and its caller reads the task again.
func (s *Service) commitAlone(ctx context.Context, cluster string, j *clusterJob) {
	one := []*clusterJob{j}
	if j.release != nil {
		// A few tries get past instance changes; a task changed since it was read
		// conflicts every time, and its caller reads it again.
		for range 3 {
			if !errors.Is(s.commitBatch(ctx, cluster, one), store.ErrConflict) {
				return
			}
		}
		return
	}
	err := retryOnConflict(ctx, func() error { return s.commitBatch(ctx, cluster, one) })
	if j.launch.token != "" && errors.Is(err, store.ErrConflict) {
		j.out, j.err = s.replayToken(ctx, cluster, j.launch.token)
	}
}

// commitBatch prepares every job against the view and commits them in one transaction.
// Jobs that fail on their own (a bad placement request) keep their error and write
// nothing; the others all commit or none. On a conflict it refreshes the touched
// instances in the view and returns store.ErrConflict.
func (s *Service) commitBatch(ctx context.Context, cluster string, jobs []*clusterJob) error {
	b := s.newBatch(cluster)
	for _, j := range jobs {
		j.out, j.err = nil, nil
		if j.launch != nil {
			j.out, j.err = b.place(j.launch, j.choose)
		} else {
			j.err = b.release(j.release, j.releaseRev)
		}
	}
	writes, err := b.instanceWrites()
	if err == nil && len(jobs) > 1 && writeBytes(b.writes)+writeBytes(writes) > s.maxBatchBytes {
		err = errBatchTooLarge
	}
	if err == nil && len(b.writes) > 0 {
		var rev int64
		rev, err = s.store.CommitRev(ctx, append(b.writes, writes...)...)
		if err == nil {
			for id, rec := range b.touched {
				s.view.put(cluster, id, rec, rev)
			}
			for _, t := range b.tasks {
				s.taskCommitted(taskKey(cluster, t.id), t.rec, rev)
			}
		}
	}
	if errors.Is(err, store.ErrConflict) {
		for _, t := range b.tasks {
			s.tasks.drop(taskKey(cluster, t.id))
		}
		if ferr := s.view.refresh(ctx, cluster, b.touchedIDs()); ferr != nil {
			err = ferr
		}
	}
	if err != nil {
		for _, j := range jobs {
			if j.err == nil {
				j.out, j.err = nil, err
			}
		}
	}
	return err
}

// batch is one transaction being prepared: the cluster's instances as the scheduler
// sees them, with the bookings of the jobs prepared so far.
type batch struct {
	s       *Service
	cluster string
	insts   []scheduler.Instance
	index   map[string]int             // instance id → position in insts
	entries map[string]*viewEntry      // as read from the view
	touched map[string]*instanceRecord // copies changed by this batch
	writes  []store.Write
	tasks   []batchTask // the task records among writes
}

type batchTask struct {
	id  string
	rec *taskRecord
}

func (s *Service) newBatch(cluster string) *batch {
	insts, entries := s.view.snapshot(cluster, s.connected)
	b := &batch{s: s, cluster: cluster, insts: insts, entries: entries,
		index: make(map[string]int, len(insts)), touched: map[string]*instanceRecord{}}
	for i, inst := range insts {
		b.index[idOfKey(inst.ARN)] = i
	}
	return b
}

// instance returns the batch's copy of an instance record, nil if the view has none.
func (b *batch) instance(id string) *instanceRecord {
	if rec := b.touched[id]; rec != nil {
		return rec
	}
	e := b.entries[id]
	if e == nil {
		return nil
	}
	rec := *e.rec
	rec.Usage = rec.Usage.clone()
	b.touched[id] = &rec
	return &rec
}

// resched updates the scheduler's view of a touched instance for the jobs after: only
// its usage changed.
func (b *batch) resched(id string) {
	i, ok := b.index[id]
	if !ok {
		return
	}
	rec := b.touched[id]
	b.insts[i].Remaining, b.insts[i].TaskCount, b.insts[i].Groups = remaining(rec), rec.Usage.Tasks, rec.Usage.Groups
}

// place runs one placement and adds its tasks, bookings and client token to the batch.
func (b *batch) place(l *launch, choose placeFunc) (*runTaskOutput, error) {
	placements, failures, err := choose(slices.Clone(b.insts))
	if err != nil {
		return nil, awsapi.InvalidParameter("%s", strings.TrimPrefix(err.Error(), scheduler.ErrInvalidRequest.Error()+": "))
	}
	out := &runTaskOutput{Tasks: []*Task{}, Failures: []Failure{}}
	for _, f := range failures {
		arn := f.Arn
		if arn == "" {
			arn = b.s.arn("cluster/" + l.cluster)
		}
		out.Failures = append(out.Failures, Failure{Arn: arn, Reason: f.Reason})
	}
	var writes []store.Write
	for _, p := range placements {
		id := idOfKey(p.Instance)
		rec := b.instance(id)
		if rec == nil {
			out.Failures = append(out.Failures, Failure{Arn: p.Instance, Reason: scheduler.ReasonMissing})
			continue
		}
		task := b.s.newTask(l, rec)
		taskID := idOfKey(task.TaskArn)
		rec.Usage.add(l.needs)
		b.resched(id)
		out.Tasks = append(out.Tasks, task)
		trec := &taskRecord{Task: *task, Cluster: l.cluster, InstanceID: id, Booking: l.needs}
		w, err := putRecord(taskKey(l.cluster, taskID), trec, 0)
		if err != nil {
			return nil, err
		}
		b.tasks = append(b.tasks, batchTask{id: taskID, rec: trec})
		a, err := putRecord(assignmentKey(id, taskID), assignment{Cluster: l.cluster, DesiredStatus: TaskRunning}, 0)
		if err != nil {
			return nil, err
		}
		writes = append(writes, w, a)
	}
	if l.token != "" {
		w, err := putRecord(clientTokensPrefix+l.cluster+"/"+l.token, tokenRecord{At: b.s.cfg.Now(), Output: out}, 0)
		if err != nil {
			return nil, err
		}
		writes = append(writes, w)
	}
	b.writes = append(b.writes, writes...)
	return out, nil
}

// release adds a task's STOPPED record and its instance's freed booking to the batch.
func (b *batch) release(rec *taskRecord, rev int64) error {
	writes, err := b.s.stoppedWrites(rec, rev)
	if err != nil {
		return err
	}
	b.tasks = append(b.tasks, batchTask{id: idOfKey(rec.Task.TaskArn), rec: rec})
	if inst := b.instance(rec.InstanceID); inst != nil {
		inst.Usage.remove(rec.Booking)
		b.resched(rec.InstanceID)
	}
	b.writes = append(b.writes, writes...)
	return nil
}

// instanceWrites stores every touched instance, expecting the revision the view had.
func (b *batch) instanceWrites() ([]store.Write, error) {
	writes := make([]store.Write, 0, len(b.touched))
	for id, rec := range b.touched {
		w, err := putRecord(instanceKey(b.cluster, id), rec, b.entries[id].rev)
		if err != nil {
			return nil, err
		}
		writes = append(writes, w)
	}
	return writes, nil
}

func writeBytes(ws []store.Write) int {
	n := 0
	for _, w := range ws {
		n += len(w.Key) + len(w.Value)
	}
	return n
}

func (b *batch) touchedIDs() []string {
	ids := make([]string, 0, len(b.touched))
	for id := range b.touched {
		ids = append(ids, id)
	}
	return ids
}
