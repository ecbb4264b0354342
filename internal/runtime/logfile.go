package runtime

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// LogEntry is one line of a json-file log, as Docker writes it.
type LogEntry struct {
	Log    string    `json:"log"`
	Stream string    `json:"stream"`
	Time   time.Time `json:"time"`
}

// logWriter appends log entries to a file and rotates it by size: path, path.1, ...
type logWriter struct {
	mu       sync.Mutex
	path     string
	f        *os.File
	size     int64
	maxBytes int64 // 0: never rotate
	maxFiles int   // files kept, the current one included
	now      func() time.Time
}

func openLogWriter(path string, maxBytes int64, maxFiles int) (*logWriter, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("opening log file: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if maxFiles < 1 {
		maxFiles = 1
	}
	return &logWriter{path: path, f: f, size: fi.Size(), maxBytes: maxBytes, maxFiles: maxFiles, now: time.Now}, nil
}

// write logs one line (or a partial line of a long one) of a stream.
func (w *logWriter) write(stream string, line []byte) error {
	b, err := json.Marshal(LogEntry{Log: string(line), Stream: stream, Time: w.now().UTC()})
	if err != nil {
		return err
	}
	b = append(b, '\n')
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.maxBytes > 0 && w.size > 0 && w.size+int64(len(b)) > w.maxBytes {
		if err := w.rotate(); err != nil {
			return err
		}
	}
	n, err := w.f.Write(b)
	w.size += int64(n)
	return err
}

// rotate shifts path.N-1 -> path.N ... path -> path.1 and starts an empty path; with
// maxFiles 1 it just truncates.
func (w *logWriter) rotate() error {
	w.f.Close()
	for i := w.maxFiles - 1; i >= 1; i-- {
		src := w.path
		if i > 1 {
			src = fmt.Sprintf("%s.%d", w.path, i-1)
		}
		os.Rename(src, fmt.Sprintf("%s.%d", w.path, i))
	}
	f, err := os.OpenFile(w.path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("rotating log file: %w", err)
	}
	w.f, w.size = f, 0
	return nil
}

func (w *logWriter) close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.f.Close()
}

// copyLines logs everything read from r, one entry per line; lines longer than 16 KiB are
// split as Docker does.
func (w *logWriter) copyLines(stream string, r io.Reader) {
	br := bufio.NewReaderSize(r, 16<<10)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			w.write(stream, line)
		}
		if err != nil && err != bufio.ErrBufferFull {
			return
		}
	}
}
