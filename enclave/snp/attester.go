package snp

import (
	"bytes"
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/confide/confide/enclave"
	"github.com/google/go-sev-guest/abi"
	"github.com/google/go-sev-guest/client"
	"github.com/google/uuid"
)

// QuoteProvider produces signed attestation reports: the 1184-byte report
// for reportData followed by the host's certificate table (GHCB
// specification, "certificate table"), possibly empty. go-sev-guest's
// client.QuoteProvider implementations and its testing fakes fit.
type QuoteProvider interface {
	GetRawQuote(reportData [64]byte) ([]byte, error)
}

// ErrNoCertificate is returned when the host supplied no certificate for
// the key that signed the report, or its issuers are neither in the host's
// table nor among the attester's roots. confide never fetches them from
// AMD: the host must provision them in the SNP extended-report
// certificate table.
var ErrNoCertificate = errors.New("snp: host supplied no usable certificate chain for the report's signing key")

var errShortQuote = errors.New("snp: quote shorter than a report")

// Attester is an SEV-SNP guest's view of its platform. It implements
// enclave.Attester, enclave.Self and enclave.SealKeyer.
type Attester struct {
	// Quotes produces reports; NewAttester picks the kernel's configfs-tsm
	// interface, falling back to /dev/sev-guest.
	Quotes QuoteProvider
	// Device derives sealing keys; nil opens /dev/sev-guest for each key.
	Device client.Device
	// Roots complete the chain when the host's certificate table lacks
	// the intermediate or root certificate; nil means AMDRoots().
	Roots []Root
	// MinimumTCB is used by Identity, as Verifier.MinimumTCB.
	MinimumTCB uint64
}

// NewAttester returns an Attester on this machine's SEV-SNP guest
// interface, or an error when there is none (not an SNP guest, or the
// sev-guest driver is not loaded).
func NewAttester() (*Attester, error) {
	qp, err := client.GetQuoteProvider()
	if err != nil {
		return nil, fmt.Errorf("snp: not an SEV-SNP guest: %w", err)
	}
	return &Attester{Quotes: qp}, nil
}

// quote returns the parsed report for reportData and the certificate
// table that came with it.
func (a *Attester) quote(ctx context.Context, reportData [64]byte) (*payload, []byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	if a.Quotes == nil {
		return nil, nil, errors.New("snp: attester has no quote provider")
	}
	raw, err := a.Quotes.GetRawQuote(reportData)
	if err != nil {
		return nil, nil, fmt.Errorf("snp: getting report: %w", err)
	}
	if len(raw) < reportSize {
		return nil, nil, errShortQuote
	}
	p := &payload{report: raw[:reportSize:reportSize]}
	if err := p.parseReport(); err != nil {
		return nil, nil, fmt.Errorf("snp: platform returned a bad report: %w", err)
	}
	if !bytes.Equal(p.proto.GetReportData(), reportData[:]) {
		return nil, nil, errors.New("snp: platform returned a report for other report data")
	}
	return p, raw[reportSize:], nil
}

// Evidence implements enclave.Attester.
func (a *Attester) Evidence(ctx context.Context, rd enclave.ReportData) ([]byte, error) {
	p, table, err := a.quote(ctx, rd)
	if err != nil {
		return nil, err
	}
	ek, ica, ark, err := a.chain(p.signer, table)
	if err != nil {
		return nil, err
	}
	q, err := newPayload(p.report, ek, ica, ark)
	if err != nil {
		return nil, err
	}
	return enclave.WrapEvidence(enclave.PlatformSNP, q.marshal())
}

// chain picks the endorsement key certificate from the table by GUID and
// its issuers by signature, among the roots and the table's certificates.
func (a *Attester) chain(signer abi.ReportSigner, table []byte) (ek, ica, ark []byte, err error) {
	var t abi.CertTable
	if err := t.Unmarshal(table); err != nil {
		return nil, nil, nil, fmt.Errorf("snp: host certificate table: %w", err)
	}
	guid := uuid.MustParse(abi.VcekGUID)
	if signer == abi.VlekReportSigner {
		guid = uuid.MustParse(abi.VlekGUID)
	}
	// The roots come first, so that evidence carries the very bytes
	// verifiers configure whenever those certify the key.
	roots := a.Roots
	if roots == nil {
		roots = amdRoots()
	}
	var candidates []*x509.Certificate
	for _, r := range roots {
		for _, c := range []*x509.Certificate{r.ASK, r.ASVK, r.ARK} {
			if c != nil {
				candidates = append(candidates, c)
			}
		}
	}
	var ekCert *x509.Certificate
	for _, e := range t.Entries {
		c := parseHostCert(e.RawCert)
		if c == nil {
			continue // not a certificate (platform info, a vendor blob)
		}
		if e.GUID == guid {
			ekCert = c
		} else {
			candidates = append(candidates, c)
		}
	}
	if ekCert == nil {
		return nil, nil, nil, fmt.Errorf("%w (no %v certificate)", ErrNoCertificate, signer)
	}
	icaCert := issuer(ekCert, candidates)
	if icaCert == nil {
		return nil, nil, nil, fmt.Errorf("%w (no issuer of the %v certificate)", ErrNoCertificate, signer)
	}
	arkCert := issuer(icaCert, candidates)
	if arkCert == nil {
		return nil, nil, nil, fmt.Errorf("%w (no root for %q)", ErrNoCertificate, icaCert.Subject.CommonName)
	}
	return ekCert.Raw, icaCert.Raw, arkCert.Raw, nil
}

// parseHostCert reads a certificate as hosts store them: DER, possibly
// zero-padded to the end of its entry, or PEM. It returns nil for
// anything else. Evidence carries the certificate's exact DER.
func parseHostCert(b []byte) *x509.Certificate {
	if block, rest := pem.Decode(b); block != nil && block.Type == "CERTIFICATE" && len(bytes.TrimSpace(rest)) == 0 {
		b = block.Bytes
	} else {
		var seq asn1.RawValue
		rest, err := asn1.Unmarshal(b, &seq)
		if err != nil || !allZero(rest) {
			return nil
		}
		b = seq.FullBytes
	}
	c, err := x509.ParseCertificate(b)
	if err != nil {
		return nil
	}
	return c
}

// issuer returns the first candidate whose key signed child.
func issuer(child *x509.Certificate, candidates []*x509.Certificate) *x509.Certificate {
	for _, c := range candidates {
		if c != child && child.CheckSignatureFrom(c) == nil {
			return c
		}
	}
	return nil
}

// Identity implements enclave.Self: the claims of a fresh report with zero
// report data, mapped as a Verifier maps evidence. It trusts the channel
// to the AMD secure processor (encrypted with a key only the guest and the
// processor hold) rather than checking the signature.
func (a *Attester) Identity(ctx context.Context) (enclave.Identity, error) {
	p, _, err := a.quote(ctx, [64]byte{})
	if err != nil {
		return enclave.Identity{}, err
	}
	c, err := claims(p.proto, p.authorEn, a.MinimumTCB)
	if err != nil {
		return enclave.Identity{}, err
	}
	return c.Identity, nil
}

// Guest field select bits of MSG_KEY_REQ (SEV-SNP ABI, "Key Derivation").
var sealUniqueFields = client.GuestFieldSelect{Measurement: true, GuestPolicy: true}

// ErrSealProduct is returned for enclave.SealProduct keys, which SEV-SNP
// cannot derive safely: MSG_KEY_REQ mixes in IMAGE_ID and FAMILY_ID but
// not the ID or author key, and anyone can launch a guest on the same chip
// with an ID block of their own carrying the same IMAGE_ID and FAMILY_ID.
// Seal such data through the key broker instead.
var ErrSealProduct = fmt.Errorf("snp: product sealing keys are not bound to the signer by the hardware: %w", errors.ErrUnsupported)

// SealKey implements enclave.SealKeyer for enclave.SealUnique: a key the
// AMD secure processor derives from the chip's VCEK secret, MEASUREMENT
// and the guest policy (so the debug flag), which HKDF-SHA256 then binds
// to HOST_DATA (the config ID, which MSG_KEY_REQ cannot select) and the
// request's KeyID (spec/evidence-snp.md, "Sealing keys"). Keys are tied to
// the chip: data sealed on one machine cannot be unsealed on another.
func (a *Attester) SealKey(ctx context.Context, req enclave.KeyRequest) ([]byte, error) {
	switch req.Policy {
	case enclave.SealUnique:
	case enclave.SealProduct:
		return nil, ErrSealProduct
	default:
		return nil, fmt.Errorf("snp: unknown seal policy %d", req.Policy)
	}
	// The report says which VMPL we run at (the key request may not ask
	// for a more privileged one) and our HOST_DATA.
	p, _, err := a.quote(ctx, [64]byte{})
	if err != nil {
		return nil, err
	}
	dev := a.Device
	if dev == nil {
		d, err := client.OpenDevice()
		if err != nil {
			return nil, fmt.Errorf("snp: %w", err)
		}
		defer d.Close()
		dev = d
	}
	resp, err := client.GetDerivedKeyAcknowledgingItsLimitations(dev, &client.SnpDerivedKeyReq{
		UseVCEK:          true,
		GuestFieldSelect: sealUniqueFields,
		Vmpl:             p.proto.GetVmpl(),
	})
	if err != nil {
		return nil, fmt.Errorf("snp: %w", err)
	}
	defer clear(resp.Data[:])
	if resp.Status != 0 {
		return nil, fmt.Errorf("snp: key derivation failed with status %#x", resp.Status)
	}
	return hkdf.Key(sha256.New, resp.Data[:], req.KeyID[:], sealInfo(req.Policy, p.proto.GetHostData()), 32)
}

// sealInfo is the HKDF info string: a label, the policy and HOST_DATA.
func sealInfo(policy enclave.SealPolicy, hostData []byte) string {
	return "confide snp seal v1\x00" + string([]byte{byte(policy)}) + string(hostData)
}
