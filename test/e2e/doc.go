// Package e2e holds end-to-end tests: each starts a real `gantry server` process on a free
// port with a temporary data dir and drives it with real clients (aws-sdk-go-v2, the
// `gantry` CLI and Debian's aws CLI).
package e2e
