// Package ecs implements Amazon ECS's API over Gantry's store: the resource types with
// AWS's shapes, validation, defaults and error codes, and the action handlers.
//
// It must not place tasks (that is package scheduler) or touch nodes (package agent).
package ecs
