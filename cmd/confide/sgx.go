package main

import (
	"encoding/hex"
	"fmt"
	"os"

	"github.com/confide/confide/enclave/dcap"
	"github.com/confide/confide/enclave/sgx"
	"github.com/spf13/cobra"
)

// newSGXCmd is `confide sgx`: Intel SGX collateral for air-gapped
// verifiers.
func newSGXCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "sgx", Short: "Intel SGX: collateral for verifiers"}
	col := &cobra.Command{Use: "collateral", Short: "Intel PCS collateral (TCB info, QE identity, CRLs)"}
	var o sgx.FetchOptions
	var fmspcs []string
	var rootFile string
	fetch := &cobra.Command{
		Use:   "fetch",
		Short: "Fetch collateral from a PCCS or Intel PCS into a directory (checked before anything is written)",
		Long: `Fetch collateral for the given platform models (FMSPC) from a PCCS or Intel PCS (v4 API) into
--out, in the layout 'confide attest verify --sgx-collateral DIR' reads (spec/evidence-sgx.md).
Every piece is verified under Intel's SGX Root CA (or --root) before any file is written, and
each file is replaced whole, so a failed or poisoned fetch leaves the directory as it was.
Run it on a connected machine; copy the directory to the verifier.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, f := range fmspcs {
				b, err := hex.DecodeString(f)
				if err != nil || len(b) != 6 {
					return fmt.Errorf("--fmspc %q: 12 hex digits", f)
				}
				o.FMSPCs = append(o.FMSPCs, [6]byte(b))
			}
			if rootFile != "" {
				b, err := os.ReadFile(rootFile)
				if err != nil {
					return err
				}
				certs, err := dcap.ParseCertificates(b)
				if err != nil {
					return err
				}
				o.Roots = certs
			}
			if err := sgx.Fetch(cmd.Context(), o); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "collateral for %d platform model(s) in %s\n", len(o.FMSPCs), o.Dir)
			return nil
		},
	}
	fetch.Flags().StringVar(&o.Base, "pccs", "", "PCCS or Intel PCS base URL, e.g. https://api.trustedservices.intel.com")
	fetch.Flags().StringSliceVar(&fmspcs, "fmspc", nil, "platform model(s), 12 hex digits each")
	fetch.Flags().StringSliceVar(&o.CAs, "ca", nil, "PCK CRLs to fetch: platform, processor (default both)")
	fetch.Flags().StringVar(&o.RootCRL, "root-crl", "", "URL of the root CA CRL (default: the service's /sgx/certification/v4/rootcacrl)")
	fetch.Flags().StringVar(&rootFile, "root", "", "root CA (PEM) trusted instead of Intel's SGX Root CA (tests, private PKIs)")
	fetch.Flags().StringVar(&o.Dir, "out", "", "directory to write")
	fetch.MarkFlagRequired("pccs")
	fetch.MarkFlagRequired("fmspc")
	fetch.MarkFlagRequired("out")
	col.AddCommand(fetch)
	cmd.AddCommand(col)
	return cmd
}
