package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"gantry/internal/agentconn"
)

func newLogsCommand(g *globals) *cobra.Command {
	var cluster, tail, since string
	var follow, timestamps bool
	cmd := &cobra.Command{
		Use:   "logs TASK [CONTAINER]",
		Short: "Show the output of a task's container (like docker logs)",
		Long: `Show what a container of a task wrote: its standard output on standard output and
its standard error on standard error. CONTAINER is a container name of the task
definition; without it, the task's first container. The logs are kept on the machine
the task runs on, so they can be read while the task runs (and until it is cleaned up).

TASK is a task id, a unique prefix of one (4 characters or more), a task ARN, or the
name given with 'gantry run --name'. With -f the output is followed until the
container stops or Ctrl-C. -o json prints the raw entries, one JSON object a line.`,
		Example: `  gantry logs web
  gantry logs -f --tail 20 web
  gantry logs --since 10m -t 3f9c sidecar`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 1 || len(args) > 2 {
				return fmt.Errorf("%s needs a TASK and at most one CONTAINER; got %d arguments (list tasks with 'gantry ps')", cmd.CommandPath(), len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			q := url.Values{"cluster": {cluster}}
			if follow {
				q.Set("follow", "1")
			}
			if tail != "all" {
				n, err := strconv.Atoi(tail)
				if err != nil || n < 0 {
					return fmt.Errorf("--tail %q: give a number of lines or all", tail)
				}
				q.Set("tail", tail)
			}
			if since != "" {
				t, err := parseSince(since, time.Now())
				if err != nil {
					return err
				}
				q.Set("since", t.UTC().Format(time.RFC3339Nano))
			}
			if len(args) == 2 {
				q.Set("container", args[1])
			}
			ctx := cmd.Context()
			client, err := g.ecsClient(ctx)
			if err != nil {
				return err
			}
			arn, err := resolveTask(ctx, client, cluster, args[0])
			if err != nil {
				return err
			}
			q.Set("task", arn)
			resp, err := g.native(ctx, http.MethodGet, agentconn.LogsPath, q, nil)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("reading the logs of task %s: %w", args[0], err)
			}
			defer resp.Body.Close()
			if g.output == "json" {
				_, err = io.Copy(g.out, resp.Body)
			} else {
				err = copyLogs(resp.Body, g.out, cmd.ErrOrStderr(), timestamps)
			}
			if err != nil && ctx.Err() == nil {
				return fmt.Errorf("reading the logs of task %s: %w", args[0], err)
			}
			return nil // Ctrl-C ends a followed log: that is the normal way out
		},
	}
	f := cmd.Flags()
	f.StringVar(&cluster, "cluster", "default", "cluster the task runs in")
	f.BoolVarP(&follow, "follow", "f", false, "keep printing new output until the container stops or Ctrl-C")
	f.StringVarP(&tail, "tail", "n", "all", "show only the last N lines of the log (both streams)")
	f.StringVar(&since, "since", "", "show only output since a time (2025-01-02T15:04:05Z, 2025-01-02, Unix seconds) or for a duration back (10m, 1h30m)")
	f.BoolVarP(&timestamps, "timestamps", "t", false, "start each line with the time it was written (RFC 3339)")
	return cmd
}

// logEntry is one line of a container log, as Docker's json-file driver writes it.
type logEntry struct {
	Log    string    `json:"log"`
	Stream string    `json:"stream"`
	Time   time.Time `json:"time"`
}

// copyLogs writes the entries of an NDJSON log stream to stdout or stderr by the stream
// they came from. With timestamps, each line starts with its time; a line split over
// several entries (longer than the log driver's buffer) gets it only once.
func copyLogs(r io.Reader, stdout, stderr io.Writer, timestamps bool) error {
	dec := json.NewDecoder(r)
	midLine := map[string]bool{}
	for {
		var e logEntry
		if err := dec.Decode(&e); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		w := stdout
		if e.Stream == "stderr" {
			w = stderr
		}
		text := e.Log
		if timestamps && !midLine[e.Stream] {
			text = e.Time.Format(time.RFC3339Nano) + " " + text
		}
		midLine[e.Stream] = !strings.HasSuffix(e.Log, "\n")
		if _, err := io.WriteString(w, text); err != nil {
			return err
		}
	}
}

// parseSince reads --since: a duration back from now, an RFC 3339 time, a date or a
// time without zone (local time), or Unix seconds (with an optional fraction).
func parseSince(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("--since %q: give a duration back from now without a sign, like 10m", s)
		}
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	if secs, err := strconv.ParseFloat(s, 64); err == nil && strings.Trim(s, "0123456789.") == "" {
		whole := int64(secs)
		return time.Unix(whole, int64((secs-float64(whole))*1e9)), nil
	}
	return time.Time{}, fmt.Errorf("--since %q: give a duration (10m, 1h30m), a time (2025-01-02T15:04:05Z, 2025-01-02) or Unix seconds", s)
}
