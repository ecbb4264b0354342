package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// rawCall sends one JSON 1.1 request, signed with keyID/secret at signTime unless keyID is
// empty, and returns the status and the decoded error type ("" on success).
func (s *server) rawCall(t *testing.T, action, body, keyID, secret string, signTime time.Time) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.Endpoint+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "AmazonEC2ContainerServiceV20141113."+action)
	if keyID != "" {
		sum := sha256.Sum256([]byte(body))
		creds := aws.Credentials{AccessKeyID: keyID, SecretAccessKey: secret}
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "ecs", "us-east-1", signTime); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var shape struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}
	json.Unmarshal(data, &shape)
	return resp.StatusCode, shape.Type, shape.Message
}

func TestAuthAndProtocolErrors(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "")
	now := time.Now()
	big := `{"clusterName": "` + strings.Repeat("x", 2<<20) + `"}`
	cases := []struct {
		name, action, body, key, secret string
		at                              time.Time
		status                          int
		code, inMessage                 string
	}{
		{"signed ok", "ListClusters", `{}`, srv.KeyID, srv.Secret, now, 200, "", ""},
		{"missing auth", "ListClusters", `{}`, "", "", now, 403, "MissingAuthenticationTokenException", ""},
		{"unknown key", "ListClusters", `{}`, "AKIAUNKNOWNUNKNOWN00", srv.Secret, now, 403, "UnrecognizedClientException", ""},
		{"wrong secret", "ListClusters", `{}`, srv.KeyID, "not-the-secret", now, 403, "InvalidSignatureException", "does not match"},
		{"expired", "ListClusters", `{}`, srv.KeyID, srv.Secret, now.Add(-20 * time.Minute), 403, "InvalidSignatureException", "Signature expired"},
		{"future", "ListClusters", `{}`, srv.KeyID, srv.Secret, now.Add(20 * time.Minute), 403, "InvalidSignatureException", "not yet current"},
		{"unknown action", "FlyToTheMoon", `{}`, srv.KeyID, srv.Secret, now, 400, "UnknownOperationException", "FlyToTheMoon"},
		{"unknown member", "CreateCluster", `{"clusterName": "a", "colour": "blue"}`, srv.KeyID, srv.Secret, now, 400, "SerializationException", "colour"},
		{"nested unknown member", "RegisterTaskDefinition", `{"family": "f", "containerDefinitions": [{"name": "c", "image": "i", "memory": 8, "memry": 9}]}`, srv.KeyID, srv.Secret, now, 400, "SerializationException", "containerDefinitions[0].memry"},
		{"wrong type", "ListClusters", `{"maxResults": "ten"}`, srv.KeyID, srv.Secret, now, 400, "SerializationException", "maxResults"},
		{"not json", "ListClusters", `{"maxResults": `, srv.KeyID, srv.Secret, now, 400, "SerializationException", ""},
		{"too large", "CreateCluster", big, srv.KeyID, srv.Secret, now, 413, "RequestEntityTooLarge", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, code, msg := srv.rawCall(t, tc.action, tc.body, tc.key, tc.secret, tc.at)
			if status != tc.status || code != tc.code || !strings.Contains(msg, tc.inMessage) {
				t.Fatalf("got %d %s %q, want %d %s containing %q", status, code, msg, tc.status, tc.code, tc.inMessage)
			}
		})
	}
	// A body changed after signing must be refused.
	req, _ := http.NewRequest(http.MethodPost, srv.Endpoint+"/", strings.NewReader(`{}`))
	req.Header.Set("X-Amz-Target", "AmazonEC2ContainerServiceV20141113.ListClusters")
	sum := sha256.Sum256([]byte(`{}`))
	v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: srv.KeyID, SecretAccessKey: srv.Secret}, req, hex.EncodeToString(sum[:]), "ecs", "us-east-1", now)
	req.Body = io.NopCloser(bytes.NewReader([]byte(`{"maxResults":1}`)))
	req.ContentLength = 16
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Fatalf("tampered body: status %d", resp.StatusCode)
	}
}
