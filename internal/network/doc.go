// Package network owns a task's network: its network namespace, its CNI
// attachment to the node bridge (libcni with Debian's containernetworking
// plugins: bridge, host-local), its host port mappings, outbound NAT and
// forwarding (Gantry's own iptables chains, see iptables.go) and the /etc/hosts and
// /etc/resolv.conf its containers get. It knows nothing of tasks or containers
// beyond an attachment id, and never starts processes other than CNI plugins
// and iptables.
package network
