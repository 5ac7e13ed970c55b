package tdx

import (
	"fmt"

	"github.com/confide/confide/enclave"
	"github.com/google/go-tdx-guest/pcs"
	pb "github.com/google/go-tdx-guest/proto/tdx"
)

// tcbRank orders Intel's TCB level statuses from best to worst.
var tcbRank = map[pcs.TcbComponentStatus]int{
	pcs.TcbComponentStatusUpToDate:                          0,
	pcs.TcbComponentStatusSwHardeningNeeded:                 1,
	pcs.TcbComponentStatusConfigurationNeeded:               2,
	pcs.TcbComponentStatusConfigurationAndSWHardeningNeeded: 3,
	pcs.TcbComponentStatusOutOfDate:                         4,
	pcs.TcbComponentStatusOutOfDateConfigurationNeeded:      5,
	pcs.TcbComponentStatusRevoked:                           6,
}

// tcbClaim maps Intel's seven statuses onto confide's five: a combined
// status takes the word of its more serious half.
var tcbClaim = map[pcs.TcbComponentStatus]string{
	pcs.TcbComponentStatusUpToDate:                          enclave.TCBUpToDate,
	pcs.TcbComponentStatusSwHardeningNeeded:                 enclave.TCBSWHardeningNeeded,
	pcs.TcbComponentStatusConfigurationNeeded:               enclave.TCBConfigurationNeeded,
	pcs.TcbComponentStatusConfigurationAndSWHardeningNeeded: enclave.TCBConfigurationNeeded,
	pcs.TcbComponentStatusOutOfDate:                         enclave.TCBOutOfDate,
	pcs.TcbComponentStatusOutOfDateConfigurationNeeded:      enclave.TCBOutOfDate,
	pcs.TcbComponentStatusRevoked:                           enclave.TCBRevoked,
}

// tcbInput is what the TCB evaluation reads from a verified quote.
type tcbInput struct {
	teeTCBSVN []byte // TEE_TCB_SVN from the TD quote body
	cpuSVN    []byte // the 16 SGX TCB component SVNs of the PCK certificate
	pceSVN    uint16 // PCESVN of the PCK certificate
	qeISVSVN  uint32 // ISVSVN of the QE report
}

func newTCBInput(q *pb.QuoteV4, ext *pcs.PckExtensions) tcbInput {
	return tcbInput{
		teeTCBSVN: q.GetTdQuoteBody().GetTeeTcbSvn(),
		cpuSVN:    ext.TCB.CPUSvnComponents,
		pceSVN:    ext.TCB.PCESvn,
		qeISVSVN:  q.GetSignedData().GetCertificationData().GetQeReportCertificationData().GetQeReport().GetIsvSvn(),
	}
}

// tcbStatus finds the TCB levels of the platform, of the TDX module (for
// module versions above 0) and of the quoting enclave that match a quote,
// with the same matching rules as go-tdx-guest, and returns the worst of
// their statuses. No matching level is an error: Intel then does not
// support the platform's TCB.
func tcbStatus(in tcbInput, info pcs.TcbInfo, qe pcs.EnclaveIdentity) (pcs.TcbComponentStatus, error) {
	if len(in.teeTCBSVN) != 16 || len(in.cpuSVN) != 16 {
		return "", fmt.Errorf("tdx: TCB SVNs of unexpected length")
	}
	var statuses []pcs.TcbComponentStatus
	platform, ok := firstLevel(info.TcbLevels, func(l pcs.TcbLevel) bool {
		return svnsAtLeast(in.cpuSVN, l.Tcb.SgxTcbcomponents, 0) &&
			in.pceSVN >= l.Tcb.Pcesvn &&
			svnsAtLeast(in.teeTCBSVN, l.Tcb.TdxTcbcomponents, moduleSkip(in.teeTCBSVN))
	})
	if !ok {
		return "", fmt.Errorf("tdx: no TCB level of the TCB info matches the platform")
	}
	statuses = append(statuses, platform.TcbStatus)

	if in.teeTCBSVN[1] > 0 {
		id := fmt.Sprintf("TDX_%02x", in.teeTCBSVN[1])
		found := false
		for _, m := range info.TdxModuleIdentities {
			if m.ID != id {
				continue
			}
			found = true
			level, ok := firstLevel(m.TcbLevels, func(l pcs.TcbLevel) bool { return uint32(in.teeTCBSVN[0]) >= l.Tcb.Isvsvn })
			if !ok {
				return "", fmt.Errorf("tdx: no TCB level of TDX module %s matches SVN %d", id, in.teeTCBSVN[0])
			}
			statuses = append(statuses, level.TcbStatus)
			break
		}
		if !found {
			return "", fmt.Errorf("tdx: TCB info has no TDX module identity %s", id)
		}
	}

	qeLevel, ok := firstLevel(qe.TcbLevels, func(l pcs.TcbLevel) bool { return in.qeISVSVN >= l.Tcb.Isvsvn })
	if !ok {
		return "", fmt.Errorf("tdx: no TCB level of the QE identity matches QE SVN %d", in.qeISVSVN)
	}
	statuses = append(statuses, qeLevel.TcbStatus)

	worst := pcs.TcbComponentStatusUpToDate
	for _, s := range statuses {
		r, ok := tcbRank[s]
		if !ok {
			return "", fmt.Errorf("tdx: unknown TCB status %q", s)
		}
		if r > tcbRank[worst] {
			worst = s
		}
	}
	return worst, nil
}

// moduleSkip is where TEE_TCB_SVN comparison starts: from TDX module 1.5 on
// (a non-zero minor version in byte 1), bytes 0 and 1 are judged by the
// module identity instead.
func moduleSkip(teeTCBSVN []byte) int {
	if teeTCBSVN[1] > 0 {
		return 2
	}
	return 0
}

func firstLevel(levels []pcs.TcbLevel, match func(pcs.TcbLevel) bool) (pcs.TcbLevel, bool) {
	for _, l := range levels {
		if match(l) {
			return l, true
		}
	}
	return pcs.TcbLevel{}, false
}

func svnsAtLeast(have []byte, want []pcs.TcbComponent, from int) bool {
	if len(have) != len(want) {
		return false
	}
	for i := from; i < len(have); i++ {
		if have[i] < want[i].Svn {
			return false
		}
	}
	return true
}
