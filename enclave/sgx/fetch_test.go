package sgx

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/confide/confide/enclave"
	"github.com/confide/confide/enclave/dcap"
	"github.com/confide/confide/enclave/dcap/dcaptest"
)

// fakePCCS serves a fake Intel's collateral with the PCCS v4 API: bodies,
// and issuer chains URL-encoded in headers, as PCCS does.
func fakePCCS(t *testing.T, h *dcaptest.Hierarchy, p *dcaptest.Platform, tamper string) (*httptest.Server, *dcap.Collateral) {
	col := h.Collateral(t, p)
	fmspc := hex.EncodeToString(p.TCB.FMSPC[:])
	enc := func(b []byte) string { return strings.ReplaceAll(url.QueryEscape(string(b)), "+", "%20") }
	mux := http.NewServeMux()
	serve := func(path, query, header string, chain, body []byte) {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			if query != "" && r.URL.RawQuery != query {
				http.NotFound(w, r)
				return
			}
			if header != "" {
				w.Header().Set(header, enc(chain))
			}
			b := body
			if tamper == path {
				b = []byte(strings.Replace(string(body), `"tcbEvaluationDataNumber":17`, `"tcbEvaluationDataNumber":18`, 1))
			}
			w.Write(b)
		})
	}
	serve("/sgx/certification/v4/tcb", "fmspc="+fmspc, "TCB-Info-Issuer-Chain", col.TCBInfoChain, col.TCBInfo)
	serve("/sgx/certification/v4/qe/identity", "", "SGX-Enclave-Identity-Issuer-Chain", col.QEIdentityChain, col.QEIdentity)
	serve("/sgx/certification/v4/pckcrl", "ca=platform&encoding=der", "SGX-PCK-CRL-Issuer-Chain", col.PCKCRLChain, col.PCKCRL)
	// PCCS v3 served the root CA CRL as hex: kept as its DER.
	serve("/sgx/certification/v4/rootcacrl", "", "", nil, []byte(hex.EncodeToString(col.RootCRL)))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, col
}

func TestFetch(t *testing.T) {
	w := newWorld(t, Config{})
	p := w.fake.qe.Platform
	srv, col := fakePCCS(t, w.h, p, "")
	dir := filepath.Join(t.TempDir(), "collateral")
	opt := FetchOptions{Base: srv.URL, FMSPCs: [][6]byte{p.TCB.FMSPC}, CAs: []string{"platform"}, Dir: dir, Roots: []*x509.Certificate{w.h.Root}}
	if err := Fetch(context.Background(), opt); err != nil {
		t.Fatal(err)
	}
	// What was fetched verifies evidence, byte for byte the bodies served.
	v, err := NewVerifier(Config{Collateral: CollateralFS(os.DirFS(dir), true), Roots: dcaptest.RootPool(w.h),
		Now: func() time.Time { return dcaptest.Now }})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := NewAttester(AttesterConfig{Quotes: w.fake}).Evidence(context.Background(), enclave.ReportData{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	kept, _ := os.ReadFile(filepath.Join(dir, "tcbinfo-00906ed50000.json"))
	if string(col.TCBInfo) != string(kept) {
		t.Fatal("the TCB info was not kept as served")
	}
	// A poisoned fetch writes nothing: the directory keeps what it had.
	before, _ := os.ReadFile(filepath.Join(dir, "qeidentity.json"))
	bad, _ := fakePCCS(t, w.h, p, "/sgx/certification/v4/tcb")
	opt.Base = bad.URL
	if err := Fetch(context.Background(), opt); err == nil || !strings.Contains(err.Error(), "signature") {
		t.Fatalf("a tampered TCB info fetched: %v", err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, "qeidentity.json"))
	if string(before) != string(after) {
		t.Fatal("a failed fetch changed the directory")
	}
	// Another Intel's collateral is refused under this one's root; so is
	// an unknown platform model.
	other, _ := fakePCCS(t, dcaptest.New(t), p, "")
	opt.Base = other.URL
	if err := Fetch(context.Background(), opt); err == nil {
		t.Fatal("another root's collateral fetched")
	}
	opt.Base, opt.FMSPCs = srv.URL, [][6]byte{{1, 2, 3, 4, 5, 6}}
	if err := Fetch(context.Background(), opt); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("unknown FMSPC: %v", err)
	}
}
