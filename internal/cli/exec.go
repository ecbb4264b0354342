package cli

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"gantry/internal/agentconn"
)

// Exit codes of `gantry exec` that are not the command's own, as docker exec has them.
const (
	exitCannotRun   = 126 // the command could not be run in the container
	exitInterrupted = 130 // Ctrl-C (SIGINT) ended the client first
)

func newExecCommand(g *globals) *cobra.Command {
	var cluster, container, user, workdir string
	var env []string
	var interactive, tty bool
	cmd := &cobra.Command{
		Use:   "exec [flags] TASK CMD [ARG...]",
		Short: "Run a command in a running task's container (like docker exec)",
		Long: `Run a command in a container of a running task, with its output on this terminal;
gantry exec exits with the command's exit code (126 when it could not be run at all).
CONTAINER (-c) is a container name of the task definition; without it, the task's
first container. With -i standard input is sent to the command; with -t it runs under
a pseudo-terminal (use both for a shell).

TASK is a task id, a unique prefix of one (4 characters or more), a task ARN, or the
name given with 'gantry run --name'. Flags go before TASK: what follows is the command.`,
		Example: `  gantry exec web ls -l /etc
  gantry exec -it web sh
  gantry exec -c sidecar -e DEBUG=1 -u nobody -w /tmp 3f9c env
  tar -c conf | gantry exec -i web tar -x -C /etc/app`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 2 {
				return fmt.Errorf("%s needs a TASK and the command to run in it, e.g. 'gantry exec -it web sh' (list tasks with 'gantry ps')", cmd.CommandPath())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			client, err := g.ecsClient(ctx)
			if err != nil {
				return err
			}
			arn, err := resolveTask(ctx, client, cluster, args[0])
			if err != nil {
				return err
			}
			q := url.Values{"cluster": {cluster}, "task": {arn}, "cmd": args[1:], "env": execEnv(env, tty, os.LookupEnv)}
			for name, v := range map[string]string{"container": container, "user": user, "workdir": workdir} {
				if v != "" {
					q.Set(name, v)
				}
			}
			if tty {
				q.Set("tty", "1")
			}
			var body io.Reader
			if interactive {
				q.Set("stdin", "1")
				// Hide Close: the HTTP client closes a request body when done, and the
				// terminal settings are restored on standard input after that.
				body = struct{ io.Reader }{os.Stdin}
				if tty && isTerminal(os.Stdin) {
					restore, err := makeRawTerminal(int(os.Stdin.Fd()))
					if err != nil {
						return err
					}
					defer restore()
				}
			}
			resp, err := g.native(ctx, http.MethodPost, agentconn.ExecPath, q, body)
			if err != nil {
				if ctx.Err() != nil {
					return &exitError{code: exitInterrupted}
				}
				return fmt.Errorf("exec in task %s: %w", args[0], err)
			}
			defer resp.Body.Close()
			code, err := copyFrames(resp.Body, g.out, cmd.ErrOrStderr())
			var cannotRun *execRunError
			switch {
			case ctx.Err() != nil:
				return &exitError{code: exitInterrupted}
			case errors.As(err, &cannotRun):
				return &exitError{code: exitCannotRun, err: err}
			case err != nil:
				return fmt.Errorf("exec in task %s: %w", args[0], err)
			case code != 0:
				return &exitError{code: code}
			}
			return nil
		},
	}
	// Everything after TASK belongs to the command, its own flags included.
	cmd.Flags().SetInterspersed(false)
	f := cmd.Flags()
	f.StringVar(&cluster, "cluster", "default", "cluster the task runs in")
	f.StringVarP(&container, "container", "c", "", "container of the task to run in (default: the first)")
	f.BoolVarP(&interactive, "interactive", "i", false, "send standard input to the command")
	f.BoolVarP(&tty, "tty", "t", false, "run the command under a pseudo-terminal")
	f.StringVarP(&user, "user", "u", "", "user to run as: name, UID, or UID:GID (default: the container's)")
	f.StringVarP(&workdir, "workdir", "w", "", "working directory of the command (default: the container's)")
	f.StringArrayVarP(&env, "env", "e", nil, "environment variable KEY=VALUE, or KEY to pass this one's value (repeatable)")
	return cmd
}

// execEnv turns -e values into KEY=VALUE pairs: a bare KEY takes the value it has here
// and is left out when unset, as in docker. Under a terminal TERM defaults to xterm.
func execEnv(flags []string, tty bool, lookup func(string) (string, bool)) []string {
	var env []string
	hasTerm := false
	for _, kv := range flags {
		key, _, ok := strings.Cut(kv, "=")
		if !ok {
			v, set := lookup(kv)
			if !set {
				continue
			}
			kv += "=" + v
		}
		hasTerm = hasTerm || key == "TERM"
		env = append(env, kv)
	}
	if tty && !hasTerm {
		env = append(env, "TERM=xterm")
	}
	return env
}

// execRunError is the reason the agent gave for not running the command.
type execRunError struct{ msg string }

func (e *execRunError) Error() string { return e.msg }

// copyFrames writes the output frames of an exec stream to stdout and stderr until the
// exit frame, and returns the exit code it carries.
func copyFrames(r io.Reader, stdout, stderr io.Writer) (int, error) {
	for {
		stream, p, err := agentconn.ReadFrame(r)
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, errors.New("the output ended before the command's exit code (the server or the machine's agent went away)")
		}
		if err != nil {
			return 0, err
		}
		switch stream {
		case agentconn.StreamStdout:
			_, err = stdout.Write(p)
		case agentconn.StreamStderr:
			_, err = stderr.Write(p)
		case agentconn.StreamExit:
			code, err := strconv.Atoi(string(p))
			if err != nil {
				return 0, fmt.Errorf("the exit code %q the agent sent is not a number", p)
			}
			return code, nil
		case agentconn.StreamError:
			return 0, &execRunError{msg: string(p)}
		}
		if err != nil {
			return 0, err
		}
	}
}

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// isTerminalWriter reports whether w is a file that is a terminal.
func isTerminalWriter(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isTerminal(f)
}

// makeRawTerminal puts the terminal fd in raw mode (cfmakeraw), so keys such as Ctrl-C
// and Ctrl-D go to the command's terminal instead of acting here, and returns a function
// that restores the settings it had.
func makeRawTerminal(fd int) (func(), error) {
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil, fmt.Errorf("reading the terminal settings: %w", err)
	}
	raw := *old
	raw.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	raw.Oflag &^= unix.OPOST
	raw.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	raw.Cflag &^= unix.CSIZE | unix.PARENB
	raw.Cflag |= unix.CS8
	raw.Cc[unix.VMIN], raw.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &raw); err != nil {
		return nil, fmt.Errorf("putting the terminal in raw mode: %w", err)
	}
	return func() { unix.IoctlSetTermios(fd, unix.TCSETS, old) }, nil
}
