package agent

import (
	"context"
	"io"
	"syscall"
	"time"

	"gantry/internal/image"
	"gantry/internal/network"
	"gantry/internal/runtime"
)

// Runtime runs containers (package runtime provides it; the hollow agent a no-op).
type Runtime interface {
	Create(ctx context.Context, spec runtime.ContainerSpec) error
	Run(ctx context.Context, spec runtime.ContainerSpec, ready func(context.Context) error) error
	Start(ctx context.Context, id string) error
	Kill(ctx context.Context, id string, sig syscall.Signal) error
	Stop(ctx context.Context, id string, timeout time.Duration) error
	Wait(ctx context.Context, id string) (runtime.ExitStatus, error)
	Delete(ctx context.Context, id string) error
	Exec(ctx context.Context, id string, es runtime.ExecSpec) (int, error)
	List(ctx context.Context) ([]runtime.ContainerInfo, error)
	Logs(ctx context.Context, id string, opts runtime.LogOptions, fn func(runtime.LogEntry) error) error
	PruneLogArchive(before time.Time) (int, error)
}

// Images is the node's image store (package image provides it).
type Images interface {
	Get(ref string) (*image.Image, error)
	Pull(ctx context.Context, ref string, opts image.PullOptions) (*image.Image, error)
	Push(ctx context.Context, ref, dest string, opts image.PullOptions) (*image.Image, error)
	Mount(ctx context.Context, img *image.Image, id string) (string, error)
	Unmount(id string) error
	Mounts() ([]string, error)
	List() ([]*image.Image, error)
	Import(ctx context.Context, rootfsTar io.Reader, ref string) (*image.Image, error)
	Load(ctx context.Context, archive io.Reader) ([]*image.Image, error)
	Remove(ref string) error
	GC(ctx context.Context) (int, error)
	Save(ctx context.Context, w io.Writer, refs ...string) error
}

// Network sets up task networks (package network provides it).
type Network interface {
	Prepare(ctx context.Context, id, mode string, ports []network.PortMapping) (*network.Attachment, error)
	Connect(ctx context.Context, id string) (*network.Attachment, error)
	Get(id string) (*network.Attachment, bool)
	Teardown(ctx context.Context, id string) error
	Cleanup(ctx context.Context, keep func(id string) bool) error
}
