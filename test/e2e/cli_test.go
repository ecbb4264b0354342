package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// debianAWS is Debian's aws CLI (v2), which the README's setup installs. A pip-installed
// aws elsewhere on PATH may be a different major version, so the path is fixed.
const debianAWS = "/usr/bin/aws"

// awsCLI runs Debian's aws CLI against the server and decodes its JSON output.
func (s *server) awsCLI(t *testing.T, out any, args ...string) {
	t.Helper()
	if _, err := os.Stat(debianAWS); err != nil {
		t.Fatalf("%s is missing: install Debian's awscli package (the README's setup command does)", debianAWS)
	}
	cmd := exec.Command(debianAWS, append([]string{"--endpoint-url", s.Endpoint, "--region", "us-east-1", "--output", "json"}, args...)...)
	cmd.Env = envWithout("AWS_", "AWS_SHARED_CREDENTIALS_FILE="+s.credentialsPath(), "AWS_CONFIG_FILE=/dev/null", "AWS_PAGER=")
	data, err := cmd.Output()
	if err != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	if err := json.Unmarshal(data, out); err != nil {
		t.Fatalf("aws %s printed no JSON: %v\n%s", strings.Join(args, " "), err, data)
	}
}

func TestGantryCLIAndAWSCLIAgree(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "")
	webJSON := filepath.Join(t.TempDir(), "web.json")
	os.WriteFile(webJSON, []byte(`{"family": "web", "containerDefinitions": [
		{"name": "web", "image": "busybox", "memory": 64, "command": ["httpd", "-f"], "portMappings": [{"containerPort": 80}]}]}`), 0o644)

	if out := srv.gantry("cluster", "create", "prod", "--tag", "team=web"); !strings.Contains(out, "prod") || !strings.Contains(out, "ACTIVE") {
		t.Fatalf("cluster create printed:\n%s", out)
	}
	if out := srv.gantry("taskdef", "register", "-f", webJSON); strings.TrimSpace(out) != "web:1" {
		t.Fatalf("taskdef register printed %q", out)
	}
	if out := srv.gantry("taskdef", "ls"); !strings.Contains(out, "web") || !strings.Contains(out, "task-definition/web:1") {
		t.Fatalf("taskdef ls printed:\n%s", out)
	}

	var described struct {
		TaskDefinition struct {
			TaskDefinitionArn    string `json:"taskDefinitionArn"`
			Revision             int    `json:"revision"`
			ContainerDefinitions []struct {
				Name    string   `json:"name"`
				Image   string   `json:"image"`
				Memory  int      `json:"memory"`
				Command []string `json:"command"`
			} `json:"containerDefinitions"`
		} `json:"taskDefinition"`
	}
	srv.awsCLI(t, &described, "ecs", "describe-task-definition", "--task-definition", "web:1")
	td := described.TaskDefinition
	if td.TaskDefinitionArn != "arn:aws:ecs:us-east-1:000000000000:task-definition/web:1" || len(td.ContainerDefinitions) != 1 ||
		td.ContainerDefinitions[0].Memory != 64 || strings.Join(td.ContainerDefinitions[0].Command, " ") != "httpd -f" {
		t.Fatalf("aws ecs describe-task-definition: %+v", td)
	}

	// What the gantry CLI prints as JSON is what the aws CLI prints.
	var fromGantry, fromAWS struct {
		ClusterArns []string `json:"clusterArns"`
	}
	srv.awsCLI(t, &fromAWS, "ecs", "list-clusters")
	var clusters []struct {
		ClusterArn string `json:"clusterArn"`
	}
	if err := json.Unmarshal([]byte(srv.gantry("cluster", "ls", "-o", "json")), &clusters); err != nil {
		t.Fatal(err)
	}
	for _, c := range clusters {
		fromGantry.ClusterArns = append(fromGantry.ClusterArns, c.ClusterArn)
	}
	if strings.Join(fromGantry.ClusterArns, ",") != strings.Join(fromAWS.ClusterArns, ",") || len(fromAWS.ClusterArns) != 2 {
		t.Fatalf("cluster lists differ: gantry %v, aws %v", fromGantry.ClusterArns, fromAWS.ClusterArns)
	}

	// A cluster made with the aws CLI is visible to the gantry CLI.
	var created struct{}
	srv.awsCLI(t, &created, "ecs", "create-cluster", "--cluster-name", "from-aws")
	if out := srv.gantry("cluster", "ls"); !strings.Contains(out, "from-aws") {
		t.Fatalf("gantry cluster ls misses the aws-made cluster:\n%s", out)
	}
	srv.gantry("taskdef", "deregister", "web:1")
	var inactive struct {
		TaskDefinitionArns []string `json:"taskDefinitionArns"`
	}
	srv.awsCLI(t, &inactive, "ecs", "list-task-definitions", "--status", "INACTIVE")
	if len(inactive.TaskDefinitionArns) != 1 {
		t.Fatalf("after gantry taskdef deregister, aws sees inactive %v", inactive.TaskDefinitionArns)
	}
}

func TestCLIErrorsSayWhatToDo(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "")
	_, stderr, err := srv.gantryResult("cluster", "rm", "ghost")
	if err == nil || !strings.Contains(stderr, "ClusterNotFoundException") || !strings.Contains(stderr, "gantry cluster ls") {
		t.Fatalf("rm of a missing cluster: err %v stderr %q", err, stderr)
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(`{"family": "x", "containerDefinitons": []}`), 0o644)
	_, stderr, err = srv.gantryResult("taskdef", "register", "-f", bad)
	if err == nil || !strings.Contains(stderr, "containerDefinitons") {
		t.Fatalf("misspelt member: err %v stderr %q", err, stderr)
	}
	cmd := exec.Command(gantryBin, "cluster", "ls", "--endpoint", "http://"+freeAddr(t), "--credentials", srv.credentialsPath())
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "gantry server") {
		t.Fatalf("unreachable server: err %v output %q", err, out)
	}
}

func TestRestartAfterKill9KeepsEverything(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "")
	webJSON := filepath.Join(t.TempDir(), "web.json")
	os.WriteFile(webJSON, []byte(`{"family": "web", "containerDefinitions": [{"name": "web", "image": "busybox", "memory": 64}]}`), 0o644)
	for _, name := range []string{"a", "b", "c"} {
		srv.gantry("cluster", "create", name)
	}
	for range 3 {
		srv.gantry("taskdef", "register", "-f", webJSON)
	}
	srv.gantry("taskdef", "deregister", "web:2")
	keyID := srv.KeyID
	clustersBefore := srv.gantry("cluster", "ls", "-o", "json")
	defsBefore := srv.gantry("taskdef", "ls", "-o", "json")

	srv.kill9()
	srv.start()

	if srv.KeyID != keyID {
		t.Fatalf("root key changed across restart: %s then %s", keyID, srv.KeyID)
	}
	if got := srv.gantry("cluster", "ls", "-o", "json"); got != clustersBefore {
		t.Fatalf("clusters after kill -9:\n%s\nbefore:\n%s", got, clustersBefore)
	}
	if got := srv.gantry("taskdef", "ls", "-o", "json"); got != defsBefore {
		t.Fatalf("task definitions after kill -9:\n%s\nbefore:\n%s", got, defsBefore)
	}
	if out := srv.gantry("taskdef", "register", "-f", webJSON); strings.TrimSpace(out) != "web:4" {
		t.Fatalf("revision after restart: %q", out)
	}
}

func TestSIGTERMShutsDownCleanly(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "")
	// The banner is written before /readyz turns ready, but reaches us through a pipe.
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(srv.output.String(), "AWS_SHARED_CREDENTIALS_FILE=") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(srv.output.String(), "listening on "+srv.Endpoint) || !strings.Contains(srv.output.String(), "AWS_SHARED_CREDENTIALS_FILE=") {
		t.Fatalf("banner:\n%s", srv.output)
	}
	info, err := os.Stat(srv.credentialsPath())
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file mode: %v %v", info.Mode(), err)
	}
	if err := srv.stop(15 * time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, srv.output)
	}
}
