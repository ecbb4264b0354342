// Package iam owns Gantry's principals and their access keys. Today that is the account's
// root principal and its key, created on first start; users, roles and policy evaluation
// are added here later.
//
// It must not import service packages: services ask it who a caller is.
package iam
