// Package sgx is confide's Intel SGX backend: a [Verifier] that runs
// anywhere and an [Attester] that runs inside an enclave under Gramine-SGX
// ([Gramine]) or EGo ([EGo]), its [Runtime].
// Quotes are read and verified by package dcap, in pure Go, following
// Intel's Quote Verification Library (spec/evidence-sgx.md).
//
// # What a quote proves
//
// An SGX quote is the enclave's report — MRENCLAVE, MRSIGNER, the ISV
// product ID and SVN, attributes, 64 bytes of report data — signed by an
// attestation key that Intel's quoting enclave (QE) vouches for in its own
// report, which the platform's PCK key signs; the PCK certificate chains
// to Intel's SGX Root CA. Whether the platform is patched is Intel's
// collateral's answer: the TCB info for its FMSPC rates the PCK
// certificate's component SVNs, the QE identity rates the QE, and the
// verdict is the two converged, with Intel's advisory IDs.
//
// # Collateral is an input
//
// The verifier never fetches anything: [Config.Collateral] is required,
// usually [CollateralFS] over a directory that a job refreshes from a
// PCCS or from Intel PCS (the layout is in CollateralFS). Collateral is
// signed, so it needs no protection, but it expires (TCB info and QE
// identity within about a month): stale collateral makes verification
// fail with dcap.ErrExpired, reported apart from any TCB status. The
// verifier remembers what it has verified, by content, so a refreshed
// directory takes effect at once.
//
// # Claims
//
//   - unique ID is MRENCLAVE; signer ID is MRSIGNER; product ID and SVN
//     are the ISV product ID and SVN; debug is ATTRIBUTES.DEBUG.
//   - config ID is the KSS CONFIGID (64 bytes) when the enclave uses KSS,
//     else zeros. No SGX report field carries a manifest hash: Gramine
//     folds the manifest into MRENCLAVE, and the host chooses CONFIGID
//     (Gramine's seal keys ignore it). So on SGX each confide service is
//     its own Gramine enclave with its own manifest and ISV product ID,
//     and policies pin MRENCLAVE (or MRSIGNER with product ID and SVN).
//   - TCB status is the converged status; the verifier accepts only
//     UpToDate unless [Config.AcceptStatuses] names more (many platforms'
//     best level is SWHardeningNeeded).
//
// # Sealing
//
// Gramine derives its sealing keys (/dev/attestation/keys) from the
// enclave's MRENCLAVE or MRSIGNER and from the current CPU SVN and ISV
// SVN; so does Open Enclave under EGo. The Attester maps MRENCLAVE to SealUnique and MRSIGNER to
// SealProduct (the product ID and the requested SVN, at most the
// enclave's own, in the derivation) — but a microcode update changes
// every key, and an enclave upgrade changes the product keys: on SGX an
// upgraded enclave cannot read what an earlier version sealed, which
// SealProduct promises elsewhere. A service's sealed state on SGX must
// therefore stay recoverable without the seal key: the key broker
// releases keys to attested enclaves and, like the attestation service,
// migrates its own secrets to a successor, and the ledger recovers through
// its members (docs/sgx.md).
package sgx
