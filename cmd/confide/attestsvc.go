package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/confide/confide/attestsvc"
	"github.com/confide/confide/attestsvc/client"
	"github.com/confide/confide/enclave"
)

// newAttestServiceCmds adds serve, token and policy to `confide attest`.
func newAttestServiceCmds(self *launched, cmd *cobra.Command) {
	var b serviceBase
	var tokenLife, keyLife time.Duration
	var successorFile, migrateFrom, migrateFromPolicy string
	serve := &cobra.Command{
		Use:   "serve",
		Short: "Run the attestation service: challenges, evidence → signed tokens, policies, JWKS",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			successor, err := successorPolicy(self, successorFile, migrateFromPolicy)
			if err != nil {
				return err
			}
			r, err := b.start(ctx, self, "attestsvc")
			if err != nil {
				return err
			}
			defer r.Close()
			v, err := newVerifier("", hardwareOptions{})
			if err != nil {
				return err
			}
			var sealer attestsvc.Sealer
			if _, ok := r.platform.(enclave.SealKeyer); ok {
				s, closeSealer, err := self.sealer(ctx)
				if err != nil {
					return err
				}
				defer closeSealer()
				sealer = s
			} else {
				//confide:ignore false positive: the checker merges the objects reachable from ctx and the platform connection with the sealer; no key material reaches this call
				r.log.Warn("this platform derives no sealing keys: token signing keys live in memory and change at every start")
			}
			var predecessor func(context.Context) ([]byte, error)
			if migrateFrom != "" {
				if migrateFromPolicy == "" {
					return errors.New("--migrate-from needs --migrate-from-policy (the predecessor's attested TLS)")
				}
				hc, err := httpClient(migrateFrom, migrateFromPolicy)
				if err != nil {
					return err
				}
				//confide:ignore false positive: the predecessor's secrets come back JWE-decrypted and are only sealed here; the checker merges them with the HTTP client's request buffers
				predecessor = client.Predecessor{Service: client.New(migrateFrom, hc), Attester: r.platform}.Secrets
			}
			//confide:ignore false positive: the checker merges the objects reachable from ctx and the platform connection with the sealer; no key material reaches this call
			svc, err := attestsvc.New(ctx, attestsvc.Config{
				Verifier: v, Store: r.store, Sealer: sealer, Issuer: r.url, Admins: r.principal,
				TokenLifetime: tokenLife, KeyLifetime: keyLife, Registerer: r.registry, Log: r.log,
				SuccessorPolicy: successor, Predecessor: predecessor,
			})
			if err != nil {
				return err
			}
			//confide:ignore false positive: the checker merges the objects reachable from ctx and the platform connection with the sealer; no key material reaches this call
			go rotateLoop(ctx, svc, r.log)
			//confide:ignore false positive: the checker merges the objects reachable from ctx and the platform connection with the sealer; no key material reaches this call
			fmt.Fprintf(cmd.OutOrStdout(), "attestation service %s\n", r.url)
			//confide:ignore false positive: the checker merges the objects reachable from ctx and the platform connection with the sealer; no key material reaches this call
			return r.serve(ctx, svc.Handler(r.registry))
		},
	}
	b.flags(serve, "attestsvc", "127.0.0.1:8441")
	serve.Flags().DurationVar(&tokenLife, "token-lifetime", time.Hour, "how long tokens are valid")
	serve.Flags().DurationVar(&keyLife, "key-lifetime", 24*time.Hour, "how long a token signing key signs before the next takes over")
	serve.Flags().StringVar(&successorFile, "successor-policy", "", "policy a successor service's evidence must satisfy to receive this service's signing keys and audit key (POST /v1/migrate)")
	serve.Flags().StringVar(&migrateFrom, "migrate-from", "", "URL of a predecessor service to obtain the secrets from when the sealed ones do not unseal here (an upgrade; on SGX, any microcode update)")
	serve.Flags().StringVar(&migrateFromPolicy, "migrate-from-policy", "", "policy the predecessor's attested TLS must satisfy")
	cmd.AddCommand(serve)

	var server, serverPolicy, rdFile, policy, out string
	tok := &cobra.Command{
		Use:   "token",
		Short: "Get an attestation token for this process: nonce, evidence, token (printed)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := attestClient(server, serverPolicy)
			if err != nil {
				return err
			}
			var rd []byte
			if rdFile != "" {
				if rd, err = os.ReadFile(rdFile); err != nil {
					return err
				}
			}
			p, err := self.connect(cmd.Context())
			if err != nil {
				return err
			}
			defer p.Close()
			t, err := c.Token(cmd.Context(), p, rd, policy)
			if err != nil {
				return err
			}
			return writeOut(cmd, out, []byte(t+"\n"))
		},
	}
	serverFlags(tok, &server, &serverPolicy)
	tok.Flags().StringVar(&rdFile, "runtime-data", "", "file whose bytes the evidence binds (a JSON object's members become runtime.* claims)")
	tok.Flags().StringVar(&policy, "policy", "", "name of a stored appraisal policy to apply")
	tok.Flags().StringVarP(&out, "output", "o", "", "file to write the token to (default: standard output)")
	cmd.AddCommand(tok)

	pol := &cobra.Command{Use: "policy", Short: "Manage the attestation service's appraisal policies (admin; token in $CONFIDE_TOKEN)"}
	serverFlags(pol, &server, &serverPolicy)
	admin := func(f func(ctx context.Context, c *client.Client, args []string) (any, error)) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, args []string) error {
			c, err := attestClient(server, serverPolicy)
			if err != nil {
				return err
			}
			if c.Bearer, err = bearer(); err != nil {
				return err
			}
			v, err := f(cmd.Context(), c, args)
			if err != nil || v == nil {
				return err
			}
			return printJSON(cmd, v)
		}
	}
	pol.AddCommand(&cobra.Command{Use: "put NAME FILE", Short: "Store a new version of a policy", Args: cobra.ExactArgs(2),
		RunE: admin(func(ctx context.Context, c *client.Client, a []string) (any, error) {
			b, err := os.ReadFile(a[1])
			if err != nil {
				return nil, err
			}
			return c.PutPolicy(ctx, a[0], b)
		})})
	pol.AddCommand(&cobra.Command{Use: "get NAME", Short: "Show a policy's current version", Args: cobra.ExactArgs(1),
		RunE: admin(func(ctx context.Context, c *client.Client, a []string) (any, error) { return c.Policy(ctx, a[0]) })})
	pol.AddCommand(&cobra.Command{Use: "list", Short: "List the policies", Args: cobra.NoArgs,
		RunE: admin(func(ctx context.Context, c *client.Client, a []string) (any, error) { return c.Policies(ctx) })})
	pol.AddCommand(&cobra.Command{Use: "delete NAME", Short: "Delete a policy", Args: cobra.ExactArgs(1),
		RunE: admin(func(ctx context.Context, c *client.Client, a []string) (any, error) {
			return nil, c.DeletePolicy(ctx, a[0])
		})})
	cmd.AddCommand(pol)
}

func rotateLoop(ctx context.Context, svc *attestsvc.Service, log *slog.Logger) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			switch ok, err := svc.Rotate(ctx, false); {
			case err != nil:
				log.Error("rotating the token signing key failed; the current key keeps signing")
			case ok:
				log.Info("token signing key rotated")
			}
		}
	}
}

func serverFlags(cmd *cobra.Command, server, policy *string) {
	def := os.Getenv("CONFIDE_ATTEST_URL")
	cmd.PersistentFlags().StringVar(server, "server", def, "attestation service URL (default $CONFIDE_ATTEST_URL)")
	cmd.PersistentFlags().StringVar(policy, "server-policy", "", "policy the service's attested TLS must satisfy (default $"+serverPolicyEnv+")")
}

func attestClient(server, policy string) (*client.Client, error) {
	if server == "" {
		return nil, errors.New("no --server (or $CONFIDE_ATTEST_URL)")
	}
	hc, err := httpClient(server, policy)
	if err != nil {
		return nil, err
	}
	return client.New(server, hc), nil
}

func printJSON(cmd *cobra.Command, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s\n", b)
	return err
}
