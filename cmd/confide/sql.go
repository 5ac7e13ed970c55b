package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/confide/confide/enclave"
	"github.com/confide/confide/enclave/sim"
	"github.com/confide/confide/sql/engine"
	"github.com/confide/confide/sql/sqlenclave"
	"github.com/confide/confide/sql/wire"
)

func newSQLCmd(self *launched) *cobra.Command {
	cmd := &cobra.Command{Use: "sql", Short: "Always Encrypted SQL: a server that stores and compares ciphertext only"}
	var data, addr, usersFile, certFile, keyFile string
	var requireTLS, withEnclave bool
	serve := &cobra.Command{
		Use:   "serve",
		Short: "Serve SQL over the PostgreSQL wire protocol, one SQLite database per file under --data",
		Long: `serve speaks the PostgreSQL wire protocol v3, so psql and PostgreSQL drivers
connect. Without --users it trusts connections from loopback only, as a fresh
PostgreSQL development server does; with --users it requires SCRAM-SHA-256.
Columns declared ENCRYPTED WITH hold Always Encrypted cells: the server never
sees their plaintext nor a key that opens them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if requireTLS && certFile == "" {
				return errors.New("--require-tls needs --tls-cert and --tls-key")
			}
			srv, l, eng, err := sqlServer(data, addr, usersFile, certFile, keyFile)
			if err != nil {
				return err
			}
			srv.RequireTLS = requireTLS
			if withEnclave {
				p, note, err := hostEnclave(cmd.Context(), self, eng)
				if err != nil {
					return err
				}
				if p != nil {
					defer p.Close()
				}
				fmt.Fprintln(cmd.ErrOrStderr(), note)
			}
			defer eng.Close()
			fmt.Fprintf(cmd.OutOrStdout(), "sql server postgres://%s/\n", l.Addr())
			//confide:ignore false positive: the checker merges the server, its engine and the engine's SQL enclave; the server logs a panic's type and its own errors, never an enclave session or key
			err = srv.Serve(cmd.Context(), l)
			if err == wire.ErrServerClosed {
				return nil
			}
			return err
		},
	}
	serve.Flags().StringVar(&data, "data", "", "directory of the databases (default $CONFIDE_HOME/sql)")
	serve.Flags().StringVar(&addr, "addr", "127.0.0.1:5433", "listen address")
	serve.Flags().StringVar(&usersFile, "users", "", "file of USER SCRAM-SHA-256$… verifier lines (as pg_authid stores them)")
	serve.Flags().StringVar(&certFile, "tls-cert", "", "TLS certificate (PEM), with --tls-key")
	serve.Flags().StringVar(&keyFile, "tls-key", "", "TLS private key (PEM)")
	serve.Flags().BoolVar(&withEnclave, "enclave", true, "host the SQL enclave for enclave-enabled column encryption keys (simulated unless CONFIDE_PLATFORM names hardware)")
	serve.Flags().BoolVar(&requireTLS, "require-tls", false, "refuse unencrypted connections, but from loopback (PostgreSQL's hostssl); needs --tls-cert")
	passwd := &cobra.Command{
		Use:   "passwd USER",
		Short: "Read a password from stdin and print the --users line (a SCRAM-SHA-256 verifier) for USER",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pw, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
			if err != nil && pw == "" {
				return errors.New("no password on standard input")
			}
			pw = strings.TrimRight(pw, "\r\n")
			if pw == "" || strings.ContainsAny(args[0], " \t\n") {
				return errors.New("need a user name without blanks and a non-empty password")
			}
			v, err := wire.NewVerifier(nil, pw)
			if err != nil {
				return err
			}
			//confide:ignore the verifier line for the --users file is what this command prints; it is not the password
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s\n", args[0], v)
			return nil
		},
	}
	cmd.AddCommand(serve, passwd, newSQLKeysCmd(), newSQLShellCmd())
	return cmd
}

func sqlServer(data, addr, usersFile, certFile, keyFile string) (*wire.Server, net.Listener, *engine.Engine, error) {
	if data == "" {
		h, err := home()
		if err != nil {
			return nil, nil, nil, err
		}
		data = filepath.Join(h, "sql")
	}
	srv := &wire.Server{Log: slog.New(slog.NewTextHandler(os.Stderr, nil)).With("service", "sql")}
	if usersFile != "" {
		f, err := os.Open(usersFile)
		if err != nil {
			return nil, nil, nil, err
		}
		defer f.Close()
		srv.Users = map[string]wire.Verifier{}
		s := bufio.NewScanner(f)
		for n := 1; s.Scan(); n++ {
			line := strings.TrimSpace(s.Text())
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			user, v, ok := strings.Cut(line, " ")
			ver, err := wire.ParseVerifier(strings.TrimSpace(v))
			if !ok || err != nil {
				return nil, nil, nil, fmt.Errorf("%s:%d: want USER SCRAM-SHA-256$…", usersFile, n)
			}
			srv.Users[user] = ver
		}
	}
	if certFile != "" || keyFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, nil, nil, err
		}
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	eng := &engine.Engine{Dir: data}
	srv.Engine = eng
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, nil, err
	}
	return srv, l, eng, nil
}

// hostEnclave gives the engine its SQL enclave, in this process, on this
// process's platform: the platform measures the confide binary as the
// enclave. Without an initialized platform the server runs without one
// and says so (enclave-enabled columns are then refused).
func hostEnclave(ctx context.Context, self *launched, eng *engine.Engine) (platform, string, error) {
	p, err := self.connect(ctx)
	if errors.Is(err, sim.ErrNotInitialized) {
		return nil, "sql: no SQL enclave: the simulated platform is not initialized (confide platform init); columns under enclave-enabled keys are refused", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("sql: the SQL enclave's platform: %w", err)
	}
	id, err := p.Identity(ctx)
	if err != nil {
		p.Close()
		return nil, "", err
	}
	eng.Enclave = &sqlenclave.Enclave{Platform: p}
	kind := "hardware"
	if id.Platform == enclave.PlatformSim {
		kind = "SIMULATED"
	}
	return p, fmt.Sprintf("sql: SQL enclave on the %s platform (%s TEE), unique ID %x", id.Platform, kind, id.UniqueID), nil
}

// startDevSQL runs the SQL server inside dev, with its SQL enclave on
// dev's simulated platform.
//
//confide:ignore false positive: the checker merges the server, its engine and the engine's SQL enclave; the server logs a panic's type and its own errors, never an enclave session or key
func startDevSQL(ctx context.Context, self *launched, addr string) (string, func(), error) {
	srv, l, eng, err := sqlServer("", addr, "", "", "")
	if err != nil {
		return "", nil, err
	}
	p, _, err := hostEnclave(ctx, self, eng)
	if err != nil {
		l.Close()
		return "", nil, err
	}
	done := make(chan struct{})
	//confide:ignore false positive: the checker merges the server, its engine and the engine's SQL enclave; the server logs a panic's type and its own errors, never an enclave session or key
	go func() { srv.Serve(ctx, l); close(done) }()
	return l.Addr().String(), func() {
		<-done
		eng.Close()
		if p != nil {
			p.Close()
		}
	}, nil
}
