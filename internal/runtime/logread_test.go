package runtime

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// logFixture is a container without runc or root: a bundle with a meta file, whose log the
// tests write with the shim's own logWriter, and whose status they set through the files
// Info reads (the shim record, the exit file).
type logFixture struct {
	t  *testing.T
	r  *Runtime
	id string
}

func newLogFixture(t *testing.T) *logFixture {
	t.Helper()
	dir := t.TempDir()
	f := &logFixture{t: t, r: &Runtime{stateDir: filepath.Join(dir, "state"), dataDir: filepath.Join(dir, "data")}, id: "logs"}
	for _, d := range []string{f.r.bundle(f.id), filepath.Dir(f.r.shimFile(f.id))} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	f.writeJSON(filepath.Join(f.r.bundle(f.id), metaFileName), meta{ID: f.id, ShimFile: f.r.shimFile(f.id)})
	return f
}

func (f *logFixture) writeJSON(path string, v any) {
	f.t.Helper()
	if err := writeJSONFile(path, v); err != nil {
		f.t.Fatal(err)
	}
}

// running makes the container look alive: its shim record names this test process.
func (f *logFixture) running() {
	f.t.Helper()
	start, _, err := procStart(os.Getpid())
	if err != nil {
		f.t.Fatal(err)
	}
	f.writeJSON(f.r.shimFile(f.id), shimRecord{Pid: os.Getpid(), StartTime: start})
}

// exited records an exit status, as the shim does after the container's last log line.
func (f *logFixture) exited() {
	f.writeJSON(filepath.Join(f.r.bundle(f.id), exitFileName), ExitStatus{ExitedAt: time.Now()})
}

var logBase = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

// logLineLen is the size of each line written by write: all are the same size, so that
// tests can pick a rotation size in lines.
var logLineLen = func() int64 {
	b, _ := json.Marshal(LogEntry{Log: "line-00\n", Stream: "stdout", Time: logBase})
	return int64(len(b) + 1)
}()

func (f *logFixture) writer(maxLines, maxFiles int) *logWriter {
	f.t.Helper()
	w, err := openLogWriter(f.r.LogPath(f.id), int64(maxLines)*logLineLen, maxFiles)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { w.close() })
	return w
}

// write logs entries from..to-1: "line-NN\n" stamped logBase+NN seconds, odd ones on stderr.
func (f *logFixture) write(w *logWriter, from, to int) {
	f.t.Helper()
	for i := from; i < to; i++ {
		w.now = func() time.Time { return logBase.Add(time.Duration(i) * time.Second) }
		stream := "stdout"
		if i%2 == 1 {
			stream = "stderr"
		}
		if err := w.write(stream, []byte(fmt.Sprintf("line-%02d\n", i))); err != nil {
			f.t.Fatal(err)
		}
	}
}

// appendRaw adds bytes to the current log file behind the writer's back.
func (f *logFixture) appendRaw(s string) {
	f.t.Helper()
	lf, err := os.OpenFile(f.r.LogPath(f.id), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		f.t.Fatal(err)
	}
	defer lf.Close()
	if _, err := lf.WriteString(s); err != nil {
		f.t.Fatal(err)
	}
}

func (f *logFixture) logs(opts LogOptions) []string {
	f.t.Helper()
	var got []string
	err := f.r.Logs(context.Background(), f.id, opts, func(e LogEntry) error {
		got = append(got, e.Log)
		return nil
	})
	if err != nil {
		f.t.Fatalf("Logs(%+v): %v", opts, err)
	}
	return got
}

// follow runs Logs with Follow in the background: entries arrive on the first channel, its
// result on the second.
func (f *logFixture) follow(ctx context.Context, opts LogOptions) (<-chan LogEntry, <-chan error) {
	opts.Follow = true
	got, done := make(chan LogEntry, 100), make(chan error, 1)
	go func() {
		done <- f.r.Logs(ctx, f.id, opts, func(e LogEntry) error { got <- e; return nil })
	}()
	return got, done
}

func expectLines(t *testing.T, got <-chan LogEntry, want ...string) {
	t.Helper()
	for _, w := range want {
		select {
		case e := <-got:
			if e.Log != w {
				t.Fatalf("followed entry %q, want %q", e.Log, w)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no entry %q after 5s", w)
		}
	}
}

func expectNoLine(t *testing.T, got <-chan LogEntry) {
	t.Helper()
	select {
	case e := <-got:
		t.Fatalf("unexpected entry %q", e.Log)
	case <-time.After(3 * logPollInterval):
	}
}

func expectEnd(t *testing.T, done <-chan error, want error) {
	t.Helper()
	select {
	case err := <-done:
		if !errors.Is(err, want) {
			t.Fatalf("Logs returned %v, want %v", err, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Logs still following 5s after it should have ended")
	}
}

func lines(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("line-%02d\n", i))
	}
	return out
}

func TestLogsReadsAcrossRotatedFiles(t *testing.T) {
	t.Parallel()
	f := newLogFixture(t)
	w := f.writer(3, 5)
	f.write(w, 0, 10) // container.log.3 holds lines 0-2, .2 3-5, .1 6-8, container.log 9
	f.appendRaw(`{"log":"half a li`)
	if _, err := os.Stat(f.r.LogPath(f.id) + ".3"); err != nil {
		t.Fatalf("setup: no third rotated file: %v", err)
	}
	since := func(sec float64) time.Time { return logBase.Add(time.Duration(sec * float64(time.Second))) }
	for _, tc := range []struct {
		name string
		opts LogOptions
		want []string
	}{
		{"all", LogOptions{Tail: -1}, lines(0, 10)},
		{"tail 0", LogOptions{Tail: 0}, nil},
		{"tail 1", LogOptions{Tail: 1}, lines(9, 10)},
		{"tail into previous file", LogOptions{Tail: 2}, lines(8, 10)},
		{"tail to a file start", LogOptions{Tail: 4}, lines(6, 10)},
		{"tail across three files", LogOptions{Tail: 8}, lines(2, 10)},
		{"tail of exactly all", LogOptions{Tail: 10}, lines(0, 10)},
		{"tail beyond all", LogOptions{Tail: 50}, lines(0, 10)},
		{"since", LogOptions{Tail: -1, Since: since(4)}, lines(4, 10)},
		{"since between entries", LogOptions{Tail: -1, Since: since(4.5)}, lines(5, 10)},
		{"since after the last", LogOptions{Tail: -1, Since: since(60)}, nil},
		{"since and a shorter tail", LogOptions{Tail: 3, Since: since(4)}, lines(7, 10)},
		{"since and a longer tail", LogOptions{Tail: 8, Since: since(4)}, lines(4, 10)},
	} {
		if got := f.logs(tc.opts); !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}

	var all []LogEntry
	f.r.Logs(context.Background(), f.id, LogOptions{Tail: -1}, func(e LogEntry) error { all = append(all, e); return nil })
	if e := all[3]; e.Stream != "stderr" || !e.Time.Equal(logBase.Add(3*time.Second)) || all[4].Stream != "stdout" {
		t.Errorf("entries lost their stream or time: %+v %+v", all[3], all[4])
	}
}

func TestLogsSkipsTornLines(t *testing.T) {
	t.Parallel()
	f := newLogFixture(t)
	w := f.writer(0, 1)
	f.write(w, 0, 1)
	f.appendRaw(`{"log":"torn by a kill` + "\n")
	f.write(w, 1, 2)
	f.appendRaw(strings.Repeat("\x00", 3<<20) + "\n") // what a crash can leave
	f.write(w, 2, 3)
	if got, want := f.logs(LogOptions{Tail: -1}), lines(0, 3); !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestLogsUnknownContainer(t *testing.T) {
	t.Parallel()
	f := newLogFixture(t)
	for _, id := range []string{"nosuch", "../logs"} {
		err := f.r.Logs(context.Background(), id, LogOptions{Tail: -1}, func(LogEntry) error { return nil })
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("Logs(%q) = %v, want ErrNotFound", id, err)
		}
	}
}

func TestLogsStopsOnCallbackError(t *testing.T) {
	t.Parallel()
	f := newLogFixture(t)
	f.running()
	f.write(f.writer(3, 3), 0, 6)
	stop := errors.New("enough")
	for _, follow := range []bool{false, true} {
		n := 0
		err := f.r.Logs(context.Background(), f.id, LogOptions{Tail: -1, Follow: follow}, func(LogEntry) error {
			if n++; n == 4 {
				return stop
			}
			return nil
		})
		if err != stop || n != 4 {
			t.Errorf("follow %v: Logs = %v after %d entries, want the callback's error after 4", follow, err, n)
		}
	}
}

func TestLogsPartialLine(t *testing.T) {
	t.Parallel()
	f := newLogFixture(t)
	f.running()
	f.write(f.writer(0, 1), 0, 1)
	line, _ := json.Marshal(LogEntry{Log: "partial\n", Stream: "stdout", Time: logBase})
	f.appendRaw(string(line[:10]))

	if got, want := f.logs(LogOptions{Tail: -1}), lines(0, 1); !slices.Equal(got, want) {
		t.Errorf("without Follow: got %q, want %q", got, want)
	}
	got, done := f.follow(t.Context(), LogOptions{Tail: -1})
	expectLines(t, got, "line-00\n")
	expectNoLine(t, got)
	f.appendRaw(string(line[10:]) + "\n")
	expectLines(t, got, "partial\n")

	f.appendRaw(string(line[:10])) // the writer died mid-line: never completed
	f.exited()
	expectEnd(t, done, nil)
	expectNoLine(t, got)
}

func TestLogsFollow(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		maxFiles int // 1: rotation truncates the file in place
		burst    bool
	}{
		{"rotate by renaming", 3, true},
		{"rotate by truncating", 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newLogFixture(t)
			f.running()
			w := f.writer(3, tc.maxFiles)
			f.write(w, 0, 2)
			got, done := f.follow(t.Context(), LogOptions{Tail: 1})
			expectLines(t, got, "line-01\n")
			expectNoLine(t, got)
			if tc.burst {
				// One rotation, then two: the file being read is renamed to .1, then .2.
				f.write(w, 2, 5)
				expectLines(t, got, lines(2, 5)...)
				f.write(w, 5, 11)
				expectLines(t, got, lines(5, 11)...)
				if _, err := os.Stat(f.r.LogPath(f.id) + ".2"); err != nil {
					t.Fatalf("no second rotation: %v", err)
				}
			} else {
				// Truncation leaves no trace to find later: each line must be read first.
				for i := 2; i < 11; i++ {
					f.write(w, i, i+1)
					expectLines(t, got, lines(i, i+1)...)
				}
			}
			f.write(w, 11, 12)
			f.exited() // right after its last line, as the shim does
			expectLines(t, got, "line-11\n")
			expectEnd(t, done, nil)
		})
	}
}

func TestLogsFollowEnds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		end  func(*logFixture, context.CancelFunc)
		want error
	}{
		{"exited", func(f *logFixture, _ context.CancelFunc) { f.exited() }, nil},
		{"shim gone without exit status", func(f *logFixture, _ context.CancelFunc) { os.Remove(f.r.shimFile(f.id)) }, nil},
		{"deleted", func(f *logFixture, _ context.CancelFunc) { os.RemoveAll(f.r.bundle(f.id)) }, nil},
		{"context ended", func(_ *logFixture, cancel context.CancelFunc) { cancel() }, context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newLogFixture(t)
			f.running()
			f.write(f.writer(0, 1), 0, 2)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			got, done := f.follow(ctx, LogOptions{Tail: -1})
			expectLines(t, got, lines(0, 2)...)
			expectNoLine(t, got)
			tc.end(f, cancel)
			expectEnd(t, done, tc.want)
		})
	}

	t.Run("log never written", func(t *testing.T) {
		t.Parallel()
		f := newLogFixture(t)
		_, done := f.follow(t.Context(), LogOptions{Tail: -1})
		expectEnd(t, done, nil) // no shim: status unknown
	})
}

// TestLogsTailOfHugeLog checks that Tail reads the end of a 50 MB log without reading it
// all: a full read would allocate far more than the bound (a string per entry). Not
// parallel: TotalAlloc counts every goroutine's allocations.
func TestLogsTailOfHugeLog(t *testing.T) {
	f := newLogFixture(t)
	path := f.r.LogPath(f.id)
	filler, _ := json.Marshal(LogEntry{Log: strings.Repeat("x", 100) + "\n", Stream: "stdout", Time: logBase})
	filler = append(filler, '\n')
	huge, err := os.Create(path + ".1")
	if err != nil {
		t.Fatal(err)
	}
	bw := bufio.NewWriterSize(huge, 1<<20)
	for written := 0; written < 50<<20; written += len(filler) {
		bw.Write(filler)
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	huge.Close()
	w := f.writer(0, 1)
	f.write(w, 0, 3)

	// The last two lines of the huge file, then the three of the current one.
	var ms0, ms1 goruntime.MemStats
	goruntime.ReadMemStats(&ms0)
	got := f.logs(LogOptions{Tail: 5})
	goruntime.ReadMemStats(&ms1)
	x := strings.Repeat("x", 100) + "\n"
	if want := append([]string{x, x}, lines(0, 3)...); !slices.Equal(got, want) {
		t.Fatalf("tail 5 = %d entries ending %q, want the last 2 lines of the rotated file and the 3 of the current one", len(got), got[max(0, len(got)-5):])
	}
	if alloc := ms1.TotalAlloc - ms0.TotalAlloc; alloc > 2<<20 {
		t.Errorf("tail of a 50 MB log allocated %d bytes, want a bounded amount (< 2 MiB)", alloc)
	}
}
