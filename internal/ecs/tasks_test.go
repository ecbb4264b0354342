package ecs

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"gantry/internal/awsapi"
)

// registerInstance registers an instance offering cpu units and mem MiB.
func registerInstance(t *testing.T, s *Service, cpu, mem int32) string {
	t.Helper()
	out, err := s.registerContainerInstance(context.Background(), nil, &registerContainerInstanceInput{
		InstanceIdentityDocument: `{"instanceId": "node-1"}`,
		TotalResources:           []Resource{{Name: "CPU", IntegerValue: cpu}, {Name: "MEMORY", IntegerValue: mem}},
	})
	if err != nil {
		t.Fatal(err)
	}
	arn := out.ContainerInstance.ContainerInstanceArn
	if err := s.Heartbeat(context.Background(), arn, "test"); err != nil {
		t.Fatal(err)
	}
	return arn
}

// Two servers (two Service values on one store, so no in-process lock helps) running
// tasks at once on an instance with room for exactly 10 must place exactly 10: bookings
// are compare-and-swap transactions on the instance record.
func TestConcurrentSchedulersNeverDoubleBook(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	a, b := newTestService(t, st), newTestService(t, st)
	if err := a.EnsureDefaultCluster(ctx); err != nil {
		t.Fatal(err)
	}
	registerInstance(t, a, 10240, 160) // room for 10 tasks of 16 MiB
	if _, err := a.registerTaskDefinition(ctx, &awsapi.Request{}, minimalTaskDef("web")); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	placed, failed := 0, 0
	var wg sync.WaitGroup
	for i := range 8 {
		s := []*Service{a, b}[i%2]
		wg.Go(func() {
			out, err := s.runTask(ctx, nil, &runTaskInput{TaskDefinition: "web", Count: new(int32(3))})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			placed += len(out.Tasks)
			failed += len(out.Failures)
			mu.Unlock()
		})
	}
	wg.Wait()
	if placed != 10 {
		t.Fatalf("placed %d tasks on an instance with room for 10 (%d failures)", placed, failed)
	}
}

// A task's reports move it forward only; RUNNING counts it as running on its instance,
// STOPPED releases its booking, and a stale report changes nothing.
func TestReportsMoveTasksForwardAndRelease(t *testing.T) {
	ctx := context.Background()
	s, inst, arn := oneTask(t)
	report := func(status string) {
		t.Helper()
		if err := reportTask(ctx, s, inst, &Task{TaskArn: arn, LastStatus: status, StartedAt: s.now()}); err != nil {
			t.Fatal(err)
		}
	}
	describe := func() (*Task, *ContainerInstance) {
		t.Helper()
		tasks, err := s.describeTasks(ctx, nil, &describeTasksInput{Tasks: []string{arn}})
		if err != nil {
			t.Fatal(err)
		}
		insts, err := s.describeContainerInstances(ctx, nil, &describeContainerInstancesInput{ContainerInstances: []string{inst}})
		if err != nil {
			t.Fatal(err)
		}
		return tasks.Tasks[0], insts.ContainerInstances[0]
	}
	report(TaskRunning)
	report(TaskPending) // late and stale
	task, ci := describe()
	if task.LastStatus != TaskRunning || ci.RunningTasksCount != 1 || ci.PendingTasksCount != 0 || ci.RemainingResources[1].IntegerValue != 48 {
		b, _ := json.Marshal(ci)
		t.Fatalf("after RUNNING: task %s, instance %s", task.LastStatus, b)
	}
	clusters, err := s.describeClusters(ctx, nil, &describeClustersInput{})
	if err != nil || clusters.Clusters[0].RunningTasksCount != 1 || clusters.Clusters[0].RegisteredContainerInstancesCount != 1 {
		t.Fatalf("cluster counts while the task runs: %v %+v", err, clusters.Clusters)
	}
	report(TaskStopped)
	task, ci = describe()
	if task.LastStatus != TaskStopped || task.DesiredStatus != TaskStopped || ci.RunningTasksCount != 0 || ci.RemainingResources[1].IntegerValue != 64 {
		t.Fatalf("after STOPPED: task %s/%s, running %d, memory left %d", task.LastStatus, task.DesiredStatus, ci.RunningTasksCount, ci.RemainingResources[1].IntegerValue)
	}
	// Retention: a stopped task goes once its time has passed, not before.
	if n, _ := s.ExpireStoppedTasks(ctx); n != 0 {
		t.Fatalf("expired %d fresh tasks", n)
	}
	s.cfg.Now = func() time.Time { return time.Now().Add(2 * DefaultStoppedTaskRetention) }
	if n, _ := s.ExpireStoppedTasks(ctx); n != 1 {
		t.Fatalf("expired %d old tasks, want 1", n)
	}
}

// RunTask with a clientToken answers a retry with the tasks of the first call.
func TestRunTaskClientToken(t *testing.T) {
	ctx := context.Background()
	s := newTestService(t, openStore(t))
	s.EnsureDefaultCluster(ctx)
	registerInstance(t, s, 1024, 1024)
	s.registerTaskDefinition(ctx, &awsapi.Request{}, minimalTaskDef("web"))
	first, err := s.runTask(ctx, nil, &runTaskInput{TaskDefinition: "web", ClientToken: "once"})
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.runTask(ctx, nil, &runTaskInput{TaskDefinition: "web", ClientToken: "once"})
	if err != nil || len(again.Tasks) != 1 || again.Tasks[0].TaskArn != first.Tasks[0].TaskArn {
		t.Fatalf("retry with the same clientToken: %v %+v", err, again)
	}
	list, _ := s.listTasks(ctx, nil, &listTasksInput{})
	if len(list.TaskArns) != 1 {
		t.Fatalf("%d tasks after a retried RunTask, want 1", len(list.TaskArns))
	}
	// Tokens are kept as long as stopped tasks, not forever (the SDKs send one every call).
	s.cfg.Now = func() time.Time { return time.Now().Add(2 * DefaultStoppedTaskRetention) }
	if _, err := s.ExpireStoppedTasks(ctx); err != nil {
		t.Fatal(err)
	}
	if kvs, _, _ := s.store.ListAll(ctx, clientTokensPrefix); len(kvs) != 0 {
		t.Fatalf("%d client tokens left after their retention", len(kvs))
	}
}

// An agent's watch sends the full assignment set first, changes as they happen, and a
// periodic full set again in which what it already sent is named, not sent again.
func TestWatchAssignmentsResendsOnlyChanges(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := openStore(t)
	s := New(Config{Region: "us-east-1", Account: "000000000000", AssignmentResync: 300 * time.Millisecond}, st, rootOnly{})
	if err := s.EnsureDefaultCluster(ctx); err != nil {
		t.Fatal(err)
	}
	inst := registerInstance(t, s, 4096, 1024)
	if _, err := s.registerTaskDefinition(ctx, &awsapi.Request{}, minimalTaskDef("web")); err != nil {
		t.Fatal(err)
	}
	out, err := s.runTask(ctx, nil, &runTaskInput{TaskDefinition: "web", Count: new(int32(2))})
	if err != nil || len(out.Tasks) != 2 {
		t.Fatalf("RunTask: %v %v", out, err)
	}
	updates, err := s.WatchAssignments(ctx, inst)
	if err != nil {
		t.Fatal(err)
	}
	next := func() AssignmentUpdate {
		t.Helper()
		select {
		case up := <-updates:
			return up
		case <-time.After(10 * time.Second):
			t.Fatal("no assignment update within 10 s")
			return AssignmentUpdate{}
		}
	}
	if up := next(); !up.Full || len(up.Assignments) != 2 || len(up.Unchanged) != 0 {
		t.Fatalf("first update: full %v, %d assignments, %d unchanged; want full with 2", up.Full, len(up.Assignments), len(up.Unchanged))
	}
	stopped := out.Tasks[0].TaskArn
	if _, err := s.stopTaskAction(ctx, nil, &stopTaskInput{Task: stopped}); err != nil {
		t.Fatal(err)
	}
	up := next()
	if up.Full || len(up.Assignments) != 1 || up.Assignments[0].Task.TaskArn != stopped || up.Assignments[0].Task.DesiredStatus != TaskStopped {
		t.Fatalf("after StopTask: %+v, want the stopped task alone", up)
	}
	up = next()
	if !up.Full || len(up.Assignments) != 0 || len(up.Unchanged) != 2 {
		t.Fatalf("resend: full %v, %d assignments, unchanged %v; want both tasks named unchanged", up.Full, len(up.Assignments), up.Unchanged)
	}
}

// Placements that would make one transaction too large are committed one by one, and
// every one of them still lands.
func TestOversizedBatchesCommitJobByJob(t *testing.T) {
	ctx := context.Background()
	s := newTestService(t, openStore(t))
	s.maxBatchBytes = 4 << 10 // any two RunTasks together are over it
	if err := s.EnsureDefaultCluster(ctx); err != nil {
		t.Fatal(err)
	}
	inst := registerInstance(t, s, 10240, 1600) // room for 100 tasks
	if _, err := s.registerTaskDefinition(ctx, &awsapi.Request{}, minimalTaskDef("web")); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	placed := 0
	for range 8 {
		wg.Go(func() {
			out, err := s.runTask(ctx, nil, &runTaskInput{TaskDefinition: "web", Count: new(int32(5))})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			placed += len(out.Tasks)
			mu.Unlock()
		})
	}
	wg.Wait()
	out, err := s.describeContainerInstances(ctx, nil, &describeContainerInstancesInput{ContainerInstances: []string{inst}})
	if err != nil {
		t.Fatal(err)
	}
	if ci := out.ContainerInstances[0]; placed != 40 || ci.PendingTasksCount != 40 || ci.RemainingResources[1].IntegerValue != 1600-40*16 {
		t.Fatalf("placed %d; instance pending %d, memory left %d", placed, ci.PendingTasksCount, ci.RemainingResources[1].IntegerValue)
	}
}

// Usage is conserved: however placements, reports and StopTask calls from two servers
// interleave, once every task is STOPPED each instance holds nothing and counts no task
// running or pending.
func TestUsageIsConservedUnderConcurrency(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	servers := []*Service{newTestService(t, st), newTestService(t, st)}
	if err := servers[0].EnsureDefaultCluster(ctx); err != nil {
		t.Fatal(err)
	}
	insts := []string{registerInstance(t, servers[0], 2048, 160), registerInstance(t, servers[0], 2048, 160)}
	if _, err := servers[0].registerTaskDefinition(ctx, &awsapi.Request{}, minimalTaskDef("web")); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var arns []string
	var wg sync.WaitGroup
	for w := range 6 {
		s := servers[w%2]
		wg.Go(func() {
			for range 5 {
				out, err := s.runTask(ctx, nil, &runTaskInput{TaskDefinition: "web", Count: new(int32(3))})
				if err != nil {
					t.Error(err)
					return
				}
				for _, task := range out.Tasks {
					mu.Lock()
					arns = append(arns, task.TaskArn)
					mu.Unlock()
					// The agent's reports and a user's StopTask race each other.
					wg.Go(func() {
						reportTask(ctx, s, task.ContainerInstanceArn, &Task{TaskArn: task.TaskArn, LastStatus: TaskRunning})
					})
					wg.Go(func() {
						s.stopTaskAction(ctx, nil, &stopTaskInput{Task: task.TaskArn})
						reportTask(ctx, s, task.ContainerInstanceArn, &Task{TaskArn: task.TaskArn, LastStatus: TaskStopped})
					})
				}
			}
		})
	}
	wg.Wait()
	if len(arns) < 20 {
		t.Fatalf("only %d tasks placed (room for 20 at once, and tasks stop as they go)", len(arns))
	}
	for _, arn := range arns { // whatever is left (reports lost a race) stops now
		tasks, err := servers[0].describeTasks(ctx, nil, &describeTasksInput{Tasks: []string{arn}})
		if err != nil {
			t.Fatal(err)
		}
		if task := tasks.Tasks[0]; task.LastStatus != TaskStopped {
			if err := reportTask(ctx, servers[1], task.ContainerInstanceArn, &Task{TaskArn: arn, LastStatus: TaskStopped}); err != nil {
				t.Fatal(err)
			}
		}
	}
	out, err := servers[1].describeContainerInstances(ctx, nil, &describeContainerInstancesInput{ContainerInstances: insts})
	if err != nil {
		t.Fatal(err)
	}
	for _, ci := range out.ContainerInstances {
		if ci.RunningTasksCount != 0 || ci.PendingTasksCount != 0 || ci.RemainingResources[0].IntegerValue != 2048 || ci.RemainingResources[1].IntegerValue != 160 {
			b, _ := json.Marshal(ci)
			t.Fatalf("after every task stopped, an instance still holds something: %s", b)
		}
	}
}

// Updates that piled up merge into one with the same effect.
func TestAssignmentUpdatesMerge(t *testing.T) {
	a := func(arn, desired string) Assignment {
		return Assignment{Task: &Task{TaskArn: arn, DesiredStatus: desired}}
	}
	full := AssignmentUpdate{Full: true, Assignments: []Assignment{a("arn:task/c/1", TaskRunning)}, Unchanged: []string{"arn:task/c/2"}}
	got := full.Then(AssignmentUpdate{Assignments: []Assignment{a("arn:task/c/3", TaskRunning)}}).Then(AssignmentUpdate{Removed: []string{"2"}})
	if !got.Full || len(got.Assignments) != 2 || got.Assignments[1].Task.TaskArn != "arn:task/c/3" || len(got.Unchanged) != 0 {
		t.Fatalf("full, then a new task, then one removed: %+v", got)
	}
	if len(full.Unchanged) != 1 || len(full.Assignments) != 1 {
		t.Fatalf("Then changed its receiver: %+v", full)
	}
	got = AssignmentUpdate{Assignments: []Assignment{a("arn:task/c/1", TaskRunning)}}.Then(AssignmentUpdate{Assignments: []Assignment{a("arn:task/c/1", TaskStopped)}})
	if got.Full || len(got.Assignments) != 2 || got.Assignments[1].Task.DesiredStatus != TaskStopped {
		t.Fatalf("two changes of one task keep their order: %+v", got)
	}
	if got := got.Then(full); !got.Full || len(got.Assignments) != 1 {
		t.Fatalf("a full set replaces what came before: %+v", got)
	}
	// A full set naming as unchanged a task whose assignment is still in the pile (sent
	// as far as the watch knows, not yet delivered) keeps that assignment.
	pending := AssignmentUpdate{Assignments: []Assignment{a("arn:task/c/2", TaskRunning)}}
	if got := pending.Then(full); len(got.Assignments) != 2 || got.Assignments[0].Task.TaskArn != "arn:task/c/2" || len(got.Unchanged) != 0 {
		t.Fatalf("a full set after an undelivered change: %+v", got)
	}
}

// oneTask runs one task of 16 MiB on an instance with 1024 CPU units and 64 MiB, and
// returns the service, the instance's ARN and the task's.
func oneTask(t *testing.T) (*Service, string, string) {
	t.Helper()
	ctx := context.Background()
	s := newTestService(t, openStore(t))
	s.EnsureDefaultCluster(ctx)
	inst := registerInstance(t, s, 1024, 64)
	s.registerTaskDefinition(ctx, &awsapi.Request{}, minimalTaskDef("web"))
	out, err := s.runTask(ctx, nil, &runTaskInput{TaskDefinition: "web"})
	if err != nil || len(out.Tasks) != 1 {
		t.Fatalf("runTask: %v %+v", err, out)
	}
	return s, inst, out.Tasks[0].TaskArn
}

// reportTask sends one report, as an agent's batch of one.
func reportTask(ctx context.Context, s *Service, instanceArn string, r *Task) error {
	return s.ReportTasks(ctx, instanceArn, []*Task{r})[0]
}

// WaitTask returns as soon as the task gets where it was asked to wait for, and as it is
// when the wait runs out.
func TestWaitTask(t *testing.T) {
	ctx := context.Background()
	s, inst, arn := oneTask(t)
	if _, _, err := s.WaitTask(ctx, "", arn, "started", time.Second); err == nil {
		t.Fatal("until=started was accepted")
	}
	if task, reached, err := s.WaitTask(ctx, "", arn, WaitRunning, 50*time.Millisecond); err != nil || reached || task.LastStatus != TaskProvisioning {
		t.Fatalf("a wait that runs out: %v, reached %v, %+v", err, reached, task)
	}
	// With no periodic re-read, only the report's commit can wake the waiter before the
	// wait runs out.
	s.waitRecheck = time.Hour
	go func() {
		time.Sleep(20 * time.Millisecond)
		reportTask(ctx, s, inst, &Task{TaskArn: arn, LastStatus: TaskRunning})
	}()
	task, reached, err := s.WaitTask(ctx, "", arn, WaitRunning, time.Minute)
	if err != nil || !reached || task.LastStatus != TaskRunning {
		t.Fatalf("waiting for RUNNING: %v, reached %v, %+v", err, reached, task)
	}
}

// Reports that together would make one transaction too large are stored one by one.
func TestOversizedReportBatchesCommitOneByOne(t *testing.T) {
	ctx := context.Background()
	s := newTestService(t, openStore(t))
	s.maxBatchBytes = 2 << 10 // two task records are over it
	if err := s.EnsureDefaultCluster(ctx); err != nil {
		t.Fatal(err)
	}
	inst := registerInstance(t, s, 10240, 1600)
	if _, err := s.registerTaskDefinition(ctx, &awsapi.Request{}, minimalTaskDef("web")); err != nil {
		t.Fatal(err)
	}
	out, err := s.runTask(ctx, nil, &runTaskInput{TaskDefinition: "web", Count: new(int32(5))})
	if err != nil || len(out.Tasks) != 5 {
		t.Fatalf("runTask: %v %+v", err, out)
	}
	var reports []*Task
	for _, task := range out.Tasks {
		reports = append(reports, &Task{TaskArn: task.TaskArn, LastStatus: TaskRunning})
	}
	for i, err := range s.ReportTasks(ctx, inst, reports) {
		if err != nil {
			t.Fatalf("report %d: %v", i, err)
		}
	}
	if n, err := s.runningCount(ctx, "default", ""); err != nil || n != 5 {
		t.Fatalf("%d tasks counted running (%v), want 5", n, err)
	}
}
