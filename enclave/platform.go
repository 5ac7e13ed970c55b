package enclave

import (
	"context"
	"errors"
)

// Attester produces evidence for the calling enclave, signed by the
// platform, carrying reportData. Enclave code never declares its identity:
// the platform fills it in from what it measured.
type Attester interface {
	Evidence(ctx context.Context, reportData ReportData) ([]byte, error)
}

// Self reports the identity the platform measured for the calling enclave.
type Self interface {
	Identity(ctx context.Context) (Identity, error)
}

// Platform is what an enclave sees of its TEE.
type Platform interface {
	Attester
	Self
}

// Verifier checks evidence of one backend against its trust roots and
// returns the claims it carries. It does not check nonces or policy; see
// package attest for that.
type Verifier interface {
	Verify(ctx context.Context, evidence []byte) (Claims, error)
}

// SealPolicy chooses which parts of the identity a sealing key binds.
type SealPolicy uint8

const (
	// SealUnique binds the unique ID and config ID: only the same code in
	// the same configuration derives the key.
	SealUnique SealPolicy = 1
	// SealProduct binds signer ID, product ID and config ID, and an SVN no
	// higher than the caller's: upgrades signed by the same signer keep
	// access to data sealed by earlier versions, never the reverse.
	SealProduct SealPolicy = 2
)

func (p SealPolicy) String() string {
	switch p {
	case SealUnique:
		return "unique"
	case SealProduct:
		return "product"
	}
	return "invalid"
}

// ParseSealPolicy reads "unique" or "product".
func ParseSealPolicy(s string) (SealPolicy, error) {
	switch s {
	case "unique":
		return SealUnique, nil
	case "product":
		return SealProduct, nil
	}
	return 0, errors.New(`enclave: seal policy must be "unique" or "product"`)
}

// KeyRequest asks for a sealing key. KeyID is chosen at random by the
// sealer and stored with the sealed data; SVN is the security version the
// key is bound to under SealProduct (ignored under SealUnique).
type KeyRequest struct {
	Policy SealPolicy
	SVN    uint16
	KeyID  [32]byte
}

// ErrSVNTooHigh is returned when a key is requested for a higher security
// version than the caller's own.
var ErrSVNTooHigh = errors.New("enclave: requested SVN is above the enclave's own")

// SealKeyer is the optional capability of backends that derive sealing keys
// in hardware. The returned 32-byte key depends on the platform's sealing
// secret, the request and the caller's identity (debug flag included).
type SealKeyer interface {
	// SealKey returns a sealing key: a secret.
	//
	//confide:secret
	SealKey(ctx context.Context, req KeyRequest) ([]byte, error)
}
