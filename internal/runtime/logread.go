package runtime

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"time"

	"golang.org/x/sys/unix"
)

// LogOptions selects what Logs returns.
type LogOptions struct {
	// Tail keeps only the last Tail entries of the log as it is when Logs is called. As in
	// Docker, a negative Tail means all entries and 0 none (with Follow: only new ones).
	// Entries are in time order, so with Since it is the last Tail entries since then.
	Tail int
	// Follow keeps reading new entries until the container has exited and its log has been
	// read to the end, or ctx ends.
	Follow bool
	// Since skips entries older than this; zero: no limit.
	Since time.Time
}

// logPollInterval is how often a follower looks at the log and the container's status
// when nothing wakes it earlier.
const logPollInterval = 100 * time.Millisecond

// Logs calls fn with each entry of container id's log, oldest first, across rotated files.
// A line still being written is returned once complete when following, never otherwise;
// a line torn by a crash of the writer is skipped. An error from fn ends the read and is
// returned. With Follow, Logs returns nil once the container has exited (or was deleted)
// and its log is drained, and ctx.Err() if ctx ends first.
func (r *Runtime) Logs(ctx context.Context, id string, opts LogOptions, fn func(LogEntry) error) error {
	path := r.LogPath(id)
	if _, err := r.readMeta(id); err != nil {
		// A deleted container's log may have been kept: read it, nothing more will come.
		if path = r.archivedLog(id); path == "" {
			return fmt.Errorf("reading logs: %w", err)
		}
		opts.Follow = false
	}
	files, err := openLogFiles(path)
	if err != nil {
		return fmt.Errorf("reading logs of %s: %w", id, err)
	}
	defer func() { closeLogFiles(files) }()
	first, off := 0, int64(0)
	if opts.Tail >= 0 {
		if first, off, err = tailStart(files, opts.Tail); err != nil {
			return fmt.Errorf("reading logs of %s: %w", id, err)
		}
	}
	emit := func(line []byte) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		var e LogEntry
		if json.Unmarshal(line, &e) != nil || e.Time.Before(opts.Since) {
			return nil // torn by a killed shim, say: the rest of the log is still worth reading
		}
		return fn(e)
	}
	n := len(files)
	if opts.Follow && n > 0 {
		n-- // the newest file is followed below, beyond its size at opening
	}
	for i := first; i < n; i++ {
		// Up to the size at opening: without Follow, Logs must end even if the log grows.
		sr := io.NewSectionReader(files[i].f, off, files[i].size-off)
		if err := newLineReader(sr).each(emit); err != nil {
			return err
		}
		off = 0
	}
	if !opts.Follow {
		return nil
	}
	t := &logTail{path: path}
	defer t.close()
	if n < len(files) {
		if _, err := files[n].f.Seek(off, io.SeekStart); err != nil {
			return err
		}
		t.open(files[n].f)
		files = files[:n] // t owns it now
	}
	return r.follow(ctx, id, t, emit)
}

// follow emits what is written to the log from t's position on until the container has
// exited and the log is drained, it is deleted, or ctx ends.
func (r *Runtime) follow(ctx context.Context, id string, t *logTail, emit func([]byte) error) error {
	w := newDirWatch(r.bundle(id))
	defer w.close()
	exited := false
	for {
		if err := t.drain(emit); err != nil {
			return err
		}
		if exited {
			return nil
		}
		// info without runc's states, not Info: that would run `runc list` at every poll,
		// and exited and unknown are told from the exit file and the shim alone.
		info, err := r.info(id, nil)
		switch {
		case errors.Is(err, ErrNotFound):
			return nil // deleted, so stopped: nothing more will be written
		case err != nil:
			return err
		case info.Status == StatusExited || info.Status == StatusUnknown:
			// The shim writes the exit file after the last log line: one more drain reads
			// all there is.
			exited = true
			continue
		}
		if err := w.wait(ctx); err != nil {
			return err
		}
	}
}

// dirWatch wakes a follower as soon as something in the bundle changes (a log line, a
// rotation, the exit file), so that it reads lines before a rotation that truncates the
// file in place can drop them, and at least every logPollInterval: a shim killed
// changes nothing there. Without inotify it just polls.
type dirWatch struct{ fd int }

func newDirWatch(dir string) dirWatch {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return dirWatch{-1}
	}
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_MODIFY|unix.IN_CREATE|unix.IN_MOVED_TO); err != nil {
		unix.Close(fd)
		return dirWatch{-1}
	}
	return dirWatch{fd}
}

// wait returns after a change in the directory or logPollInterval, or ctx's error.
func (w dirWatch) wait(ctx context.Context) error {
	if w.fd < 0 {
		select {
		case <-ctx.Done():
		case <-time.After(logPollInterval):
		}
		return ctx.Err()
	}
	unix.Poll([]unix.PollFd{{Fd: int32(w.fd), Events: unix.POLLIN}}, int(logPollInterval/time.Millisecond))
	var events [4096]byte
	for { // discard the events: the follower looks at the files themselves
		if n, _ := unix.Read(w.fd, events[:]); n <= 0 {
			return ctx.Err()
		}
	}
}

func (w dirWatch) close() {
	if w.fd >= 0 {
		unix.Close(w.fd)
	}
}

// logTail is where a follower is: the file it reads (nil until the log exists) and its
// reader, which holds a partial last line.
type logTail struct {
	path string
	f    *os.File
	lr   *lineReader
}

// open makes t read f from its offset on (f may be t's file, rewound).
func (t *logTail) open(f *os.File) {
	if f != t.f {
		t.close()
	}
	t.f, t.lr = f, newLineReader(f)
}

func (t *logTail) close() {
	if t.f != nil {
		t.f.Close()
	}
}

// drain emits every complete line written so far, moving on to the next file at rotations.
func (t *logTail) drain(emit func([]byte) error) error {
	for {
		// Look for a rotation before reading: the writer closes a file before renaming it,
		// so a renamed file is complete once read to its end.
		next, err := nextLogFile(t.path, t.f)
		if err != nil {
			return err
		}
		if t.f != nil {
			if err := t.lr.each(emit); err != nil {
				return err
			}
		}
		if next != nil {
			t.open(next)
			continue
		}
		if t.f == nil || !truncated(t.f) {
			return nil
		}
		// Rotation that keeps a single file truncates it in place: start again at its top.
		// Lines written and truncated away between two polls are lost, as they are for a
		// reader that comes later.
		if _, err := t.f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		t.open(t.f)
	}
}

// truncated reports whether f is now shorter than what was read of it.
func truncated(f *os.File) bool {
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	pos, err := f.Seek(0, io.SeekCurrent)
	return err == nil && fi.Size() < pos
}

// nextLogFile returns the file to read after cur once the writer has rotated cur away (the
// rotated file one newer than cur, or the current file), or nil while cur is current.
func nextLogFile(path string, cur *os.File) (*os.File, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, nil // not created yet, between a rotation's rename and create, or deleted
	}
	next := path
	if cur != nil {
		ci, err := cur.Stat()
		if err != nil {
			return nil, err
		}
		if os.SameFile(st, ci) {
			return nil, nil
		}
		for i := 1; ; i++ {
			name := fmt.Sprintf("%s.%d", path, i)
			fi, err := os.Stat(name)
			if err != nil || os.SameFile(fi, ci) {
				break // found cur, or it was rotated out of existence: take the oldest left
			}
			next = name
		}
	}
	f, err := os.Open(next)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil // rotated again meanwhile: look again at the next poll
	}
	return f, err
}

// logFile is an open file of a container's log and its size when opened.
type logFile struct {
	f    *os.File
	size int64
}

// openLogFiles opens the log's rotated files and current file, oldest first; open files
// keep their contents through later rotations. It tries again if a rotation renamed files
// while it opened them, so that they follow on from one another.
func openLogFiles(path string) ([]logFile, error) {
	for attempt := 1; ; attempt++ {
		files, cur, err := openLogSet(path)
		if err != nil {
			return nil, err
		}
		if attempt == 3 || isCurrent(path, cur) {
			return files, nil
		}
		closeLogFiles(files)
	}
}

// openLogSet opens path's rotated files and path, oldest first; cur is path's file, nil if
// path does not exist.
func openLogSet(path string) (files []logFile, cur *os.File, err error) {
	for i := 0; ; i++ {
		name := path
		if i > 0 {
			name = fmt.Sprintf("%s.%d", path, i)
		}
		f, err := os.Open(name)
		if errors.Is(err, fs.ErrNotExist) {
			if i == 0 {
				continue // not written yet, or between a rotation's rename and create
			}
			break
		}
		var fi os.FileInfo
		if err == nil {
			if fi, err = f.Stat(); err != nil {
				f.Close()
			}
		}
		if err != nil {
			closeLogFiles(files)
			return nil, nil, err
		}
		if i == 0 {
			cur = f
		}
		files = append(files, logFile{f, fi.Size()})
	}
	slices.Reverse(files)
	return files, cur, nil
}

// isCurrent reports whether f is still the file at path (both absent, when f is nil).
func isCurrent(path string, f *os.File) bool {
	st, err := os.Stat(path)
	if f == nil {
		return err != nil
	}
	fi, ferr := f.Stat()
	return err == nil && ferr == nil && os.SameFile(st, fi)
}

func closeLogFiles(files []logFile) {
	for _, lf := range files {
		lf.f.Close()
	}
}

// tailStart returns where the last n complete lines of files begin: the index of a file
// and an offset in it. It reads backwards in blocks, so what it reads and keeps depends on
// n, not on the size of the files.
func tailStart(files []logFile, n int) (int, int64, error) {
	buf := make([]byte, 32<<10)
	for i := len(files) - 1; i >= 0; i-- {
		seen := 0 // newlines after the current position in this file
		for end := files[i].size; end > 0; {
			start := max(0, end-int64(len(buf)))
			b := buf[:end-start]
			if _, err := files[i].f.ReadAt(b, start); err == io.EOF {
				return i, 0, nil // truncated by a rotation meanwhile: it is all new
			} else if err != nil {
				return 0, 0, err
			}
			for j := len(b) - 1; j >= 0; j-- {
				if b[j] != '\n' {
					continue
				}
				if seen == n { // n complete lines follow this newline
					return i, start + int64(j) + 1, nil
				}
				seen++
			}
			end = start
		}
		if n -= seen; n == 0 {
			return i, 0, nil
		}
	}
	return 0, 0, nil
}

// lineReader reads complete lines. A partial last line stays buffered until its newline
// arrives: the shim may be writing it right now.
type lineReader struct {
	br      *bufio.Reader
	partial []byte
	skip    bool // dropping an overlong line up to its newline
}

// maxLogLine bounds what a lineReader holds: the shim splits output at 16 KiB, so even
// escaped to JSON no line it writes comes near.
const maxLogLine = 1 << 20

func newLineReader(r io.Reader) *lineReader {
	return &lineReader{br: bufio.NewReaderSize(r, 64<<10)}
}

// each calls emit with each complete line up to the end of the input. The line is valid
// only during the call.
func (lr *lineReader) each(emit func([]byte) error) error {
	for {
		b, err := lr.br.ReadSlice('\n')
		switch {
		case lr.skip || len(lr.partial)+len(b) > maxLogLine:
			// Garbage, such as the zeros a crash can leave in a file: drop it up to the
			// next newline rather than hold it all.
			lr.partial, lr.skip = lr.partial[:0], err != nil
		case err == nil && len(lr.partial) == 0:
			if err := emit(b); err != nil {
				return err
			}
		default:
			lr.partial = append(lr.partial, b...)
			if err == nil {
				line := lr.partial
				lr.partial = lr.partial[:0]
				if err := emit(line); err != nil {
					return err
				}
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil && err != bufio.ErrBufferFull {
			return err
		}
	}
}
