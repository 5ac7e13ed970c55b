package dcap

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"sync"
	"time"
)

// ErrInvalid is wrapped by every failure of a quote to verify (other than
// its bytes, ErrMalformed, and its collateral, ErrCollateral/ErrExpired).
var ErrInvalid = errors.New("dcap: quote does not verify")

// Options configure Verify.
type Options struct {
	// Roots are the trusted roots of PCK chains and collateral; nil means
	// IntelRoots().
	Roots *x509.CertPool
	// At is the verification time; zero means now. An audit passes the
	// time the quote was received.
	At time.Time
	// SkipRevocation leaves the CRLs unread (and not needed).
	SkipRevocation bool
}

// Result is what a verified SGX quote says.
type Result struct {
	Quote  *Quote
	Report Report // the enclave's report body
	PCK    *PCKExtensions
	// TCBStatus is the platform's TCB level's status converged with the
	// QE's (an out-of-date QE makes the result out of date); AdvisoryIDs
	// unite both levels' advisories.
	TCBStatus      string
	AdvisoryIDs    []string
	PlatformStatus string
	QEStatus       string
	TCBDate        time.Time
	// TCBEvaluationDataNumber is the lower of the TCB info's and the QE
	// identity's: the collateral generation the verdict rests on.
	TCBEvaluationDataNumber int
	// CollateralExpiry is the earliest next update of the collateral used.
	CollateralExpiry time.Time
}

// Names of Intel's certificates.
const (
	cnPCK         = "Intel SGX PCK Certificate"
	cnPlatformCA  = "Intel SGX PCK Platform CA"
	cnProcessorCA = "Intel SGX PCK Processor CA"
	cnTCBSigning  = "Intel SGX TCB Signing"
)

// Verify verifies an SGX quote against collateral, following Intel's Quote
// Verification Library: the PCK chain to a trusted root, the CRLs, the QE
// report signed by the PCK key and binding the attestation key, the quote
// signed by the attestation key, the TCB info and QE identity signed by
// Intel's TCB signing key, the platform's TCB level chosen by its PCK
// certificate's component SVNs and PCESVN, the QE's by its ISV SVN, and
// the two statuses converged. It returns the verdict whatever the status:
// which statuses to accept is the caller's policy.
func Verify(raw []byte, col *Collateral, opt Options) (*Result, error) {
	return NewVerifier(opt).Verify(raw, col)
}

// Verifier verifies quotes as Verify does, remembering what it has
// verified that does not change with time — a PCK chain's or a collateral
// signer's signatures, a collateral body's signature and contents, a
// CRL's signature — so that quotes from the same platforms against the
// same collateral cost their own signatures only. Validity windows are
// checked on every call. Safe for concurrent use.
type Verifier struct {
	opt  Options
	mu   sync.Mutex
	memo map[[32]byte]any
}

// maxMemo bounds a Verifier's memory: past it, it starts afresh.
const maxMemo = 4096

// NewVerifier returns a Verifier for opt (opt.At zero: the time of each
// call).
func NewVerifier(opt Options) *Verifier {
	if opt.Roots == nil {
		opt.Roots = IntelRoots()
	}
	return &Verifier{opt: opt, memo: map[[32]byte]any{}}
}

func (v *Verifier) recall(key [32]byte) (any, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	x, ok := v.memo[key]
	return x, ok
}

func (v *Verifier) remember(key [32]byte, x any) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.memo) >= maxMemo {
		clear(v.memo)
	}
	v.memo[key] = x
}

func memoKey(kind string, parts ...[]byte) [32]byte {
	h := sha256.New()
	h.Write([]byte(kind))
	for _, p := range parts {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		h.Write(n[:])
		h.Write(p)
	}
	return [32]byte(h.Sum(nil))
}

// chain is verifyChain, remembered: a hit re-checks only the validity
// windows of the verified chain's certificates.
func (v *Verifier) chain(chainPEM []byte, at time.Time, wantCN ...string) ([]*x509.Certificate, error) {
	key := memoKey("chain", append([]byte(strings.Join(wantCN, "\x00")+"\x00"), chainPEM...))
	if x, ok := v.recall(key); ok {
		certs := x.([]*x509.Certificate)
		for _, c := range certs {
			if at.Before(c.NotBefore) || at.After(c.NotAfter) {
				return nil, fmt.Errorf("%q is not valid at %s", c.Subject.CommonName, at.Format(time.RFC3339))
			}
		}
		return certs, nil
	}
	certs, err := verifyChain(chainPEM, v.opt.Roots, at, wantCN...)
	if err != nil {
		return nil, err
	}
	v.remember(key, certs)
	return certs, nil
}

// signedObject is checkSigned, remembered: a hit re-checks the signing
// chain's windows and returns the object read before.
func (v *Verifier) signedObject(body, chainPEM []byte, object string, at time.Time, read func([]byte) (any, error)) (any, error) {
	key := memoKey(object, body, chainPEM)
	if x, ok := v.recall(key); ok {
		if _, err := v.chain(chainPEM, at, cnTCBSigning); err != nil {
			return nil, fmt.Errorf("%w: %s issuer chain: %v", ErrCollateral, object, err)
		}
		return x, nil
	}
	signed, err := checkSigned(body, chainPEM, object, v.opt.Roots, at, cnTCBSigning)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCollateral, err)
	}
	x, err := read(signed)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCollateral, object, err)
	}
	v.remember(key, x)
	return x, nil
}

// crl parses a CRL and checks it is issuer's, remembered.
func (v *Verifier) crl(der []byte, issuer *x509.Certificate) (*x509.RevocationList, error) {
	key := memoKey("crl", der, issuer.Raw)
	if x, ok := v.recall(key); ok {
		return x.(*x509.RevocationList), nil
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		return nil, err
	}
	if err := crl.CheckSignatureFrom(issuer); err != nil {
		return nil, fmt.Errorf("not signed by %q: %v", issuer.Subject.CommonName, err)
	}
	v.remember(key, crl)
	return crl, nil
}

// Verify verifies a quote against collateral (see the package function)
// at the Verifier's time.
func (v *Verifier) Verify(raw []byte, col *Collateral) (*Result, error) {
	return v.VerifyAt(raw, col, v.opt.At)
}

// VerifyAt verifies a quote against collateral at time at (zero: now).
func (v *Verifier) VerifyAt(raw []byte, col *Collateral, at time.Time) (*Result, error) {
	if at.IsZero() {
		at = time.Now()
	}
	res, chain, qe, err := v.quoteSide(raw, at, false)
	if err != nil {
		return nil, err
	}
	return v.collateralSide(res, chain, qe, col, at)
}

// VerifyQuote checks everything in a quote that needs no collateral: its
// bytes, the PCK chain to a trusted root at time at (zero: now), the QE
// report signed by the PCK key and binding the attestation key, and the
// quote signature. The result has the enclave's report (SGX) and the PCK
// certificate's platform but no TCB status: that takes collateral
// (VerifyAt). TDX quotes are accepted too — the QE, the PCK chain and the
// signatures work the same way — with no SGX report. For vectors captured
// without their collateral, and for tools that only read quotes.
func (v *Verifier) VerifyQuote(raw []byte, at time.Time) (*Result, error) {
	if at.IsZero() {
		at = time.Now()
	}
	res, _, _, err := v.quoteSide(raw, at, true)
	return res, err
}

// quoteSide is VerifyQuote; it also returns the verified PCK chain and the
// QE's report for the collateral side.
func (v *Verifier) quoteSide(raw []byte, at time.Time, tdx bool) (*Result, []*x509.Certificate, Report, error) {
	fail := func(err error) (*Result, []*x509.Certificate, Report, error) { return nil, nil, Report{}, err }
	q, err := Parse(raw)
	if err != nil {
		return fail(err)
	}
	if q.TEEType != TEESGX && !tdx {
		return fail(fmt.Errorf("%w: a TDX quote (package tdx verifies those)", ErrInvalid))
	}
	if q.QEVendorID != IntelQEVendorID {
		return fail(fmt.Errorf("%w: QE vendor ID %x is not Intel's", ErrInvalid, q.QEVendorID))
	}
	res := &Result{Quote: q}
	if q.TEEType == TEESGX {
		if res.Report, err = q.EnclaveReport(); err != nil {
			return fail(err)
		}
	}

	// The PCK chain, and the PCK certificate's platform.
	chain, err := v.chain(q.PCKChain, at, cnPCK)
	if err != nil {
		return fail(fmt.Errorf("%w: PCK chain: %v", ErrInvalid, err))
	}
	// The chain verified is the quote's own: its CA and root, not others
	// that the pools held.
	embedded, err := parseChain(q.PCKChain)
	if err != nil || len(chain) != pckChainCerts || len(embedded) != pckChainCerts ||
		!bytes.Equal(embedded[1].Raw, chain[1].Raw) || !bytes.Equal(embedded[2].Raw, chain[2].Raw) {
		return fail(fmt.Errorf("%w: the PCK chain does not end in the trusted root", ErrInvalid))
	}
	pck, ca := chain[0], chain[1]
	if ca.Subject.CommonName != cnPlatformCA && ca.Subject.CommonName != cnProcessorCA {
		return fail(fmt.Errorf("%w: PCK issuer %q", ErrInvalid, ca.Subject.CommonName))
	}
	if res.PCK, err = ParsePCKExtensions(pck); err != nil {
		return fail(fmt.Errorf("%w: %v", ErrInvalid, err))
	}

	// The QE report, signed by the PCK key, binds the attestation key
	// and the authentication data; the attestation key signs the quote.
	if !verifySig(pck, q.QEReport[:], q.QEReportSig[:]) {
		return fail(fmt.Errorf("%w: QE report signature", ErrInvalid))
	}
	qe, err := q.QE()
	if err != nil {
		return fail(err)
	}
	bind := sha256.Sum256(append(append([]byte{}, q.AttestKey[:]...), q.QEAuthData...))
	if !bytes.Equal(qe.ReportData[:32], bind[:]) || !bytes.Equal(qe.ReportData[32:], make([]byte, 32)) {
		return fail(fmt.Errorf("%w: QE report does not bind the attestation key", ErrInvalid))
	}
	ak, err := attestKey(q.AttestKey)
	if err != nil {
		return fail(fmt.Errorf("%w: attestation key: %v", ErrInvalid, err))
	}
	d := sha256.Sum256(q.Signed())
	if !ecdsa.Verify(ak, d[:], new(big.Int).SetBytes(q.Signature[:32]), new(big.Int).SetBytes(q.Signature[32:])) {
		return fail(fmt.Errorf("%w: quote signature", ErrInvalid))
	}

	return res, chain, qe, nil
}

// collateralSide judges a quote whose quote side verified: the
// collateral, revocation, the QE's identity and level, the platform's
// level, the converged status.
func (v *Verifier) collateralSide(res *Result, chain []*x509.Certificate, qe Report, col *Collateral, at time.Time) (*Result, error) {
	// Collateral.
	if col == nil {
		return nil, fmt.Errorf("%w: none given", ErrCollateral)
	}
	x, err := v.signedObject(col.TCBInfo, col.TCBInfoChain, "tcbInfo", at, func(b []byte) (any, error) { return parseTCBInfo(b) })
	if err != nil {
		return nil, err
	}
	tcb := x.(*TCBInfo)
	x, err = v.signedObject(col.QEIdentity, col.QEIdentityChain, "enclaveIdentity", at, func(b []byte) (any, error) { return parseQEIdentity(b) })
	if err != nil {
		return nil, err
	}
	qid := x.(*QEIdentity)
	res.CollateralExpiry = tcb.NextUpdate
	for _, w := range []struct {
		what               string
		issued, nextUpdate time.Time
	}{{"TCB info", tcb.IssueDate, tcb.NextUpdate}, {"QE identity", qid.IssueDate, qid.NextUpdate}} {
		if at.Before(w.issued) || !at.Before(w.nextUpdate) {
			return nil, fmt.Errorf("%w: %s valid %s to %s, verification time %s", ErrExpired, w.what,
				w.issued.Format(time.RFC3339), w.nextUpdate.Format(time.RFC3339), at.Format(time.RFC3339))
		}
		if w.nextUpdate.Before(res.CollateralExpiry) {
			res.CollateralExpiry = w.nextUpdate
		}
	}
	if !v.opt.SkipRevocation {
		exp, err := v.checkRevocation(col, chain, at)
		if err != nil {
			return nil, err
		}
		if exp.Before(res.CollateralExpiry) {
			res.CollateralExpiry = exp
		}
	}
	if tcb.FMSPC != res.PCK.FMSPC || tcb.PCEID != res.PCK.PCEID {
		return nil, fmt.Errorf("%w: TCB info for FMSPC %x PCE %x, PCK certificate's %x %x", ErrCollateral, tcb.FMSPC, tcb.PCEID, res.PCK.FMSPC, res.PCK.PCEID)
	}

	// The QE's identity and level.
	if qe.MRSigner != qid.MRSigner || qe.ISVProdID != qid.ISVProdID || qe.MiscSelect&qid.MiscMask != qid.MiscSelect&qid.MiscMask {
		return nil, fmt.Errorf("%w: the quoting enclave is not the one the QE identity names", ErrInvalid)
	}
	for i := range qe.Attributes {
		if qe.Attributes[i]&qid.AttrMask[i] != qid.Attributes[i]&qid.AttrMask[i] {
			return nil, fmt.Errorf("%w: the quoting enclave's attributes are not the QE identity's", ErrInvalid)
		}
	}
	qeLevel := -1
	for i, l := range qid.Levels {
		if qe.ISVSVN >= l.ISVSVN {
			qeLevel = i
			break
		}
	}
	if qeLevel < 0 {
		return nil, fmt.Errorf("%w: QE ISV SVN %d is below every level of the QE identity", ErrInvalid, qe.ISVSVN)
	}

	// The platform's level: the first whose every component SVN and
	// PCESVN the PCK certificate meets.
	level := -1
	for i, l := range tcb.Levels {
		ok := res.PCK.PCESVN >= l.PCESVN
		for c := range l.CompSVN {
			ok = ok && res.PCK.CompSVN[c] >= l.CompSVN[c]
		}
		if ok {
			level = i
			break
		}
	}
	if level < 0 {
		return nil, fmt.Errorf("%w: the platform's TCB is below every level of its TCB info", ErrInvalid)
	}
	pl, ql := tcb.Levels[level], qid.Levels[qeLevel]
	res.PlatformStatus, res.QEStatus, res.TCBDate = pl.Status, ql.Status, pl.Date
	res.TCBStatus = converge(pl.Status, ql.Status)
	res.AdvisoryIDs = unite(pl.AdvisoryIDs, ql.AdvisoryIDs)
	res.TCBEvaluationDataNumber = min(tcb.TCBEvaluationDataNumber, qid.TCBEvaluationDataNumber)
	if ql.Date.Before(res.TCBDate) {
		res.TCBDate = ql.Date
	}
	return res, nil
}

// converge combines the platform's status with the QE's, as Intel's QVL
// does: a revoked QE revokes; an out-of-date QE makes an up-to-date (or
// SW-hardening) platform out of date and a configuration-needed one
// out of date with configuration needed; otherwise the platform's.
func converge(platform, qe string) string {
	switch qe {
	case Revoked:
		return Revoked
	case OutOfDate:
		switch platform {
		case UpToDate, SWHardeningNeeded:
			return OutOfDate
		case ConfigurationNeeded, ConfigurationAndSWHardeningNeeded:
			return OutOfDateConfigurationNeeded
		}
	}
	return platform
}

// unite returns the sorted union of advisory IDs.
func unite(a, b []string) []string {
	u := slices.Concat(a, b)
	slices.Sort(u)
	return slices.Compact(u)
}

// attestKey reads x ‖ y as a P-256 public key, refusing points off the
// curve.
func attestKey(b [AttestKeyLen]byte) (*ecdsa.PublicKey, error) {
	if _, err := ecdh.P256().NewPublicKey(append([]byte{4}, b[:]...)); err != nil {
		return nil, err
	}
	return &ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int).SetBytes(b[:32]), Y: new(big.Int).SetBytes(b[32:])}, nil
}

// checkRevocation checks the root CA's CRL (signed by the chain's root)
// and the PCK CRL (signed by the PCK's issuer) at time at, and that
// neither revokes a certificate of the PCK chain. It returns the CRLs'
// earliest next update.
func (v *Verifier) checkRevocation(col *Collateral, chain []*x509.Certificate, at time.Time) (time.Time, error) {
	// chain is the verified chain: its last certificate is the trusted
	// root it verified to.
	pck, ca, root := chain[0], chain[1], chain[2]
	var expiry time.Time
	for _, c := range []struct {
		what    string
		der     []byte
		issuer  *x509.Certificate
		subject *x509.Certificate
	}{{"root CA CRL", col.RootCRL, root, ca}, {"PCK CRL", col.PCKCRL, ca, pck}} {
		crl, err := v.crl(c.der, c.issuer)
		if err != nil {
			return time.Time{}, fmt.Errorf("%w: %s: %v", ErrCollateral, c.what, err)
		}
		if at.Before(crl.ThisUpdate) || !at.Before(crl.NextUpdate) {
			return time.Time{}, fmt.Errorf("%w: %s valid %s to %s, verification time %s", ErrExpired, c.what,
				crl.ThisUpdate.Format(time.RFC3339), crl.NextUpdate.Format(time.RFC3339), at.Format(time.RFC3339))
		}
		for _, e := range crl.RevokedCertificateEntries {
			if e.SerialNumber.Cmp(c.subject.SerialNumber) == 0 {
				return time.Time{}, fmt.Errorf("%w: %q (serial %s) is revoked by the %s", ErrInvalid, c.subject.Subject.CommonName, c.subject.SerialNumber, c.what)
			}
		}
		if expiry.IsZero() || crl.NextUpdate.Before(expiry) {
			expiry = crl.NextUpdate
		}
	}
	return expiry, nil
}
