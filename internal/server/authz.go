package server

import (
	"net/http"

	"gantry/internal/awsapi"
	"gantry/internal/iam"
)

// agentActions are the API actions an agent's key may call: registering its instance
// and getting a registry token to pull with. A key taken from a node must not run or stop
// tasks, or read anything else, in the cluster.
var agentActions = map[string]bool{
	"ecs:RegisterContainerInstance": true,
	"ecr:GetAuthorizationToken":     true,
}

// authorizeAPI limits agent keys to agentActions; other keys may call everything.
func authorizeAPI(keys *iam.Directory) func(accessKeyID, service, action string) *awsapi.Error {
	return func(accessKeyID, service, action string) *awsapi.Error {
		p := keys.PrincipalFor(accessKeyID)
		if !iam.IsAgentPrincipal(p) || agentActions[service+":"+action] {
			return nil
		}
		return awsapi.AccessDenied(p, service, action, "agent keys may only register their instance and pull images")
	}
}

// agentPrincipal checks a signed agent request and returns who signed it.
func agentPrincipal(v *awsapi.Verifier, keys *iam.Directory) func(*http.Request, []byte) (string, error) {
	return func(r *http.Request, body []byte) (string, error) {
		keyID, err := v.Verify(r, body, "ecs")
		if err != nil {
			return "", err
		}
		return keys.PrincipalFor(keyID), nil
	}
}

// userAuthenticator checks signed requests to the native endpoints people use (logs,
// exec, images, join tokens): agent keys are refused there.
func userAuthenticator(v *awsapi.Verifier, keys *iam.Directory) func(*http.Request, []byte) error {
	principal := agentPrincipal(v, keys)
	return func(r *http.Request, body []byte) error {
		p, err := principal(r, body)
		if err != nil {
			return err
		}
		if iam.IsAgentPrincipal(p) {
			return awsapi.AccessDenied(p, "gantry", r.URL.Path, "agent keys may not use this endpoint")
		}
		return nil
	}
}
