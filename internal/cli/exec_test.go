package cli

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"gantry/internal/agentconn"
)

type frame struct {
	stream byte
	data   string
}

func frames(fs ...frame) *bytes.Buffer {
	var b bytes.Buffer
	for _, f := range fs {
		agentconn.WriteFrame(&b, f.stream, []byte(f.data))
	}
	return &b
}

func TestCopyFrames(t *testing.T) {
	tests := []struct {
		name           string
		in             *bytes.Buffer
		code           int
		stdout, stderr string
		err            string // substring; empty for none
		runErr         bool   // the error is an *execRunError
	}{
		{
			name: "demux and exit code",
			in: frames(frame{agentconn.StreamStdout, "out1\n"}, frame{agentconn.StreamStderr, "err1\n"},
				frame{agentconn.StreamStdout, "out2\n"}, frame{agentconn.StreamExit, "3"}),
			code: 3, stdout: "out1\nout2\n", stderr: "err1\n",
		},
		{
			name: "empty frames and success",
			in:   frames(frame{agentconn.StreamStdout, ""}, frame{agentconn.StreamExit, "0"}),
		},
		{
			name:   "could not run",
			in:     frames(frame{agentconn.StreamStderr, "x"}, frame{agentconn.StreamError, `exec: "nope": executable file not found`}),
			stderr: "x", err: "executable file not found", runErr: true,
		},
		{
			name:   "cut before the exit frame",
			in:     frames(frame{agentconn.StreamStdout, "partial"}),
			stdout: "partial", err: "ended before the command's exit code",
		},
		{
			name: "cut inside a frame",
			in:   bytes.NewBuffer(frames(frame{agentconn.StreamStdout, "partial"}).Bytes()[:10]),
			err:  "ended before the command's exit code",
		},
		{
			name: "bad exit code",
			in:   frames(frame{agentconn.StreamExit, "x"}),
			err:  "not a number",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			code, err := copyFrames(tt.in, &stdout, &stderr)
			if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("copyFrames error = %v, want one containing %q", err, tt.err)
			}
			var runErr *execRunError
			if errors.As(err, &runErr) != tt.runErr {
				t.Errorf("copyFrames error %v: is execRunError = %v, want %v", err, !tt.runErr, tt.runErr)
			}
			if code != tt.code || stdout.String() != tt.stdout || stderr.String() != tt.stderr {
				t.Errorf("copyFrames = %d, stdout %q, stderr %q; want %d, %q, %q", code, stdout.String(), stderr.String(), tt.code, tt.stdout, tt.stderr)
			}
		})
	}
}

func TestExecEnv(t *testing.T) {
	lookup := func(k string) (string, bool) {
		v, ok := map[string]string{"HOME": "/home/me", "EMPTY": ""}[k]
		return v, ok
	}
	tests := []struct {
		flags []string
		tty   bool
		want  []string
	}{
		{nil, false, nil},
		{[]string{"A=1", "B=x=y", "C="}, false, []string{"A=1", "B=x=y", "C="}},
		{[]string{"HOME", "EMPTY", "UNSET"}, false, []string{"HOME=/home/me", "EMPTY="}}, // unset is left out
		{[]string{"A=1"}, true, []string{"A=1", "TERM=xterm"}},
		{[]string{"TERM=vt100"}, true, []string{"TERM=vt100"}},
	}
	for _, tt := range tests {
		if got := execEnv(tt.flags, tt.tty, lookup); !slices.Equal(got, tt.want) {
			t.Errorf("execEnv(%q, tty=%v) = %q, want %q", tt.flags, tt.tty, got, tt.want)
		}
	}
}
