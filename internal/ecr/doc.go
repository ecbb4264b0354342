// Package ecr implements Amazon ECR's API over Gantry's registry: repositories with tag
// mutability, repository policies and tags, image listing and deletion, PutImage,
// authorization tokens for registry clients, and lifecycle policies.
//
// It must not speak the OCI distribution protocol itself (package registry does); it
// governs the registry's pushes through the registry.Policy hook.
package ecr
