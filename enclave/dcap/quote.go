package dcap

import (
	"bytes"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
)

// ErrMalformed is wrapped by every error about a quote's bytes.
var ErrMalformed = errors.New("dcap: malformed quote")

// Quote format versions, attestation key type and TEE types.
const (
	Version3 = 3
	Version4 = 4

	AttestKeyP256 = 2

	TEESGX = 0x00000000
	TEETDX = 0x00000081
)

// Sizes of the fixed parts (spec/evidence-sgx.md).
const (
	HeaderLen      = 48
	ReportBodyLen  = 384 // an SGX report body: the enclave's, or the QE's
	TDBodyLen      = 584 // a TD quote body (format 4, TDX)
	SignatureLen   = 64  // ECDSA P-256 r ‖ s, big-endian
	AttestKeyLen   = 64  // P-256 x ‖ y, big-endian
	certTypePCK    = 5   // PCK certificate chain, PEM
	certTypeQEData = 6   // QE report certification data (format 4)
	maxQuoteLen    = 1 << 20
	certHeaderLen  = 6 // type (2) and length (4)
	pckChainCerts  = 3
	qeAuthLenLen   = 2
)

// IntelQEVendorID is the QE vendor ID of Intel's quoting enclaves.
var IntelQEVendorID = [16]byte{0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9, 0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07}

// Quote is an Intel DCAP ECDSA quote, format 3 (SGX) or 4 (SGX or TDX),
// with an ECDSA P-256 attestation key and a PCK certificate chain as its
// certification data — the only kind a quoting enclave on a DCAP platform
// produces.
type Quote struct {
	Version uint16
	// TEEType is format 4's TEE type (TEESGX or TEETDX). In format 3 the
	// same four bytes are reserved; they are kept in Reserved and TEEType
	// is TEESGX.
	TEEType    uint32
	Reserved   uint32
	QESVN      uint16
	PCESVN     uint16
	QEVendorID [16]byte
	UserData   [20]byte
	// Body is the report the quote signs: an SGX report body (ReportBodyLen
	// bytes) or a TD quote body (TDBodyLen).
	Body        []byte
	Signature   [SignatureLen]byte
	AttestKey   [AttestKeyLen]byte
	QEReport    [ReportBodyLen]byte
	QEReportSig [SignatureLen]byte
	QEAuthData  []byte
	// PCKChain is the PCK certificate chain exactly as the quote holds
	// it: three PEM certificates, leaf first, possibly followed by one
	// zero byte.
	PCKChain []byte
}

// Parse reads a quote. Every length must account for the bytes exactly,
// the reserved bytes of both reports must be zero, and the PCK chain must
// be encoded canonically, so that a parsed quote marshals back to exactly
// the bytes it came from: no byte of a quote that Parse accepts goes
// unchecked by the verification that follows (the signatures cover the
// header, the body and the QE report; the QE report binds the attestation
// key and the authentication data; the PCK chain is its certificates).
func Parse(b []byte) (*Quote, error) {
	q, err := parse(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if again := q.Marshal(); !bytes.Equal(again, b) {
		return nil, fmt.Errorf("%w: does not marshal back to its own bytes", ErrMalformed)
	}
	return q, nil
}

// reader walks a byte slice with bounds checks.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) take(n int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || len(r.b)-r.off < n {
		r.err = fmt.Errorf("%s: %d bytes at offset %#x, but only %d remain", what, n, r.off, len(r.b)-r.off)
		return nil
	}
	out := r.b[r.off : r.off+n : r.off+n]
	r.off += n
	return out
}

func (r *reader) u16(what string) uint16 {
	if b := r.take(2, what); b != nil {
		return binary.LittleEndian.Uint16(b)
	}
	return 0
}

func (r *reader) u32(what string) uint32 {
	if b := r.take(4, what); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

// rest checks that a length field equals the bytes left.
func (r *reader) rest(n uint32, what string) {
	if r.err == nil && uint64(n) != uint64(len(r.b)-r.off) {
		r.err = fmt.Errorf("%s length %d, but %d bytes follow", what, n, len(r.b)-r.off)
	}
}

func parse(b []byte) (*Quote, error) {
	if len(b) > maxQuoteLen {
		return nil, fmt.Errorf("%d bytes: longer than %d", len(b), maxQuoteLen)
	}
	r := &reader{b: b}
	q := &Quote{}
	q.Version = r.u16("version")
	if r.err == nil && q.Version != Version3 && q.Version != Version4 {
		return nil, fmt.Errorf("format version %d: only 3 and 4", q.Version)
	}
	if k := r.u16("attestation key type"); r.err == nil && k != AttestKeyP256 {
		return nil, fmt.Errorf("attestation key type %d: only %d (ECDSA P-256)", k, AttestKeyP256)
	}
	tee := r.u32("TEE type")
	if q.Version == Version3 {
		q.Reserved = tee
	} else {
		q.TEEType = tee
	}
	q.QESVN = r.u16("QE SVN")
	q.PCESVN = r.u16("PCE SVN")
	copy(q.QEVendorID[:], r.take(16, "QE vendor ID"))
	copy(q.UserData[:], r.take(20, "user data"))
	bodyLen := ReportBodyLen
	switch q.TEEType {
	case TEESGX:
	case TEETDX:
		bodyLen = TDBodyLen
	default:
		return nil, fmt.Errorf("TEE type %#x: only SGX (0) and TDX (0x81)", q.TEEType)
	}
	q.Body = r.take(bodyLen, "report body")
	if r.err == nil && q.TEEType == TEESGX {
		if err := checkReserved(q.Body); err != nil {
			return nil, fmt.Errorf("enclave report: %v", err)
		}
	}
	r.rest(r.u32("signature data length"), "signature data")
	copy(q.Signature[:], r.take(SignatureLen, "quote signature"))
	copy(q.AttestKey[:], r.take(AttestKeyLen, "attestation key"))
	if q.Version == Version4 {
		// Format 4 wraps the QE report in certification data of its own.
		if t := r.u16("certification data type"); r.err == nil && t != certTypeQEData {
			return nil, fmt.Errorf("certification data type %d: only %d (QE report)", t, certTypeQEData)
		}
		r.rest(r.u32("certification data length"), "certification data")
	}
	copy(q.QEReport[:], r.take(ReportBodyLen, "QE report"))
	if r.err == nil {
		if err := checkReserved(q.QEReport[:]); err != nil {
			return nil, fmt.Errorf("QE report: %v", err)
		}
	}
	copy(q.QEReportSig[:], r.take(SignatureLen, "QE report signature"))
	q.QEAuthData = r.take(int(r.u16("QE authentication data length")), "QE authentication data")
	if t := r.u16("PCK certification data type"); r.err == nil && t != certTypePCK {
		return nil, fmt.Errorf("PCK certification data type %d: only %d (PCK certificate chain)", t, certTypePCK)
	}
	r.rest(r.u32("PCK certification data length"), "PCK certification data")
	q.PCKChain = r.take(len(b)-r.off, "PCK certificate chain")
	if r.err != nil {
		return nil, r.err
	}
	if err := checkPCKChain(q.PCKChain); err != nil {
		return nil, err
	}
	return q, nil
}

// reportReserved are the reserved ranges of an SGX report body, which the
// hardware fills with zeros.
var reportReserved = [][2]int{{0x014, 0x020}, {0x060, 0x080}, {0x0A0, 0x0C0}, {0x106, 0x130}}

func checkReserved(body []byte) error {
	for _, rg := range reportReserved {
		for _, c := range body[rg[0]:rg[1]] {
			if c != 0 {
				return fmt.Errorf("reserved bytes %#x–%#x are not zero", rg[0], rg[1]-1)
			}
		}
	}
	return nil
}

// checkPCKChain requires exactly three PEM CERTIFICATE blocks as
// encoding/pem writes them (64-column base64, no headers, nothing between
// or around them), optionally followed by one zero byte, which some
// quoting enclaves append. PEM decoders skip whitespace, stray text and
// non-zero padding bits; no signature covers these bytes, so they are
// ruled out here.
func checkPCKChain(chain []byte) error {
	text := chain
	if n := len(text); n > 0 && text[n-1] == 0 {
		text = text[:n-1]
	}
	var canonical []byte
	rest := text
	for i := range pckChainCerts {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil || block.Type != "CERTIFICATE" || len(block.Headers) != 0 {
			return fmt.Errorf("PCK chain: block %d is not a PEM CERTIFICATE", i)
		}
		canonical = append(canonical, pem.EncodeToMemory(block)...)
	}
	if !bytes.Equal(canonical, text) {
		return errors.New("PCK chain is not three canonically encoded PEM certificates")
	}
	return nil
}

// CheckPCKChain is checkPCKChain for other quote readers (package tdx).
func CheckPCKChain(chain []byte) error { return checkPCKChain(chain) }

// Marshal returns the quote's bytes.
func (q *Quote) Marshal() []byte {
	le := binary.LittleEndian
	b := make([]byte, 0, HeaderLen+len(q.Body)+1024+len(q.QEAuthData)+len(q.PCKChain))
	b = le.AppendUint16(b, q.Version)
	b = le.AppendUint16(b, AttestKeyP256)
	if q.Version == Version3 {
		b = le.AppendUint32(b, q.Reserved)
	} else {
		b = le.AppendUint32(b, q.TEEType)
	}
	b = le.AppendUint16(b, q.QESVN)
	b = le.AppendUint16(b, q.PCESVN)
	b = append(b, q.QEVendorID[:]...)
	b = append(b, q.UserData[:]...)
	b = append(b, q.Body...)
	qe := make([]byte, 0, ReportBodyLen+SignatureLen+qeAuthLenLen+len(q.QEAuthData)+certHeaderLen+len(q.PCKChain))
	qe = append(qe, q.QEReport[:]...)
	qe = append(qe, q.QEReportSig[:]...)
	qe = le.AppendUint16(qe, uint16(len(q.QEAuthData)))
	qe = append(qe, q.QEAuthData...)
	qe = le.AppendUint16(qe, certTypePCK)
	qe = le.AppendUint32(qe, uint32(len(q.PCKChain)))
	qe = append(qe, q.PCKChain...)
	sd := make([]byte, 0, SignatureLen+AttestKeyLen+certHeaderLen+len(qe))
	sd = append(sd, q.Signature[:]...)
	sd = append(sd, q.AttestKey[:]...)
	if q.Version == Version4 {
		sd = le.AppendUint16(sd, certTypeQEData)
		sd = le.AppendUint32(sd, uint32(len(qe)))
	}
	sd = append(sd, qe...)
	b = le.AppendUint32(b, uint32(len(sd)))
	return append(b, sd...)
}

// Signed returns the bytes the quote signature covers: the header and the
// body.
func (q *Quote) Signed() []byte {
	b := q.Marshal()
	return b[:HeaderLen+len(q.Body)]
}

// TrimPadding drops zero bytes after the end that a quote's signature
// data length declares, as a fixed-size quote buffer leaves them; anything
// else is returned as it is (Parse then judges it). For attesters: a
// verifier accepts no trailing bytes at all.
func TrimPadding(raw []byte) []byte {
	if len(raw) < HeaderLen {
		return raw
	}
	bodyLen := ReportBodyLen
	if binary.LittleEndian.Uint16(raw) == Version4 && binary.LittleEndian.Uint32(raw[4:]) == TEETDX {
		bodyLen = TDBodyLen
	}
	sigLenOff := HeaderLen + bodyLen
	if len(raw) < sigLenOff+4 {
		return raw
	}
	end := uint64(sigLenOff+4) + uint64(binary.LittleEndian.Uint32(raw[sigLenOff:]))
	if end >= uint64(len(raw)) {
		return raw
	}
	for _, c := range raw[end:] {
		if c != 0 {
			return raw
		}
	}
	return raw[:end]
}
