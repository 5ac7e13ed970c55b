package main

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/confide/confide/enclave"
	"github.com/confide/confide/enclave/dcap"
	"github.com/confide/confide/enclave/dcap/dcaptest"
	"github.com/rogpeppe/go-internal/testscript"
)

// sgxFixture mints a fake Intel hierarchy into dir for the SGX scripts:
// root.pem (the fake root), collateral/ (valid at dcaptest.Now, the
// platform UpToDate), collateral-swh/ (the same platform rated
// SWHardeningNeeded with advisory INTEL-SA-00615), and evidence.bin, SGX
// evidence over report data with nonce 0x11 × 32 and no runtime data.
func sgxFixture(t *testing.T, dir string) {
	h := dcaptest.New(t)
	p := h.NewPlatform(t, dcaptest.DefaultTCB())
	qe := p.NewQE(t)
	nonce := make([]byte, 32)
	for i := range nonce {
		nonce[i] = 0x11
	}
	rd, err := enclave.NewReportData(nonce, nil)
	if err != nil {
		t.Fatal(err)
	}
	q := qe.Quote(t, h, dcap.Version4, dcaptest.EnclaveReport(rd))
	ev, err := enclave.WrapEvidence(enclave.PlatformSGX, append([]byte{1}, q.Marshal()...))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{"root.pem": dcaptest.PEMChain(h.Root), "evidence.bin": ev}
	col := h.Collateral(t, p)
	swh := h.TCBInfo(t, 3, p.TCB, dcaptest.Valid, 17, []dcap.TCBLevel{{CompSVN: p.TCB.CompSVN, PCESVN: p.TCB.PCESVN,
		Date: dcaptest.Now.AddDate(0, -1, 0), Status: dcap.SWHardeningNeeded, AdvisoryIDs: []string{"INTEL-SA-00615"}}})
	for sub, tcb := range map[string][]byte{"collateral": col.TCBInfo, "collateral-swh": swh} {
		for name, b := range map[string][]byte{
			"tcbinfo-00906ed50000.json": tcb, "tcbinfo-00906ed50000.chain.pem": col.TCBInfoChain,
			"qeidentity.json": col.QEIdentity, "qeidentity.chain.pem": col.QEIdentityChain,
			"pckcrl-platform.der": col.PCKCRL, "pckcrl-platform.chain.pem": col.PCKCRLChain, "rootcrl.der": col.RootCRL,
		} {
			files[filepath.Join(sub, name)] = b
		}
	}
	for name, b := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSGXScripts runs the scripts under testdata/sgx with $SGXFIX holding
// a fixture from sgxFixture.
//
// $PCCS is a fake PCCS (v4 API) serving the fixture's collateral/ files,
// issuer chains URL-encoded in headers.
func TestSGXScripts(t *testing.T) {
	dir := t.TempDir()
	sgxFixture(t, dir)
	file := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, "collateral", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	enc := func(b []byte) string { return strings.ReplaceAll(url.QueryEscape(string(b)), "+", "%20") }
	mux := http.NewServeMux()
	for path, f := range map[string][3]string{
		"/sgx/certification/v4/tcb":         {"fmspc=00906ed50000", "TCB-Info-Issuer-Chain", "tcbinfo-00906ed50000"},
		"/sgx/certification/v4/qe/identity": {"", "SGX-Enclave-Identity-Issuer-Chain", "qeidentity"},
		"/sgx/certification/v4/pckcrl":      {"ca=platform&encoding=der", "SGX-PCK-CRL-Issuer-Chain", "pckcrl-platform"},
		"/sgx/certification/v4/rootcacrl":   {"", "", "rootcrl"},
	} {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			if r.URL.RawQuery != f[0] {
				http.NotFound(w, r)
				return
			}
			if f[1] == "" {
				w.Write(file(f[2] + ".der"))
				return
			}
			w.Header().Set(f[1], enc(file(f[2]+".chain.pem")))
			ext := ".json"
			if strings.HasPrefix(f[2], "pckcrl") {
				ext = ".der"
			}
			w.Write(file(f[2] + ext))
		})
	}
	pccs := httptest.NewServer(mux)
	t.Cleanup(pccs.Close) // the scripts run after this function returns
	testscript.Run(t, scriptParams("testdata/sgx", func(e *testscript.Env) error {
		e.Setenv("SGXFIX", dir)
		e.Setenv("PCCS", pccs.URL)
		return nil
	}))
}
