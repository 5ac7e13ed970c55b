package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/confide/confide/console"
	"github.com/confide/confide/internal/auth"
	kmsclient "github.com/confide/confide/kms/client"
	"github.com/confide/confide/ledger/eth/ethdemo"
	"github.com/confide/confide/ledger/sandbox"
	"github.com/confide/confide/ml/mpdemo"
)

func newConsoleCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "console", Short: "Web console: every service of a deployment in a browser"}
	var addr, principals, attestURL, kmsURL, mlURL, serverPolicy, platform, certFile, keyFile string
	var lg ledgerAccess
	var sqlDSN string
	serve := &cobra.Command{
		Use:   "serve",
		Short: "Serve the web console for a deployment's services",
		Long: `serve runs the web console. It reads the services through their APIs
(attested TLS, pinned by --server-policy) as the signed-in user, who signs in
with a token of the principals file the services use. Serve it over TLS
(--tls-cert, --tls-key) anywhere but loopback.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := consoleConfig(principals, attestURL, kmsURL, mlURL, serverPolicy)
			if err != nil {
				return err
			}
			if cfg.Ledger, err = lg.backend(); err != nil {
				return err
			}
			cfg.SQL = console.SQLBackend{DSN: sqlDSN}
			cfg.Platform = platform
			cfg.Secure = certFile != ""
			cfg.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
			srv, l, err := listenConsole(cmd.Context(), cfg, addr)
			if err != nil {
				return err
			}
			scheme := "http"
			if certFile != "" {
				scheme = "https"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "console %s://%s\n", scheme, l.Addr())
			if certFile != "" {
				err = srv.ServeTLS(l, certFile, keyFile)
			} else {
				err = srv.Serve(l)
			}
			if errors.Is(err, http.ErrServerClosed) {
				return nil
			}
			return err
		},
	}
	serve.Flags().StringVar(&addr, "addr", "127.0.0.1:8440", "listen address")
	serve.Flags().StringVar(&principals, "principals", "", "the services' principals file (who may sign in, and as what)")
	serve.Flags().StringVar(&attestURL, "attest", os.Getenv("CONFIDE_ATTEST_URL"), "attestation service URL (default $CONFIDE_ATTEST_URL)")
	serve.Flags().StringVar(&kmsURL, "kms", os.Getenv("CONFIDE_KMS_URL"), "key broker URL (default $CONFIDE_KMS_URL)")
	serve.Flags().StringVar(&mlURL, "ml", os.Getenv("CONFIDE_ML_URL"), "multi-party trainer URL (default $CONFIDE_ML_URL)")
	serve.Flags().StringVar(&serverPolicy, "server-policy", "", "policy the services' attested TLS must satisfy (default $"+serverPolicyEnv+")")
	serve.Flags().StringVar(&lg.url, "ledger", "", "a confidential ledger node's URL (https://host:port)")
	serve.Flags().StringVar(&lg.serviceCert, "ledger-service-cert", "", "the ledger's service certificate (PEM)")
	serve.Flags().StringVar(&lg.cert, "ledger-cert", "", "the console's own ledger user certificate (PEM; give it the Reader role)")
	serve.Flags().StringVar(&lg.key, "ledger-key", "", "its private key (PEM)")
	serve.Flags().StringToStringVar(&lg.users, "ledger-user", nil, "a console principal's own ledger identity, NAME=CERT:KEY (repeatable): that user reads the ledger and the Ethereum app as itself")
	serve.Flags().StringVar(&sqlDSN, "sql", "", "an Always Encrypted SQL server (confide's) to show, as a DBA's connection URL")
	serve.Flags().StringVar(&platform, "platform", "sim", "the TEE the services run on, as shown (sim, snp, tdx, sgx)")
	serve.Flags().StringVar(&certFile, "tls-cert", "", "TLS certificate (PEM) to serve the console over HTTPS")
	serve.Flags().StringVar(&keyFile, "tls-key", "", "TLS private key (PEM)")
	cmd.AddCommand(serve)
	return cmd
}

// consoleConfig reads the principals and builds the services' clients.
func consoleConfig(principalsFile, attestURL, kmsURL, mlURL, serverPolicy string) (console.Config, error) {
	var cfg console.Config
	if principalsFile == "" {
		return cfg, errors.New("--principals is required: the console signs users in with the services' principals")
	}
	b, err := os.ReadFile(principalsFile)
	if err != nil {
		return cfg, err
	}
	if cfg.Principals, err = auth.Parse(b); err != nil {
		return cfg, fmt.Errorf("%s: %w", principalsFile, err)
	}
	// Pasted evidence is checked against the same roots as `attest verify`.
	if cfg.Verifier, err = newVerifier("", hardwareOptions{}); err != nil {
		return cfg, err
	}
	for _, s := range []struct {
		url string
		b   *console.Backend
	}{{attestURL, &cfg.Attest}, {kmsURL, &cfg.KMS}, {mlURL, &cfg.ML}} {
		if s.url == "" {
			continue
		}
		hc, ac, err := attestedClient(s.url, serverPolicy)
		if err != nil {
			return cfg, err
		}
		*s.b = console.Backend{URL: s.url, HTTP: hc, ATLS: ac}
	}
	return cfg, nil
}

// ledgerAccess is how the console reaches a ledger: a node, the service
// certificate, and the console's own user identity.
type ledgerAccess struct {
	url, serviceCert, cert, key string
	// users maps console principals to their own ledger identities:
	// name → "CERT:KEY" (PEM files).
	users map[string]string
}

func (l ledgerAccess) backend() (console.LedgerBackend, error) {
	if l.url == "" {
		return console.LedgerBackend{}, nil
	}
	if l.serviceCert == "" || l.cert == "" || l.key == "" {
		return console.LedgerBackend{}, errors.New("--ledger needs --ledger-service-cert, --ledger-cert and --ledger-key")
	}
	svc, err := os.ReadFile(l.serviceCert)
	if err != nil {
		return console.LedgerBackend{}, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(svc) {
		return console.LedgerBackend{}, fmt.Errorf("%s holds no certificate", l.serviceCert)
	}
	cert, err := tls.LoadX509KeyPair(l.cert, l.key)
	if err != nil {
		return console.LedgerBackend{}, err
	}
	url := l.url
	if !strings.HasPrefix(url, "https://") {
		url = "https://" + url
	}
	client := func(cert tls.Certificate) *http.Client {
		return &http.Client{Timeout: time.Minute, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13}}}
	}
	b := console.LedgerBackend{URL: url, HTTP: client(cert), ServiceCert: svc, Users: map[string]*http.Client{}}
	for name, files := range l.users {
		certFile, keyFile, ok := strings.Cut(files, ":")
		if !ok {
			return console.LedgerBackend{}, fmt.Errorf("--ledger-user %s=%s: want NAME=CERT:KEY", name, files)
		}
		c, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return console.LedgerBackend{}, fmt.Errorf("--ledger-user %s: %w", name, err)
		}
		b.Users[name] = client(c)
	}
	return b, nil
}

// startDevConsole serves the console for confide dev's services, in the
// dev process itself (the console holds no secret of the services; it
// acts only as the signed-in user).
func startDevConsole(ctx context.Context, self *launched, addr string, d *devServices, lg ledgerAccess, sqlDSN string) (string, func(), error) {
	cfg, err := consoleConfig(d.principals, d.attestURL, d.kmsURL, d.mlURL, d.serverPolicy)
	if err != nil {
		return "", nil, err
	}
	if cfg.Ledger, err = lg.backend(); err != nil {
		return "", nil, err
	}
	cfg.SQL = console.SQLBackend{DSN: sqlDSN}
	cfg.Platform = "sim"
	cfg.Demos = map[string]console.Demo{"mpml": mpmlDemo(self, d), "eth": ethDemo(lg)}
	srv, l, err := listenConsole(ctx, cfg, addr)
	if err != nil {
		return "", nil, err
	}
	go srv.Serve(l)
	return "http://" + l.Addr().String(), func() { srv.Close() }, nil
}

// listenConsole makes the console for cfg — with the oblivious-access
// demo when this binary records accesses (-tags obltrace) — and its
// listener on addr; the server closes when ctx ends.
func listenConsole(ctx context.Context, cfg console.Config, addr string) (*http.Server, net.Listener, error) {
	if od, ok := console.ObliviousDemo(); ok {
		if cfg.Demos == nil {
			cfg.Demos = map[string]console.Demo{}
		}
		cfg.Demos["oblivious"] = od
	}
	c, err := console.New(cfg)
	if err != nil {
		return nil, nil, err
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("console: %w", err)
	}
	srv := &http.Server{Handler: c.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { <-ctx.Done(); srv.Close() }()
	return srv, l, nil
}

// mpmlDemo is `confide demo mpml` against dev's attestation service and
// key broker, the trainer being the dev process on its platform, as the
// signed-in user (who stores the hospitals' keys in the broker).
func mpmlDemo(self *launched, d *devServices) console.Demo {
	return console.Demo{
		Title: "Three hospitals, one model",
		About: "Three hospitals hold uneven shares of the Wisconsin breast-cancer data. Each trains alone; then all three train " +
			"jointly through the multi-party protocol (keys released by the key broker only to the attested trainer for this " +
			"manifest, the model sealed to each hospital). The chart is each model's accuracy on common test patients.",
		Run: func(ctx context.Context, bearer, dir string, w io.Writer) (string, error) {
			as, err := attestClient(d.attestURL, d.serverPolicy)
			if err != nil {
				return "", err
			}
			hc, err := httpClient(d.kmsURL, d.serverPolicy)
			if err != nil {
				return "", err
			}
			kc := kmsclient.New(d.kmsURL, hc)
			kc.Bearer = bearer
			p, err := self.connect(ctx)
			if err != nil {
				return "", err
			}
			defer p.Close()
			if err := mpdemo.Run(ctx, w, mpdemo.Options{Dir: dir, Platform: p, AS: as, ASURL: d.attestURL, KMS: kc}); err != nil {
				return "", err
			}
			return filepath.Join(dir, "accuracy.svg"), nil
		},
	}
}

// ethDemo is `confide demo eth` against dev's own ledger: a closed loop
// of ERC-20 transfers through its Ethereum app (the proxy eth.json names),
// and through geth --dev when a geth is on the PATH, charted side by side.
func ethDemo(lg ledgerAccess) console.Demo {
	return console.Demo{
		Title: "Confidential Ethereum against Ethereum",
		About: "ERC-20 transfers in a closed loop (16 accounts, one transaction in flight each) against this deployment's " +
			"ledger's Ethereum app, and against geth --dev when a geth is installed: transfers per second and latency.",
		Run: func(ctx context.Context, _, dir string, w io.Writer) (string, error) {
			ledgerDir := filepath.Dir(lg.serviceCert)
			var info ethInfo
			b, err := os.ReadFile(filepath.Join(ledgerDir, EthInfoFile))
			if err != nil {
				return "", err
			}
			if err := json.Unmarshal(b, &info); err != nil {
				return "", err
			}
			geth, _ := exec.LookPath("geth")
			_, err = ethdemo.Run(ctx, w, ethdemo.Options{Dir: dir, Transfers: 400, Senders: 16, Geth: geth,
				ConfideLabel: "confide (this deployment, 1 node)",
				Confide: func(context.Context) (ethdemo.Endpoint, error) {
					return ethdemo.Endpoint{RPC: info.RPCURL, AccountsFile: filepath.Join(ledgerDir, sandbox.EthAccountsFile), Stop: func() {}}, nil
				}})
			if err != nil {
				return "", err
			}
			return filepath.Join(dir, "eth.svg"), nil
		},
	}
}
