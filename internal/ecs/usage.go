package ecs

import (
	"context"
	"maps"
	"slices"
)

// usage is what the tasks booked on an instance hold together. It is kept in the
// instance record and changed in the transaction that creates a task (booking) or marks
// it STOPPED (release), so the record stays small however many tasks the instance runs,
// and two schedulers can never both take the last of an instance's resources.
type usage struct {
	Tasks    int            `json:"tasks"`
	CPU      int            `json:"cpu"`
	Memory   int            `json:"memory"`
	Ports    []int          `json:"ports,omitempty"`
	PortsUDP []int          `json:"portsUdp,omitempty"`
	Groups   map[string]int `json:"groups,omitempty"` // tasks per task group
}

// booking is what one task that is not STOPPED holds on its instance; its task record
// keeps it, so that the release subtracts exactly what was added.
type booking struct {
	Group    string `json:"group"`
	Family   string `json:"family"`
	CPU      int    `json:"cpu"`
	Memory   int    `json:"memory"`
	Ports    []int  `json:"ports,omitempty"`
	PortsUDP []int  `json:"portsUdp,omitempty"`
}

// add books b.
func (u *usage) add(b booking) {
	u.Tasks++
	u.CPU += b.CPU
	u.Memory += b.Memory
	u.Ports = append(u.Ports, b.Ports...)
	u.PortsUDP = append(u.PortsUDP, b.PortsUDP...)
	if b.Group != "" {
		if u.Groups == nil {
			u.Groups = map[string]int{}
		}
		u.Groups[b.Group]++
	}
}

// remove releases b, booked earlier with add.
func (u *usage) remove(b booking) {
	u.Tasks = max(0, u.Tasks-1)
	u.CPU = max(0, u.CPU-b.CPU)
	u.Memory = max(0, u.Memory-b.Memory)
	u.Ports = removeEach(u.Ports, b.Ports)
	u.PortsUDP = removeEach(u.PortsUDP, b.PortsUDP)
	if u.Groups[b.Group] > 1 {
		u.Groups[b.Group]--
	} else {
		delete(u.Groups, b.Group)
	}
}

// removeEach removes one occurrence of each of drop from from.
func removeEach(from, drop []int) []int {
	for _, p := range drop {
		if i := slices.Index(from, p); i >= 0 {
			from = slices.Delete(from, i, i+1)
		}
	}
	return from
}

// clone returns a copy that shares nothing with u.
func (u usage) clone() usage {
	u.Ports, u.PortsUDP, u.Groups = slices.Clone(u.Ports), slices.Clone(u.PortsUDP), maps.Clone(u.Groups)
	return u
}

// Tasks that reached RUNNING have a marker key under their instance, so that running and
// pending task counts are a count of keys, and a task's RUNNING report never touches
// the instance record the scheduler books on.
const runningPrefix = "/gantry/ecs/running/"

func runningKey(cluster, instanceID, taskID string) string {
	return runningPrefix + cluster + "/" + instanceID + "/" + taskID
}

// runningCount counts the tasks RUNNING on one instance, or on a whole cluster when
// instanceID is "".
func (s *Service) runningCount(ctx context.Context, cluster, instanceID string) (int, error) {
	prefix := runningPrefix + cluster + "/"
	if instanceID != "" {
		prefix += instanceID + "/"
	}
	n, err := s.store.Count(ctx, prefix)
	return int(n), err
}

// tasksOnInstance lists the ids of the tasks booked on an instance: every task that is
// not STOPPED has an assignment entry under its instance.
func (s *Service) tasksOnInstance(ctx context.Context, instanceID string) ([]string, error) {
	kvs, _, err := s.store.ListAll(ctx, assignmentsPrefix+instanceID+"/")
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(kvs))
	for i, kv := range kvs {
		ids[i] = idOfKey(kv.Key)
	}
	return ids, nil
}
