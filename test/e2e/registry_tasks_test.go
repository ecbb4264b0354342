package e2e

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/google/go-containerregistry/pkg/crane"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// layerFromBytes is an uncompressed layer read from memory. (tarball.LayerFromReader
// would copy it to a temporary file that nothing removes.)
func layerFromBytes(t *testing.T, tarBytes []byte) v1.Layer {
	t.Helper()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(tarBytes)), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return layer
}

// registryImage is a one-layer image with static busybox and a file /version holding
// version, whose command loops until SIGTERM.
func registryImage(t *testing.T, version string) v1.Image {
	t.Helper()
	layer := layerFromBytes(t, busyboxTar(t, map[string]string{"version": version + "\n"}))
	img, _ := mutate.AppendLayers(empty.Image, layer)
	cfg, _ := img.ConfigFile()
	cfg.OS, cfg.Architecture = "linux", "amd64"
	cfg.Config.Cmd = []string{"sh", "-c", "cat /version; trap 'exit 0' TERM; while true; do sleep 0.1; done"}
	img, err := mutate.ConfigFile(img, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// TestTasksRunRegistryImagesThatLifecycleKeeps pushes an image to Gantry's registry and
// runs a task from it (the agent pulls with the server's credentials). A lifecycle policy
// keeping one image then spares the older image while the task runs, and expires it once
// the task has stopped.
func TestTasksRunRegistryImagesThatLifecycleKeeps(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	n := startNode(t)
	ref := func(tag string) string { return n.registryHost() + "/app:" + tag }
	if err := crane.Push(registryImage(t, "v1"), ref("v1"), n.craneOpts()...); err != nil {
		t.Fatal(err)
	}
	policy := `{"rules": [{"rulePriority": 1, "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 1}, "action": {"type": "expire"}}]}`
	var put map[string]any
	n.awsCLI(t, &put, "ecr", "put-lifecycle-policy", "--repository-name", "app", "--lifecycle-policy-text", policy)
	td := n.register(`{"family": "from-registry", "networkMode": "awsvpc", "containerDefinitions": [
		{"name": "app", "image": "` + ref("v1") + `", "memory": 16, "stopTimeout": 2}]}`)
	task := n.runTask(&ecs.RunTaskInput{TaskDefinition: aws.String(td)})[0]
	arn := aws.ToString(task.TaskArn)
	n.waitTask(arn, "RUNNING", statusIs("RUNNING"))
	n.waitLogs(arn, "v1\n")

	if err := crane.Push(registryImage(t, "v2"), ref("v2"), n.craneOpts()...); err != nil {
		t.Fatal(err)
	}
	if _, err := crane.Digest(ref("v1"), n.craneOpts()...); err != nil {
		t.Fatalf("the image a running task uses was expired: %v", err)
	}
	n.ecs().StopTask(ctx, &ecs.StopTaskInput{Task: aws.String(arn)})
	n.waitTask(arn, "STOPPED", statusIs("STOPPED"))
	if err := crane.Push(registryImage(t, "v3"), ref("v3"), n.craneOpts()...); err != nil {
		t.Fatal(err)
	}
	if _, err := crane.Digest(ref("v1"), n.craneOpts()...); err == nil {
		t.Fatal("v1 was kept after its task stopped; the policy keeps only the newest image")
	}
}

// waitLogs polls a task's logs until they read want.
func (n *node) waitLogs(task, want string) {
	n.t.Helper()
	var logs string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if logs = n.gantry("logs", task); logs == want {
			return
		}
	}
	n.t.Fatalf("logs of %s: %q, want %q", task, logs, want)
}

// TestPushPullThroughTheNode pushes an imported image from a machine's store to Gantry's
// registry with `gantry push`, removes it, pulls it back with `gantry pull` and runs it.
func TestPushPullThroughTheNode(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	n.gantry("image", "import", busyboxRootfs(t), "busybox:e2e")
	remote := n.registryHost() + "/tools/busybox:1"
	out := n.gantry("push", "busybox:e2e", remote)
	if !strings.Contains(out, "sha256:") {
		t.Fatalf("gantry push printed %q", out)
	}
	if _, err := crane.Digest(remote, n.craneOpts()...); err != nil {
		t.Fatalf("the pushed image is not in the registry: %v", err)
	}
	n.gantry("rmi", "busybox:e2e")
	n.gantry("pull", remote)
	if images := n.gantry("images"); !strings.Contains(images, n.registryHost()+"/tools/busybox") {
		t.Fatalf("gantry images after pull:\n%s", images)
	}
	if got := n.gantry("run", remote, "echo", "pulled"); got != "pulled\n" {
		t.Fatalf("gantry run of the pulled image: %q", got)
	}
	if _, errOut, err := n.gantryResult("pull", n.registryHost()+"/tools/missing:1"); err == nil || !strings.Contains(errOut, "MANIFEST_UNKNOWN") && !strings.Contains(errOut, "NAME_UNKNOWN") {
		t.Fatalf("pulling a missing image: %v %s", err, errOut)
	}
}
