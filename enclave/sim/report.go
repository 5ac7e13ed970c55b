package sim

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"

	"github.com/confide/confide/enclave"
)

// Simulated report payload, inside the evidence envelope (spec/evidence-sim.md):
//
//	body:  version(1)=1 flags(1) unique_id(32) config_id(32) signer_id(32)
//	       product_id(2 BE) svn(2 BE) tcb_status(1) report_data(64)
//	then:  cert_len(2 BE) attestation-key certificate (DER)
//	       signature(96): P-384 ECDSA r‖s, big-endian, over
//	       SHA-384("confide sim report v1\x00" ‖ body)
const (
	reportVersion = 1
	bodyLen       = 1 + 1 + 32*3 + 2 + 2 + 1 + 64
	sigLen        = 96
	reportContext = "confide sim report v1\x00"

	flagDebug     = 1 << 0
	flagSimulated = 1 << 1
)

var tcbCodes = []string{1: enclave.TCBUpToDate, 2: enclave.TCBSWHardeningNeeded, 3: enclave.TCBConfigurationNeeded, 4: enclave.TCBOutOfDate, 5: enclave.TCBRevoked}

func tcbCode(s string) (byte, error) {
	for i, v := range tcbCodes {
		if v == s && i > 0 {
			return byte(i), nil
		}
	}
	return 0, fmt.Errorf("sim: unknown TCB status %q", s)
}

func encodeBody(id enclave.Identity, rd enclave.ReportData) ([]byte, error) {
	if len(id.UniqueID) != 32 || len(id.ConfigID) != 32 || len(id.SignerID) != 32 {
		return nil, errors.New("sim: identity fields must be 32 bytes")
	}
	tcb, err := tcbCode(id.TCBStatus)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, bodyLen)
	b = append(b, reportVersion, flagSimulated|flagDebug) // always both: see Image.identity
	b = append(b, id.UniqueID...)
	b = append(b, id.ConfigID...)
	b = append(b, id.SignerID...)
	b = binary.BigEndian.AppendUint16(b, id.ProductID)
	b = binary.BigEndian.AppendUint16(b, id.SVN)
	b = append(b, tcb)
	return append(b, rd[:]...), nil
}

func digest(body []byte) []byte {
	h := sha512.New384()
	h.Write([]byte(reportContext))
	h.Write(body)
	return h.Sum(nil)
}

// signReport builds the payload for id and rd with the attestation key.
func signReport(rand interface{ Read([]byte) (int, error) }, ak *ecdsa.PrivateKey, akCertDER []byte, id enclave.Identity, rd enclave.ReportData) ([]byte, error) {
	body, err := encodeBody(id, rd)
	if err != nil {
		return nil, err
	}
	r, s, err := ecdsa.Sign(rand, ak, digest(body))
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, bodyLen+2+len(akCertDER)+sigLen)
	out = append(out, body...)
	out = binary.BigEndian.AppendUint16(out, uint16(len(akCertDER)))
	out = append(out, akCertDER...)
	out = append(out, r.FillBytes(make([]byte, 48))...)
	out = append(out, s.FillBytes(make([]byte, 48))...)
	return enclave.WrapEvidence(enclave.PlatformSim, out)
}

// report is a parsed payload; nothing in it is trusted until verified.
type report struct {
	body    []byte
	claims  enclave.Claims
	certDER []byte
	r, s    *big.Int
}

func parseReport(payload []byte) (*report, error) {
	bad := func(why string) error { return fmt.Errorf("%w: sim report: %s", enclave.ErrMalformedEvidence, why) }
	if len(payload) < bodyLen+2+sigLen {
		return nil, bad("too short")
	}
	body := payload[:bodyLen]
	if body[0] != reportVersion {
		return nil, bad(fmt.Sprintf("unsupported version %d", body[0]))
	}
	if body[1] != flagSimulated|flagDebug {
		return nil, bad("flags must mark the report simulated and debug")
	}
	rep := &report{body: body}
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
	if len(rest) != n+sigLen {
		return nil, bad("certificate length does not match")
	}
	rep.certDER = rest[:n]
	sig := rest[n:]
	rep.r, rep.s = new(big.Int).SetBytes(sig[:48]), new(big.Int).SetBytes(sig[48:])
	return rep, nil
}

func (rep *report) verifySignature(ak *ecdsa.PublicKey) bool {
	if ak.Curve != elliptic.P384() {
		return false
	}
	return ecdsa.Verify(ak, digest(rep.body), rep.r, rep.s)
}
