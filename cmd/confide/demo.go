package main

import (
	"fmt"

	"github.com/spf13/cobra"

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
			v, err := newVerifier("", "")
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
	cmd.AddCommand(obl, fin)
	return cmd
}
