package sgx

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/confide/confide/enclave"
	"github.com/confide/confide/enclave/dcap"
)

// Config configures a Verifier.
type Config struct {
	// Collateral supplies TCB info, QE identity and CRLs. Required: the
	// verifier never reaches the network unless this source does.
	Collateral Collateral
	// Roots are trusted for PCK chains and collateral signers; nil means
	// Intel's SGX Root CA (dcap.IntelRoots).
	Roots *x509.CertPool
	// Now is the verification time; nil means time.Now. An audit sets it
	// to the time the evidence was received.
	Now func() time.Time
	// SkipRevocation leaves the CRLs unread: for offline verifiers that
	// accept the risk of a revoked PCK certificate, and for tests.
	SkipRevocation bool
	// AcceptStatuses are the TCB statuses the verifier accepts; nil means
	// UpToDate alone. Many platforms' best level is SWHardeningNeeded: a
	// deployment that accepts it says so here, and its policies can
	// still pin the status claim.
	AcceptStatuses []string
}

// Verifier verifies SGX evidence. It is safe for concurrent use.
type Verifier struct {
	cfg Config
	dv  *dcap.Verifier
}

var _ enclave.Verifier = (*Verifier)(nil)

// Extra claims of SGX evidence: the TCB evaluation data number of the
// collateral the verdict rests on, and one claim, true, per advisory ID
// of the platform's and the QE's TCB levels ("x-sgx-advisory-INTEL-SA-
// 00615"), so that a policy's exists can forbid or allow each.
const (
	ClaimTCBEvaluationDataNumber = "x-sgx-tcb-evaluation-data-number"
	ClaimAdvisoryPrefix          = "x-sgx-advisory-"
)

// ErrTCBStatus is returned for a verified quote whose TCB status the
// verifier does not accept.
var ErrTCBStatus = errors.New("sgx: TCB status not accepted")

// NewVerifier returns a verifier for cfg.
func NewVerifier(cfg Config) (*Verifier, error) {
	if cfg.Collateral == nil {
		return nil, errors.New("sgx: Config.Collateral is required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.AcceptStatuses == nil {
		cfg.AcceptStatuses = []string{enclave.TCBUpToDate}
	}
	return &Verifier{cfg: cfg, dv: dcap.NewVerifier(dcap.Options{Roots: cfg.Roots, SkipRevocation: cfg.SkipRevocation})}, nil
}

// Verify checks that evidence is a well-formed SGX payload whose quote
// verifies against the collateral for its platform (dcap.Verifier) with a
// TCB status the verifier accepts, and returns its claims. It does not
// check report data against a nonce.
func (v *Verifier) Verify(ctx context.Context, evidence []byte) (enclave.Claims, error) {
	if err := ctx.Err(); err != nil {
		return enclave.Claims{}, err
	}
	platform, payload, err := enclave.UnwrapEvidence(evidence)
	if err != nil {
		return enclave.Claims{}, fmt.Errorf("sgx: %w", err)
	}
	if platform != enclave.PlatformSGX {
		return enclave.Claims{}, fmt.Errorf("%w: %s evidence given to the sgx verifier", enclave.ErrMalformedEvidence, platform)
	}
	q, raw, err := parsePayload(payload)
	if err != nil {
		return enclave.Claims{}, err
	}
	// Which collateral to read: the PCK certificate's FMSPC and issuer,
	// unverified here (the verification that follows checks both).
	fmspc, ca, err := platformOf(q)
	if err != nil {
		return enclave.Claims{}, fmt.Errorf("%w: %v", dcap.ErrInvalid, err)
	}
	col, err := v.cfg.Collateral.For(ctx, fmspc, ca)
	if err != nil {
		return enclave.Claims{}, fmt.Errorf("%w: %v", dcap.ErrCollateral, err)
	}
	res, err := v.dv.VerifyAt(raw, col, v.cfg.Now())
	if err != nil {
		return enclave.Claims{}, err
	}
	if !slices.Contains(v.cfg.AcceptStatuses, res.TCBStatus) {
		return enclave.Claims{}, fmt.Errorf("%w: %s (advisories %v)", ErrTCBStatus, res.TCBStatus, res.AdvisoryIDs)
	}
	return claimsOf(res), nil
}

// platformOf reads the FMSPC and the issuer kind of a quote's PCK
// certificate.
func platformOf(q *dcap.Quote) (fmspc [6]byte, ca string, err error) {
	b, _ := pem.Decode(q.PCKChain)
	if b == nil {
		return fmspc, "", errors.New("no PCK certificate")
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return fmspc, "", err
	}
	x, err := dcap.ParsePCKExtensions(c)
	if err != nil {
		return fmspc, "", err
	}
	switch c.Issuer.CommonName {
	case "Intel SGX PCK Platform CA":
		ca = "platform"
	case "Intel SGX PCK Processor CA":
		ca = "processor"
	default:
		return fmspc, "", fmt.Errorf("PCK issuer %q", c.Issuer.CommonName)
	}
	return x.FMSPC, ca, nil
}

// claimsOf maps a verified quote onto confide's identity model
// (spec/evidence-sgx.md, "Claims").
func claimsOf(res *dcap.Result) enclave.Claims {
	r := res.Report
	c := enclave.Claims{Identity: enclave.Identity{
		Platform:  enclave.PlatformSGX,
		UniqueID:  append([]byte(nil), r.MREnclave[:]...),
		SignerID:  append([]byte(nil), r.MRSigner[:]...),
		ConfigID:  make([]byte, len(r.ConfigID)),
		ProductID: r.ISVProdID,
		SVN:       r.ISVSVN,
		Debug:     r.Debug(),
		TCBStatus: res.TCBStatus,
	}}
	if r.Flags()&dcap.AttrKSS != 0 {
		copy(c.ConfigID, r.ConfigID[:])
	}
	c.Extra = map[string]any{ClaimTCBEvaluationDataNumber: float64(res.TCBEvaluationDataNumber)}
	for _, a := range res.AdvisoryIDs {
		if enclave.ValidExtraClaim(ClaimAdvisoryPrefix+a, true) {
			c.Extra[ClaimAdvisoryPrefix+a] = true
		}
	}
	c.ReportData = enclave.ReportData(r.ReportData)
	return c
}
