package main

import (
	"crypto/x509"
	"errors"
	"os"

	"github.com/confide/confide/enclave"
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

// addHardwareVerifiers registers the verifiers for real TEEs, which trust
// the vendors' own roots: AMD's ARK/ASK for SEV-SNP (certificates travel in
// the evidence), Intel's SGX root CA for TDX with collateral read from a
// local directory (confide never fetches collateral over the network during
// verification). Without a collateral directory, TDX evidence is rejected.
func addHardwareVerifiers(backends map[string]enclave.Verifier, tdxCollateral string) error {
	backends[enclave.PlatformSNP] = &snp.Verifier{}
	if tdxCollateral != "" {
		v, err := tdx.NewVerifier(tdx.Config{Collateral: tdx.CollateralFS(os.DirFS(tdxCollateral))})
		if err != nil {
			return err
		}
		backends[enclave.PlatformTDX] = v
	}
	return nil
}
