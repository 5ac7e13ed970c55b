package sim

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"math/big"

	"github.com/confide/confide/enclave"
)

// Simulated report payload, inside the evidence envelope (spec/evidence-sim.md):
//
//	body:  version(1) flags(1) unique_id(32) config_id(32) signer_id(32)
//	       product_id(2 BE) svn(2 BE) tcb_status(1) report_data(64)
//	then:  cert_len(2 BE) attestation-key certificate (DER)
//	       signature: ECDSA r‖s, big-endian, each as wide as the curve's order
//
// The version names the attestation key's curve and the digest:
//
//	version 2: P-256, r‖s 64 bytes, SHA-256("confide sim report v2\x00" ‖ body)
//	version 1: P-384, r‖s 96 bytes, SHA-384("confide sim report v1\x00" ‖ body)
//
// A platform writes version 2 with the P-256 attestation keys it issues
// now, and version 1 while it still holds a P-384 key issued before
// version 2 existed; verifiers accept both, each with its own curve only.
const (
	bodyLen = 1 + 1 + 32*3 + 2 + 2 + 1 + 64

	flagDebug     = 1 << 0
	flagSimulated = 1 << 1
)

// reportFormat is what a report version fixes: the attestation key's
// curve, the digest and the signature's layout.
type reportFormat struct {
	version byte
	curve   elliptic.Curve
	hash    func() hash.Hash
	context string // hashed before the body
	scalar  int    // bytes of r and of s
}

var (
	reportV1 = &reportFormat{version: 1, curve: elliptic.P384(), hash: sha512.New384, context: "confide sim report v1\x00", scalar: 48}
	reportV2 = &reportFormat{version: 2, curve: elliptic.P256(), hash: sha256.New, context: "confide sim report v2\x00", scalar: 32}
)

// formatOf returns the format of a report version, or nil.
func formatOf(version byte) *reportFormat {
	switch version {
	case 1:
		return reportV1
	case 2:
		return reportV2
	}
	return nil
}

// formatFor returns the format a platform writes with attestation key ak.
func formatFor(ak *ecdsa.PublicKey) (*reportFormat, error) {
	switch ak.Curve {
	case elliptic.P256():
		return reportV2, nil
	case elliptic.P384():
		return reportV1, nil
	}
	return nil, fmt.Errorf("sim: attestation key on %s: want P-256 (or P-384, report version 1)", curveName(ak.Curve))
}

func curveName(c elliptic.Curve) string {
	if c == nil || c.Params() == nil {
		return "an unknown curve"
	}
	return c.Params().Name
}

func (f *reportFormat) sigLen() int { return 2 * f.scalar }

func (f *reportFormat) digest(body []byte) []byte {
	h := f.hash()
	h.Write([]byte(f.context))
	h.Write(body)
	return h.Sum(nil)
}

var tcbCodes = []string{1: enclave.TCBUpToDate, 2: enclave.TCBSWHardeningNeeded, 3: enclave.TCBConfigurationNeeded, 4: enclave.TCBOutOfDate, 5: enclave.TCBRevoked}

func tcbCode(s string) (byte, error) {
	for i, v := range tcbCodes {
		if v == s && i > 0 {
			return byte(i), nil
		}
	}
	return 0, fmt.Errorf("sim: unknown TCB status %q", s)
}

func encodeBody(version byte, id enclave.Identity, rd enclave.ReportData) ([]byte, error) {
	if len(id.UniqueID) != 32 || len(id.ConfigID) != 32 || len(id.SignerID) != 32 {
		return nil, errors.New("sim: identity fields must be 32 bytes")
	}
	tcb, err := tcbCode(id.TCBStatus)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, bodyLen)
	b = append(b, version, flagSimulated|flagDebug) // always both: see Image.identity
	b = append(b, id.UniqueID...)
	b = append(b, id.ConfigID...)
	b = append(b, id.SignerID...)
	b = binary.BigEndian.AppendUint16(b, id.ProductID)
	b = binary.BigEndian.AppendUint16(b, id.SVN)
	b = append(b, tcb)
	return append(b, rd[:]...), nil
}

// signReport builds the evidence for id and rd with the attestation key,
// in the report version its curve calls for.
func signReport(rand io.Reader, ak *ecdsa.PrivateKey, akCertDER []byte, id enclave.Identity, rd enclave.ReportData) ([]byte, error) {
	f, err := formatFor(&ak.PublicKey)
	if err != nil {
		return nil, err
	}
	if len(akCertDER) > 0xFFFF {
		return nil, errors.New("sim: attestation key certificate longer than 65535 bytes")
	}
	body, err := encodeBody(f.version, id, rd)
	if err != nil {
		return nil, err
	}
	r, s, err := ecdsa.Sign(rand, ak, f.digest(body))
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, bodyLen+2+len(akCertDER)+f.sigLen())
	out = append(out, body...)
	out = binary.BigEndian.AppendUint16(out, uint16(len(akCertDER)))
	out = append(out, akCertDER...)
	out = append(out, r.FillBytes(make([]byte, f.scalar))...)
	out = append(out, s.FillBytes(make([]byte, f.scalar))...)
	return enclave.WrapEvidence(enclave.PlatformSim, out)
}

// report is a parsed payload; nothing in it is trusted until verified.
type report struct {
	format  *reportFormat
	body    []byte
	claims  enclave.Claims
	certDER []byte
	r, s    *big.Int
}

func parseReport(payload []byte) (*report, error) {
	bad := func(why string) error { return fmt.Errorf("%w: sim report: %s", enclave.ErrMalformedEvidence, why) }
	if len(payload) < bodyLen+2+reportV2.sigLen() {
		return nil, bad("too short")
	}
	body := payload[:bodyLen]
	f := formatOf(body[0])
	if f == nil {
		return nil, bad(fmt.Sprintf("unsupported version %d", body[0]))
	}
	if len(payload) < bodyLen+2+f.sigLen() {
		return nil, bad("too short")
	}
	if body[1] != flagSimulated|flagDebug {
		return nil, bad("flags must mark the report simulated and debug")
	}
	rep := &report{format: f, body: body}
	c := &rep.claims
	c.Platform = enclave.PlatformSim
	c.Debug = true
	p := body[2:]
	c.UniqueID, p = append([]byte(nil), p[:32]...), p[32:]
	c.ConfigID, p = append([]byte(nil), p[:32]...), p[32:]
	c.SignerID, p = append([]byte(nil), p[:32]...), p[32:]
	c.ProductID, p = binary.BigEndian.Uint16(p), p[2:]
	c.SVN, p = binary.BigEndian.Uint16(p), p[2:]
	if int(p[0]) == 0 || int(p[0]) >= len(tcbCodes) {
		return nil, bad("unknown TCB status")
	}
	c.TCBStatus, p = tcbCodes[p[0]], p[1:]
	copy(c.ReportData[:], p[:64])

	rest := payload[bodyLen:]
	n := int(binary.BigEndian.Uint16(rest))
	rest = rest[2:]
	if len(rest) != n+f.sigLen() {
		return nil, bad("certificate length does not match")
	}
	rep.certDER = rest[:n]
	sig := rest[n:]
	rep.r, rep.s = new(big.Int).SetBytes(sig[:f.scalar]), new(big.Int).SetBytes(sig[f.scalar:])
	return rep, nil
}

// checkKey fails unless ak is on the curve of the report's version: a
// version 2 report from a P-384 key, or a version 1 report from a P-256
// key, is refused before its signature is looked at.
func (rep *report) checkKey(ak *ecdsa.PublicKey) error {
	if ak.Curve != rep.format.curve {
		return fmt.Errorf("sim: report version %d needs an attestation key on %s, the certificate's is on %s",
			rep.format.version, curveName(rep.format.curve), curveName(ak.Curve))
	}
	return nil
}

func (rep *report) verifySignature(ak *ecdsa.PublicKey) bool {
	return rep.checkKey(ak) == nil && ecdsa.Verify(ak, rep.format.digest(rep.body), rep.r, rep.s)
}
