package network

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// createNetNS creates a new network namespace with its loopback interface
// up and bind-mounts it on path, which must not exist yet.
func createNetNS(path string) error {
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return fmt.Errorf("creating netns file %s: %w", path, err)
	}
	f.Close()

	err = onOtherNetNS(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("unshare(CLONE_NEWNET): %w", err)
		}
		return nil
	}, func() error {
		if err := unix.Mount("/proc/thread-self/ns/net", path, "none", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind-mounting netns on %s: %w", path, err)
		}
		if err := loopbackUp(); err != nil {
			return fmt.Errorf("bringing up loopback in netns %s: %w", path, err)
		}
		return nil
	})
	if err != nil {
		removeNetNS(path)
		return err
	}
	return nil
}

// removeNetNS unmounts and removes a netns file; a missing file is fine.
func removeNetNS(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmounting netns %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing netns file %s: %w", path, err)
	}
	return nil
}

// loopbackUp sets IFF_UP on "lo" in the calling thread's network namespace.
// Doing it here with one ioctl saves an exec of the CNI loopback plugin on
// every task start.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var req [unix.IFNAMSIZ + 24]byte // struct ifreq: name, then a union holding the flags
	copy(req[:], "lo")
	if err := ioctl(fd, unix.SIOCGIFFLAGS, &req); err != nil {
		return err
	}
	flags := *(*uint16)(unsafe.Pointer(&req[unix.IFNAMSIZ]))
	*(*uint16)(unsafe.Pointer(&req[unix.IFNAMSIZ])) = flags | unix.IFF_UP
	return ioctl(fd, unix.SIOCSIFFLAGS, &req)
}

func ioctl(fd int, req uint, arg *[unix.IFNAMSIZ + 24]byte) error {
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(req), uintptr(unsafe.Pointer(arg)))
	if errno != 0 {
		return errno
	}
	return nil
}

// Exec runs fn on an OS thread that is inside the network namespace at path
// (a file such as Attachment.NetNS). An empty path runs fn in the host
// namespace. Sockets fn creates stay in that namespace after Exec returns, so
// a test can net.Listen inside and Accept outside; goroutines fn starts run in
// the host namespace.
func (m *Manager) Exec(netns string, fn func() error) error {
	return execInNetNS(netns, fn)
}

func execInNetNS(path string, fn func() error) error {
	if path == "" {
		return fn()
	}
	target, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("opening netns %s: %w", path, err)
	}
	defer target.Close()
	return onOtherNetNS(func() error {
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("entering netns %s: %w", path, err)
		}
		return nil
	}, fn)
}

// onOtherNetNS runs enter (which moves the calling thread into another network
// namespace) and then fn on a dedicated, locked OS thread, and returns the thread to
// its original namespace. If it cannot get back, the thread stays locked so the Go
// runtime discards it when the goroutine ends.
func onOtherNetNS(enter, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("opening current netns: %w", err)
			return
		}
		defer orig.Close()
		if err := enter(); err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		ferr := fn()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("returning to the original netns: %w", err))
			return // the thread stays locked and dies with the goroutine
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}
