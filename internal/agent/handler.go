package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"gantry/internal/agentconn"
	"gantry/internal/ecs"
	"gantry/internal/image"
	"gantry/internal/runtime"
)

// handler serves the server's requests over the tunnel.
func (a *Agent) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+agentconn.AssignPath, a.serveAssign)
	mux.HandleFunc("GET "+agentconn.TaskPath+"{task}/logs", a.serveLogs)
	mux.HandleFunc("POST "+agentconn.TaskPath+"{task}/exec", a.serveExec)
	mux.HandleFunc("GET "+agentconn.ImagesPath, a.serveImages)
	mux.HandleFunc("POST "+agentconn.ImagesPath, a.serveImport)
	mux.HandleFunc("POST "+agentconn.ImagesPath+"/load", a.serveLoad)
	mux.HandleFunc("GET "+agentconn.ImagesPath+"/save", a.serveSave)
	mux.HandleFunc("DELETE "+agentconn.ImagesPath, a.serveRemoveImage)
	mux.HandleFunc("POST "+agentconn.ImagesPath+"/pull", a.serveTransfer)
	mux.HandleFunc("POST "+agentconn.ImagesPath+"/push", a.serveTransfer)
	return mux
}

func (a *Agent) serveAssign(w http.ResponseWriter, r *http.Request) {
	var up ecs.AssignmentUpdate
	if err := json.NewDecoder(r.Body).Decode(&up); err != nil {
		http.Error(w, "assignments: "+err.Error(), http.StatusBadRequest)
		return
	}
	a.apply(a.ctx, up)
	w.WriteHeader(http.StatusNoContent)
}

// containerFor finds the runtime id of a task's container: the named one, or the
// task's first container when name is empty. For a task that no longer runs here it is
// the id the container had, whose kept log may still be read.
func (a *Agent) containerFor(taskID, name string) (string, error) {
	a.mu.Lock()
	rn := a.tasks[taskID]
	a.mu.Unlock()
	if rn == nil {
		if name == "" {
			return "", fmt.Errorf("task %s does not run on this instance", taskID)
		}
		return runtimeID(taskID, name), nil
	}
	if name == "" {
		return rn.containers[0].rid, nil
	}
	i := slices.IndexFunc(rn.containers, func(c *container) bool { return c.def.Name == name })
	if i < 0 {
		names := make([]string, len(rn.containers))
		for j, c := range rn.containers {
			names[j] = c.def.Name
		}
		return "", fmt.Errorf("task %s has no container %q (it has %s)", taskID, name, strings.Join(names, ", "))
	}
	return rn.containers[i].rid, nil
}

// serveLogs streams a container's log as JSON lines {"log","stream","time"}.
func (a *Agent) serveLogs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	rid, err := a.containerFor(r.PathValue("task"), q.Get("container"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	opts := runtime.LogOptions{Tail: -1, Follow: q.Get("follow") == "1"}
	if t := q.Get("tail"); t != "" {
		if opts.Tail, err = strconv.Atoi(t); err != nil {
			http.Error(w, "tail: not a number", http.StatusBadRequest)
			return
		}
	}
	if s := q.Get("since"); s != "" {
		if opts.Since, err = time.Parse(time.RFC3339Nano, s); err != nil {
			http.Error(w, "since: not an RFC 3339 time", http.StatusBadRequest)
			return
		}
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	flush := http.NewResponseController(w)
	enc := json.NewEncoder(w)
	wrote := false
	err = a.cfg.Runtime.Logs(r.Context(), rid, opts, func(e runtime.LogEntry) error {
		wrote = true
		if err := enc.Encode(e); err != nil {
			return err
		}
		return flush.Flush()
	})
	switch {
	case errors.Is(err, runtime.ErrNotFound) && !wrote:
		http.Error(w, fmt.Sprintf("no log for container %s: the task has not started it, or stopped over an hour ago", rid), http.StatusNotFound)
	case err != nil && r.Context().Err() == nil:
		a.cfg.Log.Debug("streaming logs", "container", rid, "err", err)
	}
}

// serveExec runs a command in a container: the request body is its stdin, the response
// a frame stream of its output and, last, its exit code.
func (a *Agent) serveExec(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	rid, err := a.containerFor(r.PathValue("task"), q.Get("container"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	args := q["cmd"]
	if len(args) == 0 {
		http.Error(w, "cmd: give the command to run", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/vnd.gantry.frames")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	rc.Flush()
	mux := agentconn.NewFrameMux(w, func() { rc.Flush() })
	es := runtime.ExecSpec{Args: args, Terminal: q.Get("tty") == "1", User: q.Get("user"), Cwd: q.Get("workdir"),
		Env: q["env"], Stdout: mux.Writer(agentconn.StreamStdout), Stderr: mux.Writer(agentconn.StreamStderr)}
	if q.Get("stdin") == "1" {
		es.Stdin = r.Body
	}
	code, err := a.cfg.Runtime.Exec(r.Context(), rid, es)
	if err != nil {
		mux.Send(agentconn.StreamError, []byte(err.Error()))
		return
	}
	mux.Send(agentconn.StreamExit, agentconn.ExitFrame(code))
}

// ImageSummary is one node-local image as the images endpoint lists it.
type ImageSummary struct {
	Ref     string    `json:"ref"`
	Digest  string    `json:"digest"`
	Size    int64     `json:"size"`
	Created time.Time `json:"created"`
}

func summarize(imgs []*image.Image) []ImageSummary {
	out := make([]ImageSummary, 0, len(imgs))
	for _, img := range imgs {
		out = append(out, ImageSummary{Ref: img.Ref, Digest: img.Digest.String(), Size: img.Size, Created: img.Created})
	}
	return out
}

func (a *Agent) serveImages(w http.ResponseWriter, r *http.Request) {
	imgs, err := a.cfg.Images.List()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeJSON(w, summarize(imgs))
}

func (a *Agent) serveImport(w http.ResponseWriter, r *http.Request) {
	ref := r.URL.Query().Get("ref")
	if _, err := image.ParseReference(ref); err != nil {
		http.Error(w, "ref: "+err.Error(), http.StatusBadRequest)
		return
	}
	img, err := a.cfg.Images.Import(r.Context(), r.Body, ref)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	writeJSON(w, summarize([]*image.Image{img}))
}

func (a *Agent) serveLoad(w http.ResponseWriter, r *http.Request) {
	imgs, err := a.cfg.Images.Load(r.Context(), r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	writeJSON(w, summarize(imgs))
}

// serveSave streams a 'docker save' archive of the ?ref= images. They are looked up first,
// so that an unknown one is an HTTP error rather than a cut-off archive.
func (a *Agent) serveSave(w http.ResponseWriter, r *http.Request) {
	refs := r.URL.Query()["ref"]
	if len(refs) == 0 {
		http.Error(w, "ref: name at least one image to save", http.StatusBadRequest)
		return
	}
	for _, ref := range refs {
		if _, err := a.cfg.Images.Get(ref); err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
	}
	w.Header().Set("Content-Type", "application/x-tar")
	if err := a.cfg.Images.Save(r.Context(), w, refs...); err != nil {
		a.cfg.Log.Warn("saving images", "refs", refs, "err", err)
		panic(http.ErrAbortHandler) // cut the answer off: a clean end would pass for a whole archive
	}
}

// serveRemoveImage untags ?ref= and, as docker rmi does, deletes the content no image
// and no container's root filesystem uses any more (GC never touches what a mount holds).
func (a *Agent) serveRemoveImage(w http.ResponseWriter, r *http.Request) {
	err := a.cfg.Images.Remove(r.URL.Query().Get("ref"))
	switch {
	case errors.Is(err, image.ErrNotFound):
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	case err != nil:
		http.Error(w, err.Error(), http.StatusConflict)
		return
	}
	if n, err := a.cfg.Images.GC(r.Context()); err != nil {
		a.cfg.Log.Warn("collecting image content after a removal", "err", err)
	} else {
		a.cfg.Log.Info("image removed", "ref", r.URL.Query().Get("ref"), "freed", n)
	}
	w.WriteHeader(http.StatusNoContent)
}

// TransferEvent is one line of a pull's or push's progress stream; the last line carries
// Image or Error.
type TransferEvent struct {
	image.Progress
	Image *ImageSummary `json:"image,omitempty"`
	Error string        `json:"error,omitempty"`
}

// serveTransfer pulls ?ref= into the node's store, or pushes the stored ?ref= to its
// registry (or to ?dest=), streaming progress as JSON lines.
func (a *Agent) serveTransfer(w http.ResponseWriter, r *http.Request) {
	ref, dest := r.URL.Query().Get("ref"), r.URL.Query().Get("dest")
	w.Header().Set("Content-Type", "application/x-ndjson")
	rc := http.NewResponseController(w)
	var mu sync.Mutex
	enc := json.NewEncoder(w)
	send := func(ev TransferEvent) {
		mu.Lock()
		defer mu.Unlock()
		enc.Encode(ev)
		rc.Flush()
	}
	target := ref
	if dest != "" {
		target = dest
	}
	opts := a.cfg.PullOptions(target)
	opts.Progress = func(p image.Progress) { send(TransferEvent{Progress: p}) }
	var img *image.Image
	var err error
	if strings.HasSuffix(r.URL.Path, "/push") {
		img, err = a.cfg.Images.Push(r.Context(), ref, dest, opts)
	} else {
		img, err = a.cfg.Images.Pull(r.Context(), ref, opts)
	}
	if err != nil {
		send(TransferEvent{Error: err.Error()})
		return
	}
	summary := summarize([]*image.Image{img})[0]
	send(TransferEvent{Image: &summary})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}
