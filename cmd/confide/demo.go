package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	kmsclient "github.com/confide/confide/kms/client"
	"github.com/confide/confide/ledger/eth"
	"github.com/confide/confide/ledger/eth/ethdemo"
	"github.com/confide/confide/ledger/sandbox"
	"github.com/confide/confide/ml/mpdemo"
	obldemo "github.com/confide/confide/oblivious/demo"
	"github.com/confide/confide/sql/financedemo"
)

func newDemoCmd(self *launched) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Demonstrations of confide's subsystems",
		Args:  cobra.NoArgs,
	}
	var out, model string
	obl := &cobra.Command{
		Use:   "oblivious",
		Short: "Show what oblivious decision-tree inference hides from an observer of memory accesses",
		Long: `Trains a small decision tree (CART, depth 4) on the Wisconsin breast-cancer data
set (no heart-disease data set is packaged here), predicts two patients with the
ordinary tree walk and with oblivious inference, records every memory access of
each prediction, reports whether the two patients' traces differ, and writes the
figure accesses.svg into --out.

Recording needs a binary built with the obltrace tag:

  go run -tags obltrace ./cmd/confide demo oblivious --out /tmp`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var secret bool
			switch model {
			case "public":
			case "secret":
				secret = true
			default:
				return fmt.Errorf("%w: --model %q: want public or secret", errUsage, model)
			}
			return obldemo.Run(cmd.OutOrStdout(), obldemo.Options{Dir: out, Secret: secret})
		},
	}
	obl.Flags().StringVar(&out, "out", ".", "directory to write accesses.svg into")
	obl.Flags().StringVar(&model, "model", "public", "public (the input is secret) or secret (the model is too)")
	var positions int
	fin := &cobra.Command{
		Use:   "finance",
		Short: "A wealth manager's analytics on encrypted portfolios, computed in the SQL enclave",
		Long: `Builds a wealth manager's database — clients, positions (quantity, price) and
the instruments' daily returns — with every sensitive column encrypted under an
enclave-enabled key, on a confide SQL server with its SQL enclave on this
machine's platform (SIMULATED unless CONFIDE_PLATFORM names hardware). Through
the ordinary driver it computes each client's portfolio value, the exposure by
sector and a one-day 95% historical value-at-risk per client, prints them and
what a DBA sees of the same rows, and checks every figure against the same
computation on the plaintext with the same exact decimal arithmetic.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := self.connect(cmd.Context())
			if err != nil {
				return err
			}
			defer p.Close()
			id, err := p.Identity(cmd.Context())
			if err != nil {
				return err
			}
			v, err := newVerifier("", hardwareOptions{})
			if err != nil {
				return err
			}
			// The driver attests the enclave as this very binary on this
			// platform (a demo's policy; production policies pin a signer
			// and refuse simulation).
			policy := fmt.Sprintf(`{"version":"1.0.0","allOf":[{"claim":"platform","equals":%q},{"claim":"unique_id","equals":"%x"}]}`, id.Platform, id.UniqueID)
			fmt.Fprintf(cmd.OutOrStdout(), "SQL enclave on the %s platform (unique ID %x)\n\n", id.Platform, id.UniqueID)
			return financedemo.Run(cmd.Context(), cmd.OutOrStdout(), financedemo.Options{
				Positions: positions, Platform: p, Verifier: v, Policy: []byte(policy)})
		},
	}
	fin.Flags().IntVar(&positions, "rows", 2000, "positions to generate (a client per 20)")
	cmd.AddCommand(obl, fin, demoEthCmd(), demoMPMLCmd(self))
	return cmd
}

func demoMPMLCmd(self *launched) *cobra.Command {
	var out, kmsPolicy string
	c := &cobra.Command{
		Use:   "mpml",
		Short: "Three hospitals train one model without sharing their patients: solo against joint accuracy",
		Long: `Three hospitals each hold an uneven share of the Wisconsin breast-cancer data
(569 patients, 30 features); a quarter of the patients are common test rows.
Each hospital trains boosted trees alone; then all three train jointly through
the multi-party protocol (spec/ml-manifest.md): each encrypts its rows under its
own key, every hospital signs the manifest, each stores its key in the key
broker releasable only to this trainer's code for this manifest, and the
trainer — this process, on this machine's platform (SIMULATED unless
CONFIDE_PLATFORM names hardware) — obtains the keys by secure key release,
trains on the union and seals the model to each hospital. It prints each
model's accuracy on the common test rows, writes everything the untrusted host
held into --out/host (checked to hold no plaintext record) and the chart
--out/accuracy.svg.

It needs the attestation service and the key broker: run confide dev and export
what it prints (CONFIDE_ATTEST_URL, CONFIDE_KMS_URL, CONFIDE_SERVER_POLICY,
CONFIDE_TOKEN_FILE).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			asURL := os.Getenv("CONFIDE_ATTEST_URL")
			as, err := attestClient(asURL, "")
			if err != nil {
				return err
			}
			kmsURL := os.Getenv("CONFIDE_KMS_URL")
			if kmsURL == "" {
				return errors.New("no $CONFIDE_KMS_URL: run confide dev and export what it prints")
			}
			hc, err := httpClient(kmsURL, kmsPolicy)
			if err != nil {
				return err
			}
			kc := kmsclient.New(kmsURL, hc)
			if kc.Bearer, err = bearer(); err != nil {
				return err
			}
			p, err := self.connect(ctx)
			if err != nil {
				return err
			}
			defer p.Close()
			return mpdemo.Run(ctx, cmd.OutOrStdout(), mpdemo.Options{Dir: out, Platform: p, AS: as, ASURL: asURL, KMS: kc})
		},
	}
	c.Flags().StringVar(&out, "out", ".", "directory for host/ and accuracy.svg")
	c.Flags().StringVar(&kmsPolicy, "kms-policy", "", "policy the key broker's attested TLS must satisfy (default $"+serverPolicyEnv+")")
	return c
}

func demoEthCmd() *cobra.Command {
	var out, geth string
	var transfers, accounts int
	var noGeth bool
	c := &cobra.Command{
		Use:   "eth",
		Short: "Coco Ethereum versus Ethereum: one ERC-20 workload on a 3-node confide ledger and on geth",
		Long: `Runs the same workload — deploy an ERC-20 token, give each of --accounts
funded accounts tokens, then --transfers transfers among them, each account
waiting for its receipt before its next (a closed loop: at most --accounts in
flight) — against a 3-node confide ledger running the Ethereum app (public
mode, SIMULATED TEE unless CONFIDE_PLATFORM names hardware), against geth
--dev with instant sealing, and against geth --dev with a block every 12 s
(public Ethereum's block time; it runs three blocks' worth of transfers).
Every run is checked: balances sum to the supply and match the Transfer
events. It prints committed transfers/s and p50/p99 latency side by side and
writes eth.svg and results.json into --out.

geth is the release this binary is built with: found on PATH or in
$CONFIDE_HOME/bin, else built there with go install (a few minutes) when go is
installed, else the geth runs are skipped. All on this machine, on loopback.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w := cmd.OutOrStdout()
			ctx := cmd.Context()
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			h, err := home()
			if err != nil {
				return err
			}
			if geth == "" && !noGeth {
				geth = ethdemo.FindGeth(filepath.Join(h, "bin"), cmd.ErrOrStderr())
			}
			tmp, err := os.MkdirTemp("", "confide-demo-eth-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(tmp)
			start := func(ctx context.Context) (ethdemo.Endpoint, error) {
				dir := filepath.Join(tmp, "ledger")
				sb, err := sandbox.Start(sandbox.Options{Nodes: 3, Dir: dir, Log: io.Discard, Eth: &sandbox.EthOptions{},
					Command: func(cfg string) []string { return []string{exe, "ledger", "node", "--config", cfg} }})
				if err != nil {
					return ethdemo.Endpoint{}, err
				}
				rctx, cancel := context.WithCancel(ctx)
				ran := make(chan struct{})
				go func() { sb.Run(rctx); close(ran) }()
				stopLedger := func() { cancel(); <-ran }
				p, info, err := startSandboxEth(ctx, dir, "127.0.0.1:0", eth.Public)
				if err != nil {
					stopLedger()
					return ethdemo.Endpoint{}, err
				}
				stop := func() { p.stop(); stopLedger() }
				// The chain's genesis is written once a primary is elected.
				for deadline := time.Now().Add(time.Minute); !ethdemo.Up(info.RPCURL); time.Sleep(100 * time.Millisecond) {
					if time.Now().After(deadline) {
						stop()
						return ethdemo.Endpoint{}, errors.New("the ledger's Ethereum app did not answer within a minute")
					}
				}
				return ethdemo.Endpoint{RPC: info.RPCURL, AccountsFile: filepath.Join(dir, sandbox.EthAccountsFile), Stop: stop}, nil
			}
			_, err = ethdemo.Run(ctx, w, ethdemo.Options{Dir: out, Transfers: transfers, Senders: accounts, Geth: geth, NoGeth: noGeth,
				Confide: start, Log: cmd.ErrOrStderr()})
			return err
		},
	}
	c.Flags().StringVar(&out, "out", ".", "directory to write eth.svg and results.json into")
	c.Flags().StringVar(&geth, "geth", "", "the geth binary (default: found or built, see above)")
	c.Flags().BoolVar(&noGeth, "no-geth", false, "run confide alone")
	c.Flags().IntVar(&transfers, "transfers", 2000, "transfers against confide and instant geth")
	c.Flags().IntVar(&accounts, "accounts", 64, "funded accounts, each with one transfer in flight")
	return c
}
