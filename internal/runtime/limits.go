package runtime

import (
	"fmt"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// rlimitNames maps docker run --ulimit names to rlimit resources.
var rlimitNames = map[string]int{
	"core": unix.RLIMIT_CORE, "cpu": unix.RLIMIT_CPU, "data": unix.RLIMIT_DATA,
	"fsize": unix.RLIMIT_FSIZE, "locks": unix.RLIMIT_LOCKS, "memlock": unix.RLIMIT_MEMLOCK,
	"msgqueue": unix.RLIMIT_MSGQUEUE, "nice": unix.RLIMIT_NICE, "nofile": unix.RLIMIT_NOFILE,
	"nproc": unix.RLIMIT_NPROC, "rss": unix.RLIMIT_RSS, "rtprio": unix.RLIMIT_RTPRIO,
	"rttime": unix.RLIMIT_RTTIME, "sigpending": unix.RLIMIT_SIGPENDING, "stack": unix.RLIMIT_STACK,
	"as": unix.RLIMIT_AS,
}

// hostLimits are this process's hard limits: without CAP_SYS_RESOURCE no container can get
// more, and the OCI runtime fails late and obscurely if asked to.
type hostLimits map[string]uint64

func currentLimits() hostLimits {
	h := hostLimits{}
	for name, res := range rlimitNames {
		var rl unix.Rlimit
		if unix.Getrlimit(res, &rl) == nil {
			h[name] = rl.Max
		}
	}
	return h
}

// rlimits returns the container's rlimits: nofile defaults to the host's hard limit
// (Docker's 1048576 is above it on many hosts), requested limits are checked against the
// host's hard limits.
func (h hostLimits) rlimits(req []Ulimit) ([]specs.POSIXRlimit, error) {
	set := map[string]Ulimit{}
	if max, ok := h["nofile"]; ok {
		set["nofile"] = Ulimit{Name: "nofile", Soft: max, Hard: max}
	}
	for _, u := range req {
		name := strings.ToLower(strings.TrimPrefix(strings.ToLower(u.Name), "rlimit_"))
		if _, ok := rlimitNames[name]; !ok {
			return nil, fmt.Errorf("unknown ulimit %q", u.Name)
		}
		if u.Soft > u.Hard {
			return nil, fmt.Errorf("ulimit %s: soft limit %d is above hard limit %d", name, u.Soft, u.Hard)
		}
		if max, ok := h[name]; ok && max != unix.RLIM_INFINITY && u.Hard > max {
			return nil, fmt.Errorf("ulimit %s: hard limit %d is above this host's maximum %d (raising it needs CAP_SYS_RESOURCE)", name, u.Hard, max)
		}
		set[name] = Ulimit{Name: name, Soft: u.Soft, Hard: u.Hard}
	}
	var out []specs.POSIXRlimit
	for name, u := range set {
		out = append(out, specs.POSIXRlimit{Type: "RLIMIT_" + strings.ToUpper(name), Soft: u.Soft, Hard: u.Hard})
	}
	slices.SortFunc(out, func(a, b specs.POSIXRlimit) int { return strings.Compare(a.Type, b.Type) })
	return out, nil
}
