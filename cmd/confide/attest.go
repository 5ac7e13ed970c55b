package main

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/confide/confide/attest"
	"github.com/confide/confide/enclave"
	"github.com/confide/confide/enclave/sim"
)

func newAttestCmd(self *launched) *cobra.Command {
	cmd := &cobra.Command{Use: "attest", Short: "Produce and verify evidence"}

	var nonceHex, runtimeFile, out string
	ev := &cobra.Command{
		Use:   "evidence",
		Short: "Write evidence for the CLI's own enclave",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			nonce, err := hex.DecodeString(nonceHex)
			if err != nil {
				return fmt.Errorf("--nonce: %w", err)
			}
			var runtime []byte
			if runtimeFile != "" {
				if runtime, err = os.ReadFile(runtimeFile); err != nil {
					return err
				}
			}
			rd, err := enclave.NewReportData(nonce, runtime)
			if err != nil {
				return err
			}
			p, err := self.connect(cmd.Context())
			if err != nil {
				return err
			}
			defer p.Close()
			b, err := p.Evidence(cmd.Context(), rd)
			if err != nil {
				return err
			}
			return writeOut(cmd, out, b)
		},
	}
	ev.Flags().StringVar(&nonceHex, "nonce", "", "verifier's nonce, hex, up to 32 bytes (required)")
	ev.Flags().StringVar(&runtimeFile, "runtime-data", "", "file whose SHA-256 goes into report data bytes 32–63")
	ev.Flags().StringVarP(&out, "output", "o", "", "write evidence here instead of standard output")
	ev.MarkFlagRequired("nonce")
	cmd.AddCommand(ev)

	var policyFile, verifyNonce string
	var simRoot, at string
	var hw hardwareOptions
	vf := &cobra.Command{
		Use:   "verify FILE",
		Short: "Verify evidence: chain to trust roots, nonce, and policy; print claims as JSON",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := readIn(cmd, args[0])
			if err != nil {
				return err
			}
			var want attest.Expect
			if cmd.Flags().Changed("nonce") {
				if want.Nonce, err = hex.DecodeString(verifyNonce); err != nil {
					return fmt.Errorf("--nonce: %w", err)
				}
				if len(want.Nonce) > 32 {
					return enclave.ErrNonceTooLong
				}
			}
			if policyFile != "" {
				pb, err := os.ReadFile(policyFile)
				if err != nil {
					return err
				}
				if want.Policy, err = attest.ParsePolicy(pb); err != nil {
					return err
				}
			}
			if at != "" {
				if hw.at, err = time.Parse(time.RFC3339, at); err != nil {
					return fmt.Errorf("--at: %w", err)
				}
			}
			v, err := newVerifier(simRoot, hw)
			if err != nil {
				return err
			}
			c, err := v.Verify(cmd.Context(), b, want)
			if err != nil {
				return err
			}
			j, _ := json.MarshalIndent(c, "", "  ")
			fmt.Fprintln(cmd.OutOrStdout(), string(j))
			return nil
		},
	}
	vf.Flags().StringVar(&policyFile, "policy", "", "appraisal policy (JSON, Azure SKR grammar)")
	vf.Flags().StringVar(&verifyNonce, "nonce", "", "expected nonce, hex")
	vf.Flags().StringVar(&simRoot, "sim-root", "", "simulated vendor root (PEM); default: this machine's platform root")
	vf.Flags().StringVar(&hw.tdxCollateral, "tdx-collateral", "", "directory of Intel PCS collateral (TCB info, QE identity, CRLs) for TDX evidence")
	vf.Flags().StringVar(&hw.sgxCollateral, "sgx-collateral", "", "directory of Intel PCS collateral (TCB info, QE identity, CRLs) for SGX evidence (spec/evidence-sgx.md)")
	vf.Flags().StringVar(&hw.sgxRoot, "sgx-root", "", "root CA (PEM) trusted for SGX instead of Intel's SGX Root CA (tests, private PKIs)")
	vf.Flags().StringSliceVar(&hw.sgxAccept, "sgx-accept", nil, "TCB statuses accepted for SGX (default UpToDate), e.g. UpToDate,SWHardeningNeeded")
	vf.Flags().StringVar(&at, "at", "", "verification time for SGX evidence and its collateral (RFC 3339), for audits; default now")
	cmd.AddCommand(vf)
	newAttestServiceCmds(self, cmd)
	return cmd
}

// newVerifier trusts this machine's simulated root (or the one given) for
// simulated evidence, and the vendors' real roots for hardware evidence.
//
// Services (the attestation service, the broker, the ledger, …) take their
// Intel collateral directories from CONFIDE_TDX_COLLATERAL and
// CONFIDE_SGX_COLLATERAL (and accepted SGX statuses from
// CONFIDE_SGX_ACCEPT, comma-separated) when no flag names them: without
// one, they reject TDX and SGX evidence.
func newVerifier(simRoot string, hw hardwareOptions) (*attest.Verifier, error) {
	if hw.tdxCollateral == "" {
		hw.tdxCollateral = os.Getenv("CONFIDE_TDX_COLLATERAL")
	}
	if hw.sgxCollateral == "" {
		hw.sgxCollateral = os.Getenv("CONFIDE_SGX_COLLATERAL")
	}
	if a := os.Getenv("CONFIDE_SGX_ACCEPT"); hw.sgxAccept == nil && a != "" {
		hw.sgxAccept = strings.Split(a, ",")
	}
	backends := map[string]enclave.Verifier{}
	if simRoot == "" {
		dir, err := platformDir()
		if err != nil {
			return nil, err
		}
		if roots, err := sim.LoadRoots(dir); err == nil {
			backends[enclave.PlatformSim] = &sim.Verifier{Roots: roots}
		}
	} else {
		b, err := os.ReadFile(simRoot)
		if err != nil {
			return nil, err
		}
		roots, err := parseRoots(b)
		if err != nil {
			return nil, err
		}
		backends[enclave.PlatformSim] = &sim.Verifier{Roots: roots}
	}
	if err := addHardwareVerifiers(backends, hw); err != nil {
		return nil, err
	}
	return &attest.Verifier{Backends: backends}, nil
}

func readIn(cmd *cobra.Command, path string) ([]byte, error) {
	if path == "-" {
		return io.ReadAll(io.LimitReader(cmd.InOrStdin(), enclave.MaxEvidence+1))
	}
	return os.ReadFile(path)
}

func writeOut(cmd *cobra.Command, path string, b []byte) error {
	if path == "" || path == "-" {
		_, err := cmd.OutOrStdout().Write(b)
		return err
	}
	return os.WriteFile(path, b, 0o600)
}
