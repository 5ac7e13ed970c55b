package sgx

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/confide/confide/enclave"
)

// EGo is the Runtime of a confide binary built and signed with EGo
// (`ego-go build`, `ego sign`), which runs Go programs in an Open Enclave
// SGX enclave. EGo's runtime answers system calls of its own — the ones
// its enclave package makes — with Open Enclave's remote reports and
// seal keys; EGo talks to them directly, so no EGo library is linked in.
//
//   - a remote report is an Open Enclave report: a 16-byte header
//     (version 1, type 2 "SGX remote", the quote's length; little-endian
//     uint32, uint32, uint64) and the DCAP quote (ParseOEReport);
//   - seal keys are Open Enclave's by policy (unique: MRENCLAVE, product:
//     MRSIGNER), 16 bytes, derived — like Gramine's — from the current
//     CPU SVN and ISV SVN.
type EGo struct {
	mu    sync.Mutex
	calls egoCalls // nil: the runtime's system calls
}

// egoCalls are EGo's runtime services (the system calls, or a fake).
type egoCalls interface {
	remoteReport(reportData []byte) ([]byte, error)
	sealKey(policy uintptr) ([]byte, error)
}

// Open Enclave's seal policies.
const (
	oeSealPolicyUnique  = 1
	oeSealPolicyProduct = 2
)

// ErrNotEGo is returned when the process does not run under EGo's
// runtime: its system calls are unknown to the kernel.
var ErrNotEGo = errors.New("sgx: not running under EGo (its runtime's system calls are unknown here)")

func (e *EGo) runtime() egoCalls {
	if e.calls == nil {
		return egoSyscalls{}
	}
	return e.calls
}

// Quote asks EGo's runtime for a remote report over reportData and
// returns the quote inside it.
func (e *EGo) Quote(ctx context.Context, reportData enclave.ReportData) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	rep, err := e.runtime().remoteReport(reportData[:])
	if err != nil {
		return nil, err
	}
	return ParseOEReport(rep)
}

// SealBase returns Open Enclave's seal key for the policy.
func (e *EGo) SealBase(ctx context.Context, policy enclave.SealPolicy) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var p uintptr
	switch policy {
	case enclave.SealUnique:
		p = oeSealPolicyUnique
	case enclave.SealProduct:
		p = oeSealPolicyProduct
	default:
		return nil, fmt.Errorf("sgx: seal policy %v", policy)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	k, err := e.runtime().sealKey(p)
	if err != nil {
		return nil, err
	}
	if len(k) != 16 {
		clear(k)
		return nil, fmt.Errorf("sgx: EGo's seal key is %d bytes, want 16", len(k))
	}
	return k, nil
}

// Open Enclave's report header.
const (
	oeReportHeaderSize    = 16
	oeReportHeaderVersion = 1
	oeReportTypeSGXLocal  = 1
	oeReportTypeSGXRemote = 2
)

// ParseOEReport returns the DCAP quote of an Open Enclave remote report
// (what EGo's GetRemoteReport returns): a header of version 1 and type 2
// whose length is exactly that of the quote after it. Nothing else
// passes: a local report, another version, a length that does not match.
// The quote itself is parsed by the caller (dcap.Parse).
func ParseOEReport(b []byte) ([]byte, error) {
	if len(b) < oeReportHeaderSize {
		return nil, fmt.Errorf("%w: an Open Enclave report of %d bytes", ErrMalformedOEReport, len(b))
	}
	version := binary.LittleEndian.Uint32(b[0:4])
	typ := binary.LittleEndian.Uint32(b[4:8])
	size := binary.LittleEndian.Uint64(b[8:16])
	switch {
	case version != oeReportHeaderVersion:
		return nil, fmt.Errorf("%w: header version %d, want %d", ErrMalformedOEReport, version, oeReportHeaderVersion)
	case typ == oeReportTypeSGXLocal:
		return nil, fmt.Errorf("%w: a local report (type 1) cannot be verified remotely", ErrMalformedOEReport)
	case typ != oeReportTypeSGXRemote:
		return nil, fmt.Errorf("%w: report type %d, want 2 (SGX remote)", ErrMalformedOEReport, typ)
	case size != uint64(len(b)-oeReportHeaderSize):
		return nil, fmt.Errorf("%w: the header gives %d bytes of quote, %d follow", ErrMalformedOEReport, size, len(b)-oeReportHeaderSize)
	}
	return b[oeReportHeaderSize:], nil
}

// ErrMalformedOEReport is wrapped by ParseOEReport's errors.
var ErrMalformedOEReport = errors.New("sgx: malformed Open Enclave report")

// MarshalOEReport wraps a quote in an Open Enclave remote report header:
// the inverse of ParseOEReport (tests, and tools that hand confide's
// quotes to Open Enclave verifiers).
func MarshalOEReport(quote []byte) []byte {
	b := make([]byte, oeReportHeaderSize, oeReportHeaderSize+len(quote))
	binary.LittleEndian.PutUint32(b[0:4], oeReportHeaderVersion)
	binary.LittleEndian.PutUint32(b[4:8], oeReportTypeSGXRemote)
	binary.LittleEndian.PutUint64(b[8:16], uint64(len(quote)))
	return append(b, quote...)
}
