package e2e

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/crane"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
)

// ecr returns an aws-sdk-go-v2 ECR client signed with the server's root key.
func (s *server) ecr() *ecr.Client {
	cfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(s.KeyID, s.Secret, "")),
		config.WithRetryMaxAttempts(1),
	)
	if err != nil {
		s.t.Fatal(err)
	}
	return ecr.NewFromConfig(cfg, func(o *ecr.Options) { o.BaseEndpoint = aws.String(s.Endpoint) })
}

func TestECRRepositoriesAndImages(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := startServer(t, "")
	client := srv.ecr()

	created, err := client.CreateRepository(ctx, &ecr.CreateRepositoryInput{
		RepositoryName: aws.String("team/web"),
		Tags:           []types.Tag{{Key: aws.String("team"), Value: aws.String("web")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	repo := created.Repository
	if aws.ToString(repo.RepositoryUri) != srv.registryHost()+"/team/web" || repo.ImageTagMutability != types.ImageTagMutabilityMutable ||
		aws.ToString(repo.RepositoryArn) != "arn:aws:ecr:us-east-1:000000000000:repository/team/web" {
		t.Fatalf("created: %s", jsonOf(repo))
	}
	if _, err := client.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("team/web")}); apiErrorCode(t, err) != "RepositoryAlreadyExistsException" {
		t.Fatalf("second create: %v", err)
	}

	// Push two images with go-containerregistry, then see them through the ECR API.
	img1, _ := random.Image(4096, 2)
	img2, _ := random.Image(4096, 1)
	if err := crane.Push(img1, srv.registryHost()+"/team/web:v1", srv.craneOpts()...); err != nil {
		t.Fatal(err)
	}
	if err := crane.Push(img2, srv.registryHost()+"/team/web:v2", srv.craneOpts()...); err != nil {
		t.Fatal(err)
	}
	d1, _ := img1.Digest()
	listed, err := client.ListImages(ctx, &ecr.ListImagesInput{RepositoryName: aws.String("team/web")})
	if err != nil || len(listed.ImageIds) != 2 {
		t.Fatalf("list images: %s %v", jsonOf(listed), err)
	}
	described, err := client.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("team/web"),
		ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("v1")}}})
	if err != nil {
		t.Fatal(err)
	}
	detail := described.ImageDetails[0]
	size1, _ := img1.Size()
	if aws.ToString(detail.ImageDigest) != d1.String() || strings.Join(detail.ImageTags, ",") != "v1" || detail.ImagePushedAt == nil || detail.LastRecordedPullTime != nil ||
		aws.ToInt64(detail.ImageSizeInBytes) <= size1 {
		t.Fatalf("describe v1: %s (manifest size %d)", jsonOf(detail), size1)
	}

	// A pull is recorded.
	if _, err := crane.Pull(srv.registryHost()+"/team/web:v1", srv.craneOpts()...); err != nil {
		t.Fatal(err)
	}
	described, err = client.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("team/web"),
		ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("v1")}}})
	if err != nil || described.ImageDetails[0].LastRecordedPullTime == nil {
		t.Fatalf("lastRecordedPullTime after a pull: %s %v", jsonOf(described), err)
	}

	// BatchGetImage returns the manifest; PutImage re-tags it without a registry client.
	got, err := client.BatchGetImage(ctx, &ecr.BatchGetImageInput{RepositoryName: aws.String("team/web"),
		ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("v1")}, {ImageTag: aws.String("nope")}}})
	if err != nil || len(got.Images) != 1 || len(got.Failures) != 1 || got.Failures[0].FailureCode != types.ImageFailureCodeImageNotFound {
		t.Fatalf("batch get: %s %v", jsonOf(got), err)
	}
	raw, _ := img1.RawManifest()
	if aws.ToString(got.Images[0].ImageManifest) != string(raw) {
		t.Fatal("batch get returned a different manifest")
	}
	if _, err := client.PutImage(ctx, &ecr.PutImageInput{RepositoryName: aws.String("team/web"), ImageManifest: aws.String(string(raw)), ImageTag: aws.String("stable")}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.PutImage(ctx, &ecr.PutImageInput{RepositoryName: aws.String("team/web"), ImageManifest: aws.String(string(raw)), ImageTag: aws.String("stable")}); apiErrorCode(t, err) != "ImageAlreadyExistsException" {
		t.Fatalf("second identical PutImage: %v", err)
	}
	if d, err := crane.Digest(srv.registryHost()+"/team/web:stable", srv.craneOpts()...); err != nil || d != d1.String() {
		t.Fatalf("tag made by PutImage: %s %v", d, err)
	}

	// Deleting a tag that is not the image's last only untags it; deleting by digest removes it.
	del, err := client.BatchDeleteImage(ctx, &ecr.BatchDeleteImageInput{RepositoryName: aws.String("team/web"),
		ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("stable")}, {ImageDigest: aws.String("sha256:" + strings.Repeat("0", 64))}}})
	if err != nil || len(del.ImageIds) != 1 || len(del.Failures) != 1 {
		t.Fatalf("batch delete: %s %v", jsonOf(del), err)
	}
	if _, err := crane.Digest(srv.registryHost()+"/team/web:v1", srv.craneOpts()...); err != nil {
		t.Fatalf("v1 should survive untagging stable: %v", err)
	}

	// A repository with images is not deleted without force.
	if _, err := client.DeleteRepository(ctx, &ecr.DeleteRepositoryInput{RepositoryName: aws.String("team/web")}); apiErrorCode(t, err) != "RepositoryNotEmptyException" {
		t.Fatalf("delete non-empty: %v", err)
	}
	if _, err := client.DeleteRepository(ctx, &ecr.DeleteRepositoryInput{RepositoryName: aws.String("team/web"), Force: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{"team/web"}}); apiErrorCode(t, err) != "RepositoryNotFoundException" {
		t.Fatalf("describe deleted: %v", err)
	}
	if _, err := crane.Digest(srv.registryHost()+"/team/web:v1", srv.craneOpts()...); err == nil {
		t.Fatal("image still pullable after force delete")
	}
}

func TestECRTagImmutability(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := startServer(t, "")
	client := srv.ecr()
	_, err := client.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("frozen"),
		ImageTagMutability: types.ImageTagMutabilityImmutableWithExclusion,
		ImageTagMutabilityExclusionFilters: []types.ImageTagMutabilityExclusionFilter{
			{FilterType: types.ImageTagMutabilityExclusionFilterTypeWildcard, Filter: aws.String("latest*")}}})
	if err != nil {
		t.Fatal(err)
	}
	host := srv.registryHost()
	first, _ := random.Image(1024, 1)
	if err := crane.Push(first, host+"/frozen:v1", srv.craneOpts()...); err != nil {
		t.Fatal(err)
	}
	// Concurrent pushes of different images to one new immutable tag: exactly one wins.
	var wg sync.WaitGroup
	results := make([]error, 4)
	for i := range results {
		wg.Go(func() {
			img, _ := random.Image(1024, 1)
			results[i] = crane.Push(img, host+"/frozen:race", srv.craneOpts()...)
		})
	}
	wg.Wait()
	wins := 0
	for _, err := range results {
		if err == nil {
			wins++
		} else if !strings.Contains(err.Error(), "TAG_INVALID") {
			t.Fatalf("losing push failed oddly: %v", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d concurrent pushes to one immutable tag succeeded, want 1: %v", wins, results)
	}
	second, _ := random.Image(1024, 1)
	if err := crane.Push(second, host+"/frozen:v1", srv.craneOpts()...); err == nil || !strings.Contains(err.Error(), "immutable") {
		t.Fatalf("overwriting an immutable tag: %v", err)
	}
	if d, _ := crane.Digest(host+"/frozen:v1", srv.craneOpts()...); d != mustDigest(first) {
		t.Fatal("a refused push changed the tag")
	}
	// Re-pushing the same image under the tag is fine, and excluded tags stay mutable.
	if err := crane.Push(first, host+"/frozen:v1", srv.craneOpts()...); err != nil {
		t.Fatalf("re-push of the same image: %v", err)
	}
	if err := crane.Push(first, host+"/frozen:latest", srv.craneOpts()...); err != nil {
		t.Fatal(err)
	}
	if err := crane.Push(second, host+"/frozen:latest", srv.craneOpts()...); err != nil {
		t.Fatalf("excluded tag should move: %v", err)
	}
	raw, _ := second.RawManifest()
	_, err = client.PutImage(ctx, &ecr.PutImageInput{RepositoryName: aws.String("frozen"), ImageManifest: aws.String(string(raw)), ImageTag: aws.String("v1")})
	if apiErrorCode(t, err) != "ImageTagAlreadyExistsException" {
		t.Fatalf("PutImage over an immutable tag: %v", err)
	}
}

func TestECRAuthorizationTokenLogsIn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := startServer(t, "")
	out, err := srv.ecr().GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{})
	if err != nil {
		t.Fatal(err)
	}
	data := out.AuthorizationData[0]
	raw, _ := base64.StdEncoding.DecodeString(aws.ToString(data.AuthorizationToken))
	user, pass, _ := strings.Cut(string(raw), ":")
	if user != "AWS" || aws.ToString(data.ProxyEndpoint) != "http://"+srv.registryHost() || data.ExpiresAt == nil {
		t.Fatalf("authorization data: %s", jsonOf(data))
	}
	img, _ := random.Image(1024, 1)
	opts := []crane.Option{crane.Insecure, crane.WithAuth(&authn.Basic{Username: user, Password: pass})}
	if err := crane.Push(img, srv.registryHost()+"/viatoken:v1", opts...); err != nil {
		t.Fatalf("push with the ECR token: %v", err)
	}
	bad := []crane.Option{crane.Insecure, crane.WithAuth(&authn.Basic{Username: user, Password: pass + "x"})}
	if _, err := crane.Digest(srv.registryHost()+"/viatoken:v1", bad...); err == nil {
		t.Fatal("a tampered token was accepted")
	}
	// The push created the repository, as ECR's create-on-push templates do.
	var repos struct {
		Repositories []struct {
			RepositoryName string `json:"repositoryName"`
		} `json:"repositories"`
	}
	srv.awsCLI(t, &repos, "ecr", "describe-repositories")
	if len(repos.Repositories) != 1 || repos.Repositories[0].RepositoryName != "viatoken" {
		t.Fatalf("aws ecr describe-repositories: %+v", repos)
	}
}

func mustDigest(img v1.Image) string {
	d, _ := img.Digest()
	return d.String()
}

func TestECRLifecyclePolicy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := startServer(t, "")
	client := srv.ecr()
	repo := aws.String("life")
	if _, err := client.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: repo}); err != nil {
		t.Fatal(err)
	}
	_, err := client.PutLifecyclePolicy(ctx, &ecr.PutLifecyclePolicyInput{RepositoryName: repo,
		LifecyclePolicyText: aws.String(`{"rules":[{"rulePriority":1,"selection":{"tagStatus":"tagged","tagPrefixList":["v"],"countType":"imageCountMoreThan","countNumber":5}}]}`)})
	if apiErrorCode(t, err) != "InvalidParameterException" {
		t.Fatalf("policy without an action: %v", err)
	}
	keepTwo := `{"rules":[{"rulePriority":1,"description":"keep two releases","selection":{"tagStatus":"tagged","tagPrefixList":["v"],"countType":"imageCountMoreThan","countNumber":2},"action":{"type":"expire"}}]}`
	if _, err := client.PutLifecyclePolicy(ctx, &ecr.PutLifecyclePolicyInput{RepositoryName: repo, LifecyclePolicyText: aws.String(keepTwo)}); err != nil {
		t.Fatal(err)
	}
	var digests []string
	for i := 1; i <= 4; i++ {
		img, _ := random.Image(1024, 1)
		if err := crane.Push(img, fmt.Sprintf("%s/life:v%d", srv.registryHost(), i), srv.craneOpts()...); err != nil {
			t.Fatal(err)
		}
		digests = append(digests, mustDigest(img))
		time.Sleep(20 * time.Millisecond) // distinct push times
	}
	tags, err := crane.ListTags(srv.registryHost()+"/life", srv.craneOpts()...)
	if err != nil || strings.Join(tags, ",") != "v3,v4" {
		t.Fatalf("after four pushes with keep-two: %v %v", tags, err)
	}
	got, err := client.GetLifecyclePolicy(ctx, &ecr.GetLifecyclePolicyInput{RepositoryName: repo})
	if err != nil || aws.ToString(got.LifecyclePolicyText) != keepTwo || got.LastEvaluatedAt == nil {
		t.Fatalf("get policy: %s %v", jsonOf(got), err)
	}

	// A preview of a stricter policy names v3 without deleting it.
	keepOne := strings.Replace(keepTwo, `"countNumber":2`, `"countNumber":1`, 1)
	if _, err := client.StartLifecyclePolicyPreview(ctx, &ecr.StartLifecyclePolicyPreviewInput{RepositoryName: repo, LifecyclePolicyText: aws.String(keepOne)}); err != nil {
		t.Fatal(err)
	}
	pv, err := client.GetLifecyclePolicyPreview(ctx, &ecr.GetLifecyclePolicyPreviewInput{RepositoryName: repo})
	if err != nil || pv.Status != types.LifecyclePolicyPreviewStatusComplete || len(pv.PreviewResults) != 1 ||
		aws.ToString(pv.PreviewResults[0].ImageDigest) != digests[2] || aws.ToInt32(pv.Summary.ExpiringImageTotalCount) != 1 {
		t.Fatalf("preview: %s %v", jsonOf(pv), err)
	}
	if tags, _ := crane.ListTags(srv.registryHost()+"/life", srv.craneOpts()...); strings.Join(tags, ",") != "v3,v4" {
		t.Fatalf("a preview deleted images: %v", tags)
	}
	if _, err := client.DeleteLifecyclePolicy(ctx, &ecr.DeleteLifecyclePolicyInput{RepositoryName: repo}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.GetLifecyclePolicy(ctx, &ecr.GetLifecyclePolicyInput{RepositoryName: repo}); apiErrorCode(t, err) != "LifecyclePolicyNotFoundException" {
		t.Fatalf("get after delete: %v", err)
	}
}
