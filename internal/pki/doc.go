// Package pki is the cluster's certificate authority: the server creates it on first
// start, signs a serving certificate for its agent listener with it, and signs each
// joining agent's client certificate, so that server and agents authenticate each other
// (mutual TLS). Agents pin the CA by the hash their join token carries, as kubeadm's
// discovery-token-ca-cert-hash does; host names are not checked, since agents reach
// servers by whatever address the network gives them.
package pki
