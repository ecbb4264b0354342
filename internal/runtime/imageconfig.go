package runtime

import (
	"errors"
	"slices"
	"strings"
)

// ImageConfig is the part of an image's configuration that shapes its process (the
// OCI/Docker image config's Entrypoint, Cmd, Env, User, WorkingDir and StopSignal).
type ImageConfig struct {
	Entrypoint []string
	Cmd        []string
	Env        []string
	User       string
	WorkingDir string
	StopSignal string
}

// Overrides are what a container definition or `docker run` sets over the image. A nil
// slice means "not given"; an empty non-nil slice means "given as empty".
type Overrides struct {
	Entrypoint []string
	Command    []string
	Env        []string // KEY=value, replacing the image's value of KEY
	User       string
	WorkingDir string
	StopSignal string
}

// ErrNoCommand means neither the image nor the overrides name a process to run.
var ErrNoCommand = errors.New("no command: the image has no ENTRYPOINT or CMD and none was given")

// ApplyImageConfig fills spec's process from an image's config and overrides, with
// Docker's rules: an overriding entrypoint discards the image's CMD, an overriding
// command replaces only CMD, the process is ENTRYPOINT followed by CMD, environment
// variables merge by name with the overrides winning, and user, working directory and
// stop signal come from the overrides, else the image (working directory "/" by default).
func ApplyImageConfig(spec *ContainerSpec, img ImageConfig, o Overrides) error {
	entrypoint, cmd := img.Entrypoint, img.Cmd
	if o.Entrypoint != nil {
		entrypoint, cmd = o.Entrypoint, nil
	}
	if o.Command != nil {
		cmd = o.Command
	}
	spec.Args = slices.Concat(entrypoint, cmd)
	if len(spec.Args) == 0 {
		return ErrNoCommand
	}
	spec.Env = mergeEnv(img.Env, o.Env)
	spec.User = firstNonEmpty(o.User, img.User)
	spec.Cwd = firstNonEmpty(o.WorkingDir, img.WorkingDir, "/")
	spec.StopSignal = firstNonEmpty(o.StopSignal, img.StopSignal, spec.StopSignal)
	return nil
}

// mergeEnv returns base with each KEY=value of overrides replacing base's KEY (in place)
// or appended, keeping the first-seen order as docker does.
func mergeEnv(base, overrides []string) []string {
	out := slices.Clone(base)
	for _, kv := range overrides {
		key, _, _ := strings.Cut(kv, "=")
		i := slices.IndexFunc(out, func(e string) bool {
			k, _, _ := strings.Cut(e, "=")
			return k == key
		})
		if i >= 0 {
			out[i] = kv
		} else {
			out = append(out, kv)
		}
	}
	return out
}

func firstNonEmpty(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}
