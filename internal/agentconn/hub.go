package agentconn

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"golang.org/x/net/http2"

	"gantry/internal/awsapi"
	"gantry/internal/ecs"
)

// Control is what the hub needs from the control plane (package ecs provides it).
type Control interface {
	WatchAssignments(ctx context.Context, instanceArn string) (<-chan ecs.AssignmentUpdate, error)
	ReportTasks(ctx context.Context, instanceArn string, tasks []*ecs.Task) []error
	// AuthorizeInstance checks that instanceArn is registered and principal may act as
	// its agent.
	AuthorizeInstance(ctx context.Context, instanceArn, principal string) error
	Heartbeat(ctx context.Context, instanceArn, server string) error
}

// HubConfig configures a Hub.
type HubConfig struct {
	Control Control
	// Authenticate checks a request's signature (body is the full request body) and
	// returns the principal that signed it.
	Authenticate func(r *http.Request, body []byte) (string, error)
	// Name identifies this server in heartbeat records.
	Name string
	// PingEvery is the heartbeat interval; DefaultPingEvery when zero.
	PingEvery time.Duration
	Log       *slog.Logger
}

// DefaultPingEvery is how often the server pings each agent; three missed pings make
// the instance disconnected (ecs.DefaultHeartbeatTimeout).
const DefaultPingEvery = 5 * time.Second

// pushTimeout bounds how long an agent may take to accept an assignment update.
const pushTimeout = 10 * time.Second

// maxReportBytes bounds a report request (MaxReportBatch task states).
const maxReportBytes = 8 << 20

// Hub serves agent connections on the server.
type Hub struct {
	cfg HubConfig
	ctx context.Context

	mu      sync.Mutex
	tunnels map[string]*tunnel // by container instance ARN
}

// tunnel is one connected agent.
type tunnel struct {
	instance string
	conn     net.Conn
	cc       *http2.ClientConn
	done     chan struct{}
	once     sync.Once
}

func (t *tunnel) close() {
	t.once.Do(func() {
		t.conn.Close()
		close(t.done)
	})
}

// NewHub returns a hub whose tunnels live until ctx ends.
func NewHub(ctx context.Context, cfg HubConfig) *Hub {
	if cfg.PingEvery <= 0 {
		cfg.PingEvery = DefaultPingEvery
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Hub{cfg: cfg, ctx: ctx, tunnels: map[string]*tunnel{}}
}

// ServeHTTP serves ConnectPath and ReportPath.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == ConnectPath && r.Method == http.MethodGet:
		h.connect(w, r)
	case r.URL.Path == ReportPath && r.Method == http.MethodPost:
		h.report(w, r)
	default:
		http.Error(w, "unknown agent endpoint", http.StatusNotFound)
	}
}

func (h *Hub) report(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxReportBytes+1))
	if err != nil || len(body) > maxReportBytes {
		http.Error(w, "report body unreadable or over 8 MiB", http.StatusRequestEntityTooLarge)
		return
	}
	instance := r.URL.Query().Get(InstanceParam)
	if !h.authorize(w, r, body, instance) {
		return
	}
	var batch ReportBatch
	if err := json.Unmarshal(body, &batch); err != nil || len(batch.Tasks) > MaxReportBatch || slices.Contains(batch.Tasks, nil) {
		http.Error(w, fmt.Sprintf("report: want {\"tasks\": [up to %d task states]}: %v", MaxReportBatch, err), http.StatusBadRequest)
		return
	}
	errs := h.cfg.Control.ReportTasks(r.Context(), instance, batch.Tasks)
	out := ReportResults{Results: make([]ReportResult, len(errs))}
	for i, err := range errs {
		out.Results[i] = ReportResult{Status: http.StatusNoContent}
		if err != nil {
			out.Results[i] = ReportResult{Status: controlErrorStatus(err), Message: err.Error()}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}

// writeControlError answers with the status of an AWS-shaped error.
func writeControlError(w http.ResponseWriter, err error) {
	http.Error(w, err.Error(), controlErrorStatus(err))
}

// controlErrorStatus is the HTTP status of an error of the control plane: the caller's
// mistakes are 4xx, being busy is 503 (the agent retries), the rest 500.
func controlErrorStatus(err error) int {
	if apiErr, ok := errors.AsType[*awsapi.Error](err); ok {
		if apiErr.Code == "ThrottlingException" {
			return http.StatusServiceUnavailable
		}
		return apiErr.Status
	}
	return http.StatusInternalServerError
}

// authorize checks a request's signature and that its signer may act as the agent of
// instance; it answers the request when not.
func (h *Hub) authorize(w http.ResponseWriter, r *http.Request, body []byte, instance string) bool {
	principal, err := h.cfg.Authenticate(r, body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusForbidden)
		return false
	}
	if err := h.cfg.Control.AuthorizeInstance(r.Context(), instance, principal); err != nil {
		writeControlError(w, err)
		return false
	}
	return true
}

func (h *Hub) connect(w http.ResponseWriter, r *http.Request) {
	instance := r.URL.Query().Get(InstanceParam)
	if !h.authorize(w, r, nil, instance) {
		return
	}
	if r.Header.Get("Upgrade") != Protocol {
		http.Error(w, "agent connections must upgrade to "+Protocol, http.StatusUpgradeRequired)
		return
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, "cannot take over the connection: "+err.Error(), http.StatusInternalServerError)
		return
	}
	if brw.Reader.Buffered() > 0 {
		conn.Close() // the agent speaks only after the 101
		return
	}
	conn.SetDeadline(time.Time{})
	fmt.Fprintf(conn, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: %s\r\nConnection: Upgrade\r\n%s: %s\r\n\r\n", Protocol, pingIntervalHeader, h.cfg.PingEvery)
	cc, err := (&http2.Transport{AllowHTTP: true}).NewClientConn(conn)
	if err != nil {
		conn.Close()
		return
	}
	t := &tunnel{instance: instance, conn: conn, cc: cc, done: make(chan struct{})}
	h.mu.Lock()
	if old := h.tunnels[instance]; old != nil {
		old.close()
	}
	h.tunnels[instance] = t
	h.mu.Unlock()
	h.cfg.Log.Info("agent connected", "instance", instance, "remote", conn.RemoteAddr())
	go h.run(t)
}

// run keeps a tunnel alive: pings (recording heartbeats) and pushes assignments until
// either fails or the hub stops.
func (h *Hub) run(t *tunnel) {
	ctx, cancel := context.WithCancel(h.ctx)
	defer func() {
		cancel()
		t.close()
		h.mu.Lock()
		if h.tunnels[t.instance] == t {
			delete(h.tunnels, t.instance)
		}
		h.mu.Unlock()
		h.cfg.Log.Info("agent disconnected", "instance", t.instance)
	}()
	go func() {
		select {
		case <-ctx.Done():
		case <-t.done:
		}
		cancel()
	}()
	if err := h.cfg.Control.Heartbeat(ctx, t.instance, h.cfg.Name); err != nil {
		h.cfg.Log.Warn("recording heartbeat", "instance", t.instance, "err", err)
	}
	updates, err := h.cfg.Control.WatchAssignments(ctx, t.instance)
	if err != nil {
		return
	}
	ping := time.NewTicker(h.cfg.PingEvery)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case up, ok := <-updates:
			if !ok {
				return
			}
			// What piled up during the last push goes out as one.
			for more := true; more; {
				select {
				case next, ok := <-updates:
					if !ok {
						return
					}
					up = up.Then(next)
				default:
					more = false
				}
			}
			if err := h.push(ctx, t, up); err != nil {
				h.cfg.Log.Warn("pushing assignments", "instance", t.instance, "err", err)
				return
			}
		case <-ping.C:
			pctx, pcancel := context.WithTimeout(ctx, h.cfg.PingEvery)
			err := t.cc.Ping(pctx)
			pcancel()
			if err != nil {
				h.cfg.Log.Warn("agent stopped answering", "instance", t.instance, "err", err)
				return
			}
			if err := h.cfg.Control.Heartbeat(ctx, t.instance, h.cfg.Name); err != nil {
				h.cfg.Log.Warn("recording heartbeat", "instance", t.instance, "err", err)
			}
		}
	}
}

// push sends one assignment update to the agent and waits for it to be accepted.
func (h *Hub) push(ctx context.Context, t *tunnel, up ecs.AssignmentUpdate) error {
	// An agent that does not take its assignments in time is treated as gone: the tunnel
	// closes, and the agent's next tunnel starts from its full set.
	ctx, cancel := context.WithTimeout(ctx, pushTimeout)
	defer cancel()
	body, err := json.Marshal(up)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://agent"+AssignPath, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := t.cc.RoundTrip(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("agent refused assignments: %s: %s", resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}

// ErrNotConnected means the instance's agent has no tunnel to this server.
var ErrNotConnected = errors.New("the instance's agent is not connected")

// RoundTrip sends req to the agent of instanceArn over its tunnel. The request's URL
// path is one the agent serves (TaskPath, ImagesPath); its host is ignored.
func (h *Hub) RoundTrip(instanceArn string, req *http.Request) (*http.Response, error) {
	h.mu.Lock()
	t := h.tunnels[instanceArn]
	h.mu.Unlock()
	if t == nil {
		return nil, fmt.Errorf("%s: %w", instanceArn, ErrNotConnected)
	}
	req.URL.Scheme, req.URL.Host = "http", "agent"
	return t.cc.RoundTrip(req)
}

// Connected lists the instances with a tunnel to this server.
func (h *Hub) Connected() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]string, 0, len(h.tunnels))
	for arn := range h.tunnels {
		out = append(out, arn)
	}
	return out
}
