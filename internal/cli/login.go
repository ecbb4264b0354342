package cli

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/spf13/cobra"
)

func newLoginCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "login",
		Short: "Log docker, skopeo and crane in to Gantry's registry",
		Long: `Fetch a 12-hour registry token (ECR's GetAuthorizationToken) and store it in the
Docker client configuration ($DOCKER_CONFIG/config.json or ~/.docker/config.json), which
docker, skopeo, podman and crane read. Like 'aws ecr get-login-password | docker login'.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			client, err := g.ecrClient(cmd)
			if err != nil {
				return err
			}
			out, err := client.GetAuthorizationToken(cmd.Context(), &ecr.GetAuthorizationTokenInput{})
			if err != nil {
				return err
			}
			data := out.AuthorizationData[0]
			host, err := registryHost(aws.ToString(data.ProxyEndpoint))
			if err != nil {
				return err
			}
			path := dockerConfigPath()
			if err := storeDockerAuth(path, host, aws.ToString(data.AuthorizationToken)); err != nil {
				return err
			}
			fmt.Fprintf(g.out, "Login Succeeded: %s (until %s, in %s)\n", host, aws.ToTime(data.ExpiresAt).Local().Format("2006-01-02 15:04"), path)
			return nil
		},
	}
}

func registryHost(endpoint string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("the server gave no usable registry endpoint (%q)", endpoint)
	}
	return u.Host, nil
}

func dockerConfigPath() string {
	if dir := os.Getenv("DOCKER_CONFIG"); dir != "" {
		return filepath.Join(dir, "config.json")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".docker", "config.json")
}

// storeDockerAuth sets auths[host].auth in a Docker config file, keeping everything else
// in it, and replaces the file atomically.
func storeDockerAuth(path, host, auth string) error {
	doc := map[string]any{}
	if data, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(data, &doc); err != nil {
			return fmt.Errorf("%s is not valid JSON; fix or remove it: %w", path, err)
		}
	} else if !os.IsNotExist(err) {
		return err
	}
	auths, _ := doc["auths"].(map[string]any)
	if auths == nil {
		auths = map[string]any{}
	}
	auths[host] = map[string]any{"auth": auth}
	doc["auths"] = auths
	data, err := json.MarshalIndent(doc, "", "\t")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
