// Package server assembles the `gantry server` process: it runs the start-up self-check,
// opens the store, loads credentials, wires the API services onto one HTTP listener and
// shuts everything down cleanly.
//
// It holds no service logic: that lives in the service packages it wires together.
package server
