// Command gantry-shim supervises one container for Gantry's node runtime: it owns the
// container's stdio and logs, reaps it and records its exit status, and outlives the
// agent that started it. It is a separate, small binary because one starts for every
// container (and, as the hook that holds a container until its network is attached, a
// second time for most): the full gantry binary spends ~13 ms initialising packages (etcd, the AWS
// SDK) before main, which would double a container's start time.
package main

import (
	"fmt"
	"os"

	"gantry/internal/runtime"
)

func main() {
	if err := runtime.ShimMain(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "gantry-shim:", err)
		os.Exit(1)
	}
}
