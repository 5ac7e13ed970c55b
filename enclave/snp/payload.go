package snp

import (
	"bytes"
	"crypto/x509"
	"encoding/binary"
	"fmt"

	"github.com/confide/confide/enclave"
	"github.com/google/go-sev-guest/abi"
	spb "github.com/google/go-sev-guest/proto/sevsnp"
)

// The payload of SNP evidence (spec/evidence-snp.md): a version byte, the
// raw attestation report, then the endorsement key certificate (VCEK or
// VLEK), its intermediate (ASK or ASVK) and the AMD root (ARK), each DER
// behind a big-endian uint16 length.
const (
	payloadVersion = 1
	reportSize     = abi.ReportSize // 0x4A0 = 1184
	// Offsets in the report that the parser checks beyond the library.
	sigOffset = 0x2A0 // SIGNATURE: R (72 bytes LE), S (72 bytes LE), zeros
	sigRSSize = 72    // an R or S field; P-384 uses its low 48 bytes
	p384Size  = 48
)

// payload is a parsed SNP evidence payload. raw fields alias the input.
type payload struct {
	report   []byte // reportSize bytes
	ek       []byte // DER: VCEK or VLEK, as SIGNER_INFO.SIGNING_KEY says
	ica      []byte // DER: ASK (for a VCEK) or ASVK (for a VLEK)
	ark      []byte // DER: ARK
	proto    *spb.Report
	ekCert   *x509.Certificate
	icaCert  *x509.Certificate
	arkCert  *x509.Certificate
	signer   abi.ReportSigner
	authorEn bool
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: snp: %s", enclave.ErrMalformedEvidence, fmt.Sprintf(format, args...))
}

// marshal encodes the payload. It is the exact inverse of parsePayload.
func (p *payload) marshal() []byte {
	out := make([]byte, 0, 1+len(p.report)+6+len(p.ek)+len(p.ica)+len(p.ark))
	out = append(out, payloadVersion)
	out = append(out, p.report...)
	for _, c := range [][]byte{p.ek, p.ica, p.ark} {
		out = binary.BigEndian.AppendUint16(out, uint16(len(c)))
		out = append(out, c...)
	}
	return out
}

// newPayload checks and assembles a payload from its parts, so that what
// an attester emits is exactly what a verifier parses.
func newPayload(report, ek, ica, ark []byte) (*payload, error) {
	for _, c := range [][]byte{ek, ica, ark} {
		if len(c) == 0 || len(c) > 0xFFFF {
			return nil, fmt.Errorf("snp: certificate of %d bytes does not fit the payload", len(c))
		}
	}
	p := &payload{report: report, ek: ek, ica: ica, ark: ark}
	b := p.marshal()
	q, err := parsePayload(b)
	if err != nil {
		return nil, err
	}
	return q, nil
}

// parsePayload parses and structurally checks a payload: the report must
// be well-formed, signed by a VCEK or VLEK, with every reserved byte zero
// and re-encode to exactly its input; each certificate must be exactly one
// DER X.509 certificate; nothing may follow. It checks no signature.
func parsePayload(b []byte) (*payload, error) {
	if len(b) == 0 {
		return nil, malformed("empty payload")
	}
	if b[0] != payloadVersion {
		return nil, malformed("unsupported payload version %d", b[0])
	}
	b = b[1:]
	if len(b) < reportSize {
		return nil, malformed("payload too short for a report")
	}
	p := &payload{report: b[:reportSize]}
	b = b[reportSize:]
	if err := p.parseReport(); err != nil {
		return nil, err
	}
	for i, dst := range []*[]byte{&p.ek, &p.ica, &p.ark} {
		if len(b) < 2 {
			return nil, malformed("payload truncated before certificate %d", i)
		}
		n := int(binary.BigEndian.Uint16(b))
		b = b[2:]
		if n == 0 || n > len(b) {
			return nil, malformed("certificate %d has bad length %d", i, n)
		}
		*dst, b = b[:n], b[n:]
	}
	if len(b) != 0 {
		return nil, malformed("%d trailing bytes", len(b))
	}
	var err error
	for _, c := range []struct {
		name string
		der  []byte
		dst  **x509.Certificate
	}{{"endorsement key", p.ek, &p.ekCert}, {"intermediate", p.ica, &p.icaCert}, {"root", p.ark, &p.arkCert}} {
		if *c.dst, err = x509.ParseCertificate(c.der); err != nil {
			return nil, malformed("%s certificate: %v", c.name, err)
		}
		if !bytes.Equal((*c.dst).Raw, c.der) {
			return nil, malformed("%s certificate is not exactly one DER certificate", c.name)
		}
	}
	return p, nil
}

// parseReport checks the report beyond what the library's parser does:
// the library ignores the top 24 bytes of R and S, and may ignore bytes it
// does not know in newer report versions, none of which the AMD signature
// covers or pins. So the report must re-encode to exactly its input and
// the unused bytes of R and S must be zero.
func (p *payload) parseReport() error {
	r := p.report
	if err := abi.ValidateReportFormat(r); err != nil {
		return malformed("report: %v", err)
	}
	if abi.SignatureAlgo(r) != abi.SignEcdsaP384Sha384 {
		return malformed("report: unknown signature algorithm %d", abi.SignatureAlgo(r))
	}
	proto, err := abi.ReportToProto(r)
	if err != nil {
		return malformed("report: %v", err)
	}
	again, err := abi.ReportToAbiBytes(proto)
	if err != nil || !bytes.Equal(again, r) {
		return malformed("report does not re-encode to itself")
	}
	sig := r[sigOffset:]
	for _, field := range [][]byte{sig[:sigRSSize], sig[sigRSSize : 2*sigRSSize]} {
		if !allZero(field[p384Size:]) {
			return malformed("report: signature component wider than P-384")
		}
	}
	if !allZero(sig[2*sigRSSize:]) {
		return malformed("report: signature padding not zero")
	}
	info, err := abi.ParseSignerInfo(proto.GetSignerInfo())
	if err != nil {
		return malformed("report: %v", err)
	}
	switch info.SigningKey {
	case abi.VcekReportSigner, abi.VlekReportSigner:
	default:
		return malformed("report: signing key %v is neither VCEK nor VLEK", info.SigningKey)
	}
	p.proto, p.signer, p.authorEn = proto, info.SigningKey, info.AuthorKeyEn
	return nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
