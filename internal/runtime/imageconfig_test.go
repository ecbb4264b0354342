package runtime

import (
	"errors"
	"slices"
	"testing"
)

func TestApplyImageConfigFollowsDocker(t *testing.T) {
	nginx := ImageConfig{
		Entrypoint: []string{"/docker-entrypoint.sh"},
		Cmd:        []string{"nginx", "-g", "daemon off;"},
		Env:        []string{"PATH=/usr/sbin:/usr/bin", "NGINX_VERSION=1.25"},
		User:       "nginx",
		WorkingDir: "/srv",
		StopSignal: "SIGQUIT",
	}
	cases := []struct {
		name       string
		img        ImageConfig
		o          Overrides
		args, env  []string
		user, cwd  string
		stopSignal string
	}{
		{name: "image defaults", img: nginx,
			args: []string{"/docker-entrypoint.sh", "nginx", "-g", "daemon off;"},
			env:  nginx.Env, user: "nginx", cwd: "/srv", stopSignal: "SIGQUIT"},
		{name: "command replaces CMD only", img: nginx, o: Overrides{Command: []string{"nginx", "-T"}},
			args: []string{"/docker-entrypoint.sh", "nginx", "-T"},
			env:  nginx.Env, user: "nginx", cwd: "/srv", stopSignal: "SIGQUIT"},
		{name: "entrypoint discards CMD", img: nginx, o: Overrides{Entrypoint: []string{"/bin/sh"}},
			args: []string{"/bin/sh"}, env: nginx.Env, user: "nginx", cwd: "/srv", stopSignal: "SIGQUIT"},
		{name: "entrypoint and command", img: nginx, o: Overrides{Entrypoint: []string{"/bin/sh", "-c"}, Command: []string{"echo hi"}},
			args: []string{"/bin/sh", "-c", "echo hi"}, env: nginx.Env, user: "nginx", cwd: "/srv", stopSignal: "SIGQUIT"},
		{name: "empty entrypoint keeps given command", img: nginx, o: Overrides{Entrypoint: []string{}, Command: []string{"id"}},
			args: []string{"id"}, env: nginx.Env, user: "nginx", cwd: "/srv", stopSignal: "SIGQUIT"},
		{name: "env merges by name, overrides win, order kept", img: nginx,
			o:    Overrides{Env: []string{"NGINX_VERSION=9", "EXTRA=1", "PATH=/bin"}},
			args: []string{"/docker-entrypoint.sh", "nginx", "-g", "daemon off;"},
			env:  []string{"PATH=/bin", "NGINX_VERSION=9", "EXTRA=1"}, user: "nginx", cwd: "/srv", stopSignal: "SIGQUIT"},
		{name: "user, workdir and stop signal overrides", img: nginx, o: Overrides{User: "0:0", WorkingDir: "/tmp", StopSignal: "SIGTERM"},
			args: []string{"/docker-entrypoint.sh", "nginx", "-g", "daemon off;"},
			env:  nginx.Env, user: "0:0", cwd: "/tmp", stopSignal: "SIGTERM"},
		{name: "bare image", img: ImageConfig{Cmd: []string{"sh"}}, args: []string{"sh"}, cwd: "/"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var spec ContainerSpec
			if err := ApplyImageConfig(&spec, tc.img, tc.o); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(spec.Args, tc.args) || !slices.Equal(spec.Env, tc.env) || spec.User != tc.user ||
				spec.Cwd != tc.cwd || spec.StopSignal != tc.stopSignal {
				t.Fatalf("got args %q env %q user %q cwd %q stop %q", spec.Args, spec.Env, spec.User, spec.Cwd, spec.StopSignal)
			}
		})
	}
	if err := ApplyImageConfig(&ContainerSpec{}, ImageConfig{}, Overrides{}); !errors.Is(err, ErrNoCommand) {
		t.Fatalf("no command: %v", err)
	}
	// The image's env slice must not be modified by merging.
	img := ImageConfig{Cmd: []string{"x"}, Env: []string{"A=1"}}
	ApplyImageConfig(&ContainerSpec{}, img, Overrides{Env: []string{"A=2"}})
	if img.Env[0] != "A=1" {
		t.Fatal("merge modified the image config")
	}
}
