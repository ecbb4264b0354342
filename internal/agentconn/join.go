package agentconn

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"gantry/internal/pki"
)

// JoinPath is where an agent redeems a join token for its certificate and access key.
// It is served on the agent listener, the one path there that needs no client
// certificate.
const JoinPath = "/gantry/v1/agent/join"

// tokenPrefix marks Gantry join tokens: gtj1.<id>.<secret>.<CA hash>.
const tokenPrefix = "gtj1."

// FormatToken makes the join token a person copies: the stored token and the CA hash the
// agent pins.
func FormatToken(stored, caHash string) string { return tokenPrefix + stored + "." + caHash }

// ParseToken splits a join token into the stored token and the CA hash.
func ParseToken(token string) (stored, caHash string, err error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(token), tokenPrefix)
	i := strings.LastIndexByte(rest, '.')
	if !ok || i < 0 || len(rest)-i-1 != 64 {
		return "", "", errors.New("--token: not a Gantry join token (gtj1.…); create one on the server with 'gantry token create'")
	}
	return rest[:i], rest[i+1:], nil
}

// JoinRequest is what a joining agent sends.
type JoinRequest struct {
	Token string `json:"token"`
	Node  string `json:"node"`
	CSR   string `json:"csr"`
}

// Credentials are what a joined agent keeps: its certificate, the CA, and the access key
// its API calls are signed with.
type Credentials struct {
	CA              string `json:"ca"`
	Certificate     string `json:"certificate"`
	Key             string `json:"key,omitempty"` // filled in by the agent, never sent
	AccessKeyID     string `json:"accessKeyId"`
	SecretAccessKey string `json:"secretAccessKey"`
	Region          string `json:"region"`
}

// Joiner is the server's side of joining (the server wires iam and pki into it).
type Joiner struct {
	Redeem    func(ctx context.Context, token string) error
	CreateKey func(ctx context.Context, node string) (id, secret string, err error)
	CA        *pki.CA
	Region    string
}

// ServeHTTP redeems a token and answers with the agent's credentials.
func (j *Joiner) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST a join request", http.StatusMethodNotAllowed)
		return
	}
	var req JoinRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil {
		http.Error(w, "join request: "+err.Error(), http.StatusBadRequest)
		return
	}
	if req.Node == "" || len(req.Node) > 255 {
		http.Error(w, "node: give the machine's name (1 to 255 characters)", http.StatusBadRequest)
		return
	}
	if err := j.Redeem(r.Context(), req.Token); err != nil {
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	cert, err := j.CA.SignClient([]byte(req.CSR), "agent:"+req.Node)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	id, secret, err := j.CreateKey(r.Context(), req.Node)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeJSON(w, Credentials{CA: string(j.CA.CertPEM), Certificate: string(cert), AccessKeyID: id, SecretAccessKey: secret, Region: j.Region})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// Join redeems token at server (an https:// URL of the agent listener) for node's
// credentials, trusting only the CA the token names.
func Join(ctx context.Context, server, token, node string) (*Credentials, error) {
	stored, caHash, err := ParseToken(token)
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(server, "https://") {
		return nil, fmt.Errorf("--server %q: agents join over TLS; give the server's agent listener as https://HOST:PORT", server)
	}
	keyPEM, csrPEM, err := pki.NewKeyAndCSR("agent:" + node)
	if err != nil {
		return nil, err
	}
	body, _ := json.Marshal(JoinRequest{Token: stored, Node: node, CSR: string(csrPEM)})
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: pki.PinnedConfig(caHash)}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(server, "/")+JoinPath, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("joining %s: %w", server, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("joining %s: %s", server, bytes.TrimSpace(msg))
	}
	var c Credentials
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
		return nil, fmt.Errorf("joining %s: %w", server, err)
	}
	c.Key = string(keyPEM)
	return &c, nil
}

// RequireClientCert wraps the agent listener's handler: every request but a join must
// come with a client certificate the cluster CA signed.
func RequireClientCert(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != JoinPath && (r.TLS == nil || len(r.TLS.VerifiedChains) == 0) {
			http.Error(w, "this listener is for agents: present the client certificate 'gantry agent --token' obtained", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}
