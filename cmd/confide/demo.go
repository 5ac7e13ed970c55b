package main

import (
	"fmt"

	"github.com/spf13/cobra"

	obldemo "github.com/confide/confide/oblivious/demo"
)

func newDemoCmd() *cobra.Command {
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
	cmd.AddCommand(obl)
	return cmd
}
