package server

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"gantry/internal/agentconn"
	"gantry/internal/iam"
	"gantry/internal/pki"
)

// tokensPath creates join tokens: POST, signed by an access key.
const tokensPath = "/gantry/v1/tokens"

// defaultTokenTTL is how long a join token is valid unless ?ttl= says otherwise.
const defaultTokenTTL = 24 * time.Hour

// TokenResponse answers a token creation.
type TokenResponse struct {
	Token   string    `json:"token"`
	Expires time.Time `json:"expires"`
}

// tokenHandler creates single-use join tokens that carry the CA's hash.
func tokenHandler(keys *iam.Directory, ca *pki.CA, authenticate func(*http.Request, []byte) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "POST to create a join token", http.StatusMethodNotAllowed)
			return
		}
		if err := authenticate(r, nil); err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		ttl := defaultTokenTTL
		if v := r.URL.Query().Get("ttl"); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 || d > 30*24*time.Hour {
				http.Error(w, "ttl: give a duration between 1s and 720h, e.g. 1h", http.StatusBadRequest)
				return
			}
			ttl = d
		}
		tok, expires, err := keys.CreateJoinToken(r.Context(), ttl)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(TokenResponse{Token: agentconn.FormatToken(tok, ca.Hash()), Expires: expires})
	})
}

// serveAgents starts the TLS listener for agents on other machines: the same API, with a
// client certificate from the cluster CA required for everything but joining.
func serveAgents(cfg Config, ca *pki.CA, keys *iam.Directory, api http.Handler, log *slog.Logger, serveErr chan<- error) (*http.Server, error) {
	ln, err := net.Listen("tcp", cfg.AgentListen)
	if err != nil {
		return nil, fmt.Errorf("agent listener on %s: %w", cfg.AgentListen, err)
	}
	host, _, _ := net.SplitHostPort(ln.Addr().String())
	name, _ := os.Hostname()
	cert, err := ca.ServerCertificate([]string{host, name, "localhost"})
	if err != nil {
		ln.Close()
		return nil, err
	}
	joiner := &agentconn.Joiner{
		Redeem: keys.RedeemJoinToken,
		CreateKey: func(ctx context.Context, node string) (string, string, error) {
			k, err := keys.CreateKey(ctx, iam.AgentPrincipal(cfg.Account, node))
			return k.ID, k.Secret, err
		},
		CA:     ca,
		Region: cfg.Region,
	}
	mux := http.NewServeMux()
	mux.Handle(agentconn.JoinPath, joiner)
	mux.Handle("/", api)
	srv := &http.Server{
		Handler:           agentconn.RequireClientCert(mux),
		TLSConfig:         ca.ServerConfig(cert),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	go func() { serveErr <- srv.ServeTLS(ln, "", "") }()
	log.Info("agent listener", "address", ln.Addr().String(), "ca", ca.Hash())
	return srv, nil
}
