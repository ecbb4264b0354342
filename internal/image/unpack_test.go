package image

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/compression"
	"golang.org/x/sys/unix"
)

// lowerLayer and upperLayer exercise every entry type and both kinds of whiteout.
func lowerLayer() []ent {
	return []ent{
		{name: "a/", typ: tar.TypeDir},
		{name: "a/keep", body: "keep"},
		{name: "a/gone", body: "gone"},
		{name: "opq/", typ: tar.TypeDir},
		{name: "opq/old", body: "old"},
		{name: "bin/", typ: tar.TypeDir, mode: 0o750, uid: 7, gid: 8},
		{name: "bin/tool", body: "#!/bin/true\n", mode: 0o4755, uid: 1000, gid: 1001,
			xattrs: map[string]string{"user.gantry": "yes", "security.capability": "\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"}},
		{name: "link", typ: tar.TypeSymlink, link: "bin/tool", uid: 5, gid: 6},
		{name: "hl", typ: tar.TypeLink, link: "bin/tool"},
		{name: "fifo", typ: tar.TypeFifo, mode: 0o600},
		{name: "null", typ: tar.TypeChar, mode: 0o666, major: 1, minor: 3},
	}
}

func upperLayer() []ent {
	return []ent{
		{name: "a/.wh.gone"},
		{name: "opq/", typ: tar.TypeDir},
		{name: "opq/.wh..wh..opq"},
		{name: "opq/new", body: "new"},
	}
}

func TestUnpackLayerForm(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("unpacking owners and device nodes needs root")
	}
	dir := t.TempDir()
	if _, err := Unpack(t.Context(), bytes.NewReader(tarBytes(t, lowerLayer())), dir); err != nil {
		t.Fatal(err)
	}
	st, err := lstat(t, filepath.Join(dir, "bin/tool"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode&0o7777 != 0o4755 || st.Uid != 1000 || st.Gid != 1001 {
		t.Errorf("bin/tool: mode %o uid %d gid %d, want 4755 1000 1001", st.Mode&0o7777, st.Uid, st.Gid)
	}
	if st.Nlink != 2 {
		t.Errorf("bin/tool: nlink %d, want 2 (hard link hl)", st.Nlink)
	}
	if st.Mtim.Sec != epoch.Unix() {
		t.Errorf("bin/tool mtime %d, want %d", st.Mtim.Sec, epoch.Unix())
	}
	bst, _ := lstat(t, filepath.Join(dir, "bin"))
	if bst.Mtim.Sec != epoch.Unix() || bst.Uid != 7 || bst.Mode&0o7777 != 0o750 {
		t.Errorf("bin: mtime %d uid %d mode %o", bst.Mtim.Sec, bst.Uid, bst.Mode&0o7777)
	}
	lst, _ := lstat(t, filepath.Join(dir, "link"))
	if lst.Uid != 5 || lst.Gid != 6 {
		t.Errorf("symlink owner %d:%d, want 5:6", lst.Uid, lst.Gid)
	}

	up := t.TempDir()
	if _, err := Unpack(t.Context(), bytes.NewReader(tarBytes(t, upperLayer())), up); err != nil {
		t.Fatal(err)
	}
	wst, err := lstat(t, filepath.Join(up, "a/gone"))
	if err != nil || wst.Mode&unix.S_IFMT != unix.S_IFCHR || wst.Rdev != 0 {
		t.Errorf("whiteout a/gone: %+v %v, want 0:0 char device", wst, err)
	}
	if _, err := os.Lstat(filepath.Join(up, "a/.wh.gone")); err == nil {
		t.Error(".wh.gone marker left as a file")
	}
	buf := make([]byte, 8)
	n, err := unix.Lgetxattr(filepath.Join(up, "opq"), opaqueXattr, buf)
	if err != nil || string(buf[:n]) != "y" {
		t.Errorf("opaque xattr on opq: %q %v", buf[:n], err)
	}
}

func TestUnpackRejectsTraversal(t *testing.T) {
	cases := []struct {
		name string
		ents []ent
		want string
	}{
		{"dotdot", []ent{{name: "../evil", body: "x"}}, `"../evil"`},
		{"nested dotdot", []ent{{name: "a/../../evil", body: "x"}}, `"a/../../evil"`},
		{"absolute", []ent{{name: "/etc/x", body: "x"}}, `"/etc/x"`},
		{"write through symlink", []ent{{name: "s", typ: tar.TypeSymlink, link: "OUTSIDE"}, {name: "s/evil", body: "x"}}, `"s/evil"`},
		{"write through dotdot symlink", []ent{{name: "up", typ: tar.TypeSymlink, link: ".."}, {name: "up/evil", body: "x"}}, `"up/evil"`},
		{"hard link out", []ent{{name: "hl", typ: tar.TypeLink, link: "../victim"}}, `"hl"`},
		{"hard link via symlink", []ent{{name: "s", typ: tar.TypeSymlink, link: "OUTSIDE"}, {name: "hl", typ: tar.TypeLink, link: "s/victim"}}, `"hl"`},
		{"overlay xattr", []ent{{name: "f", body: "x", xattrs: map[string]string{"trusted.overlay.redirect": "/x"}}}, `"f"`},
		// A whiteout of "." or ".." would remove the layer directory or its parent.
		{"whiteout of dotdot", []ent{{name: ".wh...", body: ""}}, `".wh..."`},
		{"whiteout of dot", []ent{{name: "a/.wh..", body: ""}}, `"a/.wh.."`},
		{"whiteout of nothing", []ent{{name: ".wh.", body: ""}}, `".wh."`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			base := t.TempDir()
			outside := filepath.Join(base, "outside")
			root := filepath.Join(base, "root")
			os.Mkdir(outside, 0o755)
			os.Mkdir(root, 0o755)
			os.WriteFile(filepath.Join(base, "victim"), []byte("v"), 0o644)
			os.WriteFile(filepath.Join(outside, "victim"), []byte("v"), 0o644)
			for i := range c.ents {
				c.ents[i].link = strings.ReplaceAll(c.ents[i].link, "OUTSIDE", outside)
			}
			_, err := Unpack(context.Background(), bytes.NewReader(tarBytes(t, c.ents)), root)
			if err == nil {
				t.Fatal("unpack succeeded, want an error")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not name the entry %s", err, c.want)
			}
			if got := dirEntries(t, outside); len(got) != 1 {
				t.Errorf("outside dir now holds %v", got)
			}
			if got := dirEntries(t, base); len(got) != 3 {
				t.Errorf("base dir now holds %v", got)
			}
		})
	}
}

func TestUnpackCompressions(t *testing.T) {
	want := tarBytes(t, []ent{{name: "f", body: "hello"}})
	for _, comp := range []compression.Compression{compression.None, compression.GZip, compression.ZStd} {
		t.Run(string(comp), func(t *testing.T) {
			l := layerOf(t, comp, ent{name: "f", body: "hello"})
			rc, err := l.Compressed()
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			dir := t.TempDir()
			d, err := Unpack(t.Context(), rc, dir)
			if err != nil {
				t.Fatal(err)
			}
			if d != digestOf(want) {
				t.Errorf("diff id %s, want %s", d, digestOf(want))
			}
			if b, _ := os.ReadFile(filepath.Join(dir, "f")); string(b) != "hello" {
				t.Errorf("f = %q", b)
			}
		})
	}
}

func TestUnpackTruncated(t *testing.T) {
	l := layerOf(t, compression.GZip, ent{name: "f", body: strings.Repeat("x", 100000)})
	rc, _ := l.Compressed()
	var buf bytes.Buffer
	buf.ReadFrom(rc)
	_, err := Unpack(t.Context(), bytes.NewReader(buf.Bytes()[:buf.Len()/2]), t.TempDir())
	if err == nil {
		t.Fatal("truncated layer unpacked without error")
	}
}
