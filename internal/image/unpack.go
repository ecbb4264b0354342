package image

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

const (
	whiteoutPrefix = ".wh."
	whiteoutMeta   = ".wh..wh."
	whiteoutOpaque = ".wh..wh..opq"
	opaqueXattr    = "trusted.overlay.opaque"
	xattrPAXPrefix = "SCHILY.xattr."
)

func (s *Store) layerDir(chain digest.Digest) string {
	return filepath.Join(s.root, "layers", chain.Encoded())
}

// layerFS is the directory used as an overlay lowerdir for a layer.
func (s *Store) layerFS(chain digest.Digest) string { return filepath.Join(s.layerDir(chain), "fs") }

func (s *Store) hasLayer(chain digest.Digest) bool {
	if chain.Validate() != nil {
		return false
	}
	_, err := os.Stat(s.layerFS(chain))
	return err == nil
}

// ensureLayer unpacks the layer blob into layers/<chain>/fs unless that is
// already there. It unpacks into tmp/ and renames the finished directory into
// place, so a crash never leaves a partial layer that looks complete.
func (s *Store) ensureLayer(ctx context.Context, chain, diffID, blob digest.Digest) (unpacked bool, err error) {
	if s.hasLayer(chain) {
		return false, nil
	}
	err = s.unpacks.do(ctx, chain.String(), func() error {
		if s.hasLayer(chain) {
			return nil
		}
		unpacked = true
		bp, err := s.blobPath(blob)
		if err != nil {
			return err
		}
		f, err := os.Open(bp)
		if err != nil {
			return err
		}
		defer f.Close()
		tmp, err := os.MkdirTemp(s.tmpDir(), "layer-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		fs := filepath.Join(tmp, "fs")
		if err := os.Mkdir(fs, 0o755); err != nil {
			return err
		}
		got, err := Unpack(ctx, f, fs)
		if err != nil {
			return err
		}
		if got != diffID {
			return fmt.Errorf("uncompressed content is %s, config says %s", got, diffID)
		}
		if err := syncFS(fs); err != nil {
			return err
		}
		if err := os.Rename(tmp, s.layerDir(chain)); err != nil {
			return err
		}
		return syncDir(filepath.Join(s.root, "layers"))
	})
	if err != nil {
		return unpacked, fmt.Errorf("unpacking layer %s: %w", blob, err)
	}
	return unpacked, nil
}

func syncFS(dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Syncfs(fd)
}

// decompress detects gzip, zstd or plain tar by magic bytes.
func decompress(r io.Reader) (io.ReadCloser, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	magic, err := br.Peek(6)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		return gzip.NewReader(br)
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br)
		if err != nil {
			return nil, err
		}
		return zr.IOReadCloser(), nil
	case bytes.HasPrefix(magic, []byte("BZh")):
		return nil, errors.New("bzip2 layers are not supported")
	case bytes.HasPrefix(magic, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		return nil, errors.New("xz layers are not supported")
	}
	return io.NopCloser(br), nil
}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

// Unpack extracts a layer (gzip, zstd or plain tar) into the empty directory
// dir in the form overlayfs uses for a lowerdir: whiteouts become 0:0
// character devices and opaque markers the trusted.overlay.opaque xattr. It
// never follows a symlink from the layer and rejects entries whose names
// escape dir. It returns the digest of the uncompressed tar stream (the
// layer's diff ID), reading the stream to its end.
func Unpack(ctx context.Context, r io.Reader, dir string) (digest.Digest, error) {
	dr, err := decompress(r)
	if err != nil {
		return "", err
	}
	defer dr.Close()
	dg := digest.SHA256.Digester()
	tr := tar.NewReader(io.TeeReader(dr, dg.Hash()))

	rootfd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", fmt.Errorf("opening %s: %w", dir, err)
	}
	x := &extractor{root: rootfd, cache: map[string]int{}}
	defer x.close()
	for {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", fmt.Errorf("reading layer tar: %w", err)
		}
		if err := x.entry(hdr, tr); err != nil {
			return "", fmt.Errorf("layer entry %q: %w", hdr.Name, err)
		}
	}
	if err := x.finish(); err != nil {
		return "", err
	}
	// Read past the tar end marker so decompressors check their trailers
	// and the digest covers the whole stream.
	if _, err := io.Copy(io.Discard, io.TeeReader(dr, dg.Hash())); err != nil {
		return "", fmt.Errorf("reading layer: %w", err)
	}
	return dg.Digest(), nil
}

type dirTimes struct {
	parent, base string
	ts           []unix.Timespec
}

type extractor struct {
	root  int
	cache map[string]int // parent path → O_PATH fd
	dirs  []dirTimes
}

func (x *extractor) close() {
	for _, fd := range x.cache {
		unix.Close(fd)
	}
	unix.Close(x.root)
}

// cleanName validates a tar entry name (or hard link target) and returns it
// relative to the layer root ("." for the root itself).
func cleanName(n string) (string, error) {
	if n == "" {
		return "", errors.New("empty name")
	}
	if strings.HasPrefix(n, "/") {
		return "", errors.New("absolute path")
	}
	if strings.ContainsRune(n, 0) {
		return "", errors.New("name contains NUL")
	}
	for _, c := range strings.Split(n, "/") {
		if c == ".." {
			return "", errors.New("path contains \"..\"")
		}
	}
	return path.Clean(n), nil
}

// dirFD returns an O_PATH fd for the directory rel inside the root, creating
// missing directories (0755, root-owned) and refusing to traverse symlinks.
func (x *extractor) dirFD(rel string) (int, error) {
	if rel == "." {
		return x.root, nil
	}
	if fd, ok := x.cache[rel]; ok {
		return fd, nil
	}
	how := &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV,
	}
	fd, err := unix.Openat2(x.root, rel, how)
	if errors.Is(err, unix.ENOENT) {
		pfd, perr := x.dirFD(path.Dir(rel))
		if perr != nil {
			return -1, perr
		}
		if err := unix.Mkdirat(pfd, path.Base(rel), 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
			return -1, fmt.Errorf("creating %s: %w", rel, err)
		}
		fd, err = unix.Openat2(x.root, rel, how)
	}
	switch {
	case errors.Is(err, unix.ELOOP), errors.Is(err, unix.EXDEV):
		return -1, fmt.Errorf("parent %s is or goes through a symlink", rel)
	case errors.Is(err, unix.ENOTDIR):
		return -1, fmt.Errorf("parent %s is not a directory", rel)
	case err != nil:
		return -1, fmt.Errorf("opening %s: %w", rel, err)
	}
	x.cache[rel] = fd
	return fd, nil
}

// forget drops cached fds for rel and everything below it, since rel is
// being replaced.
func (x *extractor) forget(rel string) {
	for p, fd := range x.cache {
		if p == rel || strings.HasPrefix(p, rel+"/") {
			unix.Close(fd)
			delete(x.cache, p)
		}
	}
}

func (x *extractor) entry(hdr *tar.Header, r io.Reader) error {
	rel, err := cleanName(hdr.Name)
	if err != nil {
		return err
	}
	switch hdr.Typeflag {
	case tar.TypeXGlobalHeader:
		return nil
	}
	parent, base := path.Dir(rel), path.Base(rel)
	if rel == "." {
		if hdr.Typeflag != tar.TypeDir {
			return errors.New("root entry is not a directory")
		}
		return x.attrs(x.root, "", hdr)
	}
	pfd, err := x.dirFD(parent)
	if err != nil {
		return err
	}
	if strings.HasPrefix(base, whiteoutPrefix) {
		switch {
		case base == whiteoutOpaque:
			return unix.Setxattr(procPath(pfd, ""), opaqueXattr, []byte("y"), 0)
		case strings.HasPrefix(base, whiteoutMeta):
			return nil // aufs bookkeeping (.wh..wh.plnk etc.): not content
		}
		victim := strings.TrimPrefix(base, whiteoutPrefix)
		if victim == "" || victim == "." || victim == ".." {
			// ".wh..." would have replace remove the layer's parent directory.
			return fmt.Errorf("whiteout names no file (%q)", victim)
		}
		if err := x.replace(pfd, path.Join(parent, victim), victim, true); err != nil {
			return err
		}
		if err := unix.Mknodat(pfd, victim, unix.S_IFCHR, 0); err != nil {
			return fmt.Errorf("creating whiteout: %w", err)
		}
		return unix.Fchownat(pfd, victim, 0, 0, unix.AT_SYMLINK_NOFOLLOW)
	}

	if hdr.Typeflag == tar.TypeDir {
		var st unix.Stat_t
		err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW)
		if err == nil && st.Mode&unix.S_IFMT != unix.S_IFDIR {
			if err := x.replace(pfd, rel, base, false); err != nil {
				return err
			}
			err = unix.ENOENT
		}
		if errors.Is(err, unix.ENOENT) {
			if err := unix.Mkdirat(pfd, base, 0o700); err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
		if err := x.attrs(pfd, base, hdr); err != nil {
			return err
		}
		return nil
	}

	if err := x.replace(pfd, rel, base, false); err != nil {
		return err
	}
	mode := uint32(hdr.Mode & 0o7777)
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeRegA:
		fd, err := unix.Openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return err
		}
		f := os.NewFile(uintptr(fd), base)
		bp := copyBufs.Get().(*[]byte)
		_, err = io.CopyBuffer(f, r, *bp)
		copyBufs.Put(bp)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	case tar.TypeSymlink:
		if err := unix.Symlinkat(hdr.Linkname, pfd, base); err != nil {
			return err
		}
	case tar.TypeLink:
		target, err := cleanName(hdr.Linkname)
		if err != nil {
			return fmt.Errorf("hard link target %q: %w", hdr.Linkname, err)
		}
		if target == "." {
			return errors.New("hard link to the layer root")
		}
		tfd, err := x.dirFD(path.Dir(target))
		if err != nil {
			return fmt.Errorf("hard link target %q: %w", hdr.Linkname, err)
		}
		if err := unix.Linkat(tfd, path.Base(target), pfd, base, 0); err != nil {
			return fmt.Errorf("hard link to %q: %w", hdr.Linkname, err)
		}
		return nil // a link shares its target's metadata
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		typ := map[byte]uint32{tar.TypeChar: unix.S_IFCHR, tar.TypeBlock: unix.S_IFBLK, tar.TypeFifo: unix.S_IFIFO}[hdr.Typeflag]
		dev := unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))
		if err := unix.Mknodat(pfd, base, typ|mode, int(dev)); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unsupported tar entry type %q", hdr.Typeflag)
	}
	return x.attrs(pfd, base, hdr)
}

// replace removes whatever is at base (a later tar entry wins over an earlier
// one). Non-empty directories are only removed when recursive is set.
func (x *extractor) replace(pfd int, rel, base string, recursive bool) error {
	var st unix.Stat_t
	if err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		x.forget(rel)
		if err := unix.Unlinkat(pfd, base, unix.AT_REMOVEDIR); err != nil {
			if !recursive {
				return fmt.Errorf("replacing directory: %w", err)
			}
			return os.RemoveAll(procPath(pfd, base))
		}
		return nil
	}
	return unix.Unlinkat(pfd, base, 0)
}

// procPath names base inside the directory open as pfd without resolving any
// path from the layer: the kernel follows the fd's magic link.
func procPath(pfd int, base string) string {
	p := "/proc/self/fd/" + strconv.Itoa(pfd)
	if base != "" {
		p += "/" + base
	}
	return p
}

// attrs applies owner, mode, xattrs and times to base in pfd (or to pfd
// itself when base is empty). Directory times are applied at the end.
func (x *extractor) attrs(pfd int, base string, hdr *tar.Header) error {
	name, flags := base, unix.AT_SYMLINK_NOFOLLOW
	if base == "" {
		name, flags = "", unix.AT_EMPTY_PATH
	}
	if err := unix.Fchownat(pfd, name, hdr.Uid, hdr.Gid, flags); err != nil {
		return fmt.Errorf("chown: %w", err)
	}
	if hdr.Typeflag != tar.TypeSymlink {
		// chmod after chown: chown clears setuid/setgid bits.
		if err := unix.Fchmodat(pfd, name, uint32(hdr.Mode&0o7777), 0); base != "" && err != nil {
			return fmt.Errorf("chmod: %w", err)
		}
		if base == "" {
			if err := unix.Chmod(procPath(pfd, ""), uint32(hdr.Mode&0o7777)); err != nil {
				return fmt.Errorf("chmod: %w", err)
			}
		}
	}
	for k, v := range hdr.PAXRecords {
		if !strings.HasPrefix(k, xattrPAXPrefix) {
			continue
		}
		attr := strings.TrimPrefix(k, xattrPAXPrefix)
		if strings.HasPrefix(attr, "trusted.overlay.") {
			return fmt.Errorf("refusing overlayfs-private xattr %s", attr)
		}
		if err := unix.Lsetxattr(procPath(pfd, base), attr, []byte(v), 0); err != nil {
			return fmt.Errorf("setting xattr %s: %w", attr, err)
		}
	}
	ts := []unix.Timespec{unix.NsecToTimespec(hdr.AccessTime.UnixNano()), unix.NsecToTimespec(hdr.ModTime.UnixNano())}
	if hdr.AccessTime.IsZero() {
		ts[0] = ts[1]
	}
	if hdr.Typeflag == tar.TypeDir {
		// Creating entries inside changes a directory's mtime: set it last.
		x.dirs = append(x.dirs, dirTimes{parent: path.Dir(cleanOr(hdr.Name)), base: base, ts: ts})
		return nil
	}
	return unix.UtimesNanoAt(pfd, name, ts, flags)
}

func cleanOr(n string) string {
	c, _ := cleanName(n)
	return c
}

// finish sets directory times last, after their contents stopped changing.
func (x *extractor) finish() error {
	for i := len(x.dirs) - 1; i >= 0; i-- {
		d := x.dirs[i]
		if d.base == "" {
			if err := unix.UtimesNano(procPath(x.root, ""), d.ts); err != nil {
				return fmt.Errorf("setting times of layer root: %w", err)
			}
			continue
		}
		pfd, err := x.dirFD(d.parent)
		if err != nil {
			return err
		}
		if err := unix.UtimesNanoAt(pfd, d.base, d.ts, unix.AT_SYMLINK_NOFOLLOW); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("setting times of %s/%s: %w", d.parent, d.base, err)
		}
	}
	return nil
}
