package snp

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/confide/confide/enclave"
	"github.com/google/go-sev-guest/abi"
	"github.com/google/go-sev-guest/kds"
	spb "github.com/google/go-sev-guest/proto/sevsnp"
	"github.com/google/go-sev-guest/verify"
	"github.com/google/go-sev-guest/verify/trust"
)

// ErrUntrustedRoot is returned when the ARK and intermediate certificate
// carried in evidence are not, byte for byte, those of a configured Root.
var ErrUntrustedRoot = errors.New("snp: evidence does not chain to a trusted AMD root")

// Verifier checks SEV-SNP evidence offline: the report's signature by the
// VCEK or VLEK it carries, that key's certificate chain to one of Roots at
// Now, and the report's internal consistency. It never contacts AMD's key
// distribution service and checks no revocation list. The zero value
// trusts AMD's roots and the real clock. A Verifier is safe for concurrent
// use; its fields must not change once it is in use.
type Verifier struct {
	// Roots are the trusted AMD roots; nil means AMDRoots().
	Roots []Root
	// Now is the verification time; nil means time.Now.
	Now func() time.Time
	// MinimumTCB is the lowest TCB_VERSION, component by component, the
	// verifier considers current (spec/evidence-snp.md, "TCB status");
	// evidence below it is reported OutOfDate, not rejected. Zero sets no
	// minimum.
	MinimumTCB uint64
	// ChainCacheSize bounds the cache of verified certificate chains; 0
	// means 256, negative disables the cache.
	ChainCacheSize int

	mu     sync.Mutex
	chains map[[32]byte]*verifiedChain
}

// verifiedChain is an endorsement key certificate whose chain to a root
// was verified, with the window in which all three certificates are valid.
type verifiedChain struct {
	ek                  *x509.Certificate
	exts                *kds.Extensions
	notBefore, notAfter time.Time
}

const defaultChainCacheSize = 256

// Verify implements enclave.Verifier.
func (v *Verifier) Verify(ctx context.Context, evidence []byte) (enclave.Claims, error) {
	if err := ctx.Err(); err != nil {
		return enclave.Claims{}, err
	}
	platform, raw, err := enclave.UnwrapEvidence(evidence)
	if err != nil {
		return enclave.Claims{}, err
	}
	if platform != enclave.PlatformSNP {
		return enclave.Claims{}, fmt.Errorf("snp: evidence is for platform %q", platform)
	}
	p, err := parsePayload(raw)
	if err != nil {
		return enclave.Claims{}, err
	}
	root, err := v.root(p)
	if err != nil {
		return enclave.Claims{}, err
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	chain, err := v.verifyChainAndSignature(ctx, p, root, now())
	if err != nil {
		return enclave.Claims{}, err
	}
	if err := checkEndorsement(p, root, chain.exts); err != nil {
		return enclave.Claims{}, err
	}
	return claims(p.proto, p.authorEn, v.MinimumTCB)
}

// root finds the configured root whose certificates the evidence carries.
func (v *Verifier) root(p *payload) (Root, error) {
	roots := v.Roots
	if roots == nil {
		roots = amdRoots()
	}
	for _, r := range roots {
		ica := r.ASK
		if p.signer == abi.VlekReportSigner {
			ica = r.ASVK
		}
		if r.ARK != nil && ica != nil && bytes.Equal(r.ARK.Raw, p.ark) && bytes.Equal(ica.Raw, p.ica) {
			return r, nil
		}
	}
	return Root{}, ErrUntrustedRoot
}

// verifyChainAndSignature checks the report's signature and, unless the
// cache holds it, the endorsement key's chain to root at now.
func (v *Verifier) verifyChainAndSignature(ctx context.Context, p *payload, root Root, now time.Time) (*verifiedChain, error) {
	key := chainKey(p)
	if c := v.cached(key); c != nil {
		if now.Before(c.notBefore) || now.After(c.notAfter) {
			return nil, fmt.Errorf("snp: certificate chain is not valid at %v", now.UTC().Format(time.RFC3339))
		}
		if err := verify.SnpReportSignature(p.report, c.ek); err != nil {
			return nil, fmt.Errorf("snp: %w", err)
		}
		return c, nil
	}
	att := &spb.Attestation{Report: p.proto, CertificateChain: &spb.CertificateChain{AskCert: p.ica, ArkCert: p.ark}}
	if p.signer == abi.VlekReportSigner {
		att.CertificateChain.VlekCert = p.ek
	} else {
		att.CertificateChain.VcekCert = p.ek
	}
	opts := &verify.Options{
		DisableCertFetching: true,
		Now:                 now,
		TrustedRoots: map[string][]*trust.AMDRootCerts{root.ProductLine: {{
			ProductLine:  root.ProductLine,
			ProductCerts: &trust.ProductCerts{Ark: root.ARK, Ask: root.ASK, Asvk: root.ASVK},
		}}},
	}
	if err := verify.SnpAttestationContext(ctx, att, opts); err != nil {
		return nil, fmt.Errorf("snp: %w", err)
	}
	exts, err := kds.CertificateExtensions(p.ekCert, p.signer)
	if err != nil {
		return nil, fmt.Errorf("snp: %v certificate: %w", p.signer, err)
	}
	c := &verifiedChain{ek: p.ekCert, exts: exts, notBefore: p.ekCert.NotBefore, notAfter: p.ekCert.NotAfter}
	for _, cert := range []*x509.Certificate{p.icaCert, p.arkCert} {
		if cert.NotBefore.After(c.notBefore) {
			c.notBefore = cert.NotBefore
		}
		if cert.NotAfter.Before(c.notAfter) {
			c.notAfter = cert.NotAfter
		}
	}
	v.store(key, c)
	return c, nil
}

// chainKey identifies everything the chain check depends on besides the
// time: the three certificates, the key kind and the CPUID the report
// declares (the library picks the product line from it).
func chainKey(p *payload) [32]byte {
	h := sha256.New()
	var hdr [5]byte
	hdr[0] = byte(p.signer)
	binary.BigEndian.PutUint32(hdr[1:], p.proto.GetCpuid1EaxFms())
	h.Write(hdr[:])
	for _, c := range [][]byte{p.ek, p.ica, p.ark} {
		h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(c))))
		h.Write(c)
	}
	var k [32]byte
	h.Sum(k[:0])
	return k
}

func (v *Verifier) cached(k [32]byte) *verifiedChain {
	if v.ChainCacheSize < 0 {
		return nil
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.chains[k]
}

func (v *Verifier) store(k [32]byte, c *verifiedChain) {
	size := v.ChainCacheSize
	if size < 0 {
		return
	}
	if size == 0 {
		size = defaultChainCacheSize
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.chains == nil {
		v.chains = make(map[[32]byte]*verifiedChain)
	}
	for old := range v.chains {
		if len(v.chains) < size {
			break
		}
		delete(v.chains, old)
	}
	v.chains[k] = c
}

// checkEndorsement ties the endorsement key certificate to the report:
// the TCB it certifies is REPORTED_TCB, and a VCEK's chip is CHIP_ID
// (unless the host masked it to zeros). The TCB and chip ID encodings in
// certificates are those of Milan and Genoa; for other product lines the
// signature alone binds them.
func checkEndorsement(p *payload, root Root, exts *kds.Extensions) error {
	if root.ProductLine != "Milan" && root.ProductLine != "Genoa" {
		return nil
	}
	r := p.proto
	if uint64(exts.TCBVersion) != r.GetReportedTcb() {
		return fmt.Errorf("snp: %v certifies TCB %#016x, report says REPORTED_TCB %#016x", p.signer, uint64(exts.TCBVersion), r.GetReportedTcb())
	}
	if p.signer == abi.VcekReportSigner && !allZero(r.GetChipId()) && !bytes.Equal(r.GetChipId(), exts.HWID) {
		return errors.New("snp: VCEK was issued for another chip than CHIP_ID")
	}
	return nil
}
