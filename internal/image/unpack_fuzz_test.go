package image

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzUnpack feeds arbitrary bytes to Unpack: it must never panic, and whatever it
// accepts or rejects, nothing may appear outside the target directory.
func FuzzUnpack(f *testing.F) {
	for _, entries := range [][]tar.Header{
		{{Name: "a/", Typeflag: tar.TypeDir, Mode: 0o755}, {Name: "a/b", Typeflag: tar.TypeReg, Mode: 0o644}},
		{{Name: "../escape", Typeflag: tar.TypeReg, Mode: 0o644}},
		{{Name: "link", Typeflag: tar.TypeSymlink, Linkname: "../../outside"}, {Name: "link/x", Typeflag: tar.TypeReg}},
		{{Name: "d/.wh..wh..opq", Typeflag: tar.TypeReg}, {Name: ".wh.gone", Typeflag: tar.TypeReg}},
		{{Name: "hard", Typeflag: tar.TypeLink, Linkname: "/etc/passwd"}},
		{{Name: ".wh...", Typeflag: tar.TypeReg}, {Name: "d/.wh..", Typeflag: tar.TypeReg}},
	} {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, h := range entries {
			tw.WriteHeader(&h)
		}
		tw.Close()
		f.Add(buf.Bytes())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		parent := t.TempDir()
		dir := filepath.Join(parent, "layer")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		// A file beside the layer directory must survive whatever the layer holds.
		sibling := filepath.Join(parent, "sibling")
		if err := os.WriteFile(sibling, []byte("s"), 0o644); err != nil {
			t.Fatal(err)
		}
		Unpack(context.Background(), bytes.NewReader(data), dir)
		if _, err := os.Stat(sibling); err != nil {
			t.Fatalf("Unpack removed a file outside its directory: %v", err)
		}
		if _, err := os.Stat(dir); err != nil {
			t.Fatalf("Unpack removed its own directory: %v", err)
		}
		entries, err := os.ReadDir(parent)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.Name() != "layer" && e.Name() != "sibling" && !strings.HasPrefix(e.Name(), ".") {
				t.Fatalf("Unpack wrote %s outside its directory", e.Name())
			}
		}
	})
}
