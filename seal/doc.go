// Package seal encrypts data so that only the same enclave (policy
// unique: same unique ID and config ID) or a version of the same product
// (policy product: same signer, product and config ID, SVN not lower) on
// the same platform can decrypt it.
//
// Keys are derived by the platform from its sealing secret and the
// caller's measured identity (enclave.SealKeyer); the enclave never chooses
// whose key it gets. Blobs are AES-256-GCM under a key identified by a
// random 32-byte key ID stored in the blob, with the blob's header and the
// caller's additional data authenticated. The format is versioned and
// specified in spec/sealed-blob.md.
//
// An enclave with a higher SVN unseals blobs sealed at a lower one (the
// platform derives keys for any SVN up to the caller's own), never the
// reverse, so upgrades keep their data and downgrades cannot read it.
//
// Backends without hardware key derivation (TDX; SNP through configfs-tsm)
// have no SealKeyer: New returns ErrNoSealing, and such enclaves seal
// through the key broker.
package seal
