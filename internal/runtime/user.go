package runtime

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// execUser is a resolved container user.
type execUser struct {
	uid, gid uint32
	groups   []uint32
	home     string
}

type passwdEntry struct {
	name     string
	uid, gid uint32
	home     string
}

type groupEntry struct {
	name    string
	gid     uint32
	members []string
}

// resolveUser resolves "", "name", "uid", "uid:gid", "name:group" against the rootfs's
// /etc/passwd and /etc/group, as Docker does: a numeric uid needs no passwd entry, a name
// does; the supplementary groups are the groups that list the user.
func resolveUser(rootfs, spec string) (execUser, error) {
	users, _ := readPasswd(rootfs)
	groups, _ := readGroup(rootfs)
	userPart, groupPart, hasGroup := strings.Cut(spec, ":")
	u := execUser{home: "/"}
	var name string
	if userPart == "" {
		userPart = "0"
	}
	if n, err := strconv.ParseUint(userPart, 10, 32); err == nil {
		u.uid = uint32(n)
		for _, p := range users {
			if p.uid == u.uid {
				u.gid, u.home, name = p.gid, p.home, p.name
				break
			}
		}
	} else {
		found := false
		for _, p := range users {
			if p.name == userPart {
				u.uid, u.gid, u.home, name, found = p.uid, p.gid, p.home, p.name, true
				break
			}
		}
		if !found {
			return u, fmt.Errorf("unable to find user %s: no matching entries in the image's /etc/passwd", userPart)
		}
	}
	if hasGroup {
		if groupPart == "" {
			return u, fmt.Errorf("invalid user %q: empty group", spec)
		}
		if n, err := strconv.ParseUint(groupPart, 10, 32); err == nil {
			u.gid = uint32(n)
		} else {
			found := false
			for _, g := range groups {
				if g.name == groupPart {
					u.gid, found = g.gid, true
					break
				}
			}
			if !found {
				return u, fmt.Errorf("unable to find group %s: no matching entries in the image's /etc/group", groupPart)
			}
		}
		return u, nil // an explicit group replaces the supplementary groups, as in Docker
	}
	if name != "" {
		for _, g := range groups {
			for _, m := range g.members {
				if m == name && g.gid != u.gid {
					u.groups = append(u.groups, g.gid)
				}
			}
		}
	}
	return u, nil
}

// openInRoot opens path inside rootfs, resolving symlinks as if rootfs were "/" so that
// none can point outside it.
func openInRoot(rootfs, path string) (*os.File, error) {
	root, err := unix.Open(rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(root)
	fd, err := unix.Openat2(root, strings.TrimPrefix(path, "/"), &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

func readColonFile(rootfs, path string, minFields int, fn func([]string) error) error {
	f, err := openInRoot(rootfs, path)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Split(line, ":")
		if len(fields) < minFields {
			continue
		}
		if err := fn(fields); err != nil {
			continue
		}
	}
	return sc.Err()
}

func readPasswd(rootfs string) ([]passwdEntry, error) {
	var out []passwdEntry
	err := readColonFile(rootfs, "/etc/passwd", 6, func(f []string) error {
		uid, err := strconv.ParseUint(f[2], 10, 32)
		if err != nil {
			return err
		}
		gid, err := strconv.ParseUint(f[3], 10, 32)
		if err != nil {
			return err
		}
		home := f[5]
		if home == "" {
			home = "/"
		}
		out = append(out, passwdEntry{name: f[0], uid: uint32(uid), gid: uint32(gid), home: home})
		return nil
	})
	return out, err
}

func readGroup(rootfs string) ([]groupEntry, error) {
	var out []groupEntry
	err := readColonFile(rootfs, "/etc/group", 3, func(f []string) error {
		gid, err := strconv.ParseUint(f[2], 10, 32)
		if err != nil {
			return err
		}
		g := groupEntry{name: f[0], gid: uint32(gid)}
		if len(f) > 3 && f[3] != "" {
			g.members = strings.Split(f[3], ",")
		}
		out = append(out, g)
		return nil
	})
	return out, err
}
