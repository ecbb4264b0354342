package network

import (
	"errors"
	"fmt"
	"net"
	"strconv"
)

// PortMapping publishes ContainerPort of a task on HostPort of the node.
// HostPort 0 asks for a dynamic port from Config.PortRange. Protocol is "tcp"
// (the default when empty) or "udp". HostIP limits the mapping to one host
// address; empty means all of them.
type PortMapping struct {
	HostPort      int    `json:"hostPort"`
	ContainerPort int    `json:"containerPort"`
	Protocol      string `json:"protocol"`
	HostIP        string `json:"hostIP,omitempty"`
}

// ErrPortInUse is wrapped by errors about a host port that is taken, by a
// process on the host or by another attachment.
var ErrPortInUse = errors.New("host port in use")

type portKey struct {
	port  int
	proto string
}

// normalizePorts validates mappings and returns a copy with protocols
// lower-cased and defaulted.
func normalizePorts(ports []PortMapping) ([]PortMapping, error) {
	out := make([]PortMapping, len(ports))
	seen := map[portKey]bool{}
	for i, p := range ports {
		switch p.Protocol {
		case "", "tcp", "TCP":
			p.Protocol = "tcp"
		case "udp", "UDP":
			p.Protocol = "udp"
		default:
			return nil, fmt.Errorf("port mapping %d: unsupported protocol %q (want tcp or udp)", i, p.Protocol)
		}
		if p.ContainerPort < 1 || p.ContainerPort > 65535 {
			return nil, fmt.Errorf("port mapping %d: container port %d out of range 1-65535", i, p.ContainerPort)
		}
		if p.HostPort < 0 || p.HostPort > 65535 {
			return nil, fmt.Errorf("port mapping %d: host port %d out of range 0-65535", i, p.HostPort)
		}
		if p.HostIP != "" {
			ip := net.ParseIP(p.HostIP)
			if ip == nil || ip.To4() == nil {
				return nil, fmt.Errorf("port mapping %d: host IP %q is not an IPv4 address", i, p.HostIP)
			}
		}
		if p.HostPort != 0 {
			k := portKey{p.HostPort, p.Protocol}
			if seen[k] {
				return nil, fmt.Errorf("port mapping %d: host port %d/%s mapped twice", i, p.HostPort, p.Protocol)
			}
			seen[k] = true
		}
		out[i] = p
	}
	return out, nil
}

// portFree reports whether nothing on the host is bound to port for proto,
// by binding it briefly on hostIP (all addresses when empty).
func portFree(hostIP string, port int, proto string) error {
	addr := net.JoinHostPort(hostIP, strconv.Itoa(port))
	switch proto {
	case "udp":
		c, err := net.ListenPacket("udp4", addr)
		if err != nil {
			return err
		}
		return c.Close()
	default:
		l, err := net.Listen("tcp4", addr)
		if err != nil {
			return err
		}
		return l.Close()
	}
}

// assignPorts resolves dynamic host ports and checks fixed ones. taken holds
// the host ports other attachments own; next is where the dynamic search
// starts, so consecutive tasks do not probe the same ports again. It returns
// the resolved mappings and the next search position.
func assignPorts(ports []PortMapping, taken map[portKey]string, lo, hi, next int) ([]PortMapping, int, error) {
	out := make([]PortMapping, len(ports))
	mine := map[portKey]bool{}
	for i, p := range ports {
		if p.HostPort == 0 {
			continue
		}
		k := portKey{p.HostPort, p.Protocol}
		if owner, ok := taken[k]; ok {
			return nil, next, fmt.Errorf("host port %d/%s is already published by %s: %w", p.HostPort, p.Protocol, owner, ErrPortInUse)
		}
		if err := portFree(p.HostIP, p.HostPort, p.Protocol); err != nil {
			return nil, next, fmt.Errorf("host port %d/%s is in use on the host (%v): %w", p.HostPort, p.Protocol, err, ErrPortInUse)
		}
		mine[k] = true
		out[i] = p
	}
	span := hi - lo + 1
	for i, p := range ports {
		if p.HostPort != 0 {
			continue
		}
		found := false
		for n := 0; n < span; n++ {
			cand := lo + (next-lo+n)%span
			k := portKey{cand, p.Protocol}
			if _, ok := taken[k]; ok || mine[k] {
				continue
			}
			if portFree(p.HostIP, cand, p.Protocol) != nil {
				continue
			}
			p.HostPort = cand
			mine[k] = true
			next = lo + (cand-lo+1)%span
			found = true
			break
		}
		if !found {
			return nil, next, fmt.Errorf("no free %s host port in range %d-%d: %w", p.Protocol, lo, hi, ErrPortInUse)
		}
		out[i] = p
	}
	return out, next, nil
}
