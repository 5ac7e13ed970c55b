// Package atls is attested TLS: TLS 1.3 in which a party's certificate
// carries evidence from its TEE, and the peer verifies that evidence, and
// a policy, during the handshake.
//
// An enclave generates a fresh P-256 key inside the enclave and asks its
// platform for evidence whose report data binds the key (bytes 32–63 are
// the SHA-256 of the certificate's SubjectPublicKeyInfo). The evidence goes
// into a non-critical certificate extension (OIDEvidence), in a
// self-signed certificate. The TLS handshake then proves that the peer
// holds the key; the evidence proves the key was made by the measured
// code; the policy decides whether that code is acceptable. The host only
// ever relays ciphertext.
//
// Evidence in a certificate has no verifier nonce (it is made before any
// peer asks), so freshness comes from the certificate's short validity
// (CertLifetime, 24 hours by default, renewed at half-life), which the
// verifier checks on every handshake. Format: spec/atls.md.
//
// Both one-way (only the server attested) and mutual configurations are
// supported: a Config with an Attester presents evidence, one with a
// Verifier and Policy demands it.
package atls
