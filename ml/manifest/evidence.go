package manifest

import (
	"context"
	"errors"
	"fmt"

	"github.com/confide/confide/attest"
	"github.com/confide/confide/enclave"
)

// CheckTrainerEvidence is a party's check of the trainer's evidence for a job
// (spec/ml-manifest.md): it verifies under v's roots with the manifest's
// hash as nonce, meets the manifest's trainer policy, is neither simulated
// nor debug unless the manifest allows simulation, and — when report is
// not nil — binds the report as runtime data. It returns the claims, whose
// report data's second half is the report's SHA-256.
func CheckTrainerEvidence(ctx context.Context, v *attest.Verifier, m *Manifest, hash [32]byte, report, evidence []byte) (enclave.Claims, error) {
	pol, err := attest.ParsePolicy(m.Trainer.Policy)
	if err != nil {
		return enclave.Claims{}, err
	}
	claims, err := v.Verify(ctx, evidence, attest.Expect{Nonce: hash[:], RuntimeData: report, Policy: pol})
	if err != nil {
		return enclave.Claims{}, fmt.Errorf("the trainer's evidence: %w", err)
	}
	if !m.Trainer.AllowSimulation && (claims.Platform == enclave.PlatformSim || claims.Debug) {
		return enclave.Claims{}, errors.New("the trainer is simulated or debug, which this manifest does not allow")
	}
	return claims, nil
}
