package network

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"sort"
	"strings"
)

// fallbackDNSServers are used when neither the caller nor the host offers a
// nameserver a container can reach (the host's resolv.conf lists only
// loopback addresses, as with systemd-resolved); Docker does the same.
func fallbackDNSServers() []string { return []string{"8.8.8.8", "8.8.4.4"} }

// HostsFile returns the content of a container's /etc/hosts: localhost
// entries, the task's own hostname on its IP (or on 127.0.1.1 when it has
// none, as in host or none mode) and the extra host-to-IP entries, sorted by
// host name so the output is stable.
func HostsFile(hostname string, ip net.IP, extra map[string]string) []byte {
	var b bytes.Buffer
	b.WriteString("127.0.0.1\tlocalhost\n")
	b.WriteString("::1\tlocalhost ip6-localhost ip6-loopback\n")
	b.WriteString("fe00::0\tip6-localnet\n")
	b.WriteString("ff00::0\tip6-mcastprefix\n")
	b.WriteString("ff02::1\tip6-allnodes\n")
	b.WriteString("ff02::2\tip6-allrouters\n")
	if hostname != "" {
		addr := "127.0.1.1"
		if ip != nil && !ip.IsUnspecified() {
			addr = ip.String()
		}
		fmt.Fprintf(&b, "%s\t%s\n", addr, hostname)
	}
	names := make([]string, 0, len(extra))
	for name := range extra {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(&b, "%s\t%s\n", extra[name], name)
	}
	return b.Bytes()
}

// ResolvConf returns the content of a container's /etc/resolv.conf. Empty
// dnsServers or searchDomains are taken from the host's /etc/resolv.conf
// (see ResolvConfFrom).
func ResolvConf(dnsServers, searchDomains []string) []byte {
	host, _ := os.ReadFile("/etc/resolv.conf") // a missing file means no host settings
	return ResolvConfFrom(host, dnsServers, searchDomains)
}

// ResolvConfFrom builds a container's resolv.conf from the host's resolv.conf
// content. Explicit dnsServers and searchDomains win; otherwise the host's
// nameservers are copied except loopback ones (unreachable from a container's
// namespace), falling back to Google's public resolvers as Docker does, and the host's search
// domains and options are kept.
func ResolvConfFrom(host []byte, dnsServers, searchDomains []string) []byte {
	var hostServers, hostSearch, hostOptions []string
	sc := bufio.NewScanner(bytes.NewReader(host))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 || strings.HasPrefix(fields[0], "#") || strings.HasPrefix(fields[0], ";") {
			continue
		}
		switch fields[0] {
		case "nameserver":
			if ip := net.ParseIP(fields[1]); ip != nil && !ip.IsLoopback() {
				hostServers = append(hostServers, fields[1])
			}
		case "search", "domain":
			hostSearch = fields[1:]
		case "options":
			hostOptions = append(hostOptions, fields[1:]...)
		}
	}
	servers := dnsServers
	if len(servers) == 0 {
		servers = hostServers
	}
	if len(servers) == 0 {
		servers = fallbackDNSServers()
	}
	search := searchDomains
	if len(search) == 0 {
		search = hostSearch
	}
	var b bytes.Buffer
	for _, s := range servers {
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	if len(search) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(search, " "))
	}
	if len(hostOptions) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(hostOptions, " "))
	}
	return b.Bytes()
}
