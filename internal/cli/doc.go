// Package cli holds the `gantry` commands (cobra): flags, tables for people and -o json
// for scripts. Every command is a client of Gantry's API through aws-sdk-go-v2.
//
// It must not talk to etcd or the runtime directly; it only calls the API.
package cli
