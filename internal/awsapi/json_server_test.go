package awsapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const (
	testTargetPrefix = "TestService_20200101"
	// logsTargetPrefix selects a second service, signed for another name.
	logsTargetPrefix = "Logs_20140328"
	testKeyOne       = "AKIDTESTONE"
	testSecretOne    = "test/secret+one"
	testKeyTwo       = "AKIDTESTTWO"
	testSecretTwo    = "test/secret+two"
	// leakedCause is in every failure the client must not see the detail of.
	leakedCause = "etcd password hunter2"
)

var serverTestTime = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

var requestIDPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

type echoInput struct {
	Name  string `json:"name"`
	Count *int32 `json:"count,omitempty"`
}

type echoOutput struct {
	Input       echoInput `json:"input"`
	Action      string    `json:"action"`
	AccessKeyID string    `json:"accessKeyId"`
}

type emptyShape struct{}

// newTestService is a service whose actions exercise each way an action can end.
func newTestService() *Service {
	return &Service{
		TargetPrefix: testTargetPrefix,
		SigningName:  "ecs",
		Actions: map[string]Action{
			"Echo": Handle(func(_ context.Context, req *Request, in *echoInput) (*echoOutput, error) {
				return &echoOutput{Input: *in, Action: req.Action, AccessKeyID: req.AccessKeyID}, nil
			}),
			"Conflict": Handle(func(context.Context, *Request, *emptyShape) (*emptyShape, error) {
				return nil, &Error{Code: "ResourceInUseException", Message: `cluster "prod" has active services`, Status: http.StatusConflict}
			}),
			"WrappedError": Handle(func(context.Context, *Request, *emptyShape) (*emptyShape, error) {
				return nil, fmt.Errorf("deleting cluster prod: %w", ClientError("ClusterContainsServicesException", "cluster prod has 2 services"))
			}),
			"PlainError": Handle(func(context.Context, *Request, *emptyShape) (*emptyShape, error) {
				return nil, errors.New("connecting to store: " + leakedCause)
			}),
			"Panic": Handle(func(context.Context, *Request, *emptyShape) (*emptyShape, error) {
				panic(leakedCause)
			}),
			"BadOutput": Handle(func(context.Context, *Request, *emptyShape) (*struct{ V float64 }, error) {
				return &struct{ V float64 }{math.Inf(1)}, nil // encoding/json refuses infinities
			}),
		},
	}
}

func newTestJSONServer(t *testing.T) *httptest.Server {
	t.Helper()
	v := &Verifier{
		Region: "us-east-1",
		Keys:   staticKeys{testKeyOne: testSecretOne, testKeyTwo: testSecretTwo},
		Now:    func() time.Time { return serverTestTime },
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	logs := &Service{
		TargetPrefix: logsTargetPrefix,
		SigningName:  "logs",
		Actions:      map[string]Action{"Echo": newTestService().Actions["Echo"]},
	}
	srv := httptest.NewServer(NewJSONServer(v, log, newTestService(), logs))
	t.Cleanup(srv.Close)
	return srv
}

// apiCall is one request to the test server.
type apiCall struct {
	target      string
	body        string
	unsigned    bool
	keyID       string // testKeyOne when empty
	secret      string // the secret of keyID when empty
	signingName string // "ecs" when empty
}

type apiResponse struct {
	status int
	header http.Header
	body   []byte
}

func (c apiCall) do(t *testing.T, srv *httptest.Server) apiResponse {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/", strings.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	if c.target != "" {
		req.Header.Set("X-Amz-Target", c.target)
	}
	if !c.unsigned {
		keyID, secret, service := c.keyID, c.secret, c.signingName
		if keyID == "" {
			keyID = testKeyOne
		}
		if secret == "" {
			secret = staticKeys{testKeyOne: testSecretOne, testKeyTwo: testSecretTwo}[keyID]
		}
		if service == "" {
			service = "ecs"
		}
		creds := aws.Credentials{AccessKeyID: keyID, SecretAccessKey: secret}
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, payloadSHA256(c.body), service, "us-east-1", serverTestTime); err != nil {
			t.Fatalf("signing: %v", err)
		}
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", c.target, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading response to %s: %v", c.target, err)
	}
	return apiResponse{status: resp.StatusCode, header: resp.Header, body: body}
}

// checkCommon checks what every response carries.
func (r apiResponse) checkCommon(t *testing.T) {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
		t.Errorf("Content-Type = %q, want application/x-amz-json-1.1", ct)
	}
	if id := r.header.Get("X-Amzn-Requestid"); !requestIDPattern.MatchString(id) {
		t.Errorf("X-Amzn-Requestid = %q, want a UUID", id)
	}
}

// checkError checks r is the AWS error code with the given status, and returns its message.
func (r apiResponse) checkError(t *testing.T, status int, code string) string {
	t.Helper()
	r.checkCommon(t)
	if r.status != status {
		t.Errorf("status = %d, want %d (body %s)", r.status, status, r.body)
	}
	if got := r.header.Get("X-Amzn-Errortype"); got != code {
		t.Errorf("X-Amzn-Errortype = %q, want %q", got, code)
	}
	var body map[string]string
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatalf("error body %s is not a JSON object of strings: %v", r.body, err)
	}
	if body["__type"] != code {
		t.Errorf("error body __type = %q, want %q (body %s)", body["__type"], code, r.body)
	}
	if body["message"] == "" {
		t.Errorf("error body %s has no message", r.body)
	}
	if len(body) != 2 {
		t.Errorf("error body %s has members besides __type and message", r.body)
	}
	return body["message"]
}

func TestJSONServerSuccess(t *testing.T) {
	t.Parallel()
	srv := newTestJSONServer(t)
	for _, key := range []string{testKeyOne, testKeyTwo} {
		resp := apiCall{target: testTargetPrefix + ".Echo", body: `{"name":"web","count":3}`, keyID: key}.do(t, srv)
		resp.checkCommon(t)
		if resp.status != http.StatusOK {
			t.Fatalf("status = %d, want 200 (body %s)", resp.status, resp.body)
		}
		if got := resp.header.Get("X-Amzn-Errortype"); got != "" {
			t.Errorf("a success carries X-Amzn-Errortype %q", got)
		}
		want := fmt.Sprintf(`{"input":{"name":"web","count":3},"action":"Echo","accessKeyId":%q}`, key)
		if string(resp.body) != want {
			t.Errorf("body = %s, want %s", resp.body, want)
		}
	}
}

// TestJSONServerSigningNamePerService checks that each service's requests must be signed
// for that service's own signing name.
func TestJSONServerSigningNamePerService(t *testing.T) {
	t.Parallel()
	srv := newTestJSONServer(t)
	resp := apiCall{target: logsTargetPrefix + ".Echo", body: `{"name":"x"}`, signingName: "logs"}.do(t, srv)
	if resp.status != http.StatusOK || !strings.Contains(string(resp.body), `"name":"x"`) {
		t.Errorf("logs call signed for logs: %d %s, want the echo", resp.status, resp.body)
	}
	resp = apiCall{target: logsTargetPrefix + ".Echo", body: `{"name":"x"}`, signingName: "ecs"}.do(t, srv)
	if msg := resp.checkError(t, http.StatusForbidden, "InvalidSignatureException"); !strings.Contains(msg, "logs") {
		t.Errorf("message %q does not name the service the request must be signed for", msg)
	}
}

func TestJSONServerEmptyBodyIsEmptyInput(t *testing.T) {
	t.Parallel()
	srv := newTestJSONServer(t)
	resp := apiCall{target: testTargetPrefix + ".Echo"}.do(t, srv)
	want := fmt.Sprintf(`{"input":{"name":""},"action":"Echo","accessKeyId":%q}`, testKeyOne)
	if resp.status != http.StatusOK || string(resp.body) != want {
		t.Errorf("response = %d %s, want 200 %s", resp.status, resp.body, want)
	}
}

func TestJSONServerRequestIDsDiffer(t *testing.T) {
	t.Parallel()
	srv := newTestJSONServer(t)
	seen := make(map[string]bool)
	for range 5 {
		id := apiCall{target: testTargetPrefix + ".Echo", body: `{}`}.do(t, srv).header.Get("X-Amzn-Requestid")
		if seen[id] {
			t.Fatalf("request id %q was given to two requests", id)
		}
		seen[id] = true
	}
}

func TestJSONServerErrors(t *testing.T) {
	t.Parallel()
	srv := newTestJSONServer(t)
	tests := []struct {
		name       string
		call       apiCall
		wantStatus int
		wantCode   string
		wantInMsg  string // a substring of the message, if any
	}{
		{"action returns an *Error",
			apiCall{target: testTargetPrefix + ".Conflict"},
			http.StatusConflict, "ResourceInUseException", `cluster "prod" has active services`},
		{"action returns a wrapped *Error",
			apiCall{target: testTargetPrefix + ".WrappedError"},
			http.StatusBadRequest, "ClusterContainsServicesException", "cluster prod has 2 services"},
		{"action returns a plain error",
			apiCall{target: testTargetPrefix + ".PlainError"},
			http.StatusInternalServerError, "InternalFailure", ""},
		{"action panics",
			apiCall{target: testTargetPrefix + ".Panic"},
			http.StatusInternalServerError, "InternalFailure", ""},
		{"output cannot be encoded",
			apiCall{target: testTargetPrefix + ".BadOutput"},
			http.StatusInternalServerError, "InternalFailure", ""},
		{"input does not fit the shape",
			apiCall{target: testTargetPrefix + ".Echo", body: `{"name":"web","cuont":3}`},
			http.StatusBadRequest, "SerializationException", "cuont: unknown member"},
		{"unknown action",
			apiCall{target: testTargetPrefix + ".DescribeNothing"},
			http.StatusBadRequest, "UnknownOperationException", "DescribeNothing"},
		{"unknown action, unsigned",
			apiCall{target: testTargetPrefix + ".DescribeNothing", unsigned: true},
			http.StatusForbidden, "MissingAuthenticationTokenException", ""},
		{"unknown target prefix",
			apiCall{target: "OtherService_20200101.Echo"},
			http.StatusBadRequest, "UnknownOperationException", "OtherService_20200101.Echo"},
		{"target prefix differing in case",
			apiCall{target: "testservice_20200101.Echo"},
			http.StatusBadRequest, "UnknownOperationException", ""},
		{"target without an action",
			apiCall{target: testTargetPrefix},
			http.StatusBadRequest, "UnknownOperationException", testTargetPrefix},
		{"unsigned",
			apiCall{target: testTargetPrefix + ".Echo", body: `{}`, unsigned: true},
			http.StatusForbidden, "MissingAuthenticationTokenException", ""},
		{"unknown access key",
			apiCall{target: testTargetPrefix + ".Echo", body: `{}`, keyID: "AKIDUNKNOWN", secret: "x"},
			http.StatusForbidden, "UnrecognizedClientException", ""},
		{"wrong secret",
			apiCall{target: testTargetPrefix + ".Echo", body: `{}`, keyID: testKeyOne, secret: testSecretTwo},
			http.StatusForbidden, "InvalidSignatureException", ""},
		{"signed for another service",
			apiCall{target: testTargetPrefix + ".Echo", body: `{}`, signingName: "sts"},
			http.StatusForbidden, "InvalidSignatureException", "ecs"},
		{"body over the limit",
			apiCall{target: testTargetPrefix + ".Echo", body: strings.Repeat(" ", MaxRequestBytes+1)},
			http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", ""},
		{"body over the limit, unsigned",
			apiCall{target: testTargetPrefix + ".Echo", body: strings.Repeat(" ", MaxRequestBytes+1), unsigned: true},
			http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp := tt.call.do(t, srv)
			msg := resp.checkError(t, tt.wantStatus, tt.wantCode)
			if !strings.Contains(msg, tt.wantInMsg) {
				t.Errorf("message %q does not contain %q", msg, tt.wantInMsg)
			}
			if strings.Contains(string(resp.body), leakedCause) {
				t.Errorf("error body %s leaks the cause of the failure", resp.body)
			}
		})
	}
}

func TestJSONServerBodyAtTheLimit(t *testing.T) {
	t.Parallel()
	srv := newTestJSONServer(t)
	const frame = `{"name":""}`
	name := strings.Repeat("a", MaxRequestBytes-len(frame))
	body := `{"name":"` + name + `"}`
	resp := apiCall{target: testTargetPrefix + ".Echo", body: body}.do(t, srv)
	if resp.status != http.StatusOK {
		t.Fatalf("a body of exactly %d bytes: status %d, want 200 (body %.200s)", len(body), resp.status, resp.body)
	}
	var out echoOutput
	if err := json.Unmarshal(resp.body, &out); err != nil || out.Input.Name != name {
		t.Errorf("echoed name of %d bytes, %v; want %d bytes", len(out.Input.Name), err, len(name))
	}
}

func TestJSONServerKeepsServingAfterPanic(t *testing.T) {
	t.Parallel()
	srv := newTestJSONServer(t)
	for i := range 3 {
		apiCall{target: testTargetPrefix + ".Panic"}.do(t, srv).checkError(t, http.StatusInternalServerError, "InternalFailure")
		resp := apiCall{target: testTargetPrefix + ".Echo", body: `{"name":"after"}`}.do(t, srv)
		if resp.status != http.StatusOK || !strings.Contains(string(resp.body), `"name":"after"`) {
			t.Fatalf("request after panic %d: %d %s, want the echo", i+1, resp.status, resp.body)
		}
	}
}

func TestJSONServerAccepts(t *testing.T) {
	t.Parallel()
	s := NewJSONServer(&Verifier{Keys: staticKeys{}}, slog.New(slog.NewTextHandler(io.Discard, nil)), newTestService())
	tests := []struct {
		method, target string
		want           bool
	}{
		{http.MethodPost, testTargetPrefix + ".Echo", true},
		{http.MethodPost, "AnyService.Anything", true}, // ServeHTTP answers it with UnknownOperationException
		{http.MethodPost, "", false},
		{http.MethodGet, testTargetPrefix + ".Echo", false},
		{http.MethodPut, testTargetPrefix + ".Echo", false},
		{http.MethodGet, "", false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(tt.method, "/", nil)
		if tt.target != "" {
			r.Header.Set("X-Amz-Target", tt.target)
		}
		if got := s.Accepts(r); got != tt.want {
			t.Errorf("Accepts(%s with X-Amz-Target %q) = %v, want %v", tt.method, tt.target, got, tt.want)
		}
	}
}
