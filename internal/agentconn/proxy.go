package agentconn

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"gantry/internal/awsapi"
)

// Paths of the native API that reach nodes through their agents.
const (
	LogsPath   = "/gantry/v1/logs"   // GET ?cluster=&task=&container=&follow=1&tail=N&since=RFC3339
	ExecPath   = "/gantry/v1/exec"   // POST ?cluster=&task=&container=&tty=1&stdin=1&cmd=...&cmd=...
	NodeImages = "/gantry/v1/images" // GET, POST ?ref= (import), POST /load, GET /save ?ref=..., /pull, /push, DELETE ?ref=; all take ?instance=
)

// Locator finds the instance a task runs on (package ecs provides it).
type Locator interface {
	TaskLocation(ctx context.Context, cluster, task string) (taskArn, instanceArn, firstContainer string, err error)
}

// Proxy serves the native node endpoints by forwarding each request over the tunnel of
// the agent concerned, streaming both ways.
type Proxy struct {
	Hub   *Hub
	Tasks Locator
	// Authenticate checks a request's signature; streaming bodies are sent with
	// X-Amz-Content-Sha256: UNSIGNED-PAYLOAD and are not read by it.
	Authenticate func(r *http.Request, body []byte) error
}

// ServeHTTP routes LogsPath, ExecPath and NodeImages.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := p.Authenticate(r, nil); err != nil {
		writeControlError(w, err)
		return
	}
	q := r.URL.Query()
	switch {
	case r.URL.Path == LogsPath && r.Method == http.MethodGet:
		p.toTask(w, r, "logs", keep(q, "container", "follow", "tail", "since"))
	case r.URL.Path == ExecPath && r.Method == http.MethodPost:
		// Stdin flows in while output flows out on one HTTP/1.1 exchange.
		http.NewResponseController(w).EnableFullDuplex()
		p.toTask(w, r, "exec", keep(q, "container", "tty", "stdin", "cmd", "env", "user", "workdir"))
	case r.URL.Path == NodeImages || strings.HasPrefix(r.URL.Path, NodeImages+"/"):
		p.toImages(w, r)
	default:
		http.Error(w, "unknown endpoint", http.StatusNotFound)
	}
}

func keep(q url.Values, names ...string) url.Values {
	out := url.Values{}
	for _, n := range names {
		if v, ok := q[n]; ok {
			out[n] = v
		}
	}
	return out
}

func (p *Proxy) toTask(w http.ResponseWriter, r *http.Request, what string, q url.Values) {
	taskArn, instance, first, err := p.Tasks.TaskLocation(r.Context(), r.URL.Query().Get("cluster"), r.URL.Query().Get("task"))
	if err != nil {
		writeControlError(w, err)
		return
	}
	if q.Get("container") == "" {
		q.Set("container", first)
	}
	p.forward(w, r, instance, TaskPath+idOf(taskArn)+"/"+what, q)
}

func (p *Proxy) toImages(w http.ResponseWriter, r *http.Request) {
	instance := r.URL.Query().Get("instance")
	if instance == "" {
		connected := p.Hub.Connected()
		if len(connected) != 1 {
			writeControlError(w, awsapi.InvalidParameter("instance: %d instances are connected to this server; name one (gantry instance ls)", len(connected)))
			return
		}
		instance = connected[0]
	}
	path := ImagesPath + strings.TrimPrefix(r.URL.Path, NodeImages)
	p.forward(w, r, instance, path, keep(r.URL.Query(), "ref", "dest"))
}

// forward sends the request to the agent of instance and streams the answer back.
func (p *Proxy) forward(w http.ResponseWriter, r *http.Request, instance, path string, q url.Values) {
	out, err := http.NewRequestWithContext(r.Context(), r.Method, "http://agent"+path+"?"+q.Encode(), r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	out.ContentLength = r.ContentLength
	if ct := r.Header.Get("Content-Type"); ct != "" {
		out.Header.Set("Content-Type", ct)
	}
	resp, err := p.Hub.RoundTrip(instance, out)
	if err != nil {
		http.Error(w, fmt.Sprintf("reaching the agent of %s: %v", instance, err), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for _, h := range []string{"Content-Type"} {
		if v := resp.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	rc := http.NewResponseController(w)
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			rc.Flush()
		}
		if err == io.EOF {
			return
		}
		if err != nil {
			// The agent's answer broke off (a save or pull failed half-way): cut this one
			// off too rather than end it cleanly, so the client does not take a partial
			// body for a whole one.
			panic(http.ErrAbortHandler)
		}
	}
}

func idOf(arn string) string {
	for i := len(arn) - 1; i >= 0; i-- {
		if arn[i] == '/' {
			return arn[i+1:]
		}
	}
	return arn
}
