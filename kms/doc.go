// Package kms is confide's key broker: keys "never given to" untrusted
// systems, released only to enclaves that prove, through an attestation
// token, that they satisfy the key owner's release policy — secure key
// release, as Azure Key Vault and Managed HSM offer it — plus key
// operations for callers that are authenticated but not attested
// (spec/key-broker.md).
//
// # Secure key release
//
// The enclave generates an ephemeral key pair, puts the public key as a
// JWK in the member "jwk" of a JSON runtime-data document (with any other
// claims its policies need, such as a job manifest's hash), obtains a
// token from a trusted attestation service (attestsvc) whose evidence
// binds that document, and sends the token to POST
// /v1/keys/{name}/release. The broker verifies the token with the
// issuer's JWKS, evaluates the key's release policy on the token's
// claims (runtime.* included) with the issuer as authority, and returns
// the key version as a JWE encrypted to the ephemeral key (ECDH-ES or
// RSA-OAEP-256, A256GCM). Only the enclave holding the ephemeral private
// key can open it. client.ReleaseFor runs the whole exchange.
//
// # Key operations
//
// Non-exportable keys never leave the broker: principals granted an
// operation on a key (Access) run wrapkey/unwrapkey (RSA-OAEP with SHA-1,
// as SQL Server's column encryption keys use, and with SHA-256),
// sign/verify, encrypt/decrypt through the API. Always Encrypted's column
// master keys live here, and the SQL driver's key store provider calls
// unwrapkey.
//
// # Storage and audit
//
// Key records are encrypted with AES-256-GCM under a key-encryption key
// that is sealed to the broker's enclave identity (product policy, so an
// upgrade keeps it), and stored in a kvstore.Store with the hash-chained
// audit log of every release, denial, operation and owner change. The
// embedded store cannot detect a rollback of its file to an older copy;
// see package kvstore.
//
// # Leak checker
//
// The master key and the audit key are annotated secret; every path by
// which data derived from key material leaves is a declassifier with its
// reason: the public metadata and public keys (meta, info, size, public,
// id), the release JWE (encryptTo), an operation's output to the
// principal granted it (handOver), and the store's ciphertext (seal).
// Errors that could quote a key are replaced by fixed ones, and the HTTP
// layer logs internal errors by type only. The private JWKs themselves
// (version.JWK, material.jwk) are not annotated yet: the checker's bounded
// field depth merges them, through the handlers' function values, with
// the logger every handler shares, and reports each handler; see the
// precision notes in package vet.
//
// # Errors
//
// Refusals are 4xx JSON errors: 401 for a missing or bad bearer token or
// attestation token, 403 with the reason for a denied release or a
// missing grant, 404 for unknown keys and versions, 400 for malformed
// requests. A rejected request changes nothing but the audit log.
package kms
