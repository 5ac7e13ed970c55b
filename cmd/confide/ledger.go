package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"

	"github.com/confide/confide/enclave"
	"github.com/confide/confide/ledger/app"
	"github.com/confide/confide/ledger/audit"
	"github.com/confide/confide/ledger/eth"
	"github.com/confide/confide/ledger/identity"
	"github.com/confide/confide/ledger/network"
	"github.com/confide/confide/ledger/receipt"
	"github.com/confide/confide/ledger/sandbox"
)

func newLedgerCmd(self *launched) *cobra.Command {
	cmd := &cobra.Command{Use: "ledger", Short: "Confidential consortium ledger: replicated, encrypted, Merkle-tree ledger with receipts"}

	var config string
	nodeCmd := &cobra.Command{
		Use:   "node",
		Short: "Run one ledger node (its configuration as `ledger sandbox` writes it)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if os.Getenv("GOGC") == "" {
				// A node allocates per request and per entry while its live
				// heap (state, tree) stays small: collecting at twice the
				// live heap rather than once over cuts the collector's share
				// of the primary's CPU under load (docs/benchmarks.md).
				debug.SetGCPercent(200)
			}
			b, err := os.ReadFile(config)
			if err != nil {
				return err
			}
			var cfg network.Config
			if err := json.Unmarshal(b, &cfg); err != nil {
				return fmt.Errorf("%s: %w", config, err)
			}
			ctx := cmd.Context()
			p, err := self.connect(ctx)
			if err != nil {
				return fmt.Errorf("ledger node: the platform that seals its secrets: %w", err)
			}
			defer p.Close()
			id, err := p.Identity(ctx)
			if err != nil {
				return err
			}
			sealer, closeSealer, err := self.sealer(ctx)
			if err != nil {
				return err
			}
			defer closeSealer()
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil)).With("service", "ledger", "node", cfg.ID)
			v, err := newVerifier("", hardwareOptions{})
			if err != nil {
				return err
			}
			//confide:ignore false positive: the checker merges the node's sealer (its sealing key) with the context, the logger and the addresses passed beside it; the key only seals and unseals the node's secrets, nothing of it is written or printed
			r, err := network.Start(ctx, cfg, network.Enclave{Sealer: sealer, Platform: p, Verifier: v}, log)
			if err != nil {
				return err
			}
			kind := "hardware"
			if id.Platform == enclave.PlatformSim {
				kind = "SIMULATED"
			}
			links := "node-to-node TLS attested (peers must run this code)"
			if !r.Attested {
				links = "node-to-node TLS NOT attested"
			}
			//confide:ignore false positive: the checker merges the node's sealer (its sealing key) with the context, the logger and the addresses passed beside it; the key only seals and unseals the node's secrets, nothing of it is written or printed
			fmt.Fprintf(cmd.OutOrStdout(), "ledger node %d: rpc https://%s raft %s (%s TEE, %s; %s)\n", cfg.ID, r.RPCAddr, r.RaftAddr, kind, id.Platform, links)
			<-ctx.Done()
			//confide:ignore false positive: the checker merges the node's sealer (its sealing key) with the node it started; stopping the node flushes ledger frames, which never hold the sealing key
			return r.Stop()
		},
	}
	nodeCmd.Flags().StringVar(&config, "config", "", "the node's configuration (JSON)")
	nodeCmd.MarkFlagRequired("config")

	var nodes, signMS int
	var dir, ethListen string
	var members, threshold int
	var withEth, ethPrivate bool
	sandboxCmd := &cobra.Command{
		Use:   "sandbox",
		Short: "Start an N-node ledger network on loopback, with members and users, until interrupted",
		Long: `sandbox writes service_cert.pem; the founding members of governance,
member0 … (--members, default 3), each with MEMBER_cert.pem/MEMBER_privk.pem
and an encryption key pair MEMBER_enc_pubk.pem/MEMBER_enc_privk.pem (recovery
members; member0 is also an Administrator of the ledger API);
user0_cert.pem/user0_privk.pem (a Contributor), user1_cert.pem/user1_privk.pem
(a Reader); and nodes.json into --dir, starts one process per node, and
restarts a node that dies. Run again over the same --dir, the nodes unseal their secrets and
replay their ledger files. The nodes run on the SIMULATED TEE unless
CONFIDE_PLATFORM names hardware.

With --eth the network runs the Ethereum app (public mode, as geth --dev,
unless --private) with funded development accounts, and the sandbox serves a
JSON-RPC proxy for user0 on loopback (--eth-listen); it writes eth.json:
{"rpc_url", "chain_id", "mode", "accounts": [{"address", "private_key"}]}.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			abs, err := filepath.Abs(dir)
			if err != nil {
				return err
			}
			opts := sandbox.Options{Nodes: nodes, Dir: abs, SignIntervalMS: signMS, Log: cmd.ErrOrStderr(),
				Members: members, RecoveryThreshold: threshold,
				Command: func(cfg string) []string { return []string{exe, "ledger", "node", "--config", cfg} }}
			if withEth {
				opts.Eth = &sandbox.EthOptions{Private: ethPrivate}
			}
			sb, err := sandbox.Start(opts)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "ledger sandbox: %d nodes (nodes.json in %s)\n", nodes, abs)
			for _, n := range sb.Nodes() {
				fmt.Fprintf(out, "  node %d: https://%s (pid %d)\n", n.RaftID, n.RPCAddress, n.PID)
			}
			if withEth {
				mode := eth.Public
				if ethPrivate {
					mode = eth.Private
				}
				p, info, err := startSandboxEth(cmd.Context(), abs, ethListen, mode)
				if err != nil {
					sb.Stop()
					return err
				}
				defer p.stop()
				fmt.Fprintf(out, "ethereum: %s (chain %d, %s mode, as user0; eth.json in %s)\n", info.RPCURL, info.ChainID, mode, abs)
				if len(info.Accounts) > 0 {
					fmt.Fprintf(out, "  funded account %s, key %s (development only)\n", info.Accounts[0].Address, info.Accounts[0].PrivateKey)
				}
			}
			if ns := sb.Nodes(); len(ns) > 0 {
				fmt.Fprintf(out, "try: curl --cacert %[1]s/service_cert.pem --cert %[1]s/user0_cert.pem --key %[1]s/user0_privk.pem https://%[2]s/app/commit\n", abs, ns[0].RPCAddress)
			}
			return sb.Run(cmd.Context())
		},
	}
	sandboxCmd.Flags().IntVar(&nodes, "nodes", 3, "number of nodes")
	sandboxCmd.Flags().IntVar(&members, "members", 3, "number of founding members (all recovery members)")
	sandboxCmd.Flags().IntVar(&threshold, "recovery-threshold", 1, "member shares a recovery needs")
	sandboxCmd.Flags().StringVar(&dir, "dir", "ledger-sandbox", "directory of the network's identities, nodes.json and the nodes' state")
	sandboxCmd.Flags().IntVar(&signMS, "sign-interval-ms", 0, "longest time between signature transactions (default 50)")
	sandboxCmd.Flags().BoolVar(&withEth, "eth", false, "run the Ethereum app with funded development accounts and a JSON-RPC proxy")
	sandboxCmd.Flags().BoolVar(&ethPrivate, "private", false, "with --eth: the private mode (users see only what is theirs)")
	sandboxCmd.Flags().StringVar(&ethListen, "eth-listen", "127.0.0.1:0", "with --eth: the proxy's loopback address")

	var serviceCert string
	verifyCmd := &cobra.Command{
		Use:   "verify-receipt RECEIPT",
		Short: "Verify a transaction receipt offline against the service certificate",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			svc, err := readCert(serviceCert)
			if err != nil {
				return err
			}
			b, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			// The API's answer wraps the receipt; a bare receipt works too.
			var wrapped struct {
				Receipt json.RawMessage `json:"receipt"`
			}
			if json.Unmarshal(b, &wrapped) == nil && len(wrapped.Receipt) > 0 {
				b = wrapped.Receipt
			}
			r, err := receipt.Parse(b)
			if err != nil {
				return err
			}
			if err := r.Verify(svc); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "receipt verified: transaction %s is in the ledger under the root node %s… signed at %d.%d\n",
				r.TxID, r.Signature.Node[:16], r.Signature.View, r.Signature.Seqno)
			return nil
		},
	}
	verifyCmd.Flags().StringVar(&serviceCert, "service-cert", "", "the service certificate (PEM)")
	verifyCmd.MarkFlagRequired("service-cert")

	auditCmd := &cobra.Command{
		Use:   "audit DIR",
		Short: "Replay ledger files: recompute the Merkle tree, check every signature, report the first corrupt byte range",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			svc, err := readCert(serviceCert)
			if err != nil {
				return err
			}
			d := args[0]
			if fi, err := os.Stat(filepath.Join(d, "ledger")); err == nil && fi.IsDir() {
				d = filepath.Join(d, "ledger") // a node's directory
			}
			r, err := audit.Dir(d, svc)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if r.Corrupt != nil {
				return fmt.Errorf("ledger audit: CORRUPT: %s", r.Corrupt)
			}
			fmt.Fprintf(out, "ledger audit: ok: %d transactions, %d signatures verified, signed through seqno %d, %d after the last signature\n",
				r.Transactions, r.Signatures, r.LastSigned, r.Unsigned)
			return nil
		},
	}
	auditCmd.Flags().StringVar(&serviceCert, "service-cert", "", "the service certificate (PEM)")
	auditCmd.MarkFlagRequired("service-cert")

	cmd.AddCommand(nodeCmd, sandboxCmd, verifyCmd, auditCmd, govCmd(), recoverCmd(self))
	return cmd
}

func readCert(path string) (*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c, err := identity.ParseCert(b)
	if err != nil {
		return nil, errors.New(path + ": " + err.Error())
	}
	return c, nil
}

// startDevLedger runs a one-node ledger inside dev, its secrets sealed to
// dev's identity, its state under dir (kept across runs).
func startDevLedger(ctx context.Context, self *launched, dir, addr string, private bool) (*network.Running, error) {
	if err := sandbox.Prepare(sandbox.Options{Nodes: 1, Dir: dir, Eth: &sandbox.EthOptions{Private: private}}); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(dir, "nodes", "1", "config.json"))
	if err != nil {
		return nil, err
	}
	var cfg network.Config
	if err := json.Unmarshal(b, &cfg); err != nil {
		return nil, err
	}
	cfg.RPCAddr, cfg.RaftAddr = addr, "127.0.0.1:0"
	sealer, closeSealer, err := self.sealer(ctx)
	if err != nil {
		return nil, err
	}
	go func() { <-ctx.Done(); closeSealer() }()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})).With("service", "ledger")
	// One node: no peers to attest.
	//confide:ignore false positive: the checker merges the node's sealer (its sealing key) with the context, the logger and the addresses passed beside it; the key only seals and unseals the node's secrets, nothing of it is written or printed
	r, err := network.Start(ctx, cfg, network.Enclave{Sealer: sealer}, log)
	if err != nil {
		return nil, err
	}
	// Ready means usable: wait for the genesis (users, the chain) that the
	// node writes once it is primary.
	for deadline := time.Now().Add(15 * time.Second); r.Node.Store().Len(app.MapUsers) == 0 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	return r, nil
}
