// Package sqlenclave is the secure channel between an Always Encrypted
// driver and the SQL enclave inside the confide SQL server
// (spec/ae-enclave.md), modelled on SQL Server's enclave attestation and
// key package.
//
// The enclave (type Enclave) answers an attestation request with a fresh
// ephemeral P-384 key and a session ID, bound with the client's nonce into
// the report data of its evidence. The client (Open) verifies the evidence
// against its policy before it trusts anything, derives the session key by
// ECDH and HKDF-SHA-256, and from then on seals the column encryption keys
// a statement needs into key packages (Session.Package): AES-256-GCM over
// a GUID, a counter that must increase, the SHA-256 of the statement's text
// and the keys. The enclave accepts a package only for the statement it
// was made for and only once, answers every failure with the same
// ErrRejected, and caches accepted keys by name for an hour after their
// last delivery; Missing tells the server, before a statement starts,
// which keys it lacks.
//
// What the host can still do with cached keys — ask the enclave to
// compare cells — is stated in the spec, as SQL Server's documentation
// states it for its enclaves.
//
// With the keys, the enclave computes (issue 25): per-call arithmetic and
// aggregates for SQLite (Arith, NewAggregate), the enclave scan, which
// evaluates a whole aggregate query over a table image it keeps between
// queries (LoadImage, RunImage) or over rows the host streams (NewScan),
// and the oblivious mode's plans (RunOblivious with package oblivq for an
// encrypted group key; RunObliviousImage for plaintext ones), whose
// per-row work is constant-time.
package sqlenclave
