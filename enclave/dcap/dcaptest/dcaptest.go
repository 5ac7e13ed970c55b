// Package dcaptest mints a complete fake Intel attestation hierarchy for
// tests: a root CA, a PCK platform CA and PCK certificates with SGX
// extensions, a quoting enclave with its attestation key, and quotes of
// formats 3 and 4. Nothing here is trusted by production code: the root
// is generated per test and a verifier accepts it only when a test
// passes it as its root.
package dcaptest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/confide/confide/enclave/dcap"
)

// Hierarchy is a fake Intel: its root CA, a PCK platform CA, a TCB
// signing certificate and keys for all of them.
type Hierarchy struct {
	Root, PlatformCA, TCBSigning          *x509.Certificate
	RootKey, PlatformCAKey, TCBSigningKey *ecdsa.PrivateKey
	serial                                int64
}

// NotBefore and NotAfter bound every certificate the hierarchy issues.
var (
	NotBefore = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	NotAfter  = time.Date(2049, 12, 31, 0, 0, 0, 0, time.UTC)
)

// New mints a hierarchy with Intel's names.
func New(t testing.TB) *Hierarchy {
	t.Helper()
	h := &Hierarchy{}
	h.RootKey = newKey(t)
	h.Root = h.issue(t, nil, nil, h.RootKey, "Intel SGX Root CA", true, nil)
	h.PlatformCAKey = newKey(t)
	h.PlatformCA = h.issue(t, h.Root, h.RootKey, h.PlatformCAKey, "Intel SGX PCK Platform CA", true, nil)
	h.TCBSigningKey = newKey(t)
	h.TCBSigning = h.issue(t, h.Root, h.RootKey, h.TCBSigningKey, "Intel SGX TCB Signing", false, nil)
	return h
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func (h *Hierarchy) issue(t testing.TB, parent *x509.Certificate, parentKey, key *ecdsa.PrivateKey, cn string, ca bool, exts []pkix.Extension) *x509.Certificate {
	t.Helper()
	h.serial++
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(h.serial),
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"Intel Corporation"}, Locality: []string{"Santa Clara"}, Province: []string{"CA"}, Country: []string{"US"}},
		NotBefore:             NotBefore,
		NotAfter:              NotAfter,
		BasicConstraintsValid: true,
		IsCA:                  ca,
		ExtraExtensions:       exts,
	}
	if ca {
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	} else {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Platform is a fake SGX platform: its PCK certificate and key and its
// TCB as the certificate states it.
type Platform struct {
	PCK    *x509.Certificate
	PCKKey *ecdsa.PrivateKey
	TCB    dcap.PCKExtensions
}

// DefaultTCB is a platform TCB: FMSPC 00906ED50000, components 2 to 17,
// PCESVN 13.
func DefaultTCB() dcap.PCKExtensions {
	x := dcap.PCKExtensions{PCESVN: 13, FMSPC: [6]byte{0x00, 0x90, 0x6e, 0xd5, 0x00, 0x00}, PCEID: [2]byte{0, 0}}
	for i := range x.CompSVN {
		x.CompSVN[i] = byte(i + 2)
	}
	copy(x.CPUSVN[:], x.CompSVN[:])
	copy(x.PPID[:], "fake platform ID")
	return x
}

// NewPlatform issues a PCK certificate for a platform with the given TCB.
func (h *Hierarchy) NewPlatform(t testing.TB, tcb dcap.PCKExtensions) *Platform {
	t.Helper()
	key := newKey(t)
	ext := pkix.Extension{Id: dcap.OIDSGXExtensions, Value: MarshalSGXExtension(t, tcb)}
	return &Platform{PCK: h.issue(t, h.PlatformCA, h.PlatformCAKey, key, "Intel SGX PCK Certificate", false, []pkix.Extension{ext}), PCKKey: key, TCB: tcb}
}

type member struct {
	ID    asn1.ObjectIdentifier
	Value any
}

func arc(base asn1.ObjectIdentifier, n int) asn1.ObjectIdentifier {
	return append(append(asn1.ObjectIdentifier{}, base...), n)
}

// MarshalSGXExtension encodes the SGX extensions as Intel's PCK
// certificates carry them.
func MarshalSGXExtension(t testing.TB, x dcap.PCKExtensions) []byte {
	t.Helper()
	base := dcap.OIDSGXExtensions
	tcbBase := arc(base, 2)
	var tcb []member
	for i, svn := range x.CompSVN {
		tcb = append(tcb, member{arc(tcbBase, i+1), int(svn)})
	}
	tcb = append(tcb, member{arc(tcbBase, 17), int(x.PCESVN)}, member{arc(tcbBase, 18), x.CPUSVN[:]})
	ms := []member{
		{arc(base, 1), x.PPID[:]},
		{arc(base, 2), tcb},
		{arc(base, 3), x.PCEID[:]},
		{arc(base, 4), x.FMSPC[:]},
		{arc(base, 5), asn1.Enumerated(x.SGXType)},
	}
	der, err := asn1.Marshal(ms)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// QE is a fake quoting enclave on a platform: its report (before the
// binding of the attestation key) and its attestation key.
type QE struct {
	Platform  *Platform
	Report    dcap.Report
	AttestKey *ecdsa.PrivateKey
	AuthData  []byte
	QESVN     uint16
}

// QEMRSigner is the fake QE's MRSIGNER.
var QEMRSigner = sha256.Sum256([]byte("fake Intel QE signer"))

// NewQE makes a quoting enclave on p (QE ISV product ID 1, ISV SVN 8).
func (p *Platform) NewQE(t testing.TB) *QE {
	qe := &QE{Platform: p, AttestKey: newKey(t), AuthData: []byte("fake QE authentication data!!!!!"), QESVN: 8}
	qe.Report.ISVProdID, qe.Report.ISVSVN = 1, 8
	qe.Report.MRSigner = QEMRSigner
	qe.Report.MREnclave = sha256.Sum256([]byte("fake QE"))
	qe.Report.Attributes[0] = dcap.AttrInit | dcap.AttrMode64 | dcap.AttrProvisionKey
	qe.Report.MiscSelect = 0
	copy(qe.Report.CPUSVN[:], p.TCB.CPUSVN[:])
	return qe
}

// attestKeyBytes is the public attestation key as a quote carries it.
func attestKeyBytes(k *ecdsa.PrivateKey) [dcap.AttestKeyLen]byte {
	var out [dcap.AttestKeyLen]byte
	k.PublicKey.X.FillBytes(out[:32])
	k.PublicKey.Y.FillBytes(out[32:])
	return out
}

// Sign signs digest-of-msg with key as r ‖ s, 32 bytes each.
func Sign(t testing.TB, key *ecdsa.PrivateKey, msg []byte) [dcap.SignatureLen]byte {
	t.Helper()
	d := sha256.Sum256(msg)
	r, s, err := ecdsa.Sign(rand.Reader, key, d[:])
	if err != nil {
		t.Fatal(err)
	}
	var out [dcap.SignatureLen]byte
	r.FillBytes(out[:32])
	s.FillBytes(out[32:])
	return out
}

// Quote makes a quote of the given format (3 or 4) over an enclave's
// report body, signed by the QE's attestation key, its QE report signed by
// the platform's PCK key, with the PCK chain as certification data.
func (qe *QE) Quote(t testing.TB, h *Hierarchy, version uint16, enclaveReport dcap.Report) *dcap.Quote {
	t.Helper()
	q := &dcap.Quote{Version: version, QESVN: qe.QESVN, PCESVN: qe.Platform.TCB.PCESVN, QEVendorID: dcap.IntelQEVendorID,
		Body: enclaveReport.Marshal(), AttestKey: attestKeyBytes(qe.AttestKey), QEAuthData: qe.AuthData}
	copy(q.UserData[:], "fake QE platform id")
	// The QE report binds the attestation key and the auth data.
	qr := qe.Report
	bind := sha256.Sum256(append(q.AttestKey[:], qe.AuthData...))
	qr.ReportData = [64]byte{}
	copy(qr.ReportData[:], bind[:])
	copy(q.QEReport[:], qr.Marshal())
	q.QEReportSig = Sign(t, qe.Platform.PCKKey, q.QEReport[:])
	q.PCKChain = PEMChain(qe.Platform.PCK, h.PlatformCA, h.Root)
	q.Signature = Sign(t, qe.AttestKey, q.Signed())
	return q
}

// EnclaveReport is a plausible enclave's report body with the given report
// data.
func EnclaveReport(reportData [64]byte) dcap.Report {
	r := dcap.Report{ISVProdID: 7, ISVSVN: 3, ReportData: reportData}
	r.MREnclave = sha256.Sum256([]byte("a confide enclave"))
	r.MRSigner = sha256.Sum256([]byte("a confide signer"))
	r.Attributes[0] = dcap.AttrInit | dcap.AttrMode64
	return r
}

// Chain returns the PEM issuer chain of collateral signed by the TCB
// signing key: the signing certificate, then the root.
func (h *Hierarchy) Chain() []byte { return PEMChain(h.TCBSigning, h.Root) }

// PEMChain encodes certificates as PEM, in order.
func PEMChain(certs ...*x509.Certificate) []byte {
	var b []byte
	for _, c := range certs {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return b
}

// signBody wraps a signed object as PCS serves it.
func (h *Hierarchy) signBody(t testing.TB, name string, obj []byte) []byte {
	sig := Sign(t, h.TCBSigningKey, obj)
	return []byte(fmt.Sprintf(`{"%s":%s,"signature":"%s"}`, name, obj, hex.EncodeToString(sig[:])))
}

// Window is a collateral validity window.
type Window struct{ Issue, Next time.Time }

// Valid is a window that holds on Now.
var (
	Now   = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	Valid = Window{Now.AddDate(0, 0, -1), Now.AddDate(0, 0, 29)}
)

// TCBInfo signs an SGX TCB info of format version (2 or 3) for the
// platform's FMSPC and PCE ID with the given levels.
func (h *Hierarchy) TCBInfo(t testing.TB, version int, x dcap.PCKExtensions, w Window, evalNum int, levels []dcap.TCBLevel) []byte {
	t.Helper()
	var ls []map[string]any
	for _, l := range levels {
		tcb := map[string]any{"pcesvn": l.PCESVN}
		if version == 2 {
			for i, svn := range l.CompSVN {
				tcb[fmt.Sprintf("sgxtcbcomp%02dsvn", i+1)] = svn
			}
		} else {
			var comps []map[string]any
			for _, svn := range l.CompSVN {
				comps = append(comps, map[string]any{"svn": svn, "category": "", "type": ""})
			}
			tcb["sgxtcbcomponents"] = comps
		}
		lv := map[string]any{"tcb": tcb, "tcbDate": l.Date.UTC().Format(time.RFC3339), "tcbStatus": l.Status}
		if l.AdvisoryIDs != nil {
			lv["advisoryIDs"] = l.AdvisoryIDs
		}
		ls = append(ls, lv)
	}
	info := map[string]any{"version": version, "issueDate": w.Issue.Format(time.RFC3339), "nextUpdate": w.Next.Format(time.RFC3339),
		"fmspc": hex.EncodeToString(x.FMSPC[:]), "pceId": hex.EncodeToString(x.PCEID[:]), "tcbType": 0,
		"tcbEvaluationDataNumber": evalNum, "tcbLevels": ls}
	if version == 3 {
		info["id"] = "SGX"
	}
	obj, err := json.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	return h.signBody(t, "tcbInfo", obj)
}

// QEIdentity signs the fake QE's identity with the given levels.
func (h *Hierarchy) QEIdentity(t testing.TB, w Window, evalNum int, levels []dcap.QELevel) []byte {
	t.Helper()
	var ls []map[string]any
	for _, l := range levels {
		lv := map[string]any{"tcb": map[string]any{"isvsvn": l.ISVSVN}, "tcbDate": l.Date.UTC().Format(time.RFC3339), "tcbStatus": l.Status}
		if l.AdvisoryIDs != nil {
			lv["advisoryIDs"] = l.AdvisoryIDs
		}
		ls = append(ls, lv)
	}
	id := map[string]any{"id": "QE", "version": 2, "issueDate": w.Issue.Format(time.RFC3339), "nextUpdate": w.Next.Format(time.RFC3339),
		"tcbEvaluationDataNumber": evalNum, "miscselect": "00000000", "miscselectMask": "FFFFFFFF",
		"attributes": "11000000000000000000000000000000", "attributesMask": "FBFFFFFFFFFFFFFF0000000000000000",
		"mrsigner": strings.ToUpper(hex.EncodeToString(QEMRSigner[:])), "isvprodid": 1, "tcbLevels": ls}
	obj, err := json.Marshal(id)
	if err != nil {
		t.Fatal(err)
	}
	return h.signBody(t, "enclaveIdentity", obj)
}

// CRL issues a CRL by issuer revoking the given certificates.
func CRL(t testing.TB, issuer *x509.Certificate, key *ecdsa.PrivateKey, w Window, revoked ...*x509.Certificate) []byte {
	t.Helper()
	var entries []x509.RevocationListEntry
	for _, c := range revoked {
		entries = append(entries, x509.RevocationListEntry{SerialNumber: c.SerialNumber, RevocationTime: w.Issue})
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: w.Issue, NextUpdate: w.Next,
		RevokedCertificateEntries: entries}, issuer, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// Collateral is valid collateral for p at Now: one TCB level equal to the
// platform's (UpToDate) and one QE level at the QE's SVN (UpToDate), and
// CRLs that revoke nothing.
func (h *Hierarchy) Collateral(t testing.TB, p *Platform) *dcap.Collateral {
	t.Helper()
	date := Now.AddDate(0, -1, 0)
	return &dcap.Collateral{
		TCBInfo:         h.TCBInfo(t, 3, p.TCB, Valid, 17, []dcap.TCBLevel{{CompSVN: p.TCB.CompSVN, PCESVN: p.TCB.PCESVN, Date: date, Status: dcap.UpToDate}}),
		TCBInfoChain:    h.Chain(),
		QEIdentity:      h.QEIdentity(t, Valid, 17, []dcap.QELevel{{ISVSVN: 8, Date: date, Status: dcap.UpToDate}}),
		QEIdentityChain: h.Chain(),
		PCKCRL:          CRL(t, h.PlatformCA, h.PlatformCAKey, Valid),
		PCKCRLChain:     PEMChain(h.PlatformCA, h.Root),
		RootCRL:         CRL(t, h.Root, h.RootKey, Valid),
	}
}

// RootPool returns a pool holding only the hierarchy's root.
func RootPool(h *Hierarchy) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(h.Root)
	return p
}
