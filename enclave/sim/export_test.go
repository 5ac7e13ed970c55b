package sim

import "github.com/confide/confide/enclave"

// Hooks for the external tests, which check the vectors of spec/ against
// derivations this package keeps unexported.

// IdentityFor is identity: what the platform grants the executable whose
// SHA-256 is exeHash when launched with im.
func (im *Image) IdentityFor(exeHash []byte) (enclave.Identity, error) { return im.identity(exeHash) }

// SealKeyFor is the platform's sealing key derivation under secret.
func SealKeyFor(secret []byte, id enclave.Identity, req enclave.KeyRequest) ([]byte, error) {
	return (&Keys{seal: secret}).sealKey(id, req)
}
