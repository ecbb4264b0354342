package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// native sends a request to one of Gantry's own endpoints (/gantry/v1/...), signed with
// SigV4 like the AWS APIs. Bodies stream unsigned (X-Amz-Content-Sha256:
// UNSIGNED-PAYLOAD). A non-2xx answer becomes an error carrying the server's message.
func (g *globals) native(ctx context.Context, method, path string, q url.Values, body io.Reader) (*http.Response, error) {
	cfg, err := g.awsConfig(ctx)
	if err != nil {
		return nil, err
	}
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return nil, err
	}
	u := strings.TrimSuffix(g.endpoint, "/") + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	const unsigned = "UNSIGNED-PAYLOAD"
	req.Header.Set("X-Amz-Content-Sha256", unsigned)
	rawQuery := req.URL.RawQuery
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, unsigned, "ecs", g.region, time.Now()); err != nil {
		return nil, err
	}
	// The signer sorts the query; the server sorts it again to check the signature, and
	// repeated parameters (exec's cmd=) must keep their order.
	req.URL.RawQuery = rawQuery
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s", describeError(err))
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return nil, fmt.Errorf("%s", strings.TrimSpace(string(msg)))
	}
	return resp, nil
}
