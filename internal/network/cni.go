package network

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/containernetworking/cni/libcni"
	types100 "github.com/containernetworking/cni/pkg/types/100"
)

// cniVersion is the newest spec version Debian's plugins 1.1.1 speak.
const cniVersion = "1.0.0"

// ifName is the task's interface inside its namespace.
const ifName = "eth0"

// conflist builds the CNI configuration list of the node's network. Port
// mappings and forwarding are Gantry's own rules (iptables.go), not the portmap and
// firewall plugins'. DEL uses the list cached at ADD time, so attachments made
// while those were in the list are still removed by them.
func (m *Manager) conflist() (*libcni.NetworkConfigList, error) {
	plugins := []map[string]any{{
		"type":        "bridge",
		"bridge":      m.cfg.Bridge,
		"isGateway":   true,
		"ipMasq":      false, // Gantry masquerades itself: see iptables.go
		"hairpinMode": true,
		"ipam": map[string]any{
			"type":    "host-local",
			"ranges":  [][]map[string]string{{{"subnet": m.cfg.Subnet}}},
			"routes":  []map[string]string{{"dst": "0.0.0.0/0"}},
			"dataDir": m.ipamDir(),
		},
	}}
	data, err := json.Marshal(map[string]any{
		"cniVersion": cniVersion,
		"name":       m.netName,
		"plugins":    plugins,
	})
	if err != nil {
		return nil, err
	}
	return libcni.NetworkConfFromBytes(data)
}

func (m *Manager) ipamDir() string { return filepath.Join(m.cfg.StateDir, "ipam") }

func (m *Manager) runtimeConf(id, netns string) *libcni.RuntimeConf {
	return &libcni.RuntimeConf{ContainerID: id, NetNS: netns, IfName: ifName}
}

// cniAdd attaches the namespace to the bridge and fills r with the result.
func (m *Manager) cniAdd(ctx context.Context, r *record) error {
	list, err := m.conflist()
	if err != nil {
		return err
	}
	res, err := m.cni.AddNetworkList(ctx, list, m.runtimeConf(r.ID, r.NetNS))
	if err != nil {
		return fmt.Errorf("attaching %s to bridge %s: %w", r.ID, m.cfg.Bridge, err)
	}
	cur, err := types100.NewResultFromResult(res)
	if err != nil {
		return fmt.Errorf("attaching %s: reading CNI result: %w", r.ID, err)
	}
	for _, ipc := range cur.IPs {
		if ipc.Address.IP.To4() != nil {
			r.IP = ipc.Address.IP.String()
			if ipc.Gateway != nil {
				r.Gateway = ipc.Gateway.String()
			}
			break
		}
	}
	for _, itf := range cur.Interfaces {
		if itf.Sandbox == "" && itf.Name != m.cfg.Bridge {
			r.HostVeth = itf.Name
		}
	}
	if r.IP == "" {
		return fmt.Errorf("attaching %s: CNI result has no IPv4 address", r.ID)
	}
	return nil
}

// cniDel detaches id using the configuration cached when it was added, or the
// current one when the cache is gone.
func (m *Manager) cniDel(ctx context.Context, id, netns string) error {
	rt := m.runtimeConf(id, netns)
	list, err := m.conflist()
	if err != nil {
		return err
	}
	cached, cachedRT, err := m.cni.GetNetworkListCachedConfig(list, rt)
	if err == nil && cached != nil {
		if l, err := libcni.NetworkConfFromBytes(cached); err == nil {
			list, rt = l, cachedRT
			rt.NetNS = netns
		}
	}
	if err := m.cni.DelNetworkList(ctx, list, rt); err != nil {
		return fmt.Errorf("detaching %s from bridge %s: %w", id, m.cfg.Bridge, err)
	}
	return nil
}

// cachedIDs lists the container ids the CNI cache holds results for on this
// manager's network.
func (m *Manager) cachedIDs() []string {
	dir := filepath.Join(m.cfg.StateDir, "cache", "results")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var ids []string
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		var c struct {
			ContainerID string `json:"containerId"`
			NetworkName string `json:"networkName"`
		}
		if json.Unmarshal(data, &c) == nil && c.NetworkName == m.netName && c.ContainerID != "" {
			ids = append(ids, c.ContainerID)
		}
	}
	return ids
}

func enableRouteLocalnet(ifname string) error {
	p := filepath.Join("/proc/sys/net/ipv4/conf", ifname, "route_localnet")
	if b, err := os.ReadFile(p); err == nil && len(b) > 0 && b[0] == '1' {
		return nil
	}
	if err := os.WriteFile(p, []byte("1"), 0o644); err != nil {
		return fmt.Errorf("enabling route_localnet on %s: %w", ifname, err)
	}
	return nil
}

// parseSubnet checks that s is an IPv4 CIDR with room for tasks.
func parseSubnet(s string) (*net.IPNet, error) {
	ip, n, err := net.ParseCIDR(s)
	if err != nil {
		return nil, fmt.Errorf("subnet %q: %w", s, err)
	}
	if ip.To4() == nil {
		return nil, fmt.Errorf("subnet %q: only IPv4 subnets are supported", s)
	}
	if ones, _ := n.Mask.Size(); ones > 29 {
		return nil, fmt.Errorf("subnet %q: prefix /%d too small for tasks (want /29 or larger)", s, ones)
	}
	return n, nil
}
