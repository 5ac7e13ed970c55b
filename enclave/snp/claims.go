package snp

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/confide/confide/enclave"
	spb "github.com/google/go-sev-guest/proto/sevsnp"
)

// policyDebug is bit 19 of the guest policy: the host may decrypt and
// alter the guest's memory through the debug commands.
const policyDebug = 1 << 19

// claims maps a parsed report to confide's claims (spec/evidence-snp.md,
// "Claims"). minimumTCB is a TCB_VERSION, zero for none.
func claims(r *spb.Report, authorKeyEn bool, minimumTCB uint64) (enclave.Claims, error) {
	if r.GetGuestSvn() > math.MaxUint16 {
		return enclave.Claims{}, fmt.Errorf("snp: GUEST_SVN %d does not fit confide's 16-bit SVN", r.GetGuestSvn())
	}
	status, err := tcbStatus(r, minimumTCB)
	if err != nil {
		return enclave.Claims{}, err
	}
	signer := r.GetIdKeyDigest()
	if authorKeyEn {
		signer = r.GetAuthorKeyDigest()
	}
	var c enclave.Claims
	c.Platform = enclave.PlatformSNP
	c.UniqueID = clone(r.GetMeasurement())
	c.ConfigID = clone(r.GetHostData())
	c.SignerID = clone(signer)
	c.ProductID = binary.LittleEndian.Uint16(r.GetImageId()[:2])
	c.SVN = uint16(r.GetGuestSvn())
	c.Debug = r.GetPolicy()&policyDebug != 0
	c.TCBStatus = status
	copy(c.ReportData[:], r.GetReportData())
	return c, nil
}

// tcbStatus maps the report's three TCB versions, compared byte by byte
// (each byte is one component's security patch level, whatever the
// product's layout), to a status:
//
//   - an error if REPORTED_TCB or COMMITTED_TCB exceeds CURRENT_TCB in any
//     component: firmware never reports or commits above what it runs;
//   - OutOfDate if REPORTED_TCB, the level the endorsement key certifies,
//     is below minimumTCB or below COMMITTED_TCB in any component;
//   - ConfigurationNeeded if the running firmware is not committed
//     (CURRENT_TCB or the firmware version differ from the committed
//     ones), so the host could still roll it back;
//   - UpToDate otherwise.
func tcbStatus(r *spb.Report, minimumTCB uint64) (string, error) {
	reported, current, committed := r.GetReportedTcb(), r.GetCurrentTcb(), r.GetCommittedTcb()
	if !tcbLE(reported, current) {
		return "", fmt.Errorf("snp: REPORTED_TCB %#016x exceeds CURRENT_TCB %#016x", reported, current)
	}
	if !tcbLE(committed, current) {
		return "", fmt.Errorf("snp: COMMITTED_TCB %#016x exceeds CURRENT_TCB %#016x", committed, current)
	}
	switch {
	case !tcbLE(minimumTCB, reported), !tcbLE(committed, reported):
		return enclave.TCBOutOfDate, nil
	case committed != current ||
		r.GetCommittedMajor() != r.GetCurrentMajor() ||
		r.GetCommittedMinor() != r.GetCurrentMinor() ||
		r.GetCommittedBuild() != r.GetCurrentBuild():
		return enclave.TCBConfigurationNeeded, nil
	}
	return enclave.TCBUpToDate, nil
}

// tcbLE reports whether every component (byte) of a is at most b's.
func tcbLE(a, b uint64) bool {
	for i := 0; i < 64; i += 8 {
		if byte(a>>i) > byte(b>>i) {
			return false
		}
	}
	return true
}

func clone(b []byte) []byte { return append([]byte{}, b...) }
