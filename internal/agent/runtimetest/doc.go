// Package runtimetest is the behaviour every implementation of the agent's Runtime must
// share: the real engine (package runtime, exercised as root in test/engine) and the
// hollow one scale tests use (package agent). The agent is written against this
// contract, so a fake that drifts from the real thing fails here rather than making the
// scale benchmark measure something the real agent never does.
package runtimetest
