// Package dcap reads and verifies Intel DCAP ECDSA quotes — the evidence
// of SGX enclaves (formats 3 and 4) and TDX trust domains (format 4) on
// platforms attested through Intel's Data Center Attestation Primitives.
//
// A quote is an enclave's report (or a TD's) signed by an attestation key
// that Intel's quoting enclave (QE) generated; the QE's own SGX report,
// which binds that key, is signed by the platform's PCK key, whose
// certificate chains to Intel's SGX Root CA. Parse checks the bytes:
// every length accounts for the bytes exactly, reserved bytes are zero and
// the PCK chain is canonical PEM, so that a parsed quote marshals back to
// exactly the bytes it came from and no byte escapes the checks that
// follow. The layout is in spec/evidence-sgx.md.
package dcap
