package cli

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
)

// A call whose connection the server resets is made again; a call the server refuses
// is not.
func TestResetConnectionsAreRetried(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch calls.Add(1) {
		case 1: // reset: close with SO_LINGER 0, so that the kernel sends RST
			conn, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			conn.(*net.TCPConn).SetLinger(0)
			conn.Close()
		case 2:
			w.Header().Set("Content-Type", "application/x-amz-json-1.1")
			w.Write([]byte(`{"clusterArns": ["arn:aws:ecs:us-east-1:000000000000:cluster/default"]}`))
		default:
			w.Header().Set("Content-Type", "application/x-amz-json-1.1")
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"__type": "InvalidParameterException", "message": "no"}`))
		}
	}))
	defer srv.Close()
	client := ecs.NewFromConfig(aws.Config{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		Retryer:     func() aws.Retryer { return resetRetryer() },
	})
	out, err := client.ListClusters(context.Background(), &ecs.ListClustersInput{})
	if err != nil || len(out.ClusterArns) != 1 || calls.Load() != 2 {
		t.Fatalf("after a reset: %v, %+v, %d calls; want the second call's answer", err, out, calls.Load())
	}
	_, err = client.ListClusters(context.Background(), &ecs.ListClustersInput{})
	if err == nil || calls.Load() != 3 {
		t.Fatalf("a refused call: %v after %d calls; want the error at once", err, calls.Load())
	}
}
