package pki

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// A server certified by the CA is trusted by a client pinning the CA's hash and by a
// joined client, not by one pinning another hash; the server accepts the joined client's
// certificate and sees none from the joining one.
func TestCAPinningAndMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca, err := LoadOrCreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	again, err := LoadOrCreateCA(dir)
	if err != nil || again.Hash() != ca.Hash() {
		t.Fatalf("reloading the CA: %v, hash %s vs %s", err, again.Hash(), ca.Hash())
	}
	serverCert, err := ca.ServerCertificate([]string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TLS.VerifiedChains) > 0 {
			w.Write([]byte(r.TLS.PeerCertificates[0].Subject.CommonName))
		}
	}))
	srv.TLS = ca.ServerConfig(serverCert)
	srv.StartTLS()
	defer srv.Close()
	get := func(cfg *tls.Config) (string, error) {
		resp, err := (&http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}).Get(srv.URL)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	if who, err := get(PinnedConfig(ca.Hash())); err != nil || who != "" {
		t.Fatalf("joining client with the right pin: %q, %v", who, err)
	}
	if _, err := get(PinnedConfig(strings.Repeat("0", 64))); err == nil {
		t.Fatal("a client pinning another CA trusted the server")
	}
	keyPEM, csrPEM, err := NewKeyAndCSR("agent:node-1")
	if err != nil {
		t.Fatal(err)
	}
	certPEM, err := ca.SignClient(csrPEM, "agent:node-1")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ClientConfig(ca.CertPEM, certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	if who, err := get(cfg); err != nil || who != "agent:node-1" {
		t.Fatalf("joined client: %q, %v", who, err)
	}
	other, err := LoadOrCreateCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	foreign, _ := other.SignClient(csrPEM, "agent:intruder")
	if cfg, err := ClientConfig(ca.CertPEM, foreign, keyPEM); err == nil {
		if who, err := get(cfg); err == nil && who != "" {
			t.Fatalf("a certificate from another CA was accepted as %q", who)
		}
	}
	if _, err := ca.SignClient([]byte("not a csr"), "x"); err == nil {
		t.Fatal("signed garbage")
	}
}
