package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// rootfs is the busybox-static root filesystem every engine runs: a plain directory
// (raw runc's root) and the same tree as a tarball (imported by Gantry and docker).
type rootfs struct {
	dir, tarball string
}

// buildRootfs lays out /bin/busybox with the applets the bench runs, and /etc/passwd and
// /etc/group for root.
func buildRootfs(work string) (rootfs, error) {
	bb, err := os.ReadFile("/usr/bin/busybox")
	if err != nil {
		return rootfs{}, fmt.Errorf("busybox-static is missing (apt-get install busybox-static): %w", err)
	}
	fs := rootfs{dir: filepath.Join(work, "rootfs"), tarball: filepath.Join(work, "rootfs.tar")}
	for _, d := range []string{"bin", "etc", "proc", "sys", "dev", "tmp", "root"} {
		if err := os.MkdirAll(filepath.Join(fs.dir, d), 0o755); err != nil {
			return rootfs{}, err
		}
	}
	files := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\n",
		"etc/group":  "root:x:0:\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(fs.dir, name), []byte(content), 0o644); err != nil {
			return rootfs{}, err
		}
	}
	if err := os.WriteFile(filepath.Join(fs.dir, "bin", "busybox"), bb, 0o755); err != nil {
		return rootfs{}, err
	}
	for _, applet := range []string{"true", "sh", "sleep"} {
		if err := os.Symlink("busybox", filepath.Join(fs.dir, "bin", applet)); err != nil {
			return rootfs{}, err
		}
	}
	if out, err := exec.Command("tar", "-C", fs.dir, "-cf", fs.tarball, ".").CombinedOutput(); err != nil {
		return rootfs{}, fmt.Errorf("packing rootfs: %v: %s", err, out)
	}
	return fs, nil
}
