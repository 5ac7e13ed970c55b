package sim

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/confide/confide/enclave"
)

// Verifier checks simulated evidence against simulated vendor roots. Only
// roots created by `confide platform init` belong in Roots: simulated
// evidence proves nothing about hardware, and its claims say so
// (platform "sim", debug true).
type Verifier struct {
	Roots *x509.CertPool
	// Now is the verification time; nil means time.Now.
	Now func() time.Time

	mu    sync.Mutex
	chain map[[32]byte]verifiedAK
}

// verifiedAK caches a verified attestation key: a chain check is a P-384
// signature verification (the root's), dearer than the report's own.
type verifiedAK struct {
	key                 *ecdsa.PublicKey
	notBefore, notAfter time.Time
}

const maxCachedChains = 256

// Verify implements enclave.Verifier.
func (v *Verifier) Verify(ctx context.Context, evidence []byte) (enclave.Claims, error) {
	platform, payload, err := enclave.UnwrapEvidence(evidence)
	if err != nil {
		return enclave.Claims{}, err
	}
	if platform != enclave.PlatformSim {
		return enclave.Claims{}, fmt.Errorf("sim: evidence is for platform %q", platform)
	}
	rep, err := parseReport(payload)
	if err != nil {
		return enclave.Claims{}, err
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	ak, err := v.attestationKey(rep.certDER, now())
	if err != nil {
		return enclave.Claims{}, err
	}
	if err := rep.checkKey(ak); err != nil {
		return enclave.Claims{}, err
	}
	if !rep.verifySignature(ak) {
		return enclave.Claims{}, errors.New("sim: report signature does not verify")
	}
	return rep.claims, nil
}

func (v *Verifier) attestationKey(der []byte, now time.Time) (*ecdsa.PublicKey, error) {
	if v.Roots == nil {
		return nil, errors.New("sim: verifier has no trust roots")
	}
	fp := sha256.Sum256(der)
	v.mu.Lock()
	c, ok := v.chain[fp]
	v.mu.Unlock()
	if !ok {
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("%w: sim attestation key certificate: %v", enclave.ErrMalformedEvidence, err)
		}
		chains, err := cert.Verify(x509.VerifyOptions{Roots: v.Roots, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
		if err != nil {
			return nil, fmt.Errorf("sim: attestation key certificate: %w", err)
		}
		key, isEC := cert.PublicKey.(*ecdsa.PublicKey)
		if !isEC {
			return nil, errors.New("sim: attestation key is not ECDSA")
		}
		c = verifiedAK{key: key, notBefore: cert.NotBefore, notAfter: cert.NotAfter}
		for _, ch := range chains {
			for _, link := range ch {
				if link.NotBefore.After(c.notBefore) {
					c.notBefore = link.NotBefore
				}
				if link.NotAfter.Before(c.notAfter) {
					c.notAfter = link.NotAfter
				}
			}
		}
		v.mu.Lock()
		if v.chain == nil || len(v.chain) >= maxCachedChains {
			v.chain = make(map[[32]byte]verifiedAK)
		}
		v.chain[fp] = c
		v.mu.Unlock()
	}
	// The cache remembers signatures, not time: validity is checked on
	// every use.
	if now.Before(c.notBefore) || now.After(c.notAfter) {
		return nil, fmt.Errorf("sim: attestation key certificate is not valid at %s (valid %s to %s)",
			now.UTC().Format(time.RFC3339), c.notBefore.UTC().Format(time.RFC3339), c.notAfter.UTC().Format(time.RFC3339))
	}
	return c.key, nil
}
