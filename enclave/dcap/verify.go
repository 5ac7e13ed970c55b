package dcap

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"slices"
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
	q, err := Parse(raw)
	if err != nil {
		return nil, err
	}
	if q.TEEType != TEESGX {
		return nil, fmt.Errorf("%w: a TDX quote (package tdx verifies those)", ErrInvalid)
	}
	if q.QEVendorID != IntelQEVendorID {
		return nil, fmt.Errorf("%w: QE vendor ID %x is not Intel's", ErrInvalid, q.QEVendorID)
	}
	roots := opt.Roots
	if roots == nil {
		roots = IntelRoots()
	}
	at := opt.At
	if at.IsZero() {
		at = time.Now()
	}
	res := &Result{Quote: q}
	if res.Report, err = q.EnclaveReport(); err != nil {
		return nil, err
	}

	// The PCK chain, and the PCK certificate's platform.
	chain, err := parseChain(q.PCKChain)
	if err != nil || len(chain) != pckChainCerts {
		return nil, fmt.Errorf("%w: PCK chain: %v", ErrInvalid, err)
	}
	pck, ca := chain[0], chain[1]
	if _, err := verifyChain(q.PCKChain, roots, at, cnPCK); err != nil {
		return nil, fmt.Errorf("%w: PCK chain: %v", ErrInvalid, err)
	}
	if ca.Subject.CommonName != cnPlatformCA && ca.Subject.CommonName != cnProcessorCA {
		return nil, fmt.Errorf("%w: PCK issuer %q", ErrInvalid, ca.Subject.CommonName)
	}
	if res.PCK, err = ParsePCKExtensions(pck); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}

	// The QE report, signed by the PCK key, binds the attestation key
	// and the authentication data; the attestation key signs the quote.
	if !verifySig(pck, q.QEReport[:], q.QEReportSig[:]) {
		return nil, fmt.Errorf("%w: QE report signature", ErrInvalid)
	}
	qe, err := q.QE()
	if err != nil {
		return nil, err
	}
	bind := sha256.Sum256(append(append([]byte{}, q.AttestKey[:]...), q.QEAuthData...))
	if !bytes.Equal(qe.ReportData[:32], bind[:]) || !bytes.Equal(qe.ReportData[32:], make([]byte, 32)) {
		return nil, fmt.Errorf("%w: QE report does not bind the attestation key", ErrInvalid)
	}
	ak, err := attestKey(q.AttestKey)
	if err != nil {
		return nil, fmt.Errorf("%w: attestation key: %v", ErrInvalid, err)
	}
	d := sha256.Sum256(q.Signed())
	if !ecdsa.Verify(ak, d[:], new(big.Int).SetBytes(q.Signature[:32]), new(big.Int).SetBytes(q.Signature[32:])) {
		return nil, fmt.Errorf("%w: quote signature", ErrInvalid)
	}

	// Collateral.
	if col == nil {
		return nil, fmt.Errorf("%w: none given", ErrCollateral)
	}
	tcb, err := ParseTCBInfo(col.TCBInfo, col.TCBInfoChain, roots, at)
	if err != nil {
		return nil, err
	}
	qid, err := ParseQEIdentity(col.QEIdentity, col.QEIdentityChain, roots, at)
	if err != nil {
		return nil, err
	}
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
	if !opt.SkipRevocation {
		exp, err := checkRevocation(col, chain, roots, at)
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
func checkRevocation(col *Collateral, chain []*x509.Certificate, roots *x509.CertPool, at time.Time) (time.Time, error) {
	pck, ca, root := chain[0], chain[1], chain[2]
	if _, err := root.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: at}); err != nil {
		return time.Time{}, fmt.Errorf("%w: PCK chain root: %v", ErrInvalid, err)
	}
	var expiry time.Time
	for _, c := range []struct {
		what    string
		der     []byte
		issuer  *x509.Certificate
		subject *x509.Certificate
	}{{"root CA CRL", col.RootCRL, root, ca}, {"PCK CRL", col.PCKCRL, ca, pck}} {
		crl, err := x509.ParseRevocationList(c.der)
		if err != nil {
			return time.Time{}, fmt.Errorf("%w: %s: %v", ErrCollateral, c.what, err)
		}
		if err := crl.CheckSignatureFrom(c.issuer); err != nil {
			return time.Time{}, fmt.Errorf("%w: %s is not signed by %q: %v", ErrCollateral, c.what, c.issuer.Subject.CommonName, err)
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
