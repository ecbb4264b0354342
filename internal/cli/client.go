package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/smithy-go"
)

// awsConfig builds the SDK configuration for the server the flags name.
func (g *globals) awsConfig(ctx context.Context) (aws.Config, error) {
	creds, err := g.credentialsProvider(ctx)
	if err != nil {
		return aws.Config{}, err
	}
	return aws.Config{
		Region:       g.region,
		Credentials:  creds,
		BaseEndpoint: aws.String(g.endpoint),
		Retryer:      func() aws.Retryer { return resetRetryer() },
		// A fresh connection per call: under load the SDK was seen to fail reading an
		// answer on a reused connection ("use of closed network connection",
		// aws-sdk-go-v2 #2737), and a CLI process makes only a few calls.
		HTTPClient: &http.Client{Transport: &http.Transport{DisableKeepAlives: true, Proxy: http.ProxyFromEnvironment}},
	}, nil
}

// resetRetryer retries a call only when its connection was reset under it, at once and
// at most twice: a local server either answers or is down, and retrying anything else
// only delays the error. Resets were still seen now and then with fresh connections
// (the SDK's standard retryer retries them too, see aws-sdk-go-v2 #2737).
func resetRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = 3
		o.RateLimiter = ratelimit.None
		o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 10 * time.Millisecond, nil })
		o.Retryables = []retry.IsErrorRetryable{retry.IsErrorRetryableFunc(func(err error) aws.Ternary {
			msg := err.Error()
			return aws.BoolTernary(strings.Contains(msg, "use of closed network connection") || strings.Contains(msg, "connection reset"))
		})}
	})
}

// credentialsProvider prefers the standard AWS environment variables, then the
// credentials file the server wrote.
func (g *globals) credentialsProvider(ctx context.Context) (aws.CredentialsProvider, error) {
	if id, secret := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"); id != "" && secret != "" {
		return credentials.NewStaticCredentialsProvider(id, secret, os.Getenv("AWS_SESSION_TOKEN")), nil
	}
	if _, err := os.Stat(g.credentials); err != nil {
		return nil, fmt.Errorf("reading credentials: %w (start 'gantry server' first, run as the user that can read it, or pass --credentials FILE)", err)
	}
	shared, err := config.LoadSharedConfigProfile(ctx, "default", func(o *config.LoadSharedConfigOptions) {
		o.CredentialsFiles = []string{g.credentials}
		o.ConfigFiles = []string{}
	})
	if err != nil {
		return nil, fmt.Errorf("reading credentials from %s: %w", g.credentials, err)
	}
	return credentials.StaticCredentialsProvider{Value: shared.Credentials}, nil
}

func (g *globals) ecsClient(ctx context.Context) (*ecs.Client, error) {
	cfg, err := g.awsConfig(ctx)
	if err != nil {
		return nil, err
	}
	return ecs.NewFromConfig(cfg), nil
}

// describeError turns SDK errors into one line that says what failed and what to do.
func describeError(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		msg := apiErr.ErrorCode() + ": " + apiErr.ErrorMessage()
		switch apiErr.ErrorCode() {
		case "UnrecognizedClientException", "InvalidSignatureException":
			msg += " (the credentials do not match this server; check --credentials and --endpoint)"
		case "ClusterNotFoundException":
			msg += " (list clusters with 'gantry cluster ls')"
		}
		return msg
	}
	var netErr *net.OpError
	if errors.As(err, &netErr) && strings.Contains(err.Error(), "connection refused") {
		return fmt.Sprintf("cannot reach the server (%v); is 'gantry server' running? Point at it with --endpoint or GANTRY_ENDPOINT", netErr)
	}
	return err.Error()
}
