package dcap

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// Collateral is what Intel's PCS (or a PCCS) serves to judge quotes of
// one platform model, each body exactly as served — the signatures cover
// the served bytes — and each issuer chain as PEM (PCS sends it URL-encoded
// in a response header).
type Collateral struct {
	TCBInfo, TCBInfoChain       []byte // SGX TCB info for the platform's FMSPC, and its issuer chain
	QEIdentity, QEIdentityChain []byte // the QE's identity, and its issuer chain
	PCKCRL, PCKCRLChain         []byte // the PCK CRL of the PCK certificate's issuer (DER), and its chain
	RootCRL                     []byte // the root CA's CRL (DER)
}

// ErrCollateral is wrapped by every failure of collateral to parse or to
// verify; ErrExpired by collateral past its next update (or not yet
// issued) at the verification time, reported apart from the TCB status.
var (
	ErrCollateral = errors.New("dcap: collateral does not verify")
	ErrExpired    = errors.New("dcap: collateral expired")
)

// TCB statuses, as Intel names them.
const (
	UpToDate                          = "UpToDate"
	SWHardeningNeeded                 = "SWHardeningNeeded"
	ConfigurationNeeded               = "ConfigurationNeeded"
	ConfigurationAndSWHardeningNeeded = "ConfigurationAndSWHardeningNeeded"
	OutOfDate                         = "OutOfDate"
	OutOfDateConfigurationNeeded      = "OutOfDateConfigurationNeeded"
	Revoked                           = "Revoked"
)

var platformStatuses = map[string]bool{UpToDate: true, SWHardeningNeeded: true, ConfigurationNeeded: true,
	ConfigurationAndSWHardeningNeeded: true, OutOfDate: true, OutOfDateConfigurationNeeded: true, Revoked: true}

var qeStatuses = map[string]bool{UpToDate: true, OutOfDate: true, Revoked: true}

// TCBInfo is an SGX TCB info (formats 2 and 3).
type TCBInfo struct {
	Version                 int
	IssueDate, NextUpdate   time.Time
	FMSPC                   [6]byte
	PCEID                   [2]byte
	TCBEvaluationDataNumber int
	Levels                  []TCBLevel
}

// TCBLevel is one level of a TCB info, highest first.
type TCBLevel struct {
	CompSVN     [16]byte
	PCESVN      uint16
	Date        time.Time
	Status      string
	AdvisoryIDs []string
}

// QEIdentity is the identity of Intel's quoting enclave (format 2).
type QEIdentity struct {
	IssueDate, NextUpdate   time.Time
	TCBEvaluationDataNumber int
	MiscSelect, MiscMask    uint32
	Attributes, AttrMask    [16]byte
	MRSigner                [32]byte
	ISVProdID               uint16
	Levels                  []QELevel
}

// QELevel is one level of the QE identity, highest first.
type QELevel struct {
	ISVSVN      uint16
	Date        time.Time
	Status      string
	AdvisoryIDs []string
}

// signedJSON is a PCS body: one signed object and the signature over its
// bytes as served.
type signedJSON struct {
	TCBInfo   json.RawMessage `json:"tcbInfo"`
	Identity  json.RawMessage `json:"enclaveIdentity"`
	Signature string          `json:"signature"`
}

// checkSigned verifies a PCS body's signature (ECDSA P-256 over SHA-256,
// r ‖ s in hex) over the bytes of its signed object, under the signing
// certificate of chain (leaf first, then the root), which must verify to
// roots. It returns the signed object's bytes.
func checkSigned(body, chainPEM []byte, object string, roots *x509.CertPool, at time.Time, wantCN string) (json.RawMessage, error) {
	var s signedJSON
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%s: %v", object, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%s: data after the JSON object", object)
	}
	signed := s.TCBInfo
	if object == "enclaveIdentity" {
		signed = s.Identity
		if s.TCBInfo != nil {
			return nil, fmt.Errorf("%s: has a tcbInfo too", object)
		}
	} else if s.Identity != nil {
		return nil, fmt.Errorf("%s: has an enclaveIdentity too", object)
	}
	if len(signed) == 0 {
		return nil, fmt.Errorf("%s: missing", object)
	}
	sig, err := hex.DecodeString(s.Signature)
	if err != nil || len(sig) != SignatureLen {
		return nil, fmt.Errorf("%s: signature is not %d bytes of hex", object, SignatureLen)
	}
	chain, err := verifyChain(chainPEM, roots, at, wantCN)
	if err != nil {
		return nil, fmt.Errorf("%s issuer chain: %v", object, err)
	}
	if !verifySig(chain[0], signed, sig) {
		return nil, fmt.Errorf("%s: signature does not verify", object)
	}
	return signed, nil
}

// verifySig checks r ‖ s over SHA-256 of msg under cert's P-256 key.
func verifySig(cert *x509.Certificate, msg, sig []byte) bool {
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok || len(sig) != SignatureLen {
		return false
	}
	d := sha256.Sum256(msg)
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	return ecdsa.Verify(pub, d[:], r, s)
}

// ParseCertificates reads PEM certificates, at least one and nothing else
// (a trailing NUL or line feeds aside).
func ParseCertificates(chainPEM []byte) ([]*x509.Certificate, error) { return parseChain(chainPEM) }

// parseChain reads PEM certificates, nothing else.
func parseChain(chainPEM []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	rest := bytes.TrimRight(chainPEM, "\x00\n")
	for len(bytes.TrimSpace(rest)) > 0 {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil || b.Type != "CERTIFICATE" {
			return nil, errors.New("not a PEM certificate chain")
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("no certificates")
	}
	return certs, nil
}

// verifyChain verifies a leaf-first PEM chain to roots at time at, with
// ECDSA throughout, and the leaf's common name; it returns the verified
// chain, leaf first and the trusted root last.
func verifyChain(chainPEM []byte, roots *x509.CertPool, at time.Time, wantCN ...string) ([]*x509.Certificate, error) {
	certs, err := parseChain(chainPEM)
	if err != nil {
		return nil, err
	}
	leaf := certs[0]
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	chains, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: at,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		return nil, err
	}
	for _, c := range chains[0] {
		if c.SignatureAlgorithm != x509.ECDSAWithSHA256 {
			return nil, fmt.Errorf("%q is signed with %v, not ECDSA with SHA-256", c.Subject.CommonName, c.SignatureAlgorithm)
		}
	}
	ok := false
	for _, cn := range wantCN {
		ok = ok || leaf.Subject.CommonName == cn
	}
	if !ok {
		return nil, fmt.Errorf("leaf %q, want %q", leaf.Subject.CommonName, wantCN)
	}
	return chains[0], nil
}

// ParseTCBInfo verifies an SGX TCB info body under its issuer chain and
// reads it. The validity window is not checked here (Verify does, so that
// expiry is reported apart).
func ParseTCBInfo(body, chainPEM []byte, roots *x509.CertPool, at time.Time) (*TCBInfo, error) {
	signed, err := checkSigned(body, chainPEM, "tcbInfo", roots, at, cnTCBSigning)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCollateral, err)
	}
	t, err := parseTCBInfo(signed)
	if err != nil {
		return nil, fmt.Errorf("%w: tcbInfo: %v", ErrCollateral, err)
	}
	return t, nil
}

type jsonComp struct {
	SVN      *int   `json:"svn"`
	Category string `json:"category"`
	Type     string `json:"type"`
}

type jsonTCBLevel struct {
	TCB         map[string]json.RawMessage `json:"tcb"`
	TCBDate     string                     `json:"tcbDate"`
	TCBStatus   string                     `json:"tcbStatus"`
	AdvisoryIDs []string                   `json:"advisoryIDs"`
}

func parseTCBInfo(signed []byte) (*TCBInfo, error) {
	var j struct {
		ID                      *string        `json:"id"`
		Version                 int            `json:"version"`
		IssueDate               time.Time      `json:"issueDate"`
		NextUpdate              time.Time      `json:"nextUpdate"`
		FMSPC                   string         `json:"fmspc"`
		PCEID                   string         `json:"pceId"`
		TCBType                 *int           `json:"tcbType"`
		TCBEvaluationDataNumber *int           `json:"tcbEvaluationDataNumber"`
		TCBLevels               []jsonTCBLevel `json:"tcbLevels"`
	}
	if err := json.Unmarshal(signed, &j); err != nil {
		return nil, err
	}
	t := &TCBInfo{Version: j.Version, IssueDate: j.IssueDate, NextUpdate: j.NextUpdate}
	switch {
	case j.Version == 3 && (j.ID == nil || *j.ID != "SGX"):
		return nil, errors.New(`version 3 without id "SGX" (a TDX TCB info?)`)
	case j.Version != 2 && j.Version != 3:
		return nil, fmt.Errorf("version %d: only 2 and 3", j.Version)
	case j.TCBType == nil || *j.TCBType != 0:
		return nil, errors.New("tcbType is not 0")
	case j.TCBEvaluationDataNumber == nil:
		return nil, errors.New("no tcbEvaluationDataNumber")
	case j.IssueDate.IsZero() || j.NextUpdate.IsZero():
		return nil, errors.New("no issueDate or nextUpdate")
	}
	t.TCBEvaluationDataNumber = *j.TCBEvaluationDataNumber
	if err := hexInto(t.FMSPC[:], j.FMSPC, "fmspc"); err != nil {
		return nil, err
	}
	if err := hexInto(t.PCEID[:], j.PCEID, "pceId"); err != nil {
		return nil, err
	}
	if len(j.TCBLevels) == 0 {
		return nil, errors.New("no TCB levels")
	}
	for i, jl := range j.TCBLevels {
		l, err := parseTCBLevel(jl, j.Version)
		if err != nil {
			return nil, fmt.Errorf("TCB level %d: %v", i, err)
		}
		t.Levels = append(t.Levels, l)
	}
	return t, nil
}

func parseTCBLevel(jl jsonTCBLevel, version int) (TCBLevel, error) {
	l := TCBLevel{Status: jl.TCBStatus, AdvisoryIDs: jl.AdvisoryIDs}
	if !platformStatuses[l.Status] {
		return l, fmt.Errorf("unknown status %q", l.Status)
	}
	d, err := time.Parse(time.RFC3339, jl.TCBDate)
	if err != nil {
		return l, fmt.Errorf("tcbDate: %v", err)
	}
	l.Date = d
	pce, ok := jl.TCB["pcesvn"]
	if !ok || json.Unmarshal(pce, &l.PCESVN) != nil {
		return l, errors.New("no pcesvn")
	}
	if version == 2 {
		if len(jl.TCB) != 17 {
			return l, fmt.Errorf("%d TCB members, want 17", len(jl.TCB))
		}
		for i := range l.CompSVN {
			v, ok := jl.TCB[fmt.Sprintf("sgxtcbcomp%02dsvn", i+1)]
			if !ok || json.Unmarshal(v, &l.CompSVN[i]) != nil {
				return l, fmt.Errorf("sgxtcbcomp%02dsvn missing or not 0–255", i+1)
			}
		}
		return l, nil
	}
	var comps []jsonComp
	c, ok := jl.TCB["sgxtcbcomponents"]
	if !ok || len(jl.TCB) != 2 || json.Unmarshal(c, &comps) != nil || len(comps) != 16 {
		return l, errors.New("want sgxtcbcomponents (16) and pcesvn")
	}
	for i, comp := range comps {
		if comp.SVN == nil || *comp.SVN < 0 || *comp.SVN > 255 {
			return l, fmt.Errorf("component %d: svn missing or not 0–255", i+1)
		}
		l.CompSVN[i] = byte(*comp.SVN)
	}
	return l, nil
}

// ParseQEIdentity verifies a QE identity body under its issuer chain and
// reads it.
func ParseQEIdentity(body, chainPEM []byte, roots *x509.CertPool, at time.Time) (*QEIdentity, error) {
	signed, err := checkSigned(body, chainPEM, "enclaveIdentity", roots, at, cnTCBSigning)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCollateral, err)
	}
	q, err := parseQEIdentity(signed)
	if err != nil {
		return nil, fmt.Errorf("%w: enclaveIdentity: %v", ErrCollateral, err)
	}
	return q, nil
}

func parseQEIdentity(signed []byte) (*QEIdentity, error) {
	var j struct {
		ID                      string    `json:"id"`
		Version                 int       `json:"version"`
		IssueDate               time.Time `json:"issueDate"`
		NextUpdate              time.Time `json:"nextUpdate"`
		TCBEvaluationDataNumber *int      `json:"tcbEvaluationDataNumber"`
		MiscSelect              string    `json:"miscselect"`
		MiscSelectMask          string    `json:"miscselectMask"`
		Attributes              string    `json:"attributes"`
		AttributesMask          string    `json:"attributesMask"`
		MRSigner                string    `json:"mrsigner"`
		ISVProdID               *uint16   `json:"isvprodid"`
		TCBLevels               []struct {
			TCB struct {
				ISVSVN *uint16 `json:"isvsvn"`
			} `json:"tcb"`
			TCBDate     string   `json:"tcbDate"`
			TCBStatus   string   `json:"tcbStatus"`
			AdvisoryIDs []string `json:"advisoryIDs"`
		} `json:"tcbLevels"`
	}
	if err := json.Unmarshal(signed, &j); err != nil {
		return nil, err
	}
	switch {
	case j.ID != "QE":
		return nil, fmt.Errorf("id %q: only the QE", j.ID)
	case j.Version != 2:
		return nil, fmt.Errorf("version %d: only 2", j.Version)
	case j.TCBEvaluationDataNumber == nil || j.ISVProdID == nil:
		return nil, errors.New("no tcbEvaluationDataNumber or isvprodid")
	case j.IssueDate.IsZero() || j.NextUpdate.IsZero():
		return nil, errors.New("no issueDate or nextUpdate")
	case len(j.TCBLevels) == 0:
		return nil, errors.New("no TCB levels")
	}
	q := &QEIdentity{IssueDate: j.IssueDate, NextUpdate: j.NextUpdate, TCBEvaluationDataNumber: *j.TCBEvaluationDataNumber, ISVProdID: *j.ISVProdID}
	var misc, miscMask [4]byte
	for _, f := range []struct {
		dst  []byte
		src  string
		name string
	}{{misc[:], j.MiscSelect, "miscselect"}, {miscMask[:], j.MiscSelectMask, "miscselectMask"},
		{q.Attributes[:], j.Attributes, "attributes"}, {q.AttrMask[:], j.AttributesMask, "attributesMask"},
		{q.MRSigner[:], j.MRSigner, "mrsigner"}} {
		if err := hexInto(f.dst, f.src, f.name); err != nil {
			return nil, err
		}
	}
	// MISCSELECT is a little-endian field of the report; PCS writes the
	// value as a big-endian hex number.
	q.MiscSelect = uint32(misc[0])<<24 | uint32(misc[1])<<16 | uint32(misc[2])<<8 | uint32(misc[3])
	q.MiscMask = uint32(miscMask[0])<<24 | uint32(miscMask[1])<<16 | uint32(miscMask[2])<<8 | uint32(miscMask[3])
	for i, jl := range j.TCBLevels {
		if jl.TCB.ISVSVN == nil || !qeStatuses[jl.TCBStatus] {
			return nil, fmt.Errorf("TCB level %d: no isvsvn, or status %q", i, jl.TCBStatus)
		}
		d, err := time.Parse(time.RFC3339, jl.TCBDate)
		if err != nil {
			return nil, fmt.Errorf("TCB level %d: tcbDate: %v", i, err)
		}
		q.Levels = append(q.Levels, QELevel{ISVSVN: *jl.TCB.ISVSVN, Date: d, Status: jl.TCBStatus, AdvisoryIDs: jl.AdvisoryIDs})
	}
	return q, nil
}

func hexInto(dst []byte, s, name string) error {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(dst) {
		return fmt.Errorf("%s is not %d bytes of hex", name, len(dst))
	}
	copy(dst, b)
	return nil
}
