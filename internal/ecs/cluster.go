package ecs

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"

	"gantry/internal/awsapi"
	"gantry/internal/store"
)

// Cluster statuses used today.
const (
	statusActive   = "ACTIVE"
	statusInactive = "INACTIVE"
)

// defaultClusterName is the cluster calls use when they name none, as in ECS.
const defaultClusterName = "default"

type createClusterInput struct {
	ClusterName                     string                         `json:"clusterName"`
	Tags                            []Tag                          `json:"tags"`
	Settings                        []ClusterSetting               `json:"settings"`
	Configuration                   *ClusterConfiguration          `json:"configuration"`
	CapacityProviders               []string                       `json:"capacityProviders"`
	DefaultCapacityProviderStrategy []CapacityProviderStrategyItem `json:"defaultCapacityProviderStrategy"`
	ServiceConnectDefaults          *ClusterServiceConnectDefaults `json:"serviceConnectDefaults"`
}

type clusterOutput struct {
	Cluster *Cluster `json:"cluster"`
}

func (s *Service) createCluster(ctx context.Context, _ *awsapi.Request, in *createClusterInput) (*clusterOutput, error) {
	name := in.ClusterName
	if name == "" {
		name = defaultClusterName
	}
	if err := validateClusterName(name); err != nil {
		return nil, err
	}
	if err := validateClusterFields(in.Settings, in.Configuration); err != nil {
		return nil, err
	}
	if len(in.CapacityProviders) > 0 || len(in.DefaultCapacityProviderStrategy) > 0 {
		return nil, awsapi.InvalidParameter("capacityProviders: capacity providers are not supported by Gantry yet; create the cluster without them")
	}
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}
	c := &Cluster{
		ClusterArn:                      s.arn("cluster/" + name),
		ClusterName:                     name,
		Status:                          statusActive,
		Statistics:                      []KeyValuePair{},
		Tags:                            orEmpty(in.Tags),
		Settings:                        mergeSettings([]ClusterSetting{{Name: "containerInsights", Value: "disabled"}}, in.Settings),
		Configuration:                   in.Configuration,
		CapacityProviders:               []string{},
		DefaultCapacityProviderStrategy: []CapacityProviderStrategyItem{},
		ServiceConnectDefaults:          in.ServiceConnectDefaults,
	}
	got, err := s.putCluster(ctx, c)
	if err != nil {
		return nil, err
	}
	return &clusterOutput{Cluster: got}, nil
}

// putCluster stores a new cluster. As in ECS, creating a cluster that already exists and
// is ACTIVE returns it unchanged; an INACTIVE (deleted) one is replaced.
func (s *Service) putCluster(ctx context.Context, c *Cluster) (*Cluster, error) {
	key := clustersPrefix + c.ClusterName
	stored := c
	err := retryOnConflict(ctx, func() error {
		old, rev, err := getRecord[Cluster](ctx, s.store, key)
		switch {
		case err == nil && old.Status == statusActive:
			stored = old
			return nil
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return err
		}
		w, err := putRecord(key, c, rev)
		if err != nil {
			return err
		}
		return s.store.Commit(ctx, w)
	})
	if err != nil {
		return nil, err
	}
	return stored, nil
}

// EnsureDefaultCluster creates the default cluster if it has never existed, so calls that
// name no cluster have one, as in ECS. A deleted default cluster stays deleted.
func (s *Service) EnsureDefaultCluster(ctx context.Context) error {
	_, err := s.store.Get(ctx, clustersPrefix+defaultClusterName)
	if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	_, err = s.createCluster(ctx, nil, &createClusterInput{ClusterName: defaultClusterName})
	return err
}

type describeClustersInput struct {
	Clusters []string `json:"clusters"`
	Include  []string `json:"include"`
}

type describeClustersOutput struct {
	Clusters []*Cluster `json:"clusters"`
	Failures []Failure  `json:"failures"`
}

func (s *Service) describeClusters(ctx context.Context, _ *awsapi.Request, in *describeClustersInput) (*describeClustersOutput, error) {
	if len(in.Clusters) > 100 {
		return nil, awsapi.InvalidParameter("clusters: %d given; describe at most 100 at a time", len(in.Clusters))
	}
	for i, f := range in.Include {
		if !slices.Contains([]string{"ATTACHMENTS", "CONFIGURATIONS", "SETTINGS", "STATISTICS", "TAGS"}, f) {
			return nil, awsapi.InvalidParameter("include[%d]: %q is not one of ATTACHMENTS, CONFIGURATIONS, SETTINGS, STATISTICS, TAGS", i, f)
		}
	}
	idents := in.Clusters
	if len(idents) == 0 {
		idents = []string{defaultClusterName}
	}
	names := make([]string, len(idents))
	keys := make([]string, len(idents))
	for i, id := range idents {
		name, err := s.clusterName(id)
		if err != nil {
			return nil, err
		}
		names[i], keys[i] = name, clustersPrefix+name
	}
	found, err := s.store.GetMany(ctx, keys)
	if err != nil {
		return nil, err
	}
	out := &describeClustersOutput{Clusters: []*Cluster{}, Failures: []Failure{}}
	for i, key := range keys {
		kv, ok := found[key]
		if !ok {
			out.Failures = append(out.Failures, Failure{Arn: s.arn("cluster/" + names[i]), Reason: "MISSING"})
			continue
		}
		c, err := decodeCluster(kv)
		if err != nil {
			return nil, err
		}
		if err := s.countClusterTasks(ctx, c); err != nil {
			return nil, err
		}
		out.Clusters = append(out.Clusters, viewCluster(c, in.Include))
	}
	return out, nil
}

// countClusterTasks fills in a cluster's instance and task counts from its instances'
// usage (every task that is not STOPPED is booked on its instance) and the tasks counted
// as running.
func (s *Service) countClusterTasks(ctx context.Context, c *Cluster) error {
	kvs, _, err := s.store.ListAll(ctx, instancesPrefix+c.ClusterName+"/")
	if err != nil {
		return err
	}
	for _, kv := range kvs {
		rec, err := decodeRecord[instanceRecord](kv)
		if err != nil {
			return err
		}
		if rec.Instance.Status != instanceInactive {
			c.RegisteredContainerInstancesCount++
		}
		c.PendingTasksCount += int32(rec.Usage.Tasks)
	}
	running, err := s.runningCount(ctx, c.ClusterName, "")
	if err != nil {
		return err
	}
	c.RunningTasksCount = int32(running)
	c.PendingTasksCount = max(0, c.PendingTasksCount-c.RunningTasksCount)
	return nil
}

// viewCluster trims a stored cluster to what DescribeClusters returns for include.
func viewCluster(c *Cluster, include []string) *Cluster {
	if !slices.Contains(include, "TAGS") {
		c.Tags = []Tag{}
	}
	if !slices.Contains(include, "SETTINGS") {
		c.Settings = nil
	}
	if !slices.Contains(include, "CONFIGURATIONS") {
		c.Configuration = nil
	}
	if !slices.Contains(include, "ATTACHMENTS") {
		c.Attachments, c.AttachmentsStatus = nil, ""
	}
	if slices.Contains(include, "STATISTICS") {
		c.Statistics = clusterStatistics(c)
	}
	return c
}

// clusterStatistics reports task counts by launch type; every task runs on EC2-style
// capacity in Gantry.
func clusterStatistics(c *Cluster) []KeyValuePair {
	stat := func(name string, n int32) KeyValuePair { return KeyValuePair{Name: name, Value: strconv.Itoa(int(n))} }
	return []KeyValuePair{
		stat("runningEC2TasksCount", c.RunningTasksCount),
		stat("runningFargateTasksCount", 0),
		stat("pendingEC2TasksCount", c.PendingTasksCount),
		stat("pendingFargateTasksCount", 0),
		stat("activeEC2ServiceCount", c.ActiveServicesCount),
		stat("activeFargateServiceCount", 0),
		stat("drainingEC2ServiceCount", 0),
		stat("drainingFargateServiceCount", 0),
	}
}

type listClustersInput struct {
	NextToken  string `json:"nextToken"`
	MaxResults *int32 `json:"maxResults"`
}

type listClustersOutput struct {
	ClusterArns []string `json:"clusterArns"`
	NextToken   string   `json:"nextToken,omitempty"`
}

func (s *Service) listClusters(ctx context.Context, _ *awsapi.Request, in *listClustersInput) (*listClustersOutput, error) {
	limit, after, err := pageArgs(in.MaxResults, in.NextToken, clustersPrefix)
	if err != nil {
		return nil, err
	}
	out := &listClustersOutput{ClusterArns: []string{}}
	next, err := s.scan(ctx, clustersPrefix, after, limit, false, func(kv store.KV) (bool, error) {
		c, err := decodeCluster(kv)
		if err != nil || c.Status == statusInactive {
			return false, err
		}
		out.ClusterArns = append(out.ClusterArns, c.ClusterArn)
		return true, nil
	})
	out.NextToken = next
	return out, err
}

type updateClusterInput struct {
	Cluster                string                         `json:"cluster"`
	Settings               []ClusterSetting               `json:"settings"`
	Configuration          *ClusterConfiguration          `json:"configuration"`
	ServiceConnectDefaults *ClusterServiceConnectDefaults `json:"serviceConnectDefaults"`
}

func (s *Service) updateCluster(ctx context.Context, _ *awsapi.Request, in *updateClusterInput) (*clusterOutput, error) {
	if in.Cluster == "" {
		return nil, awsapi.InvalidParameter("cluster: required")
	}
	if err := validateClusterFields(in.Settings, in.Configuration); err != nil {
		return nil, err
	}
	c, err := s.changeCluster(ctx, in.Cluster, func(c *Cluster) {
		c.Settings = mergeSettings(c.Settings, in.Settings)
		if in.Configuration != nil {
			c.Configuration = in.Configuration
		}
		if in.ServiceConnectDefaults != nil {
			c.ServiceConnectDefaults = in.ServiceConnectDefaults
		}
	})
	if err != nil {
		return nil, err
	}
	return &clusterOutput{Cluster: c}, nil
}

type updateClusterSettingsInput struct {
	Cluster  string           `json:"cluster"`
	Settings []ClusterSetting `json:"settings"`
}

func (s *Service) updateClusterSettings(ctx context.Context, req *awsapi.Request, in *updateClusterSettingsInput) (*clusterOutput, error) {
	if len(in.Settings) == 0 {
		return nil, awsapi.InvalidParameter("settings: required")
	}
	return s.updateCluster(ctx, req, &updateClusterInput{Cluster: in.Cluster, Settings: in.Settings})
}

type deleteClusterInput struct {
	Cluster string `json:"cluster"`
}

func (s *Service) deleteCluster(ctx context.Context, _ *awsapi.Request, in *deleteClusterInput) (*clusterOutput, error) {
	if in.Cluster == "" {
		return nil, awsapi.InvalidParameter("cluster: required")
	}
	c, err := s.changeCluster(ctx, in.Cluster, func(c *Cluster) {
		c.Status = statusInactive
	})
	if err != nil {
		return nil, err
	}
	return &clusterOutput{Cluster: c}, nil
}

// changeCluster applies change to an ACTIVE cluster named by name or ARN.
func (s *Service) changeCluster(ctx context.Context, ident string, change func(*Cluster)) (*Cluster, error) {
	name, err := s.clusterName(ident)
	if err != nil {
		return nil, err
	}
	c, err := updateRecord(ctx, s.store, clustersPrefix+name, func(c *Cluster) error {
		if c.Status != statusActive {
			return errClusterNotFound
		}
		change(c)
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, errClusterNotFound
	}
	return c, err
}

var errClusterNotFound = awsapi.ClientError("ClusterNotFoundException", "Cluster not found.")

// clusterName accepts a cluster name or ARN and returns the name.
func (s *Service) clusterName(ident string) (string, error) {
	if !strings.HasPrefix(ident, "arn:") {
		return ident, validateClusterName(ident)
	}
	name, ok := strings.CutPrefix(ident, s.arn("cluster/"))
	if !ok {
		return "", awsapi.InvalidParameter("cluster: %q is not a cluster ARN of this account and region (%s)", ident, s.arn("cluster/NAME"))
	}
	return name, validateClusterName(name)
}

func validateClusterName(name string) error {
	if !validName(name) {
		return awsapi.InvalidParameter("clusterName: %q is invalid; use 1 to 255 letters, numbers, hyphens and underscores", name)
	}
	return nil
}

func validateClusterFields(settings []ClusterSetting, cfg *ClusterConfiguration) error {
	for i, st := range settings {
		if st.Name != "containerInsights" {
			return awsapi.InvalidParameter("settings[%d].name: %q is not a cluster setting; the only one is containerInsights", i, st.Name)
		}
		if !slices.Contains([]string{"enabled", "disabled", "enhanced"}, st.Value) {
			return awsapi.InvalidParameter("settings[%d].value: %q is invalid; use enabled, disabled or enhanced", i, st.Value)
		}
	}
	if cfg != nil && cfg.ExecuteCommandConfiguration != nil {
		if l := cfg.ExecuteCommandConfiguration.Logging; l != "" && !slices.Contains([]string{"NONE", "DEFAULT", "OVERRIDE"}, l) {
			return awsapi.InvalidParameter("configuration.executeCommandConfiguration.logging: %q is invalid; use NONE, DEFAULT or OVERRIDE", l)
		}
	}
	return nil
}

// mergeSettings overrides base's settings by name with those in changes.
func mergeSettings(base, changes []ClusterSetting) []ClusterSetting {
	out := slices.Clone(base)
	for _, ch := range changes {
		i := slices.IndexFunc(out, func(s ClusterSetting) bool { return s.Name == ch.Name })
		if i < 0 {
			out = append(out, ch)
		} else {
			out[i] = ch
		}
	}
	return out
}

func decodeCluster(kv store.KV) (*Cluster, error) {
	return decodeRecord[Cluster](kv)
}
