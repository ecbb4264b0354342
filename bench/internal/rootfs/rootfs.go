package rootfs

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Rootfs is the busybox-static root filesystem the benchmarks run: a plain directory
// (raw runc's root) and the same tree as a tarball (imported by Gantry, docker and
// podman).
type Rootfs struct {
	Dir, Tarball string
}

// Build lays out /bin/busybox with the applets the bench runs, /etc/passwd and
// /etc/group for root, and /www/index.html for httpd.
func Build(work string) (Rootfs, error) {
	bb, err := os.ReadFile("/usr/bin/busybox")
	if err != nil {
		return Rootfs{}, fmt.Errorf("busybox-static is missing (apt-get install busybox-static): %w", err)
	}
	fs := Rootfs{Dir: filepath.Join(work, "rootfs"), Tarball: filepath.Join(work, "rootfs.tar")}
	for _, d := range []string{"bin", "etc", "www", "proc", "sys", "dev", "tmp", "root"} {
		if err := os.MkdirAll(filepath.Join(fs.Dir, d), 0o755); err != nil {
			return Rootfs{}, err
		}
	}
	files := map[string]string{
		"etc/passwd":     "root:x:0:0:root:/root:/bin/sh\n",
		"etc/group":      "root:x:0:\n",
		"www/index.html": "gantry bench\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(fs.Dir, name), []byte(content), 0o644); err != nil {
			return Rootfs{}, err
		}
	}
	if err := os.WriteFile(filepath.Join(fs.Dir, "bin", "busybox"), bb, 0o755); err != nil {
		return Rootfs{}, err
	}
	for _, applet := range []string{"true", "sh", "httpd", "sleep"} {
		if err := os.Symlink("busybox", filepath.Join(fs.Dir, "bin", applet)); err != nil {
			return Rootfs{}, err
		}
	}
	if out, err := exec.Command("tar", "-C", fs.Dir, "-cf", fs.Tarball, ".").CombinedOutput(); err != nil {
		return Rootfs{}, fmt.Errorf("packing rootfs: %v: %s", err, out)
	}
	return fs, nil
}
