package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/confide/confide/attest/token"
	attestclient "github.com/confide/confide/attestsvc/client"
	"github.com/confide/confide/audit"
	"github.com/confide/confide/kms"
	"github.com/confide/confide/kms/api"
	kmsclient "github.com/confide/confide/kms/client"
)

func newKMSCmd(self *launched) *cobra.Command {
	cmd := &cobra.Command{Use: "kms", Short: "Key broker: keys released only to attested enclaves, and key operations"}

	var b serviceBase
	var trusted, trustedPolicy string
	var successorFile, migrateFrom, migrateFromPolicy string
	serve := &cobra.Command{
		Use:   "serve",
		Short: "Run the key broker",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if err := self.pin(settingAttest, trusted); err != nil {
				return err
			}
			if _, err := self.pinFile(settingServerPolicy, trustedPolicy); err != nil {
				return err
			}
			successor, err := successorPolicy(self, successorFile, migrateFromPolicy)
			if err != nil {
				return err
			}
			r, err := b.start(ctx, self, "kms")
			if err != nil {
				return err
			}
			defer r.Close()
			var issuers []*token.Verifier
			var as *attestclient.Client
			if trusted != "" {
				if as, err = attestClient(trusted, trustedPolicy); err != nil {
					return err
				}
				issuers = append(issuers, &token.Verifier{Issuer: trusted, Keys: &attestclient.KeySet{Client: as}})
			}
			sealer, closeSealer, err := self.sealer(ctx)
			if err != nil {
				return err
			}
			defer closeSealer()
			var predecessor func(context.Context) ([]byte, error)
			if migrateFrom != "" {
				if as == nil || migrateFromPolicy == "" {
					return errors.New("--migrate-from needs --attest (for this broker's token) and --migrate-from-policy (the predecessor's attested TLS)")
				}
				hc, err := httpClient(migrateFrom, migrateFromPolicy)
				if err != nil {
					return err
				}
				//confide:ignore false positive: the predecessor's master key comes back JWE-decrypted and is only sealed here; the checker merges its bytes with the HTTP client's request buffers, which the token request writes
				predecessor = kmsclient.Predecessor{Broker: kmsclient.New(migrateFrom, hc), Attest: as, Attester: r.platform}.Master
			}
			br, err := kms.New(ctx, kms.Config{Store: r.store, Sealer: sealer, Issuers: issuers,
				Principals: r.principal, Registerer: r.registry, Log: r.log,
				SuccessorPolicy: successor, Predecessor: predecessor})
			if err != nil {
				return err
			}
			//confide:ignore false positive: the checker merges the objects reachable from ctx and the platform connection with the sealer; no key material reaches this call
			fmt.Fprintf(cmd.OutOrStdout(), "key broker %s\n", r.url)
			//confide:ignore false positive: the checker merges the objects reachable from ctx and the platform connection with the sealer; no key material reaches this call
			return r.serve(ctx, br.Handler(r.registry))
		},
	}
	b.flags(serve, "kms", "127.0.0.1:8442")
	serve.Flags().StringVar(&trusted, "attest", "", "URL of the attestation service whose tokens release keys")
	serve.Flags().StringVar(&trustedPolicy, "attest-policy", "", "policy the attestation service's attested TLS must satisfy")
	serve.Flags().StringVar(&successorFile, "successor-policy", "", "policy a successor broker's attestation token must satisfy to receive this broker's master key (POST /v1/migrate)")
	serve.Flags().StringVar(&migrateFrom, "migrate-from", "", "URL of a predecessor broker to obtain the master key from when the sealed one does not unseal here (an upgrade; on SGX, any microcode update)")
	serve.Flags().StringVar(&migrateFromPolicy, "migrate-from-policy", "", "policy the predecessor's attested TLS must satisfy")
	cmd.AddCommand(serve)

	var server, serverPolicy string
	cmd.PersistentFlags().StringVar(&server, "server", os.Getenv("CONFIDE_KMS_URL"), "key broker URL (default $CONFIDE_KMS_URL)")
	cmd.PersistentFlags().StringVar(&serverPolicy, "server-policy", "", "policy the broker's attested TLS must satisfy (default $"+serverPolicyEnv+")")
	connect := func() (*kmsclient.Client, error) {
		if server == "" {
			return nil, errors.New("no --server (or $CONFIDE_KMS_URL)")
		}
		hc, err := httpClient(server, serverPolicy)
		if err != nil {
			return nil, err
		}
		c := kmsclient.New(server, hc)
		c.Bearer, err = bearer()
		return c, err
	}
	do := func(f func(ctx context.Context, c *kmsclient.Client, args []string) (any, error)) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, args []string) error {
			c, err := connect()
			if err != nil {
				return err
			}
			v, err := f(cmd.Context(), c, args)
			if err != nil || v == nil {
				return err
			}
			return printJSON(cmd, v)
		}
	}

	var spec api.CreateKey
	var policyFile, jwkFile string
	var access []string
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create (or with --jwk import) a key",
		Args:  cobra.ExactArgs(1),
		RunE: do(func(ctx context.Context, c *kmsclient.Client, a []string) (any, error) {
			var err error
			if spec.ReleasePolicy, err = readOptional(policyFile); err != nil {
				return nil, err
			}
			if spec.JWK, err = readOptional(jwkFile); err != nil {
				return nil, err
			}
			if spec.JWK != nil {
				spec.Kty = ""
			}
			if spec.Access, err = parseAccess(access); err != nil {
				return nil, err
			}
			return c.Create(ctx, a[0], spec)
		}),
	}
	create.Flags().StringVar(&spec.Kty, "kty", "oct", "key type: oct, RSA or EC")
	create.Flags().IntVar(&spec.Size, "size", 0, "bits (oct 128/192/256, RSA 2048/3072/4096)")
	create.Flags().StringVar(&spec.Curve, "crv", "", "curve of an EC key: P-256, P-384, P-521")
	create.Flags().BoolVar(&spec.Exportable, "exportable", false, "may be released to enclaves that satisfy the release policy")
	create.Flags().StringVar(&policyFile, "release-policy", "", "release policy (JSON, Azure SKR grammar)")
	create.Flags().StringVar(&jwkFile, "jwk", "", "import this private JWK instead of generating")
	create.Flags().StringArrayVar(&access, "access", nil, "grant PRINCIPAL=OP[,OP…] (repeatable)")
	cmd.AddCommand(create)

	var upPolicy string
	var upAccess []string
	update := &cobra.Command{
		Use:   "update NAME",
		Short: "Set a key's release policy or access list",
		Args:  cobra.ExactArgs(1),
		RunE: do(func(ctx context.Context, c *kmsclient.Client, a []string) (any, error) {
			var req api.UpdateKey
			var err error
			if req.ReleasePolicy, err = readOptional(upPolicy); err != nil {
				return nil, err
			}
			if upAccess != nil {
				if req.Access, err = parseAccess(upAccess); err != nil {
					return nil, err
				}
			}
			return c.Update(ctx, a[0], req)
		}),
	}
	update.Flags().StringVar(&upPolicy, "release-policy", "", "release policy (JSON)")
	update.Flags().StringArrayVar(&upAccess, "access", nil, "grant PRINCIPAL=OP[,OP…] (repeatable; replaces the list)")
	cmd.AddCommand(update)

	cmd.AddCommand(&cobra.Command{Use: "rotate NAME", Short: "Add a new key version", Args: cobra.ExactArgs(1),
		RunE: do(func(ctx context.Context, c *kmsclient.Client, a []string) (any, error) { return c.Rotate(ctx, a[0]) })})
	cmd.AddCommand(&cobra.Command{Use: "get NAME", Short: "Describe a key", Args: cobra.ExactArgs(1),
		RunE: do(func(ctx context.Context, c *kmsclient.Client, a []string) (any, error) { return c.Get(ctx, a[0]) })})
	cmd.AddCommand(&cobra.Command{Use: "list", Short: "List the keys", Args: cobra.NoArgs,
		RunE: do(func(ctx context.Context, c *kmsclient.Client, a []string) (any, error) { return c.List(ctx) })})
	cmd.AddCommand(&cobra.Command{Use: "delete NAME", Short: "Delete a key", Args: cobra.ExactArgs(1),
		RunE: do(func(ctx context.Context, c *kmsclient.Client, a []string) (any, error) {
			return nil, c.Delete(ctx, a[0])
		})})

	var opReq api.OpRequest
	var inFile string
	for _, op := range []string{api.OpWrapKey, api.OpUnwrapKey, api.OpSign, api.OpVerify, api.OpEncrypt, api.OpDecrypt} {
		oc := &cobra.Command{
			Use:   op + " NAME",
			Short: "Run " + op + " in the broker; input and output base64url",
			Args:  cobra.ExactArgs(1),
			RunE: do(func(ctx context.Context, c *kmsclient.Client, a []string) (any, error) {
				if inFile != "" {
					b, err := os.ReadFile(inFile)
					if err != nil {
						return nil, err
					}
					opReq.Value = base64.RawURLEncoding.EncodeToString(b)
				}
				return c.Op(ctx, a[0], op, opReq)
			}),
		}
		oc.Flags().StringVar(&opReq.Alg, "alg", "", "algorithm (RSA-OAEP, RSA-OAEP-256, A256GCM, ES256, PS256, …)")
		oc.Flags().IntVar(&opReq.Version, "version", 0, "key version (default: newest)")
		oc.Flags().StringVar(&opReq.Value, "value", "", "input, base64url")
		oc.Flags().StringVar(&inFile, "in", "", "input file (raw bytes) instead of --value")
		oc.Flags().StringVar(&opReq.Signature, "signature", "", "signature to verify, base64url")
		oc.Flags().StringVar(&opReq.AAD, "aad", "", "additional data for A*GCM, base64url")
		oc.MarkFlagRequired("alg")
		cmd.AddCommand(oc)
	}

	var attestURL, attestPolicy, relOut string
	var relVersion int
	var relClaims []string
	release := &cobra.Command{
		Use:   "release NAME",
		Short: "Secure key release for this enclave: token binding a fresh key, then the key (private JWK printed)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := connect()
			if err != nil {
				return err
			}
			as, err := attestClient(attestURL, attestPolicy)
			if err != nil {
				return err
			}
			extra := map[string]any{}
			for _, kv := range relClaims {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					return fmt.Errorf("--claim %q: want NAME=VALUE", kv)
				}
				extra[k] = v
			}
			p, err := self.connect(cmd.Context())
			if err != nil {
				return err
			}
			defer p.Close()
			k, v, err := c.ReleaseFor(cmd.Context(), as, p, args[0], relVersion, extra)
			if err != nil {
				return err
			}
			b, err := k.MarshalJSON()
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "released %s version %d\n", args[0], v)
			return writeOut(cmd, relOut, append(b, '\n'))
		},
	}
	release.Flags().StringVar(&attestURL, "attest", os.Getenv("CONFIDE_ATTEST_URL"), "attestation service URL (default $CONFIDE_ATTEST_URL)")
	release.Flags().StringVar(&attestPolicy, "attest-policy", "", "policy the attestation service's attested TLS must satisfy (default $"+serverPolicyEnv+")")
	release.Flags().IntVar(&relVersion, "version", 0, "key version (default: newest)")
	release.Flags().StringArrayVar(&relClaims, "claim", nil, "NAME=VALUE runtime claim to present (repeatable)")
	release.Flags().StringVarP(&relOut, "output", "o", "", "file for the released JWK (default: standard output)")
	cmd.AddCommand(release)

	auditCmd := &cobra.Command{Use: "audit", Short: "Export and verify the broker's hash-chained audit log"}
	var auditOut string
	auditCmd.AddCommand(&cobra.Command{
		Use:   "export",
		Short: "Fetch the audit log (admin), verify it against the head the broker reports, write it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := connect()
			if err != nil {
				return err
			}
			var buf bytes.Buffer
			head, err := c.Audit(cmd.Context(), &buf)
			if err != nil {
				return err
			}
			h, _, err := audit.Verify(bytes.NewReader(buf.Bytes()))
			if err != nil {
				return err
			}
			if h != head {
				return fmt.Errorf("the exported log ends at %d %s, but the broker reports %d %s", h.Seq, h.Hash, head.Seq, head.Hash)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "audit log verified: %d records, head %s\n", h.Seq, h.Hash)
			return writeOut(cmd, auditOut, buf.Bytes())
		},
	})
	auditCmd.Commands()[0].Flags().StringVarP(&auditOut, "output", "o", "", "file to write (default: standard output)")
	var wantHead string
	verify := &cobra.Command{
		Use:   "verify FILE",
		Short: "Verify an exported audit log's hash chain, and optionally its head",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			h, recs, err := audit.Verify(io.Reader(f))
			if err != nil {
				return err
			}
			if wantHead != "" && wantHead != h.Hash {
				return fmt.Errorf("%w: the log ends at %s, not at the expected head %s", audit.ErrBroken, h.Hash, wantHead)
			}
			denied := 0
			for _, r := range recs {
				if r.Outcome == audit.Denied {
					denied++
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ok: %d records (%d denials), head %d %s\n", len(recs), denied, h.Seq, h.Hash)
			return nil
		},
	}
	verify.Flags().StringVar(&wantHead, "head", "", "hash the last record must have")
	auditCmd.AddCommand(verify)
	cmd.AddCommand(auditCmd)
	return cmd
}

func readOptional(path string) (json.RawMessage, error) {
	if path == "" {
		return nil, nil
	}
	return os.ReadFile(path)
}

func parseAccess(grants []string) (map[string][]string, error) {
	if grants == nil {
		return nil, nil
	}
	m := map[string][]string{}
	for _, g := range grants {
		who, ops, ok := strings.Cut(g, "=")
		if !ok || who == "" || ops == "" {
			return nil, fmt.Errorf("--access %q: want PRINCIPAL=OP[,OP…]", g)
		}
		m[who] = append(m[who], strings.Split(ops, ",")...)
	}
	return m, nil
}
