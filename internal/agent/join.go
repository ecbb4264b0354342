package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"gantry/internal/agentconn"
	"gantry/internal/pki"
)

// RemoteClient returns the connection of an agent on another machine than the server.
// On first start it joins with token (credentials are then kept in
// stateDir/credentials.json, mode 0600); later starts reuse them, and need no token.
func RemoteClient(ctx context.Context, stateDir, server, token, node string) (*agentconn.Client, error) {
	path := filepath.Join(stateDir, "credentials.json")
	var creds agentconn.Credentials
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := json.Unmarshal(b, &creds); err != nil {
			return nil, fmt.Errorf("%s: %w (delete it and join again with a new token)", path, err)
		}
	case os.IsNotExist(err) && token == "":
		return nil, fmt.Errorf("this machine has not joined yet: pass --token (create one on the server with 'gantry token create')")
	case os.IsNotExist(err):
		c, err := agentconn.Join(ctx, server, token, node)
		if err != nil {
			return nil, err
		}
		creds = *c
		b, _ := json.Marshal(creds)
		if err := os.MkdirAll(stateDir, 0o700); err != nil {
			return nil, err
		}
		if err := writeFileAtomic(path, b); err != nil {
			return nil, err
		}
	default:
		return nil, err
	}
	tlsCfg, err := pki.ClientConfig([]byte(creds.CA), []byte(creds.Certificate), []byte(creds.Key))
	if err != nil {
		return nil, err
	}
	return &agentconn.Client{
		Server:      server,
		Credentials: aws.Credentials{AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey},
		Region:      creds.Region,
		TLS:         tlsCfg,
		HTTP:        &http.Client{Timeout: time.Minute, Transport: &http.Transport{TLSClientConfig: tlsCfg, ForceAttemptHTTP2: true}},
	}, nil
}
