package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/confide/confide/attest"
	"github.com/confide/confide/attest/atls"
	"github.com/confide/confide/internal/auth"
	"github.com/confide/confide/kvstore"
	"github.com/confide/confide/seal"
)

// Settings a service's manifest pins when it runs as an enclave: whoever
// launches it chooses ports and directories, not who administers it or
// whom it trusts.
const (
	settingPrincipals   = "principals_sha256"
	settingAttest       = "attest"
	settingServerPolicy = "server_policy_sha256"
	settingKMS          = "kms"
	settingKMSPolicy    = "kms_policy_sha256"
	// Migration (key broker, attestation service): which successors may
	// receive the service's secrets, and which predecessor it may receive
	// them from.
	settingSuccessorPolicy   = "successor_policy_sha256"
	settingPredecessorPolicy = "predecessor_policy_sha256"
)

// pin checks a security-relevant setting against the manifest. The CLI
// (no image) may set anything: it has its own identity, so it cannot open
// a service's sealed state.
func (l *launched) pin(setting, value string) error {
	if l.manifest.Role == "cli" {
		return nil
	}
	if got := l.manifest.Settings[setting]; got != value {
		return fmt.Errorf("this %s enclave's manifest pins %s to %q; refusing %q", l.manifest.Role, setting, got, value)
	}
	return nil
}

// pinFile checks a file's SHA-256 against the manifest's setting ("" for
// no file) and returns the file's bytes.
func (l *launched) pinFile(setting, path string) ([]byte, error) {
	h, b, err := fileHash(path)
	if err != nil {
		return nil, err
	}
	return b, l.pin(setting, h)
}

// successorPolicy pins and parses a service's migration settings: the
// successor policy (nil without one) and the predecessor's TLS policy.
func successorPolicy(self *launched, successorFile, predecessorPolicyFile string) (*attest.Policy, error) {
	sb, err := self.pinFile(settingSuccessorPolicy, successorFile)
	if err != nil {
		return nil, err
	}
	if _, err := self.pinFile(settingPredecessorPolicy, predecessorPolicyFile); err != nil {
		return nil, err
	}
	if sb == nil {
		return nil, nil
	}
	p, err := attest.ParsePolicy(sb)
	if err != nil {
		return nil, fmt.Errorf("--successor-policy: %w", err)
	}
	return p, nil
}

func fileHash(path string) (string, []byte, error) {
	if path == "" {
		return "", nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", nil, err
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:]), b, nil
}

// serviceBase is what `attest serve` and `kms serve` share: the platform
// connection, the sealer, the store, the principals, the listener with
// attested TLS, metrics.
type serviceBase struct {
	addr, data, principals string
	insecureHTTP           bool
	lifetime               time.Duration
}

func (b *serviceBase) flags(cmd *cobra.Command, role, addr string) {
	cmd.Flags().StringVar(&b.addr, "addr", addr, "listen address")
	cmd.Flags().StringVar(&b.data, "data", "", "state directory (default $CONFIDE_HOME/"+role+")")
	cmd.Flags().StringVar(&b.principals, "principals", "", "principals file: names, token hashes, admin flags (JSON)")
	cmd.Flags().BoolVar(&b.insecureHTTP, "insecure-http", false, "serve plain HTTP instead of attested TLS (CLI identity only; for benchmarks)")
}

type running struct {
	platform  platform
	store     *kvstore.Bolt
	principal *auth.Principals
	listener  net.Listener
	url       string
	registry  *prometheus.Registry
	log       *slog.Logger
	tls       *atls.Config
}

func (r *running) Close() {
	if r.store != nil {
		r.store.Close()
	}
	if r.platform != nil {
		r.platform.Close()
	}
	if r.listener != nil {
		r.listener.Close()
	}
}

func (b *serviceBase) start(ctx context.Context, self *launched, role string) (*running, error) {
	r := &running{registry: prometheus.NewRegistry(), log: slog.New(slog.NewTextHandler(os.Stderr, nil)).With("service", role)}
	r.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ok := false
	defer func() {
		if !ok {
			r.Close()
		}
	}()
	ph, pb, err := fileHash(b.principals)
	if err != nil {
		return nil, err
	}
	if err := self.pin(settingPrincipals, ph); err != nil {
		return nil, err
	}
	if pb != nil {
		if r.principal, err = auth.Parse(pb); err != nil {
			return nil, err
		}
	}
	if b.insecureHTTP && self.manifest.Role != "cli" {
		return nil, errors.New("--insecure-http is for the CLI identity only: an enclave serves attested TLS")
	}
	if r.platform, err = self.connect(ctx); err != nil {
		return nil, err
	}
	if b.data == "" {
		h, err := home()
		if err != nil {
			return nil, err
		}
		b.data = filepath.Join(h, role)
	}
	if err := os.MkdirAll(b.data, 0o700); err != nil {
		return nil, err
	}
	if r.store, err = kvstore.OpenBolt(filepath.Join(b.data, role+".db")); err != nil {
		return nil, err
	}
	if r.listener, err = net.Listen("tcp", b.addr); err != nil {
		return nil, err
	}
	scheme := "https"
	if b.insecureHTTP {
		scheme = "http"
	} else {
		r.tls = &atls.Config{Attester: r.platform}
	}
	r.url = scheme + "://" + r.listener.Addr().String()
	ok = true
	return r, nil
}

// sealer returns a sealer over a platform connection of its own: the leak
// checker merges the objects that flow into one place, and a connection
// shared with the logger, the listener and the TLS attester would make
// them all holders of sealing keys.
func (l *launched) sealer(ctx context.Context) (*seal.Sealer, func() error, error) {
	p, err := l.connect(ctx)
	if err != nil {
		return nil, nil, err
	}
	s, err := seal.New(p, nil)
	if err != nil {
		p.Close()
		return nil, nil, err
	}
	return s, p.Close, nil
}

// serve runs the handler until ctx ends.
func (r *running) serve(ctx context.Context, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(r.log.Handler(), slog.LevelWarn)}
	l := r.listener
	if r.tls != nil {
		tc, err := r.tls.ServerConfig()
		if err != nil {
			return err
		}
		srv.TLSConfig = tc
	}
	errc := make(chan error, 1)
	go func() {
		if r.tls != nil {
			errc <- srv.ServeTLS(l, "", "")
		} else {
			errc <- srv.Serve(l)
		}
	}()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		return nil
	case err := <-errc:
		return err
	}
}

// serverPolicyEnv names the policy file the CLI verifies services'
// attested TLS with.
const serverPolicyEnv = "CONFIDE_SERVER_POLICY"

// httpClient returns a client for a service URL: plain for http://, and
// for https:// attested TLS verified against the server policy (the flag,
// else $CONFIDE_SERVER_POLICY).
func httpClient(url, policyFile string) (*http.Client, error) {
	hc, _, err := attestedClient(url, policyFile)
	return hc, err
}

// attestedClient is httpClient with the attested TLS configuration that
// also reads the service's identity off a connection (nil for http://).
func attestedClient(url, policyFile string) (*http.Client, *atls.Config, error) {
	if strings.HasPrefix(url, "http://") {
		return &http.Client{Timeout: time.Minute}, nil, nil
	}
	if !strings.HasPrefix(url, "https://") {
		return nil, nil, fmt.Errorf("service URL %q: want https:// (attested TLS) or http://", url)
	}
	if policyFile == "" {
		policyFile = os.Getenv(serverPolicyEnv)
	}
	if policyFile == "" {
		return nil, nil, fmt.Errorf("%s serves attested TLS: give --server-policy or $%s (confide dev prints one)", url, serverPolicyEnv)
	}
	pb, err := os.ReadFile(policyFile)
	if err != nil {
		return nil, nil, err
	}
	pol, err := attest.ParsePolicy(pb)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", policyFile, err)
	}
	v, err := newVerifier("", hardwareOptions{})
	if err != nil {
		return nil, nil, err
	}
	ac := &atls.Config{Verifier: v, Policy: pol}
	tc, err := ac.ClientConfig()
	if err != nil {
		return nil, nil, err
	}
	return &http.Client{Timeout: time.Minute, Transport: &http.Transport{TLSClientConfig: tc, MaxIdleConnsPerHost: 64, ForceAttemptHTTP2: true}}, ac, nil
}

// bearer reads the caller's token from $CONFIDE_TOKEN or the file
// $CONFIDE_TOKEN_FILE.
func bearer() (string, error) {
	if t := os.Getenv("CONFIDE_TOKEN"); t != "" {
		return t, nil
	}
	if f := os.Getenv("CONFIDE_TOKEN_FILE"); f != "" {
		b, err := os.ReadFile(f)
		return strings.TrimSpace(string(b)), err
	}
	return "", nil
}
