package sgx

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/confide/confide/attest"
	"github.com/confide/confide/enclave"
	"github.com/confide/confide/enclave/dcap"
	"github.com/confide/confide/enclave/dcap/dcaptest"
	"github.com/confide/confide/enclave/enclavetest"
)

// fakeQE is a QuoteProvider that mints quotes under a fake Intel, as a
// platform's quoting enclave would for this enclave's report.
type fakeQE struct {
	t      testing.TB
	h      *dcaptest.Hierarchy
	qe     *dcaptest.QE
	report dcap.Report
}

func (f *fakeQE) Quote(ctx context.Context, rd enclave.ReportData) ([]byte, error) {
	r := f.report
	r.ReportData = rd
	return f.qe.Quote(f.t, f.h, dcap.Version3, r).Marshal(), nil
}

type world struct {
	h        *dcaptest.Hierarchy
	fake     *fakeQE
	gramine  *Gramine
	colDir   string
	verifier *Verifier
}

// newWorld makes a fake Intel, a platform, a Gramine /dev/attestation
// tree, collateral files in the layout CollateralFS reads, and a verifier.
func newWorld(t *testing.T, cfg Config) *world {
	h := dcaptest.New(t)
	p := h.NewPlatform(t, dcaptest.DefaultTCB())
	w := &world{h: h, fake: &fakeQE{t: t, h: h, qe: p.NewQE(t), report: dcaptest.EnclaveReport([64]byte{})}}
	w.gramine = &Gramine{Root: t.TempDir()}
	write := func(dir, name string, b []byte) {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(w.gramine.Root, "attestation_type", []byte("dcap"))
	write(w.gramine.Root, "keys/_sgx_mrenclave", []byte("0123456789abcdef"))
	write(w.gramine.Root, "keys/_sgx_mrsigner", []byte("fedcba9876543210"))
	col := h.Collateral(t, p)
	w.colDir = t.TempDir()
	fmspc := "00906ed50000"
	for name, b := range map[string][]byte{
		"tcbinfo-" + fmspc + ".json": col.TCBInfo, "tcbinfo-" + fmspc + ".chain.pem": col.TCBInfoChain,
		"qeidentity.json": col.QEIdentity, "qeidentity.chain.pem": col.QEIdentityChain,
		"pckcrl-platform.der": col.PCKCRL, "pckcrl-platform.chain.pem": col.PCKCRLChain, "rootcrl.der": col.RootCRL,
	} {
		write(w.colDir, name, b)
	}
	if cfg.Collateral == nil {
		cfg.Collateral = CollateralFS(os.DirFS(w.colDir), !cfg.SkipRevocation)
	}
	cfg.Roots = dcaptest.RootPool(h)
	cfg.Now = func() time.Time { return dcaptest.Now }
	v, err := NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	w.verifier = v
	return w
}

// claims verifies fresh evidence from the fake QE.
func (w *world) claims(t *testing.T) enclave.Claims {
	t.Helper()
	ev, err := NewAttester(AttesterConfig{Quotes: w.fake}).Evidence(context.Background(), enclave.ReportData{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := w.verifier.Verify(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestConformance(t *testing.T) {
	w := newWorld(t, Config{})
	a := NewAttester(AttesterConfig{Runtime: w.gramine, Quotes: w.fake, Verifier: w.verifier})
	enclavetest.Run(t, enclavetest.Backend{Platform: a, Verifier: w.verifier, FlipStride: 1})
}

// The Gramine file protocol: report data written to user_report_data, the
// quote read from quote (a fake tree: the quote file is minted in advance
// for the report data the test asks for).
func TestGramineTree(t *testing.T) {
	w := newWorld(t, Config{})
	var rd enclave.ReportData
	copy(rd[:], "gramine report data")
	q, _ := w.fake.Quote(context.Background(), rd)
	// A fixed-size buffer leaves zero padding after the quote: trimmed.
	padded := append(q, make([]byte, 100)...)
	if err := os.WriteFile(filepath.Join(w.gramine.Root, "quote"), padded, 0o644); err != nil {
		t.Fatal(err)
	}
	a := NewAttester(AttesterConfig{Runtime: w.gramine})
	ev, err := a.Evidence(context.Background(), rd)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(w.gramine.Root, "user_report_data")); string(got) != string(rd[:]) {
		t.Fatalf("user_report_data holds %x", got)
	}
	c, err := w.verifier.Verify(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if c.ReportData != rd || c.Platform != enclave.PlatformSGX || c.TCBStatus != enclave.TCBUpToDate {
		t.Fatalf("claims %+v", c)
	}
	// The quote file is for rd: asking for other report data is caught.
	if _, err := a.Evidence(context.Background(), enclave.ReportData{1}); err == nil {
		t.Fatal("a quote over other report data passed")
	}
	// Not under Gramine, or without DCAP attestation.
	if err := os.WriteFile(filepath.Join(w.gramine.Root, "attestation_type"), []byte("none\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Evidence(context.Background(), rd); err == nil {
		t.Fatal("attestation type none accepted")
	}
	gone := NewAttester(AttesterConfig{Runtime: &Gramine{Root: filepath.Join(t.TempDir(), "none")}})
	if _, err := gone.Evidence(context.Background(), rd); err == nil {
		t.Fatal("no /dev/attestation: evidence")
	}
	if _, err := gone.SealKey(context.Background(), enclave.KeyRequest{Policy: enclave.SealUnique}); err == nil {
		t.Fatal("no /dev/attestation: a seal key")
	}
}

// Only UpToDate is accepted unless the configuration names more; expired
// or missing collateral fails apart from the status.
func TestStatusesAndCollateral(t *testing.T) {
	ctx := context.Background()
	for _, accept := range [][]string{nil, {enclave.TCBUpToDate, enclave.TCBSWHardeningNeeded}} {
		w := newWorld(t, Config{AcceptStatuses: accept})
		p := w.fake.qe.Platform
		level := []dcap.TCBLevel{{CompSVN: p.TCB.CompSVN, PCESVN: p.TCB.PCESVN, Date: dcaptest.Now.AddDate(0, -1, 0),
			Status: dcap.SWHardeningNeeded, AdvisoryIDs: []string{"INTEL-SA-00615"}}}
		if err := os.WriteFile(filepath.Join(w.colDir, "tcbinfo-00906ed50000.json"), w.h.TCBInfo(t, 3, p.TCB, dcaptest.Valid, 17, level), 0o644); err != nil {
			t.Fatal(err)
		}
		a := NewAttester(AttesterConfig{Quotes: w.fake})
		ev, err := a.Evidence(ctx, enclave.ReportData{})
		if err != nil {
			t.Fatal(err)
		}
		c, err := w.verifier.Verify(ctx, ev)
		if accept == nil {
			if !errors.Is(err, ErrTCBStatus) {
				t.Fatalf("SWHardeningNeeded by default: %v", err)
			}
			continue
		}
		if err != nil || c.TCBStatus != enclave.TCBSWHardeningNeeded {
			t.Fatalf("SWHardeningNeeded accepted: %+v, %v", c, err)
		}
	}
	w := newWorld(t, Config{})
	ev, err := NewAttester(AttesterConfig{Quotes: w.fake}).Evidence(ctx, enclave.ReportData{})
	if err != nil {
		t.Fatal(err)
	}
	w.verifier.cfg.Now = func() time.Time { return dcaptest.Valid.Next }
	if _, err := w.verifier.Verify(ctx, ev); !errors.Is(err, dcap.ErrExpired) {
		t.Fatalf("at the collateral's next update: %v", err)
	}
	w.verifier.cfg.Now = func() time.Time { return dcaptest.Now }
	if err := os.Remove(filepath.Join(w.colDir, "qeidentity.json")); err != nil {
		t.Fatal(err)
	}
	if _, err := w.verifier.Verify(ctx, ev); !errors.Is(err, dcap.ErrCollateral) {
		t.Fatalf("no QE identity: %v", err)
	}
	// Evidence of another platform, and a TDX quote in an sgx payload.
	sim, _ := enclave.WrapEvidence(enclave.PlatformSim, []byte{1})
	if _, err := w.verifier.Verify(ctx, sim); !errors.Is(err, enclave.ErrMalformedEvidence) {
		t.Fatalf("sim evidence: %v", err)
	}
}

// Claims: MRENCLAVE, MRSIGNER, ISV product ID and SVN, DEBUG, and the KSS
// CONFIGID where the enclave uses KSS.
func TestClaims(t *testing.T) {
	w := newWorld(t, Config{})
	r := dcaptest.EnclaveReport([64]byte{})
	r.Attributes[0] |= dcap.AttrKSS | dcap.AttrDebug
	copy(r.ConfigID[:], "a KSS config id")
	w.fake.report = r
	c := w.claims(t)
	if string(c.UniqueID) != string(r.MREnclave[:]) || string(c.SignerID) != string(r.MRSigner[:]) ||
		c.ProductID != 7 || c.SVN != 3 || !c.Debug || string(c.ConfigID[:15]) != "a KSS config id" || len(c.ConfigID) != 64 {
		t.Fatalf("claims %+v", c)
	}
}

// Each advisory ID is a claim a policy can forbid or require, beside the
// TCB evaluation data number.
func TestAdvisoryClaims(t *testing.T) {
	w := newWorld(t, Config{AcceptStatuses: []string{enclave.TCBUpToDate, enclave.TCBSWHardeningNeeded}})
	p := w.fake.qe.Platform
	level := []dcap.TCBLevel{{CompSVN: p.TCB.CompSVN, PCESVN: p.TCB.PCESVN, Date: dcaptest.Now.AddDate(0, -1, 0),
		Status: dcap.SWHardeningNeeded, AdvisoryIDs: []string{"INTEL-SA-00615", "INTEL-SA-00657"}}}
	if err := os.WriteFile(filepath.Join(w.colDir, "tcbinfo-00906ed50000.json"), w.h.TCBInfo(t, 3, p.TCB, dcaptest.Valid, 16, level), 0o644); err != nil {
		t.Fatal(err)
	}
	c := w.claims(t)
	want := map[string]any{ClaimTCBEvaluationDataNumber: 16.0, ClaimAdvisoryPrefix + "INTEL-SA-00615": true, ClaimAdvisoryPrefix + "INTEL-SA-00657": true}
	if !reflect.DeepEqual(c.Extra, want) {
		t.Fatalf("extra claims %v", c.Extra)
	}
	for pol, ok := range map[string]bool{
		`{"version":"1.0.0","allOf":[{"claim":"x-sgx-advisory-INTEL-SA-00615","exists":false}]}`:          false,
		`{"version":"1.0.0","allOf":[{"claim":"x-sgx-advisory-INTEL-SA-00001","exists":false}]}`:          true,
		`{"version":"1.0.0","allOf":[{"claim":"x-sgx-tcb-evaluation-data-number","greaterOrEquals":17}]}`: false,
	} {
		p, err := attest.ParsePolicy([]byte(pol))
		if err != nil {
			t.Fatal(err)
		}
		if err := p.EvaluateClaims(c); (err == nil) != ok {
			t.Errorf("%s: %v", pol, err)
		}
	}
}
