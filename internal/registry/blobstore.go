package registry

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/opencontainers/go-digest"
)

var (
	// ErrBlobUnknown means no blob with that digest is stored.
	ErrBlobUnknown = errors.New("blob unknown")
	// ErrUploadUnknown means no upload session with that id exists (or it was finished).
	ErrUploadUnknown = errors.New("upload unknown")
	// ErrDigestMismatch means uploaded content does not hash to the digest the client gave.
	ErrDigestMismatch = errors.New("digest does not match content")
	// ErrUploadBusy means another request is using the upload session right now.
	ErrUploadBusy = errors.New("upload in use by another request")
	// ErrUnsupportedDigest means a digest algorithm other than sha256 or sha512.
	ErrUnsupportedDigest = errors.New("unsupported digest algorithm")
)

// BlobStore keeps content-addressed blobs and the upload sessions that create them.
// Implementations must never expose a partial blob: a blob exists only once its content
// is complete, verified against its digest and durable.
type BlobStore interface {
	// Stat returns a blob's size, or ErrBlobUnknown.
	Stat(ctx context.Context, d digest.Digest) (int64, error)
	// Open returns the blob's content (seekable, for Range requests) and its size.
	Open(ctx context.Context, d digest.Digest) (io.ReadSeekCloser, int64, error)
	// Put stores small content whose digest the caller has computed (manifests). It
	// verifies the digest and is idempotent.
	Put(ctx context.Context, d digest.Digest, content []byte) error
	// Delete removes a blob; deleting an absent blob is ErrBlobUnknown.
	Delete(ctx context.Context, d digest.Digest) error
	// Walk calls fn for every stored blob (for garbage collection).
	Walk(ctx context.Context, fn func(BlobInfo) error) error

	// NewUpload starts an upload session.
	NewUpload(ctx context.Context) (Upload, error)
	// ResumeUpload reopens a session by id, also after a restart, or ErrUploadUnknown.
	ResumeUpload(ctx context.Context, id string) (Upload, error)
	// PurgeUploads ends sessions not written since olderThan and returns how many.
	PurgeUploads(olderThan time.Time) (int, error)
}

// BlobInfo describes a stored blob.
type BlobInfo struct {
	Digest digest.Digest
	Size   int64
	// ModTime is when the blob was last written; garbage collection spares young blobs.
	ModTime time.Time
}

// Upload is one upload session: bytes are appended in order, then committed under the
// digest the client names. An Upload is used by one request at a time; Close releases it
// without ending the session so a later request can resume it.
type Upload interface {
	ID() string
	// Size is the number of bytes received so far.
	Size() int64
	// Write appends to the upload.
	io.Writer
	// Commit verifies the content against d (sha256 or sha512), makes it the blob d and
	// ends the session. On ErrDigestMismatch the session is ended and nothing is stored.
	Commit(ctx context.Context, d digest.Digest) error
	// Cancel ends the session and discards its content.
	Cancel(ctx context.Context) error
	// Close releases the session for now; it can be resumed.
	Close() error
}
