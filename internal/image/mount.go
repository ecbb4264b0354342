package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

// validMountID tells whether id is a mount id: 1-128 letters, digits, '_', '.' or '-',
// starting with a letter or digit.
// The length is checked apart from the pattern: a bounded repeat such as {0,127}
// compiles into a program of over a thousand instructions, which cost every process
// (each container's shim, each CLI command) half a millisecond at start.
func validMountID(id string) bool { return len(id) <= 128 && mountIDChars.MatchString(id) }

var mountIDChars = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

type mountRecord struct {
	Image    digest.Digest   `json:"image"`
	ChainIDs []digest.Digest `json:"chainIDs"`
}

func (s *Store) mountDir(id string) string { return filepath.Join(s.root, "mounts", id) }

// Mount returns the merged directory of an overlay mount of img's layers with
// a writable upper directory private to id (mounts/<id>/{upper,work,merged}).
// Mounting an id that is already mounted returns the same directory; an id
// left unmounted by a crash is mounted again over its existing upper dir.
//
// The option string names each lowerdir relative to the store root: when even
// that would not fit in a page, the mount fails. Relative paths are resolved
// by a dedicated OS thread that unshares its working directory and chdirs to
// the root (containerd's trick), which allows about 55 layers in 4 KiB.
func (s *Store) Mount(ctx context.Context, img *Image, id string) (string, error) {
	if !validMountID(id) {
		return "", fmt.Errorf("invalid mount id %q", id)
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	s.gcMu.RLock()
	defer s.gcMu.RUnlock()
	for _, c := range img.ChainIDs {
		if !s.hasLayer(c) {
			return "", fmt.Errorf("mounting %s: layer %s: %w", img.Digest, c, ErrNotFound)
		}
	}
	dir := s.mountDir(id)
	merged := filepath.Join(dir, "merged")
	if mounted, err := isMountPoint(merged); err != nil {
		return "", err
	} else if mounted {
		return merged, nil
	}
	_, statErr := os.Stat(dir)
	fresh := errors.Is(statErr, os.ErrNotExist)
	for _, d := range []string{"upper", "work", "merged", "empty"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return "", fmt.Errorf("mounting %s: %w", id, err)
		}
	}
	if err := writeMountRecord(dir, mountRecord{Image: img.Digest, ChainIDs: img.ChainIDs}); err != nil {
		return "", fmt.Errorf("mounting %s: %w", id, err)
	}
	if err := s.mountOverlay(id, img.ChainIDs); err != nil {
		if fresh {
			os.RemoveAll(dir)
		}
		return "", fmt.Errorf("mounting %s for %s: %w", img.Digest, id, err)
	}
	return merged, nil
}

// writeMountRecord writes dir/layers.json, which keeps GC off the mount's layers, by
// rename but without the two fsyncs of writeFileAtomic (~0.5 ms, more under load, on every
// container start): a mount does not outlive the boot, and mountedChains passes over a
// record that a crash left empty or torn in a directory no longer mounted.
func writeMountRecord(dir string, rec mountRecord) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	path := filepath.Join(dir, "layers.json")
	if err := os.WriteFile(path+".tmp", b, 0o600); err != nil {
		return err
	}
	return os.Rename(path+".tmp", path)
}

func (s *Store) mountOverlay(id string, chain []digest.Digest) error {
	rel := func(p string) string { r, _ := filepath.Rel(s.root, p); return r }
	lowers := make([]string, 0, len(chain)+1)
	for i := len(chain) - 1; i >= 0; i-- { // overlay wants the top layer first
		lowers = append(lowers, rel(s.layerFS(chain[i])))
	}
	dir := s.mountDir(id)
	if len(lowers) == 0 {
		lowers = append(lowers, rel(filepath.Join(dir, "empty")))
	}
	build := func(abs bool) string {
		fix := func(p string) string {
			if abs {
				return filepath.Join(s.root, p)
			}
			return p
		}
		l := make([]string, len(lowers))
		for i, p := range lowers {
			l[i] = fix(p)
		}
		return fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", strings.Join(l, ":"),
			fix(rel(filepath.Join(dir, "upper"))), fix(rel(filepath.Join(dir, "work"))))
	}
	target := filepath.Join(dir, "merged")
	page := os.Getpagesize()
	if opts := build(true); len(opts) < page {
		return unix.Mount("overlay", target, "overlay", 0, opts)
	}
	opts := build(false)
	if len(opts) >= page {
		return fmt.Errorf("%d layers do not fit in one overlay mount (options are %d bytes, limit %d)", len(chain), len(opts), page-1)
	}
	return mountFrom(s.root, target, opts)
}

// mountFrom mounts with relative paths resolved from dir, on a thread whose
// working directory is private so the rest of the process is unaffected.
func mountFrom(dir, target, opts string) error {
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the thread's fs state is changed, so the runtime
		// must throw the thread away when this goroutine exits.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			errc <- fmt.Errorf("unshare CLONE_FS: %w", err)
			return
		}
		if err := unix.Chdir(dir); err != nil {
			errc <- err
			return
		}
		errc <- unix.Mount("overlay", target, "overlay", 0, opts)
	}()
	return <-errc
}

// isMountPoint reports whether p is the root of a mount (compared with its
// parent's device and inode).
func isMountPoint(p string) (bool, error) {
	var st, pst unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, nil
		}
		return false, err
	}
	if err := unix.Lstat(filepath.Dir(p), &pst); err != nil {
		return false, err
	}
	return st.Dev != pst.Dev || st.Ino == pst.Ino, nil
}

// Mounts returns the ids of the mounts the store holds (mounted, or left by a crash).
func (s *Store) Mounts() ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(s.root, "mounts"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	ids := make([]string, 0, len(ents))
	for _, e := range ents {
		if e.IsDir() {
			ids = append(ids, e.Name())
		}
	}
	return ids, nil
}

// Unmount unmounts id's overlay (lazily if it is busy) and removes its upper
// and work dirs. Unmounting an unknown or already removed id is not an error.
func (s *Store) Unmount(id string) error {
	if !validMountID(id) {
		return fmt.Errorf("invalid mount id %q", id)
	}
	dir := s.mountDir(id)
	merged := filepath.Join(dir, "merged")
	for attempt := 0; ; attempt++ {
		mounted, err := isMountPoint(merged)
		if err != nil {
			return fmt.Errorf("unmounting %s: %w", id, err)
		}
		if !mounted {
			break
		}
		if err := unix.Unmount(merged, 0); err != nil {
			if errors.Is(err, unix.EBUSY) {
				err = unix.Unmount(merged, unix.MNT_DETACH)
			}
			if err != nil && (!errors.Is(err, unix.EINVAL) || attempt > 0) {
				return fmt.Errorf("unmounting %s: %w", id, err)
			}
		}
	}
	// Rename first so a crash mid-removal leaves no half mount dir behind.
	trash, err := os.MkdirTemp(s.tmpDir(), "mount-")
	if err != nil {
		return fmt.Errorf("unmounting %s: %w", id, err)
	}
	defer os.RemoveAll(trash)
	if err := os.Rename(dir, filepath.Join(trash, "m")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("unmounting %s: removing %s: %w", id, dir, err)
	}
	return nil
}

// mountedChains returns the chain IDs used by every recorded mount.
func (s *Store) mountedChains() (map[digest.Digest]bool, error) {
	ents, err := os.ReadDir(filepath.Join(s.root, "mounts"))
	if err != nil {
		return nil, err
	}
	out := map[digest.Digest]bool{}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(s.root, "mounts", e.Name(), "layers.json"))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		var rec mountRecord
		if err := json.Unmarshal(b, &rec); err != nil {
			mounted, merr := isMountPoint(filepath.Join(s.root, "mounts", e.Name(), "merged"))
			if merr == nil && !mounted {
				continue // torn by a crash (see writeMountRecord); protects nothing now
			}
			return nil, fmt.Errorf("mount %s: %w", e.Name(), err)
		}
		for _, c := range rec.ChainIDs {
			out[c] = true
		}
	}
	return out, nil
}
