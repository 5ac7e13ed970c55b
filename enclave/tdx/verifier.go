package tdx

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/confide/confide/enclave"
	"github.com/confide/confide/enclave/dcap"
	"github.com/google/go-tdx-guest/pcs"
	pb "github.com/google/go-tdx-guest/proto/tdx"
	"github.com/google/go-tdx-guest/verify"
)

// IntelRoots returns a new pool holding only Intel's SGX Root CA, the root
// of every PCK certificate chain and every piece of PCS collateral
// (dcap.IntelRoots: the same certificate go-tdx-guest embeds, passed
// explicitly so that the library never falls back to its own copy, which
// logs a warning on every verification).
func IntelRoots() *x509.CertPool { return dcap.IntelRoots() }

// Errors callers test for. Parsing errors wrap enclave.ErrMalformedEvidence.
var (
	// ErrInvalidQuote is wrapped by every failure of the quote, its
	// certificate chain or its collateral to verify.
	ErrInvalidQuote = errors.New("tdx: quote does not verify")
	// ErrTCBStatus is returned when the TCB status read from the collateral
	// cannot be reported: no level matches, or the level is not one that
	// go-tdx-guest accepts.
	ErrTCBStatus = errors.New("tdx: TCB status not acceptable")
)

// Config configures a Verifier.
type Config struct {
	// Collateral supplies TCB info, QE identity and CRLs. It is required:
	// the verifier never reaches the network unless this source does.
	Collateral Collateral
	// Roots are trusted for PCK certificate chains and for collateral
	// signers. nil means IntelRoots().
	Roots *x509.CertPool
	// Now is the time at which certificates, CRLs and collateral must be
	// valid. nil means time.Now.
	Now func() time.Time
	// SkipRevocation turns off the PCK CRL and root CA CRL checks, so
	// that collateral need not carry CRLs. It is for offline verifiers
	// that accept the risk of a revoked PCK certificate, and for tests.
	SkipRevocation bool
}

// Verifier verifies TDX evidence. It is safe for concurrent use.
type Verifier struct {
	collateral     Collateral
	roots          *x509.CertPool
	now            func() time.Time
	skipRevocation bool
}

var _ enclave.Verifier = (*Verifier)(nil)

// NewVerifier returns a verifier for cfg.
func NewVerifier(cfg Config) (*Verifier, error) {
	if cfg.Collateral == nil {
		return nil, errors.New("tdx: Config.Collateral is required")
	}
	v := &Verifier{collateral: cfg.Collateral, roots: cfg.Roots, now: cfg.Now, skipRevocation: cfg.SkipRevocation}
	if v.roots == nil {
		v.roots = IntelRoots()
	}
	if v.now == nil {
		v.now = time.Now
	}
	return v, nil
}

// Verify checks that evidence is a well-formed TDX payload whose quote is
// signed by a quoting enclave that Intel certifies through the trusted
// roots, on a platform whose TCB the collateral rates UpToDate, and returns
// its claims. It does not check report data against a nonce.
func (v *Verifier) Verify(ctx context.Context, evidence []byte) (enclave.Claims, error) {
	if err := ctx.Err(); err != nil {
		return enclave.Claims{}, err
	}
	platform, payload, err := enclave.UnwrapEvidence(evidence)
	if err != nil {
		return enclave.Claims{}, fmt.Errorf("tdx: %w", err)
	}
	if platform != enclave.PlatformTDX {
		return enclave.Claims{}, fmt.Errorf("%w: %s evidence given to the tdx verifier", enclave.ErrMalformedEvidence, platform)
	}
	q, _, err := parsePayload(payload)
	if err != nil {
		return enclave.Claims{}, err
	}

	getter := &recordingGetter{ctx: ctx, src: v.collateral}
	opts := &verify.Options{
		GetCollateral:    true,
		CheckRevocations: !v.skipRevocation,
		Getter:           getter,
		Now:              v.now(),
		TrustedRoots:     v.roots,
	}
	if err := verify.TdxQuote(q, opts); err != nil {
		if ctx.Err() != nil {
			return enclave.Claims{}, ctx.Err()
		}
		return enclave.Claims{}, fmt.Errorf("%w: %v", ErrInvalidQuote, err)
	}

	status, err := verifiedTCBStatus(q, getter)
	if err != nil {
		return enclave.Claims{}, err
	}
	return claimsOf(q, status), nil
}

// verifiedTCBStatus evaluates the TCB against the very collateral bodies
// that go-tdx-guest fetched and verified during this call. The library
// accepts only UpToDate levels; a different answer here means the two
// disagree, and the quote is rejected rather than reported.
func verifiedTCBStatus(q *pb.QuoteV4, g *recordingGetter) (string, error) {
	var info pcs.TdxTcbInfo
	var qe pcs.QeIdentity
	if err := json.Unmarshal(g.tcbInfo, &info); err != nil {
		return "", fmt.Errorf("%w: TCB info: %v", ErrTCBStatus, err)
	}
	if err := json.Unmarshal(g.qeIdentity, &qe); err != nil {
		return "", fmt.Errorf("%w: QE identity: %v", ErrTCBStatus, err)
	}
	leaf, err := pckLeaf(q)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrTCBStatus, err)
	}
	ext, err := pcs.PckCertificateExtensions(leaf)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrTCBStatus, err)
	}
	status, err := tcbStatus(newTCBInput(q, ext), info.TcbInfo, qe.EnclaveIdentity)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrTCBStatus, err)
	}
	if status != pcs.TcbComponentStatusUpToDate {
		return "", fmt.Errorf("%w: collateral rates the TCB %s, but go-tdx-guest accepted it", ErrTCBStatus, status)
	}
	return tcbClaim[status], nil
}

// claimsOf maps a verified quote onto confide's identity model.
func claimsOf(q *pb.QuoteV4, tcbStatus string) enclave.Claims {
	body := q.GetTdQuoteBody()
	c := enclave.Claims{Identity: enclave.Identity{
		Platform:  enclave.PlatformTDX,
		UniqueID:  clone(body.GetMrTd()),
		ConfigID:  clone(body.GetMrConfigId()),
		SignerID:  clone(body.GetMrOwner()),
		Debug:     body.GetTdAttributes()[0]&tdAttrDebugMask != 0,
		TCBStatus: tcbStatus,
	}}
	copy(c.ReportData[:], body.GetReportData())
	return c
}

func pckLeaf(q *pb.QuoteV4) (*x509.Certificate, error) {
	chain := q.GetSignedData().GetCertificationData().GetQeReportCertificationData().GetPckCertificateChainData().GetPckCertChain()
	block, _ := pem.Decode(chain)
	if block == nil {
		return nil, errors.New("no PCK certificate")
	}
	return x509.ParseCertificate(block.Bytes)
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }

// recordingGetter is the trust.HTTPSGetter handed to go-tdx-guest for one
// verification. It binds the caller's context and keeps the TCB info and
// QE identity bodies that the library verifies, for the TCB evaluation.
type recordingGetter struct {
	ctx        context.Context
	src        Collateral
	tcbInfo    []byte
	qeIdentity []byte
}

func (g *recordingGetter) Get(url string) (map[string][]string, []byte, error) {
	header, body, err := g.src.Get(g.ctx, url)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case strings.HasPrefix(url, "https://"+pcsHost+pathTCBInfo+"?"):
		g.tcbInfo = body
	case url == "https://"+pcsHost+pathQEIdentity:
		g.qeIdentity = body
	}
	return header, body, nil
}
