// Package agent is the node agent: it registers its machine as a container instance,
// keeps a tunnel to the server (package agentconn), receives task assignments, drives
// each task through the ECS lifecycle on the node engine (image store, network,
// runtime) and reports every change back. It runs health checks, serves logs and exec
// for the server, and after a restart adopts the containers still running.
//
// Every node-side step is idempotent: the server's assignment set is the desired state,
// and the agent converges the node to it whenever the set arrives (on every connect).
package agent
