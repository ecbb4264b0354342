package image

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Push uploads the stored image ref to the registry its name points at (or to dest when
// dest is not empty), with opts' credentials. Blobs the registry has already are not
// sent. Progress reports bytes sent for the whole image (Digest empty).
func (s *Store) Push(ctx context.Context, ref, dest string, opts PullOptions) (*Image, error) {
	img, err := s.Get(ref)
	if err != nil {
		return nil, err
	}
	if dest == "" {
		dest = img.Ref
	}
	var nopts []name.Option
	if opts.Insecure {
		nopts = append(nopts, name.Insecure)
	}
	target, err := name.ParseReference(dest, nopts...)
	if err != nil {
		return nil, fmt.Errorf("invalid image reference %q: %w", dest, err)
	}
	content, err := s.Content(img)
	if err != nil {
		return nil, fmt.Errorf("pushing %s: %w", ref, err)
	}
	auth := opts.Auth
	if auth == nil {
		auth = authn.Anonymous
	}
	ropts := []remote.Option{remote.WithContext(ctx), remote.WithAuth(auth)}
	var updates chan v1.Update
	done := make(chan struct{})
	if opts.Progress != nil {
		updates = make(chan v1.Update, 16)
		ropts = append(ropts, remote.WithProgress(updates))
		go func() {
			defer close(done)
			for u := range updates {
				if u.Error == nil {
					opts.Progress(Progress{Current: u.Complete, Total: u.Total, Status: "pushing"})
				}
			}
		}()
	} else {
		close(done)
	}
	s.gcMu.RLock()
	err = remote.Write(target, content, ropts...)
	s.gcMu.RUnlock()
	<-done // remote.Write closes updates when it returns
	if err != nil {
		return nil, fmt.Errorf("pushing %s to %s: %w", ref, target.Name(), err)
	}
	return img, nil
}
