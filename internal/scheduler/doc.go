// Package scheduler owns task placement: placement strategies and
// constraints, the ECS cluster query language, resource fit and the ECS
// failure reasons. It is a pure core: values in, decisions out. It must not
// do I/O, read the store or the clock; randomness is injected by the caller.
package scheduler
