// Package attestsvc is confide's attestation service: a relying party asks
// it "is this really enclave X on a genuine TEE?" and gets a signed
// answer, an attestation token (spec/attestation-token.md).
//
// # The exchange
//
// An enclave asks for a challenge (POST /v1/challenge: a 32-byte nonce,
// single use, valid for NonceLifetime), has its platform produce evidence
// whose report data starts with the nonce and, in its second half, hashes
// the runtime data it wants bound (a public key, a JSON document of
// claims), and sends evidence, nonce and runtime data (POST /v1/attest).
// The service spends the nonce, verifies the evidence with the configured
// backends (attest.Verifier: sim, SNP, TDX), checks the nonce and the
// runtime data binding, applies the named policy if any, and signs a JWT
// with the evidence's claims, the runtime data (and, when it is a JSON
// object, its members as runtime.* claims), the policy reference and the
// verdict. Relying parties verify tokens with the JWKS (GET /v1/certs),
// for example with token.Verifier and client.KeySet.
//
// # Policies
//
// Named appraisal policies (attest.Policy grammar) are stored versioned:
// each PUT makes a new version, a delete leaves the history. Changes need
// an administrator's bearer token (internal/auth principals) and are
// recorded in the hash-chained audit log (package audit) in the same
// transaction.
//
// # Keys and state
//
// Token signing keys (P-256, ES256) rotate every KeyLifetime; retired
// keys stay published until their last tokens expire. The keys and the
// audit log's MAC key are sealed to the service's enclave identity
// (product policy: an upgrade with the same signer keeps them) and kept,
// with the policies and the audit log, in a kvstore.Store.
//
// # Errors
//
// Every refusal is a 4xx with a JSON error naming what was wrong with the
// request: malformed or oversized bodies, unknown fields, unknown, used or
// expired nonces, evidence that does not verify or carries another nonce,
// unbound runtime data, unknown policies, policy denials (403, with the
// reason). Internal errors are logged and answered "internal error".
//
// The HTTP layer (Handler) is thin: Challenge, Attest, PutPolicy and the
// other methods are the service, usable without HTTP.
package attestsvc
