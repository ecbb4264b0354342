package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/crane"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// registryHost is the server's address as an image reference host.
func (s *server) registryHost() string { return s.addr }

// craneOpts authenticates go-containerregistry with the server's root key and allows
// plain HTTP to the loopback registry.
func (s *server) craneOpts() []crane.Option {
	return []crane.Option{crane.Insecure, crane.WithAuth(&authn.Basic{Username: s.KeyID, Password: s.Secret})}
}

func TestRegistryPushPullWithGoContainerRegistry(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "")
	img, err := random.Image(256<<10, 3)
	if err != nil {
		t.Fatal(err)
	}
	ref := srv.registryHost() + "/team/app:v1"
	if err := crane.Push(img, ref, srv.craneOpts()...); err != nil {
		t.Fatalf("push: %v", err)
	}
	pulled, err := crane.Pull(ref, srv.craneOpts()...)
	if err != nil {
		t.Fatalf("pull: %v", err)
	}
	wantDigest, _ := img.Digest()
	gotDigest, err := pulled.Digest()
	if err != nil || gotDigest != wantDigest {
		t.Fatalf("pulled digest %v, pushed %v (%v)", gotDigest, wantDigest, err)
	}
	// Layers come back byte for byte.
	layers, err := pulled.Layers()
	if err != nil || len(layers) != 3 {
		t.Fatalf("layers: %d %v", len(layers), err)
	}
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		want, _ := l.Digest()
		if err != nil || (v1.Hash{Algorithm: "sha256", Hex: sha256Hex(data)}) != want {
			t.Fatalf("layer %s content does not match its digest (%v)", want, err)
		}
	}

	// A second tag, the tags list and the catalog.
	if err := crane.Tag(ref, "v2", srv.craneOpts()...); err != nil {
		t.Fatal(err)
	}
	tags, err := crane.ListTags(srv.registryHost()+"/team/app", srv.craneOpts()...)
	if err != nil || strings.Join(tags, ",") != "v1,v2" {
		t.Fatalf("tags: %v %v", tags, err)
	}
	repos, err := crane.Catalog(srv.registryHost(), srv.craneOpts()...)
	if err != nil || strings.Join(repos, ",") != "team/app" {
		t.Fatalf("catalog: %v %v", repos, err)
	}

	// A cross-repository push mounts the layers instead of uploading them again.
	ref2 := srv.registryHost() + "/team/other:v1"
	if err := crane.Push(img, ref2, srv.craneOpts()...); err != nil {
		t.Fatalf("push to a second repository: %v", err)
	}
	if d, err := crane.Digest(ref2, srv.craneOpts()...); err != nil || d != wantDigest.String() {
		t.Fatalf("second repository digest %s %v", d, err)
	}

	// Deleting by digest removes the manifest and its tags.
	if err := crane.Delete(srv.registryHost()+"/team/app@"+wantDigest.String(), srv.craneOpts()...); err != nil {
		t.Fatal(err)
	}
	if _, err := crane.Pull(ref, srv.craneOpts()...); err == nil {
		t.Fatal("pull after delete succeeded")
	}
}

func TestRegistryRefusesAnonymousAndBadCredentials(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "")
	resp, err := http.Get(srv.Endpoint + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer realm=") {
		t.Fatalf("anonymous /v2/: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	bad := []crane.Option{crane.Insecure, crane.WithAuth(&authn.Basic{Username: srv.KeyID, Password: "wrong"})}
	img, _ := random.Image(1024, 1)
	if err := crane.Push(img, srv.registryHost()+"/x:y", bad...); err == nil || !strings.Contains(err.Error(), "UNAUTHORIZED") {
		t.Fatalf("push with a wrong secret: %v", err)
	}
	// The token flow hands out bearer tokens that work on later requests.
	req, _ := http.NewRequest(http.MethodGet, srv.Endpoint+"/v2/token?service=gantry", nil)
	req.SetBasicAuth(srv.KeyID, srv.Secret)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		Token string `json:"token"`
	}
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	req, _ = http.NewRequest(http.MethodGet, srv.Endpoint+"/v2/", nil)
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("bearer token: %d", resp.StatusCode)
	}
	req.Header.Set("Authorization", "Bearer "+tok.Token+"x")
	resp, _ = http.DefaultClient.Do(req)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("tampered bearer token: %d", resp.StatusCode)
	}
}

func TestRegistryRejectsBadManifests(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "")
	put := func(path, contentType string, body []byte) (int, string) {
		req, _ := http.NewRequest(http.MethodPut, srv.Endpoint+path, bytes.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		req.SetBasicAuth(srv.KeyID, srv.Secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var e struct {
			Errors []struct{ Code string } `json:"errors"`
		}
		json.NewDecoder(resp.Body).Decode(&e)
		code := ""
		if len(e.Errors) > 0 {
			code = e.Errors[0].Code
		}
		return resp.StatusCode, code
	}
	missing := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
	 "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:` + strings.Repeat("a", 64) + `","size":2},"layers":[]}`
	cases := []struct {
		name, path, contentType, body string
		status                        int
		code                          string
	}{
		{"missing blob", "/v2/r/manifests/t", "application/vnd.oci.image.manifest.v1+json", missing, 400, "MANIFEST_BLOB_UNKNOWN"},
		{"not json", "/v2/r/manifests/t", "application/vnd.oci.image.manifest.v1+json", "{", 400, "MANIFEST_INVALID"},
		{"digest mismatch", "/v2/r/manifests/sha256:" + strings.Repeat("b", 64), "application/vnd.oci.image.manifest.v1+json", missing, 400, "DIGEST_INVALID"},
		{"traversal name", "/v2/../etc/manifests/t", "application/vnd.oci.image.manifest.v1+json", missing, 0, ""},
		{"upper-case name", "/v2/Bad/manifests/t", "application/vnd.oci.image.manifest.v1+json", missing, 400, "NAME_INVALID"},
		{"too large", "/v2/r/manifests/t", "application/vnd.oci.image.manifest.v1+json", `{"x":"` + strings.Repeat("x", 4<<20) + `"}`, 413, "SIZE_INVALID"},
	}
	for _, tc := range cases {
		status, code := put(tc.path, tc.contentType, []byte(tc.body))
		if tc.status == 0 {
			if status < 300 {
				t.Errorf("%s: accepted with %d", tc.name, status)
			}
			continue
		}
		if status != tc.status || code != tc.code {
			t.Errorf("%s: got %d %s, want %d %s", tc.name, status, code, tc.status, tc.code)
		}
	}
	if repos, err := crane.Catalog(srv.registryHost(), srv.craneOpts()...); err != nil || len(repos) != 0 {
		t.Fatalf("rejected pushes created repositories: %v %v", repos, err)
	}
}

func TestRegistryWithSkopeo(t *testing.T) {
	t.Parallel()
	skopeo, err := exec.LookPath("skopeo")
	if err != nil {
		t.Fatal("skopeo is missing: install Debian's skopeo package (the README's setup command does)")
	}
	srv := startServer(t, "")
	dir := t.TempDir()
	img, _ := random.Image(512<<10, 2)
	img = mutate.MediaType(img, "application/vnd.oci.image.manifest.v1+json")
	src := filepath.Join(dir, "src")
	p, err := layout.Write(src, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "v1"})); err != nil {
		t.Fatal(err)
	}
	creds := srv.KeyID + ":" + srv.Secret
	run := func(args ...string) {
		t.Helper()
		out, err := exec.Command(skopeo, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("skopeo %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	dest := "docker://" + srv.registryHost() + "/skopeo/img:v1"
	run("copy", "--dest-tls-verify=false", "--dest-creds", creds, "oci:"+src+":v1", dest)
	run("copy", "--src-tls-verify=false", "--src-creds", creds, dest, "oci:"+filepath.Join(dir, "back")+":v1")
	back, err := layout.ImageIndexFromPath(filepath.Join(dir, "back"))
	if err != nil {
		t.Fatal(err)
	}
	m, _ := back.IndexManifest()
	want, _ := img.Digest()
	if len(m.Manifests) != 1 || m.Manifests[0].Digest != want {
		t.Fatalf("round trip through skopeo changed the image: %+v, want %s", m.Manifests, want)
	}
	out, err := exec.Command(skopeo, "inspect", "--raw", "--tls-verify=false", "--creds", creds, dest).CombinedOutput()
	wantManifest, _ := img.RawManifest()
	if err != nil || !bytes.Equal(bytes.TrimSpace(out), wantManifest) {
		t.Fatalf("skopeo inspect --raw: %v\n%s", err, out)
	}
}

func TestRegistryReferrers(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "")
	repo := srv.registryHost() + "/art/app"
	img, _ := random.Image(1024, 1)
	if err := crane.Push(img, repo+":v1", srv.craneOpts()...); err != nil {
		t.Fatal(err)
	}
	imgDesc, err := partialDescriptor(img)
	if err != nil {
		t.Fatal(err)
	}
	sig, _ := random.Image(512, 1)
	sig = mutate.MediaType(sig, "application/vnd.oci.image.manifest.v1+json")
	sig = mutate.ConfigMediaType(sig, "application/vnd.example.signature")
	sig = mutate.Subject(sig, *imgDesc).(v1.Image)
	sigRef, _ := name.ParseReference(repo+":sig", name.Insecure)
	if err := remote.Write(sigRef, sig, remote.WithAuth(&authn.Basic{Username: srv.KeyID, Password: srv.Secret})); err != nil {
		t.Fatal(err)
	}
	subject, _ := name.ParseReference(repo+"@"+imgDesc.Digest.String(), name.Insecure)
	idx, err := remote.Referrers(subject.Context().Digest(imgDesc.Digest.String()), remote.WithAuth(&authn.Basic{Username: srv.KeyID, Password: srv.Secret}))
	if err != nil {
		t.Fatal(err)
	}
	im, _ := idx.IndexManifest()
	sigDigest, _ := sig.Digest()
	if len(im.Manifests) != 1 || im.Manifests[0].Digest != sigDigest || im.Manifests[0].ArtifactType != "application/vnd.example.signature" {
		t.Fatalf("referrers: %+v", im.Manifests)
	}
}

func partialDescriptor(img v1.Image) (*v1.Descriptor, error) {
	d, err := img.Digest()
	if err != nil {
		return nil, err
	}
	size, _ := img.Size()
	mt, _ := img.MediaType()
	return &v1.Descriptor{MediaType: mt, Digest: d, Size: size}, nil
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func TestRepoCLIAndLogin(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "")
	if out := srv.gantry("repo", "create", "team/api", "--immutable", "--exclude", "dev-*"); !strings.Contains(out, "IMMUTABLE_WITH_EXCLUSION") || !strings.Contains(out, srv.registryHost()+"/team/api") {
		t.Fatalf("repo create printed:\n%s", out)
	}
	dockerDir := t.TempDir()
	os.WriteFile(filepath.Join(dockerDir, "config.json"), []byte(`{"auths": {"other.example:5000": {"auth": "eDp5"}}, "credsStore": ""}`), 0o600)
	cmd := exec.Command(gantryBin, "login")
	cmd.Env = envWithout("AWS_", "GANTRY_ENDPOINT="+srv.Endpoint, "GANTRY_CREDENTIALS="+srv.credentialsPath(), "DOCKER_CONFIG="+dockerDir)
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "Login Succeeded") {
		t.Fatalf("gantry login: %v\n%s", err, out)
	}
	var cfg struct {
		Auths map[string]struct {
			Auth string `json:"auth"`
		} `json:"auths"`
	}
	data, _ := os.ReadFile(filepath.Join(dockerDir, "config.json"))
	if err := json.Unmarshal(data, &cfg); err != nil || cfg.Auths["other.example:5000"].Auth != "eDp5" || cfg.Auths[srv.registryHost()].Auth == "" {
		t.Fatalf("docker config after login keeps other entries and adds ours: %s", data)
	}
	// skopeo pushes with the stored login alone.
	src := filepath.Join(t.TempDir(), "src")
	p, _ := layout.Write(src, empty.Index)
	img, _ := random.Image(2048, 1)
	p.AppendImage(mutate.MediaType(img, "application/vnd.oci.image.manifest.v1+json"), layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "v1"}))
	out, err := exec.Command("skopeo", "copy", "--dest-tls-verify=false", "--authfile", filepath.Join(dockerDir, "config.json"),
		"oci:"+src+":v1", "docker://"+srv.registryHost()+"/team/api:dev-1").CombinedOutput()
	if err != nil {
		t.Fatalf("skopeo push with the login: %v\n%s", err, out)
	}
	if out := srv.gantry("repo", "images", "team/api"); !strings.Contains(out, "dev-1") {
		t.Fatalf("repo images:\n%s", out)
	}
	if _, stderr, err := srv.gantryResult("repo", "rm", "team/api"); err == nil || !strings.Contains(stderr, "RepositoryNotEmptyException") {
		t.Fatalf("rm of a non-empty repository: %v %s", err, stderr)
	}
	srv.gantry("repo", "rm", "--force", "team/api")
	if out := srv.gantry("repo", "ls"); strings.Contains(out, "team/api") {
		t.Fatalf("repo still listed after rm:\n%s", out)
	}
}

// regDo sends an authenticated registry request.
func (s *server) regDo(t *testing.T, method, path string, body []byte, header map[string]string) *http.Response {
	t.Helper()
	if !strings.HasPrefix(path, "http") {
		path = s.Endpoint + path
	}
	req, _ := http.NewRequest(method, path, bytes.NewReader(body))
	req.SetBasicAuth(s.KeyID, s.Secret)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func TestRegistryUploadSurvivesKill9(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "")
	img, _ := random.Image(4096, 1)
	if err := crane.Push(img, srv.registryHost()+"/safe/app:v1", srv.craneOpts()...); err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("gantry"), 200_000)
	half := len(data) / 2
	resp := srv.regDo(t, http.MethodPost, "/v2/safe/blob/blobs/uploads/", nil, nil)
	location := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusAccepted || location == "" {
		t.Fatalf("start upload: %d %q", resp.StatusCode, location)
	}
	resp = srv.regDo(t, http.MethodPatch, location, data[:half], map[string]string{"Content-Range": fmt.Sprintf("0-%d", half-1), "Content-Type": "application/octet-stream"})
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("first chunk: %d", resp.StatusCode)
	}

	srv.kill9()
	srv.start()

	// The session is still there with the bytes received before the crash.
	resp = srv.regDo(t, http.MethodGet, location, nil, nil)
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Range") != fmt.Sprintf("0-%d", half-1) {
		t.Fatalf("upload status after restart: %d Range %q", resp.StatusCode, resp.Header.Get("Range"))
	}
	resp = srv.regDo(t, http.MethodPatch, location, data[half:], map[string]string{"Content-Range": fmt.Sprintf("%d-%d", half, len(data)-1)})
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("second chunk after restart: %d", resp.StatusCode)
	}
	d := "sha256:" + sha256Hex(data)
	sep := "?"
	if strings.Contains(location, "?") {
		sep = "&"
	}
	resp = srv.regDo(t, http.MethodPut, location+sep+"digest="+d, nil, nil)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("finish upload: %d", resp.StatusCode)
	}
	resp = srv.regDo(t, http.MethodHead, "/v2/safe/blob/blobs/"+d, nil, nil)
	if resp.StatusCode != http.StatusOK || resp.ContentLength != int64(len(data)) {
		t.Fatalf("blob after resumed upload: %d, %d bytes", resp.StatusCode, resp.ContentLength)
	}
	// What was pushed before the crash is intact.
	if d, err := crane.Digest(srv.registryHost()+"/safe/app:v1", srv.craneOpts()...); err != nil || d != mustDigest(img) {
		t.Fatalf("image pushed before the crash: %s %v", d, err)
	}
}
