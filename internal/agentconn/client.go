package agentconn

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"golang.org/x/net/http2"

	"gantry/internal/ecs"
)

// Client is the agent's side of the connection to one server.
type Client struct {
	// Server is the server's base URL, http://host:port or https://host:port.
	Server string
	// Credentials and Region sign requests (service "ecs").
	Credentials aws.Credentials
	Region      string
	// TLS configures https servers (the cluster CA, the agent's certificate).
	TLS *tls.Config
	// HTTP sends reports; a default client when nil.
	HTTP *http.Client
}

var emptyPayloadHash = hex.EncodeToString(sha256.New().Sum(nil))

// sign adds a SigV4 signature for body to req.
func (c *Client) sign(req *http.Request, body []byte) error {
	sum := sha256.Sum256(body)
	return v4.NewSigner().SignHTTP(req.Context(), c.Credentials, req, hex.EncodeToString(sum[:]), "ecs", c.Region, time.Now())
}

// Report sends the states of up to MaxReportBatch tasks of instanceArn and returns the
// server's verdict on each (nil: taken; a *ReportError otherwise), or an error when the
// request as a whole failed.
func (c *Client) Report(ctx context.Context, instanceArn string, tasks []*ecs.Task) ([]error, error) {
	body, err := json.Marshal(ReportBatch{Tasks: tasks})
	if err != nil {
		return nil, err
	}
	u := strings.TrimSuffix(c.Server, "/") + ReportPath + "?" + InstanceParam + "=" + url.QueryEscape(instanceArn)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if err := c.sign(req, body); err != nil {
		return nil, err
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return nil, &ReportError{Status: resp.StatusCode, Message: string(bytes.TrimSpace(msg))}
	}
	var out ReportResults
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || len(out.Results) != len(tasks) {
		return nil, fmt.Errorf("reading the server's answer to a report of %d tasks: %d results, %v", len(tasks), len(out.Results), err)
	}
	errs := make([]error, len(tasks))
	for i, r := range out.Results {
		if r.Status/100 != 2 {
			errs[i] = &ReportError{Status: r.Status, Message: r.Message}
		}
	}
	return errs, nil
}

// ReportError is a report or tunnel the server refused.
type ReportError struct {
	Status  int
	Message string
}

func (e *ReportError) Error() string {
	return fmt.Sprintf("server refused the report (%d): %s", e.Status, e.Message)
}

// Permanent tells whether resending the same report cannot succeed.
func (e *ReportError) Permanent() bool {
	return e.Status >= 400 && e.Status < 500 && e.Status != http.StatusTooManyRequests
}

// Serve dials the server, upgrades to a tunnel for instanceArn and serves handler over
// it until the tunnel breaks or ctx ends. It returns nil only when ctx ended; callers
// dial again after an error.
func (c *Client) Serve(ctx context.Context, instanceArn string, handler http.Handler) error {
	conn, every, err := c.dialTunnel(ctx, instanceArn)
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	srv := &http2.Server{
		// The server pings every interval; a tunnel silent for longer is dead.
		ReadIdleTimeout: 2 * every,
		PingTimeout:     every,
	}
	srv.ServeConn(conn, &http2.ServeConnOpts{Context: ctx, Handler: handler})
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("tunnel to %s closed", c.Server)
}

// dialTunnel opens a connection to the server and upgrades it to the tunnel protocol. It
// returns the server's ping interval too.
func (c *Client) dialTunnel(ctx context.Context, instanceArn string) (net.Conn, time.Duration, error) {
	u, err := url.Parse(c.Server)
	if err != nil {
		return nil, 0, fmt.Errorf("server URL %q: %w", c.Server, err)
	}
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 15 * time.Second}
	var conn net.Conn
	switch u.Scheme {
	case "http":
		conn, err = d.DialContext(ctx, "tcp", u.Host)
	case "https":
		// The upgrade is an HTTP/1.1 exchange: offer nothing else in ALPN, whatever the
		// shared configuration says (an HTTP/2 transport adds "h2" to it).
		cfg := c.TLS.Clone()
		cfg.NextProtos = []string{"http/1.1"}
		conn, err = (&tls.Dialer{NetDialer: d, Config: cfg}).DialContext(ctx, "tcp", u.Host)
	default:
		return nil, 0, fmt.Errorf("server URL %q: use http:// or https://", c.Server)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("dialing %s: %w", c.Server, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(c.Server, "/")+ConnectPath+"?"+InstanceParam+"="+url.QueryEscape(instanceArn), nil)
	if err != nil {
		conn.Close()
		return nil, 0, err
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", Protocol)
	if err := v4.NewSigner().SignHTTP(ctx, c.Credentials, req, emptyPayloadHash, "ecs", c.Region, time.Now()); err != nil {
		conn.Close()
		return nil, 0, err
	}
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	if err := req.Write(conn); err != nil {
		conn.Close()
		return nil, 0, fmt.Errorf("asking %s for a tunnel: %w", c.Server, err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		conn.Close()
		return nil, 0, fmt.Errorf("asking %s for a tunnel: %w", c.Server, err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		conn.Close()
		return nil, 0, &ReportError{Status: resp.StatusCode, Message: "tunnel refused: " + string(bytes.TrimSpace(msg))}
	}
	conn.SetDeadline(time.Time{})
	every, err := time.ParseDuration(resp.Header.Get(pingIntervalHeader))
	if err != nil || every <= 0 {
		every = DefaultPingEvery
	}
	return &bufferedConn{Conn: conn, r: br}, every, nil
}

// bufferedConn reads first what the response reader already buffered: the server may
// send its first HTTP/2 frames right behind the 101.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(b []byte) (int, error) { return c.r.Read(b) }
