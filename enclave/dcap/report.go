package dcap

import (
	"encoding/binary"
	"fmt"
)

// Report is an SGX report body: what EREPORT writes about an enclave, and
// what an SGX quote signs (spec/evidence-sgx.md gives the offsets).
type Report struct {
	CPUSVN       [16]byte
	MiscSelect   uint32
	ISVExtProdID [16]byte // KSS
	Attributes   [16]byte // flags (8 bytes), then XFRM (8)
	MREnclave    [32]byte
	MRSigner     [32]byte
	ConfigID     [64]byte // KSS
	ISVProdID    uint16
	ISVSVN       uint16
	ConfigSVN    uint16 // KSS
	ISVFamilyID  [16]byte
	ReportData   [64]byte
}

// Attribute flags (the first eight bytes of ATTRIBUTES).
const (
	AttrInit          = 1 << 0
	AttrDebug         = 1 << 1
	AttrMode64        = 1 << 2
	AttrProvisionKey  = 1 << 4
	AttrEInitTokenKey = 1 << 5
	AttrKSS           = 1 << 7
)

// ParseReport reads a report body of exactly ReportBodyLen bytes whose
// reserved bytes are zero.
func ParseReport(b []byte) (Report, error) {
	var r Report
	if len(b) != ReportBodyLen {
		return r, fmt.Errorf("%w: report body of %d bytes, want %d", ErrMalformed, len(b), ReportBodyLen)
	}
	if err := checkReserved(b); err != nil {
		return r, fmt.Errorf("%w: report body: %v", ErrMalformed, err)
	}
	le := binary.LittleEndian
	copy(r.CPUSVN[:], b[0x000:])
	r.MiscSelect = le.Uint32(b[0x010:])
	copy(r.ISVExtProdID[:], b[0x020:])
	copy(r.Attributes[:], b[0x030:])
	copy(r.MREnclave[:], b[0x040:])
	copy(r.MRSigner[:], b[0x080:])
	copy(r.ConfigID[:], b[0x0C0:])
	r.ISVProdID = le.Uint16(b[0x100:])
	r.ISVSVN = le.Uint16(b[0x102:])
	r.ConfigSVN = le.Uint16(b[0x104:])
	copy(r.ISVFamilyID[:], b[0x130:])
	copy(r.ReportData[:], b[0x140:])
	return r, nil
}

// Marshal returns the report body's ReportBodyLen bytes.
func (r *Report) Marshal() []byte {
	le := binary.LittleEndian
	b := make([]byte, ReportBodyLen)
	copy(b[0x000:], r.CPUSVN[:])
	le.PutUint32(b[0x010:], r.MiscSelect)
	copy(b[0x020:], r.ISVExtProdID[:])
	copy(b[0x030:], r.Attributes[:])
	copy(b[0x040:], r.MREnclave[:])
	copy(b[0x080:], r.MRSigner[:])
	copy(b[0x0C0:], r.ConfigID[:])
	le.PutUint16(b[0x100:], r.ISVProdID)
	le.PutUint16(b[0x102:], r.ISVSVN)
	le.PutUint16(b[0x104:], r.ConfigSVN)
	copy(b[0x130:], r.ISVFamilyID[:])
	copy(b[0x140:], r.ReportData[:])
	return b
}

// Flags returns the attribute flags.
func (r *Report) Flags() uint64 { return binary.LittleEndian.Uint64(r.Attributes[:8]) }

// Debug reports whether the enclave was launched in debug mode: its memory
// is then readable by the host, and production policies reject it.
func (r *Report) Debug() bool { return r.Flags()&AttrDebug != 0 }

// EnclaveReport returns an SGX quote's report body.
func (q *Quote) EnclaveReport() (Report, error) {
	if q.TEEType != TEESGX {
		return Report{}, fmt.Errorf("%w: a TDX quote has no SGX report body", ErrMalformed)
	}
	return ParseReport(q.Body)
}

// QE returns the quoting enclave's report body.
func (q *Quote) QE() (Report, error) { return ParseReport(q.QEReport[:]) }
