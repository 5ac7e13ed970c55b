package tdx

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/confide/confide/enclave"
	"github.com/confide/confide/enclave/dcap"
	"github.com/google/go-tdx-guest/abi"
	pb "github.com/google/go-tdx-guest/proto/tdx"
)

// The payload (spec/evidence-tdx.md) is a version byte followed by exactly
// one TDX quote. Version 1 carries an Intel DCAP quote of format version 4,
// the only format go-tdx-guest v0.3.1 parses.
const payloadV1 = 1

// Layout of a version 4 quote. Offsets are from the start of the quote;
// "sd" offsets are from the start of the signed data, "qe" offsets from the
// start of the QE report certification data.
const (
	quoteHeaderLen   = 0x30
	quoteBodyLen     = 0x248
	sigDataLenOff    = quoteHeaderLen + quoteBodyLen // 0x278
	sigDataOff       = sigDataLenOff + 4             // 0x27C
	sdCertTypeOff    = 0x80                          // after signature and attestation key
	sdCertLenOff     = 0x82
	sdCertDataOff    = 0x86
	qeReportLen      = 0x180
	qeAuthLenOff     = qeReportLen + 0x40 // after the QE report signature
	qeAuthDataOff    = qeAuthLenOff + 2
	pckHeaderLen     = 6
	certTypeQEReport = 6
	certTypePCKChain = 5

	quoteVersion4   = 4
	attestKeyP256   = 2
	teeTypeTDX      = 0x81
	maxQuoteLen     = enclave.MaxEvidence
	bodyReportData  = 0x208 // REPORTDATA within the TD quote body
	bodyTDAttrs     = 0x78  // TD_ATTRIBUTES within the TD quote body
	tdAttrDebugMask = 0x01  // TD_ATTRIBUTES bit 0, TUD.DEBUG
)

// Reserved ranges of the QE report, which the hardware fills with zeros.
var qeReportReserved = [][2]int{{0x14, 0x30}, {0x60, 0x80}, {0xA0, 0x100}, {0x104, 0x140}}

// parsePayload reads a version 1 payload. It returns the quote as
// go-tdx-guest parsed it and the raw quote bytes (aliasing b). Every rule of
// the spec is checked here, before any signature is: the verifier never
// sees bytes that the parsed quote does not account for.
func parsePayload(b []byte) (*pb.QuoteV4, []byte, error) {
	if len(b) == 0 {
		return nil, nil, fmt.Errorf("%w: empty tdx payload", enclave.ErrMalformedEvidence)
	}
	if b[0] != payloadV1 {
		return nil, nil, fmt.Errorf("%w: unsupported tdx payload version %d", enclave.ErrMalformedEvidence, b[0])
	}
	raw := b[1:]
	q, err := parseQuote(raw)
	if err != nil {
		return nil, nil, err
	}
	return q, raw, nil
}

// marshalPayload is the inverse of parsePayload.
func marshalPayload(q *pb.QuoteV4) ([]byte, error) {
	raw, err := abi.QuoteToAbiBytes(q)
	if err != nil {
		return nil, fmt.Errorf("tdx: %w", err)
	}
	return append([]byte{payloadV1}, raw...), nil
}

// parseQuote checks the layout of a version 4 quote byte by byte, then
// hands it to go-tdx-guest's parser and requires that the parsed quote
// serialises back to exactly the same bytes.
func parseQuote(raw []byte) (*pb.QuoteV4, error) {
	if err := checkQuoteLayout(raw); err != nil {
		return nil, fmt.Errorf("%w: tdx quote: %v", enclave.ErrMalformedEvidence, err)
	}
	anyQuote, err := abi.QuoteToProto(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: tdx quote: %v", enclave.ErrMalformedEvidence, err)
	}
	q, ok := anyQuote.(*pb.QuoteV4)
	if !ok || len(q.GetExtraBytes()) != 0 {
		return nil, fmt.Errorf("%w: tdx quote: unexpected parse result", enclave.ErrMalformedEvidence)
	}
	again, err := abi.QuoteToAbiBytes(q)
	if err != nil || !bytes.Equal(again, raw) {
		return nil, fmt.Errorf("%w: tdx quote does not re-serialise to its own bytes", enclave.ErrMalformedEvidence)
	}
	return q, nil
}

// checkQuoteLayout walks the quote with explicit bounds checks. go-tdx-guest
// slices without them and would panic on short input; it also keeps bytes
// after the signed data, and accepts certification data that no signature
// covers. Here every length must add up to exactly len(raw).
func checkQuoteLayout(raw []byte) error {
	le16 := binary.LittleEndian.Uint16
	le32 := binary.LittleEndian.Uint32
	if len(raw) < sigDataOff || len(raw) > maxQuoteLen {
		return fmt.Errorf("length %d out of range", len(raw))
	}
	if v := le16(raw[0:]); v != quoteVersion4 {
		return fmt.Errorf("quote version %d, want %d", v, quoteVersion4)
	}
	if k := le16(raw[2:]); k != attestKeyP256 {
		return fmt.Errorf("attestation key type %d, want %d", k, attestKeyP256)
	}
	if t := le32(raw[4:]); t != teeTypeTDX {
		return fmt.Errorf("TEE type %#x, want %#x", t, teeTypeTDX)
	}
	sd := raw[sigDataOff:]
	if n := le32(raw[sigDataLenOff:]); uint64(n) != uint64(len(sd)) {
		return fmt.Errorf("signed data length %d, but %d bytes follow", n, len(sd))
	}
	if len(sd) < sdCertDataOff {
		return fmt.Errorf("signed data of %d bytes is too short", len(sd))
	}
	if t := le16(sd[sdCertTypeOff:]); t != certTypeQEReport {
		return fmt.Errorf("certification data type %d, want %d", t, certTypeQEReport)
	}
	cd := sd[sdCertDataOff:]
	if n := le32(sd[sdCertLenOff:]); uint64(n) != uint64(len(cd)) {
		return fmt.Errorf("certification data length %d, but %d bytes follow", n, len(cd))
	}
	if len(cd) < qeAuthDataOff {
		return fmt.Errorf("QE certification data of %d bytes is too short", len(cd))
	}
	for _, r := range qeReportReserved {
		for _, c := range cd[r[0]:r[1]] {
			if c != 0 {
				return fmt.Errorf("QE report reserved bytes %#x-%#x are not zero", r[0], r[1])
			}
		}
	}
	authLen := int(le16(cd[qeAuthLenOff:]))
	pck := cd[qeAuthDataOff:]
	if len(pck) < authLen+pckHeaderLen {
		return fmt.Errorf("QE authentication data of %d bytes overruns the quote", authLen)
	}
	pck = pck[authLen:]
	if t := le16(pck); t != certTypePCKChain {
		return fmt.Errorf("PCK certification data type %d, want %d", t, certTypePCKChain)
	}
	chain := pck[pckHeaderLen:]
	if n := le32(pck[2:]); uint64(n) != uint64(len(chain)) {
		return fmt.Errorf("PCK chain length %d, but %d bytes follow", n, len(chain))
	}
	// The same rule as SGX quotes: spec/evidence-tdx.md, evidence-sgx.md.
	return dcap.CheckPCKChain(chain)
}
