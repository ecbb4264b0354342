package ecr

import (
	"context"
	"encoding/base64"
	"time"

	"gantry/internal/awsapi"
)

// tokenTTL is how long an ECR authorization token lasts, as in ECR.
const tokenTTL = 12 * time.Hour

type getAuthorizationTokenInput struct {
	RegistryIDs []string `json:"registryIds"`
}

// AuthorizationData is a registry login: base64 of "AWS:<password>", its expiry and the
// registry's address.
type AuthorizationData struct {
	AuthorizationToken string           `json:"authorizationToken"`
	ExpiresAt          awsapi.Timestamp `json:"expiresAt"`
	ProxyEndpoint      string           `json:"proxyEndpoint"`
}

type getAuthorizationTokenOutput struct {
	AuthorizationData []AuthorizationData `json:"authorizationData"`
}

// getAuthorizationToken issues a 12-hour registry password for the caller, usable as
// `docker login -u AWS -p <password> HOST`.
func (s *Service) getAuthorizationToken(_ context.Context, req *awsapi.Request, in *getAuthorizationTokenInput) (*getAuthorizationTokenOutput, error) {
	for _, id := range in.RegistryIDs {
		if err := s.checkRegistryID(id); err != nil {
			return nil, err
		}
	}
	password, exp := s.registry.MintToken(s.keys.PrincipalFor(req.AccessKeyID), tokenTTL)
	return &getAuthorizationTokenOutput{AuthorizationData: []AuthorizationData{{
		AuthorizationToken: base64.StdEncoding.EncodeToString([]byte("AWS:" + password)),
		ExpiresAt:          awsapi.NewTimestamp(exp),
		ProxyEndpoint:      "http://" + s.cfg.RegistryHost,
	}}}, nil
}
