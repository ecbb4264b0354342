package main

import (
	"gantry/bench/internal/sweep"
	gruntime "gantry/internal/runtime"
)

// Names of what the bench creates in shared places, all inside 10.213.0.0/16 and apart
// from Gantry's default and from bench/runtime's: the final sweep looks for them.
const (
	gantryBridge   = "gbench1"
	gantrySubnet   = "10.213.250.0/24"
	dockerBridge   = "gbenchd1"
	dockerBridgeIP = "10.213.251.1/24"
	runcCgroup     = "gbench-tasks-runc"
	imageRef       = "gbench/busybox:latest"
)

// sweepConfig names what the bench may leave behind, for the final sweep.
var sweepConfig = sweep.Config{
	Markers: []string{gantryBridge, dockerBridge, "10.213.250.", "10.213.251."},
	Links:   []string{gantryBridge, dockerBridge},
	Cgroups: []string{"docker", runcCgroup, gruntime.DefaultCgroupParent},
}
