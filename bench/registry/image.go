package main

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// writeImage writes an OCI layout at dir holding one image, tagged tag, whose layers carry
// size random bytes in total. Layers are gzip streams of stored (uncompressed) blocks: skopeo
// sees them as already compressed and copies them as they are instead of compressing them
// on push, and random bytes would not compress anyway. Each layer is streamed to disk, so
// memory stays bounded whatever the size.
func writeImage(dir, tag string, size int64, layers int) error {
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	blobs := filepath.Join(dir, "blobs", "sha256")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		return err
	}
	var seed [32]byte
	crand.Read(seed[:])
	rng := rand.NewChaCha8(seed)
	var adds []v1.Layer
	for i := range layers {
		n := size / int64(layers)
		if i == layers-1 {
			n = size - n*int64(layers-1)
		}
		l, err := writeRandomLayer(blobs, i, n, rng)
		if err != nil {
			return fmt.Errorf("writing layer %d: %w", i, err)
		}
		layer, _ := partial.CompressedToLayer(l)
		adds = append(adds, layer)
	}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err = mutate.ConfigFile(img, &v1.ConfigFile{OS: "linux", Architecture: runtime.GOARCH})
	if err != nil {
		return err
	}
	if img, err = mutate.AppendLayers(img, adds...); err != nil {
		return err
	}
	// The layer blobs are already in place under their digests, so AppendImage writes
	// only the config, the manifest and index.json.
	return p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": tag}))
}

// writeRandomLayer streams a tar of one file of n random bytes, gzip-framed, into blobs and
// names it by its digest.
func writeRandomLayer(blobs string, i int, n int64, rng io.Reader) (*randomLayer, error) {
	f, err := os.CreateTemp(blobs, "layer-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name()) // no-op once renamed
	defer f.Close()
	digest, diffID := sha256.New(), sha256.New()
	bw := bufio.NewWriterSize(io.MultiWriter(f, digest), 1<<20)
	zw, _ := gzip.NewWriterLevel(bw, gzip.NoCompression)
	tw := tar.NewWriter(io.MultiWriter(zw, diffID))
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: fmt.Sprintf("random-%d", i), Mode: 0o644, Size: n}); err != nil {
		return nil, err
	}
	if _, err := io.CopyBuffer(tw, io.LimitReader(rng, n), make([]byte, 1<<20)); err != nil {
		return nil, err
	}
	for _, c := range []io.Closer{tw, zw} {
		if err := c.Close(); err != nil {
			return nil, err
		}
	}
	if err := bw.Flush(); err != nil {
		return nil, err
	}
	size, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, err
	}
	l := &randomLayer{digest: sum(digest), diffID: sum(diffID), size: size}
	l.path = filepath.Join(blobs, l.digest.Hex)
	if err := f.Close(); err != nil {
		return nil, err
	}
	return l, os.Rename(f.Name(), l.path)
}

func sum(h hash.Hash) v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.Sum(nil))}
}

// randomLayer is a layer blob already on disk whose digests were computed while it was
// written, so go-containerregistry never reads 128 MiB again to learn them.
type randomLayer struct {
	path           string
	digest, diffID v1.Hash
	size           int64
}

func (l *randomLayer) Digest() (v1.Hash, error)           { return l.digest, nil }
func (l *randomLayer) DiffID() (v1.Hash, error)           { return l.diffID, nil }
func (l *randomLayer) Size() (int64, error)               { return l.size, nil }
func (l *randomLayer) Compressed() (io.ReadCloser, error) { return os.Open(l.path) }
func (l *randomLayer) MediaType() (types.MediaType, error) {
	return types.OCILayer, nil
}
