package agentconn

import (
	"encoding/binary"
	"fmt"
	"io"
	"strconv"
	"sync"
)

// Exec output is a sequence of frames, as Docker multiplexes attach streams: a header of
// one stream byte, three zero bytes and a big-endian uint32 length, then the payload.
// The last frame is StreamExit with the exit code in decimal.
const (
	StreamStdout byte = 1
	StreamStderr byte = 2
	StreamExit   byte = 3
	// StreamError carries a message about why the command could not run.
	StreamError byte = 4
)

// maxFrame bounds a frame's payload.
const maxFrame = 1 << 20

// WriteFrame writes one frame.
func WriteFrame(w io.Writer, stream byte, p []byte) error {
	var hdr [8]byte
	hdr[0] = stream
	binary.BigEndian.PutUint32(hdr[4:], uint32(len(p)))
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	_, err := w.Write(p)
	return err
}

// ReadFrame reads one frame.
func ReadFrame(r io.Reader) (byte, []byte, error) {
	var hdr [8]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[4:])
	if n > maxFrame {
		return 0, nil, fmt.Errorf("exec stream: frame of %d bytes is over the %d limit", n, maxFrame)
	}
	p := make([]byte, n)
	_, err := io.ReadFull(r, p)
	return hdr[0], p, err
}

// FrameMux writes frames of several streams to one writer, one whole frame at a time.
type FrameMux struct {
	mu    sync.Mutex
	w     io.Writer
	flush func()
}

// NewFrameMux returns a mux writing to w and calling flush (if not nil) after each frame.
func NewFrameMux(w io.Writer, flush func()) *FrameMux { return &FrameMux{w: w, flush: flush} }

// Send writes one frame.
func (m *FrameMux) Send(stream byte, p []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := WriteFrame(m.w, stream, p); err != nil {
		return err
	}
	if m.flush != nil {
		m.flush()
	}
	return nil
}

// Writer returns a writer whose writes become frames of stream.
func (m *FrameMux) Writer(stream byte) io.Writer { return streamWriter{m, stream} }

type streamWriter struct {
	m      *FrameMux
	stream byte
}

func (s streamWriter) Write(p []byte) (int, error) {
	total := len(p)
	for len(p) > 0 {
		n := min(len(p), maxFrame)
		if err := s.m.Send(s.stream, p[:n]); err != nil {
			return 0, err
		}
		p = p[n:]
	}
	return total, nil
}

// ExitFrame is the payload of a StreamExit frame.
func ExitFrame(code int) []byte { return []byte(strconv.Itoa(code)) }
