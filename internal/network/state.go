package network

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// record is what StateDir/attachments/<id>.json holds about one attachment.
// It is written before any kernel object is created, so that after a crash
// Cleanup knows what may exist; the CNI cache (StateDir/cache) holds the
// exact plugin configuration used, for DEL.
type record struct {
	ID       string        `json:"id"`
	Mode     string        `json:"mode"`
	NetNS    string        `json:"netns,omitempty"`
	IP       string        `json:"ip,omitempty"`
	Gateway  string        `json:"gateway,omitempty"`
	HostVeth string        `json:"hostVeth,omitempty"`
	Ports    []PortMapping `json:"ports,omitempty"`
}

func (m *Manager) recordPath(id string) string {
	return filepath.Join(m.cfg.StateDir, "attachments", id+".json")
}

// writeRecord replaces the record file atomically (write, then rename). It
// does not fsync: the record describes kernel objects (namespaces, links,
// iptables rules) that do not survive a reboot either, and rename alone is
// atomic against the process being killed.
func (m *Manager) writeRecord(r *record) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	path := m.recordPath(r.ID)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("writing attachment record %s: %w", r.ID, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing attachment record %s: %w", r.ID, err)
	}
	return nil
}

func (m *Manager) removeRecord(id string) error {
	if err := os.Remove(m.recordPath(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing attachment record %s: %w", id, err)
	}
	return nil
}

// loadRecords reads every record in StateDir/attachments. A record that
// cannot be parsed is reported by id with no content, so Cleanup can still
// tear down what its id names.
func (m *Manager) loadRecords() (map[string]*record, error) {
	dir := filepath.Join(m.cfg.StateDir, "attachments")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading attachment records: %w", err)
	}
	out := map[string]*record{}
	for _, e := range entries {
		name := e.Name()
		if strings.HasSuffix(name, ".tmp") {
			os.Remove(filepath.Join(dir, name))
			continue
		}
		id, ok := strings.CutSuffix(name, ".json")
		if !ok || validateID(id) != nil {
			continue
		}
		r := &record{ID: id, Mode: ModeBridge}
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err == nil {
			if json.Unmarshal(data, r) != nil || r.ID != id {
				m.log.Warn("unreadable attachment record; will tear down by id", "attachment", id)
				r = &record{ID: id, Mode: ModeBridge, NetNS: m.netnsPath(id)}
			}
		}
		out[id] = r
	}
	return out, nil
}
