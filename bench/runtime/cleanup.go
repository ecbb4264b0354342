package main

import (
	"os"
	"os/exec"
	"strings"

	"gantry/bench/internal/sweep"
	"gantry/internal/runtime"
)

// sweepConfig names what the bench creates in shared places (iptables, links, cgroups):
// the final sweep removes what is new of it and reports anything left.
var sweepConfig = sweep.Config{
	Markers: []string{"gbench", "gbr-", "10.213.240.", "10.213.241.", "10.213.242.", "10.213.243."},
	Links:   []string{gantryBridge, dockerBridge, runcHostVeth},
	Cgroups: []string{"docker", "libpod_parent", runtime.DefaultCgroupParent},
}

// What podman leaves outside the work dir.
const (
	shmLock    = "/dev/shm/libpod_lock"
	podmanIPAM = "/var/lib/cni/networks/" + podmanNet
)

// startCleanup notes the machine's state and returns the clean-up whose last step
// removes what podman and runc leave outside the work dir, when it is new.
func startCleanup() *sweep.Cleanup {
	cl := sweep.Start(sweepConfig)
	shmLockExisted, ipamExisted := exists(shmLock), exists(podmanIPAM)
	cl.Add("podman and runc leftovers", func() error {
		if !shmLockExisted {
			os.Remove(shmLock)
		}
		if !ipamExisted {
			os.RemoveAll(podmanIPAM)
		}
		if exists("/run/netns/" + runcNetNS) {
			exec.Command("ip", "netns", "del", runcNetNS).Run()
		}
		return nil
	})
	return cl
}

func exists(p string) bool { _, err := os.Lstat(p); return err == nil }

func splitLines(s string) []string { return strings.Split(strings.TrimRight(s, "\n"), "\n") }
