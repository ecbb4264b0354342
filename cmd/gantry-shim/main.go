// Command gantry-shim supervises one container for Gantry's node runtime: it owns the
// container's stdio and logs, reaps it and records its exit status, and outlives the
// agent that started it. It is a separate, small binary because one starts for every
// container: the full gantry binary spends ~13 ms initialising packages (etcd, the AWS
// SDK) before main, which would double a container's start time.
package main

import (
	"fmt"
	"os"

	"gantry/internal/runtime"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gantry-shim BUNDLE (started by Gantry's node runtime, not by hand)")
		os.Exit(2)
	}
	if err := runtime.RunShim(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "gantry-shim:", err)
		os.Exit(1)
	}
}
