package dcap

import (
	"crypto/x509"
	_ "embed"
	"encoding/pem"
)

// intelRootPEM is Intel's SGX Root CA ("Intel SGX Root CA", ECDSA P-256,
// valid 2018–2049), the root of every PCK certificate chain and of every
// piece of Intel PCS collateral, as certificates.trustedservices.intel.com
// serves it.
//
//go:embed intel_sgx_root_ca.pem
var intelRootPEM []byte

// IntelRoots returns a new pool holding only Intel's SGX Root CA.
func IntelRoots() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(IntelRoot())
	return pool
}

// IntelRoot returns Intel's SGX Root CA.
func IntelRoot() *x509.Certificate {
	block, _ := pem.Decode(intelRootPEM)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		panic("dcap: embedded Intel SGX Root CA does not parse: " + err.Error())
	}
	return cert
}
