package attest

import (
	"context"
	"errors"
	"fmt"

	"github.com/confide/confide/enclave"
)

// ErrNonce is returned when the evidence does not carry the expected nonce.
var ErrNonce = errors.New("evidence does not carry the expected nonce")

// Verifier verifies evidence of any configured backend: the envelope, the
// backend's chain to its trust roots, optionally a nonce, runtime data and
// a policy. It is safe for concurrent use if its backends are.
type Verifier struct {
	// Backends maps a platform name to its verifier. Evidence of a
	// platform without an entry is rejected.
	Backends map[string]enclave.Verifier
}

// Expect lists what the evidence must show beyond a valid chain.
type Expect struct {
	// Nonce, when non-nil, must start the report data (zero-padded to 32
	// bytes).
	Nonce []byte
	// RuntimeData, when non-nil, must be what the report data's second
	// half hashes.
	RuntimeData []byte
	// Policy, when non-nil, appraises the claims.
	Policy *Policy
}

// Verify checks evidence and returns its claims.
func (v *Verifier) Verify(ctx context.Context, evidence []byte, want Expect) (enclave.Claims, error) {
	platform, _, err := enclave.UnwrapEvidence(evidence)
	if err != nil {
		return enclave.Claims{}, err
	}
	b, ok := v.Backends[platform]
	if !ok {
		return enclave.Claims{}, fmt.Errorf("attest: no verifier configured for platform %q", platform)
	}
	c, err := b.Verify(ctx, evidence)
	if err != nil {
		return enclave.Claims{}, err
	}
	if c.Platform != platform {
		return enclave.Claims{}, fmt.Errorf("attest: %s verifier returned claims for %q", platform, c.Platform)
	}
	if want.Nonce != nil && !c.ReportData.HasNonce(want.Nonce) {
		return enclave.Claims{}, ErrNonce
	}
	if want.RuntimeData != nil && !c.ReportData.Binds(want.RuntimeData) {
		return enclave.Claims{}, errors.New("attest: evidence does not bind the expected runtime data")
	}
	if want.Policy != nil {
		if err := want.Policy.EvaluateClaims(c); err != nil {
			return enclave.Claims{}, err
		}
	}
	return c, nil
}
