package registry_test

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/crane"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/opencontainers/go-digest"

	"gantry/internal/registry"
	"gantry/internal/store"
)

// anyKey accepts one fixed key pair.
type anyKey struct{}

func (anyKey) Authenticate(user, pass string) (string, bool) {
	return "arn:aws:iam::000000000000:root", user == "id" && pass == "secret"
}

// newTestRegistry serves a registry on a real store and filesystem blob store.
func newTestRegistry(t *testing.T) (*registry.Registry, *registry.FSBlobs, string) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	blobs, err := registry.NewFSBlobs(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.New(ctx, registry.Config{Blobs: blobs, Store: st, Auth: anyKey{}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(reg)
	t.Cleanup(srv.Close)
	return reg, blobs, strings.TrimPrefix(srv.URL, "http://")
}

func TestGarbageCollectionKeepsReferencedBlobs(t *testing.T) {
	ctx := context.Background()
	reg, blobs, host := newTestRegistry(t)
	opts := []crane.Option{crane.Insecure, crane.WithAuth(&authn.Basic{Username: "id", Password: "secret"})}
	kept, _ := random.Image(2048, 2)
	dropped, _ := random.Image(2048, 2)
	if err := crane.Push(kept, host+"/keep/me:v1", opts...); err != nil {
		t.Fatal(err)
	}
	if err := crane.Push(dropped, host+"/drop/me:v1", opts...); err != nil {
		t.Fatal(err)
	}
	// A fresh, unreferenced blob within the grace period must survive too.
	up, err := blobs.NewUpload(ctx)
	if err != nil {
		t.Fatal(err)
	}
	up.Write([]byte("young and unlinked"))
	young := digest.FromString("young and unlinked")
	if err := up.Commit(ctx, young); err != nil {
		t.Fatal(err)
	}

	if err := reg.DeleteRepository(ctx, "drop/me"); err != nil {
		t.Fatal(err)
	}
	// With a grace of an hour nothing is old enough to go.
	stats, err := reg.CollectGarbage(ctx, time.Hour)
	if err != nil || stats.Deleted != 0 {
		t.Fatalf("GC with grace: %+v %v", stats, err)
	}
	stats, err = reg.CollectGarbage(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	// dropped: manifest, config and two layers; plus the young blob at grace 0.
	if stats.Deleted != 5 || stats.FreedBytes <= 4096 {
		t.Fatalf("GC deleted %d blobs (%d bytes), want 5", stats.Deleted, stats.FreedBytes)
	}
	pulled, err := crane.Pull(host+"/keep/me:v1", opts...)
	if err != nil {
		t.Fatal(err)
	}
	layers, _ := pulled.Layers()
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			t.Fatalf("kept layer unreadable after GC: %v", err)
		}
		if _, err := io.Copy(io.Discard, rc); err != nil {
			t.Fatalf("kept layer unreadable after GC: %v", err)
		}
		rc.Close()
	}
	if _, err := blobs.Stat(ctx, young); err == nil {
		t.Fatal("unreferenced blob survived GC with no grace")
	}
}
