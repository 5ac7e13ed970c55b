package main

import (
	"crypto/x509"
	"errors"
	"os"
	"time"

	"github.com/confide/confide/enclave"
	"github.com/confide/confide/enclave/sgx"
	"github.com/confide/confide/enclave/snp"
	"github.com/confide/confide/enclave/tdx"
)

func parseRoots(pemBytes []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil, errors.New("no PEM certificate in root file")
	}
	return pool, nil
}

// hardwareOptions configure the verifiers of real TEEs.
type hardwareOptions struct {
	tdxCollateral string // directory of Intel PCS collateral for TDX
	sgxCollateral string // directory of Intel PCS collateral for SGX (sgx.CollateralFS)
	sgxRoot       string // PEM root trusted instead of Intel's (tests, private PKIs)
	sgxAccept     []string
	at            time.Time // verification time for SGX (audits); zero: now
}

// addHardwareVerifiers registers the verifiers for real TEEs, which trust
// the vendors' own roots: AMD's ARK/ASK for SEV-SNP (certificates travel in
// the evidence), Intel's SGX root CA for TDX and SGX with collateral read
// from a local directory (confide never fetches collateral over the
// network during verification). Without a collateral directory, TDX and
// SGX evidence is rejected.
func addHardwareVerifiers(backends map[string]enclave.Verifier, o hardwareOptions) error {
	backends[enclave.PlatformSNP] = &snp.Verifier{}
	if o.tdxCollateral != "" {
		v, err := tdx.NewVerifier(tdx.Config{Collateral: tdx.CollateralFS(os.DirFS(o.tdxCollateral))})
		if err != nil {
			return err
		}
		backends[enclave.PlatformTDX] = v
	}
	if o.sgxCollateral != "" {
		cfg := sgx.Config{Collateral: sgx.CollateralFS(os.DirFS(o.sgxCollateral), true), AcceptStatuses: o.sgxAccept}
		if o.sgxRoot != "" {
			b, err := os.ReadFile(o.sgxRoot)
			if err != nil {
				return err
			}
			if cfg.Roots, err = parseRoots(b); err != nil {
				return err
			}
		}
		if !o.at.IsZero() {
			cfg.Now = func() time.Time { return o.at }
		}
		v, err := sgx.NewVerifier(cfg)
		if err != nil {
			return err
		}
		backends[enclave.PlatformSGX] = v
	}
	return nil
}
