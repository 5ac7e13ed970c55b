package tdx

import (
	"encoding/json"
	"testing"

	"github.com/confide/confide/enclave"
	"github.com/google/go-tdx-guest/pcs"
)

// tcbFixture is the captured quote's TCB input and the test collateral,
// which rates it UpToDate at level 0.
func tcbFixture(t *testing.T) (tcbInput, pcs.TcbInfo, pcs.EnclaveIdentity) {
	t.Helper()
	q, _, err := parsePayload(append([]byte{payloadV1}, capturedQuote(t)...))
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := pckLeaf(q)
	if err != nil {
		t.Fatal(err)
	}
	ext, err := pcs.PckCertificateExtensions(leaf)
	if err != nil {
		t.Fatal(err)
	}
	var info pcs.TdxTcbInfo
	var qe pcs.QeIdentity
	if err := json.Unmarshal(mustRead(t, collateralDir+"/tcbinfo-"+capturedFMSPC+".json"), &info); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(mustRead(t, collateralDir+"/qeidentity.json"), &qe); err != nil {
		t.Fatal(err)
	}
	return newTCBInput(q, ext), info.TcbInfo, qe.EnclaveIdentity
}

func TestTCBStatus(t *testing.T) {
	const (
		up     = pcs.TcbComponentStatusUpToDate
		sw     = pcs.TcbComponentStatusSwHardeningNeeded
		cfg    = pcs.TcbComponentStatusConfigurationNeeded
		cfgSW  = pcs.TcbComponentStatusConfigurationAndSWHardeningNeeded
		old    = pcs.TcbComponentStatusOutOfDate
		oldCfg = pcs.TcbComponentStatusOutOfDateConfigurationNeeded
		rev    = pcs.TcbComponentStatusRevoked
	)
	module := func(in *tcbInput, info *pcs.TcbInfo, status pcs.TcbComponentStatus) {
		in.teeTCBSVN = append([]byte{3, 1}, in.teeTCBSVN[2:]...)
		info.TdxModuleIdentities = []pcs.TdxModuleIdentity{{
			ID: "TDX_01",
			TcbLevels: []pcs.TcbLevel{
				{Tcb: pcs.Tcb{Isvsvn: 4}, TcbStatus: up},
				{Tcb: pcs.Tcb{Isvsvn: 3}, TcbStatus: status},
			},
		}}
	}
	tests := []struct {
		name  string
		edit  func(in *tcbInput, info *pcs.TcbInfo, qe *pcs.EnclaveIdentity)
		want  pcs.TcbComponentStatus
		claim string
	}{
		{"as collateral", nil, up, enclave.TCBUpToDate},
		{"platform SWHardeningNeeded", func(_ *tcbInput, info *pcs.TcbInfo, _ *pcs.EnclaveIdentity) {
			info.TcbLevels[0].TcbStatus = sw
		}, sw, enclave.TCBSWHardeningNeeded},
		{"platform ConfigurationNeeded", func(_ *tcbInput, info *pcs.TcbInfo, _ *pcs.EnclaveIdentity) {
			info.TcbLevels[0].TcbStatus = cfg
		}, cfg, enclave.TCBConfigurationNeeded},
		{"platform ConfigurationAndSWHardeningNeeded", func(_ *tcbInput, info *pcs.TcbInfo, _ *pcs.EnclaveIdentity) {
			info.TcbLevels[0].TcbStatus = cfgSW
		}, cfgSW, enclave.TCBConfigurationNeeded},
		{"platform OutOfDateConfigurationNeeded", func(_ *tcbInput, info *pcs.TcbInfo, _ *pcs.EnclaveIdentity) {
			info.TcbLevels[0].TcbStatus = oldCfg
		}, oldCfg, enclave.TCBOutOfDate},
		{"platform Revoked", func(_ *tcbInput, info *pcs.TcbInfo, _ *pcs.EnclaveIdentity) {
			info.TcbLevels[0].TcbStatus = rev
		}, rev, enclave.TCBRevoked},
		{"lower PCESVN matches no level", func(in *tcbInput, _ *pcs.TcbInfo, _ *pcs.EnclaveIdentity) {
			in.pceSVN = 10
		}, "", ""},
		{"lower PCESVN falls to an OutOfDate level", func(in *tcbInput, info *pcs.TcbInfo, _ *pcs.EnclaveIdentity) {
			in.pceSVN = 10
			info.TcbLevels[1].Tcb = info.TcbLevels[0].Tcb
			info.TcbLevels[1].Tcb.Pcesvn = 5
		}, old, enclave.TCBOutOfDate},
		{"QE OutOfDate is the worst", func(_ *tcbInput, info *pcs.TcbInfo, qe *pcs.EnclaveIdentity) {
			info.TcbLevels[0].TcbStatus = sw
			qe.TcbLevels[0].TcbStatus = old
		}, old, enclave.TCBOutOfDate},
		{"QE below every level", func(in *tcbInput, _ *pcs.TcbInfo, _ *pcs.EnclaveIdentity) {
			in.qeISVSVN = 3
		}, "", ""},
		{"TEE TCB SVN below every level", func(in *tcbInput, _ *pcs.TcbInfo, _ *pcs.EnclaveIdentity) {
			in.teeTCBSVN = append([]byte{2}, in.teeTCBSVN[1:]...)
		}, "", ""},
		{"TDX module 1.x UpToDate", func(in *tcbInput, info *pcs.TcbInfo, _ *pcs.EnclaveIdentity) {
			module(in, info, old)
			in.teeTCBSVN[0] = 4
		}, up, enclave.TCBUpToDate},
		{"TDX module 1.x OutOfDate", func(in *tcbInput, info *pcs.TcbInfo, _ *pcs.EnclaveIdentity) {
			module(in, info, old)
		}, old, enclave.TCBOutOfDate},
		{"TDX module 1.x below every level", func(in *tcbInput, info *pcs.TcbInfo, _ *pcs.EnclaveIdentity) {
			module(in, info, old)
			in.teeTCBSVN[0] = 2
		}, "", ""},
		{"TDX module identity missing", func(in *tcbInput, info *pcs.TcbInfo, _ *pcs.EnclaveIdentity) {
			module(in, info, up)
			info.TdxModuleIdentities[0].ID = "TDX_02"
		}, "", ""},
		{"unknown status", func(_ *tcbInput, info *pcs.TcbInfo, _ *pcs.EnclaveIdentity) {
			info.TcbLevels[0].TcbStatus = "Fine"
		}, "", ""},
		{"short SVNs", func(in *tcbInput, _ *pcs.TcbInfo, _ *pcs.EnclaveIdentity) {
			in.cpuSVN = in.cpuSVN[:15]
		}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, info, qe := tcbFixture(t)
			if tt.edit != nil {
				tt.edit(&in, &info, &qe)
			}
			got, err := tcbStatus(in, info, qe)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("tcbStatus = %q; want an error", got)
				}
				return
			}
			if err != nil || got != tt.want || tcbClaim[got] != tt.claim {
				t.Fatalf("tcbStatus = %q (claim %q), %v; want %q (claim %q)", got, tcbClaim[got], err, tt.want, tt.claim)
			}
		})
	}
}

// TestTCBMapsComplete checks that every status go-tdx-guest parses is
// ranked and has a claim.
func TestTCBMapsComplete(t *testing.T) {
	for _, s := range []string{"UpToDate", "SWHardeningNeeded", "ConfigurationNeeded",
		"ConfigurationAndSWHardeningNeeded", "OutOfDate", "OutOfDateConfigurationNeeded", "Revoked"} {
		var st pcs.TcbComponentStatus
		if err := json.Unmarshal([]byte(`"`+s+`"`), &st); err != nil {
			t.Fatal(err)
		}
		if _, ok := tcbRank[st]; !ok {
			t.Errorf("%s not ranked", s)
		}
		if _, ok := tcbClaim[st]; !ok {
			t.Errorf("%s has no claim", s)
		}
	}
	if len(tcbRank) != 7 || len(tcbClaim) != 7 {
		t.Fatal("status maps out of step")
	}
}
