package dcap_test

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/confide/confide/enclave/dcap"
	"github.com/confide/confide/enclave/dcap/dcaptest"
	"github.com/google/go-tdx-guest/testing/testdata"
)

// fixture is a fake Intel, a platform, its QE, a quote and valid
// collateral.
type fixture struct {
	h   *dcaptest.Hierarchy
	qe  *dcaptest.QE
	raw []byte
	col *dcap.Collateral
}

func newFixture(t testing.TB, version uint16) *fixture {
	h, qe, raw := mint(t, version)
	return &fixture{h: h, qe: qe, raw: raw, col: h.Collateral(t, qe.Platform)}
}

func (f *fixture) opts() dcap.Options {
	return dcap.Options{Roots: dcaptest.RootPool(f.h), At: dcaptest.Now}
}

func (f *fixture) verify(t testing.TB) (*dcap.Result, error) {
	t.Helper()
	return dcap.Verify(f.raw, f.col, f.opts())
}

func TestVerify(t *testing.T) {
	for _, v := range []uint16{dcap.Version3, dcap.Version4} {
		f := newFixture(t, v)
		r, err := f.verify(t)
		if err != nil {
			t.Fatalf("format %d: %v", v, err)
		}
		if r.TCBStatus != dcap.UpToDate || r.PlatformStatus != dcap.UpToDate || r.QEStatus != dcap.UpToDate || len(r.AdvisoryIDs) != 0 {
			t.Fatalf("format %d: %+v", v, r)
		}
		if r.TCBEvaluationDataNumber != 17 || r.PCK.FMSPC != f.qe.Platform.TCB.FMSPC || r.Report.ISVProdID != 7 {
			t.Fatalf("format %d: %+v", v, r)
		}
		if !r.CollateralExpiry.Equal(dcaptest.Valid.Next) {
			t.Fatalf("expiry %v", r.CollateralExpiry)
		}
		// The chain must end in the trusted root itself, not another
		// certificate the signatures do not depend on.
		q, _ := dcap.Parse(f.raw)
		q.PCKChain = dcaptest.PEMChain(f.qe.Platform.PCK, f.h.PlatformCA, dcaptest.New(t).Root)
		if _, err := dcap.Verify(q.Marshal(), f.col, f.opts()); !errors.Is(err, dcap.ErrInvalid) {
			t.Fatalf("format %d: another root embedded: %v", v, err)
		}
		// Intel's root is not the fake one.
		if _, err := dcap.Verify(f.raw, f.col, dcap.Options{At: dcaptest.Now}); !errors.Is(err, dcap.ErrInvalid) {
			t.Fatalf("format %d: under Intel's root: %v", v, err)
		}
	}
}

// Every status Intel defines comes through, converged with the QE's as
// the QVL converges them, with both levels' advisory IDs.
func TestTCBStatuses(t *testing.T) {
	f := newFixture(t, dcap.Version3)
	p := f.qe.Platform.TCB
	date := dcaptest.Now.AddDate(0, -2, 0)
	for _, tc := range []struct{ platform, qe, want string }{
		{dcap.UpToDate, dcap.UpToDate, dcap.UpToDate},
		{dcap.SWHardeningNeeded, dcap.UpToDate, dcap.SWHardeningNeeded},
		{dcap.ConfigurationNeeded, dcap.UpToDate, dcap.ConfigurationNeeded},
		{dcap.ConfigurationAndSWHardeningNeeded, dcap.UpToDate, dcap.ConfigurationAndSWHardeningNeeded},
		{dcap.OutOfDate, dcap.UpToDate, dcap.OutOfDate},
		{dcap.OutOfDateConfigurationNeeded, dcap.UpToDate, dcap.OutOfDateConfigurationNeeded},
		{dcap.Revoked, dcap.UpToDate, dcap.Revoked},
		{dcap.UpToDate, dcap.OutOfDate, dcap.OutOfDate},
		{dcap.SWHardeningNeeded, dcap.OutOfDate, dcap.OutOfDate},
		{dcap.ConfigurationNeeded, dcap.OutOfDate, dcap.OutOfDateConfigurationNeeded},
		{dcap.ConfigurationAndSWHardeningNeeded, dcap.OutOfDate, dcap.OutOfDateConfigurationNeeded},
		{dcap.OutOfDate, dcap.OutOfDate, dcap.OutOfDate},
		{dcap.UpToDate, dcap.Revoked, dcap.Revoked},
		{dcap.ConfigurationNeeded, dcap.Revoked, dcap.Revoked},
	} {
		for _, version := range []int{2, 3} {
			f.col.TCBInfo = f.h.TCBInfo(t, version, p, dcaptest.Valid, 16, []dcap.TCBLevel{
				{CompSVN: p.CompSVN, PCESVN: p.PCESVN, Date: date, Status: tc.platform, AdvisoryIDs: []string{"INTEL-SA-00615", "INTEL-SA-00233"}}})
			f.col.QEIdentity = f.h.QEIdentity(t, dcaptest.Valid, 18, []dcap.QELevel{
				{ISVSVN: 8, Date: date, Status: tc.qe, AdvisoryIDs: []string{"INTEL-SA-00615", "INTEL-SA-00999"}}})
			r, err := f.verify(t)
			if err != nil {
				t.Fatalf("%s with QE %s (TCB info v%d): %v", tc.platform, tc.qe, version, err)
			}
			if r.TCBStatus != tc.want || r.PlatformStatus != tc.platform || r.QEStatus != tc.qe {
				t.Fatalf("%s with QE %s: %s", tc.platform, tc.qe, r.TCBStatus)
			}
			if want := []string{"INTEL-SA-00233", "INTEL-SA-00615", "INTEL-SA-00999"}; !reflect.DeepEqual(r.AdvisoryIDs, want) {
				t.Fatalf("advisories %v", r.AdvisoryIDs)
			}
			if r.TCBEvaluationDataNumber != 16 {
				t.Fatalf("evaluation data number %d", r.TCBEvaluationDataNumber)
			}
		}
	}
}

// The platform's level is the first whose every component and PCESVN it
// meets; the QE's the first at or below its ISV SVN.
func TestTCBLevelSelection(t *testing.T) {
	f := newFixture(t, dcap.Version4)
	p := f.qe.Platform.TCB
	date := dcaptest.Now.AddDate(0, -2, 0)
	higher, oneComp, morePCE, lower := p.CompSVN, p.CompSVN, p.PCESVN+1, p.CompSVN
	for i := range higher {
		higher[i]++
		lower[i]--
	}
	oneComp[15]++
	levels := []dcap.TCBLevel{
		{CompSVN: higher, PCESVN: p.PCESVN, Date: date, Status: dcap.UpToDate},
		{CompSVN: oneComp, PCESVN: p.PCESVN, Date: date, Status: dcap.UpToDate},
		{CompSVN: p.CompSVN, PCESVN: morePCE, Date: date, Status: dcap.UpToDate},
		{CompSVN: p.CompSVN, PCESVN: p.PCESVN, Date: date, Status: dcap.SWHardeningNeeded},
		{CompSVN: lower, PCESVN: 0, Date: date, Status: dcap.OutOfDate},
	}
	f.col.TCBInfo = f.h.TCBInfo(t, 3, p, dcaptest.Valid, 17, levels)
	f.col.QEIdentity = f.h.QEIdentity(t, dcaptest.Valid, 17, []dcap.QELevel{
		{ISVSVN: 9, Date: date, Status: dcap.UpToDate}, {ISVSVN: 6, Date: date, Status: dcap.OutOfDate}})
	r, err := f.verify(t)
	if err != nil {
		t.Fatal(err)
	}
	if r.PlatformStatus != dcap.SWHardeningNeeded || r.QEStatus != dcap.OutOfDate || r.TCBStatus != dcap.OutOfDate {
		t.Fatalf("%+v", r)
	}
	// Below every level: no verdict.
	f.col.TCBInfo = f.h.TCBInfo(t, 3, p, dcaptest.Valid, 17, levels[:3])
	if _, err := f.verify(t); !errors.Is(err, dcap.ErrInvalid) {
		t.Fatalf("below every TCB level: %v", err)
	}
	f.col.TCBInfo = f.h.TCBInfo(t, 3, p, dcaptest.Valid, 17, levels)
	f.col.QEIdentity = f.h.QEIdentity(t, dcaptest.Valid, 17, []dcap.QELevel{{ISVSVN: 9, Date: date, Status: dcap.UpToDate}})
	if _, err := f.verify(t); !errors.Is(err, dcap.ErrInvalid) {
		t.Fatalf("QE below every level: %v", err)
	}
}

// Collateral past its next update, or not yet issued, is expired — apart
// from the TCB status; revoked certificates fail; SkipRevocation reads no
// CRL.
func TestExpiryAndRevocation(t *testing.T) {
	f := newFixture(t, dcap.Version3)
	p := f.qe.Platform
	old := dcaptest.Window{Issue: dcaptest.Now.AddDate(0, -2, 0), Next: dcaptest.Now.AddDate(0, -1, 0)}
	future := dcaptest.Window{Issue: dcaptest.Now.AddDate(0, 0, 1), Next: dcaptest.Now.AddDate(0, 1, 0)}
	good := *f.col
	for name, edit := range map[string]func(c *dcap.Collateral){
		"TCB info expired":     func(c *dcap.Collateral) { c.TCBInfo = f.h.TCBInfo(t, 3, p.TCB, old, 17, tcbLevels(p)) },
		"TCB info not issued":  func(c *dcap.Collateral) { c.TCBInfo = f.h.TCBInfo(t, 3, p.TCB, future, 17, tcbLevels(p)) },
		"QE identity expired":  func(c *dcap.Collateral) { c.QEIdentity = f.h.QEIdentity(t, old, 17, qeLevels()) },
		"PCK CRL expired":      func(c *dcap.Collateral) { c.PCKCRL = dcaptest.CRL(t, f.h.PlatformCA, f.h.PlatformCAKey, old) },
		"root CRL not yet out": func(c *dcap.Collateral) { c.RootCRL = dcaptest.CRL(t, f.h.Root, f.h.RootKey, future) },
	} {
		c := good
		edit(&c)
		f.col = &c
		if _, err := f.verify(t); !errors.Is(err, dcap.ErrExpired) {
			t.Errorf("%s: %v", name, err)
		}
	}
	for name, edit := range map[string]func(c *dcap.Collateral){
		"PCK revoked": func(c *dcap.Collateral) {
			c.PCKCRL = dcaptest.CRL(t, f.h.PlatformCA, f.h.PlatformCAKey, dcaptest.Valid, p.PCK)
		},
		"platform CA revoked": func(c *dcap.Collateral) {
			c.RootCRL = dcaptest.CRL(t, f.h.Root, f.h.RootKey, dcaptest.Valid, f.h.PlatformCA)
		},
	} {
		c := good
		edit(&c)
		f.col = &c
		if _, err := f.verify(t); !errors.Is(err, dcap.ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
		o := f.opts()
		o.SkipRevocation = true
		if _, err := dcap.Verify(f.raw, &c, o); err != nil {
			t.Errorf("%s, revocation skipped: %v", name, err)
		}
	}
	for name, edit := range map[string]func(c *dcap.Collateral){
		"PCK CRL by the root": func(c *dcap.Collateral) { c.PCKCRL = dcaptest.CRL(t, f.h.Root, f.h.RootKey, dcaptest.Valid) },
		"no root CRL":         func(c *dcap.Collateral) { c.RootCRL = nil },
		"another platform's TCB info": func(c *dcap.Collateral) {
			other := p.TCB
			other.FMSPC[0] ^= 1
			c.TCBInfo = f.h.TCBInfo(t, 3, other, dcaptest.Valid, 17, tcbLevels(p))
		},
		"TCB info signed by another Intel": func(c *dcap.Collateral) {
			c.TCBInfo = dcaptest.New(t).TCBInfo(t, 3, p.TCB, dcaptest.Valid, 17, tcbLevels(p))
		},
		"QE identity chain of another Intel": func(c *dcap.Collateral) { c.QEIdentityChain = dcaptest.New(t).Chain() },
	} {
		c := good
		edit(&c)
		f.col = &c
		if _, err := f.verify(t); !errors.Is(err, dcap.ErrCollateral) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func tcbLevels(p *dcaptest.Platform) []dcap.TCBLevel {
	return []dcap.TCBLevel{{CompSVN: p.TCB.CompSVN, PCESVN: p.TCB.PCESVN, Date: dcaptest.Now.AddDate(0, -1, 0), Status: dcap.UpToDate}}
}

func qeLevels() []dcap.QELevel {
	return []dcap.QELevel{{ISVSVN: 8, Date: dcaptest.Now.AddDate(0, -1, 0), Status: dcap.UpToDate}}
}

// Every single-byte change of the quote fails to verify; every change of
// the text collateral either fails or changes nothing (bytes outside the
// signed object that JSON ignores).
func TestVerifyTampering(t *testing.T) {
	f := newFixture(t, dcap.Version4)
	want, err := f.verify(t)
	if err != nil {
		t.Fatal(err)
	}
	raw := f.raw
	for i := range raw {
		f.raw = bytes.Clone(raw)
		f.raw[i] ^= 0x10
		if _, err := f.verify(t); err == nil {
			t.Fatalf("quote byte %d changed: verifies", i)
		}
	}
	f.raw = raw
	good := *f.col
	for _, field := range []*[]byte{&f.col.TCBInfo, &f.col.QEIdentity} {
		orig := *field
		for i := range orig {
			*field = bytes.Clone(orig)
			(*field)[i] ^= 0x01
			got, err := f.verify(t)
			if err == nil && (got.TCBStatus != want.TCBStatus || got.TCBEvaluationDataNumber != want.TCBEvaluationDataNumber ||
				!got.CollateralExpiry.Equal(want.CollateralExpiry)) {
				t.Fatalf("collateral byte %d changed: verifies to %+v", i, got)
			}
		}
		*field = orig
	}
	*f.col = good
}

// A Verifier that remembers chains and collateral still checks every
// quote's own signatures and every validity window on each call.
func TestVerifierMemory(t *testing.T) {
	f := newFixture(t, dcap.Version3)
	v := dcap.NewVerifier(f.opts())
	for range 2 {
		if _, err := v.Verify(f.raw, f.col); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < len(f.raw); i += 7 {
		bad := bytes.Clone(f.raw)
		bad[i] ^= 0x04
		if _, err := v.Verify(bad, f.col); err == nil {
			t.Fatalf("byte %d changed: verifies from memory", i)
		}
	}
	if _, err := v.VerifyAt(f.raw, f.col, dcaptest.Valid.Next); !errors.Is(err, dcap.ErrExpired) {
		t.Fatalf("at the collateral's next update: %v", err)
	}
	if _, err := v.VerifyAt(f.raw, f.col, dcaptest.NotAfter.AddDate(0, 0, 1)); err == nil {
		t.Fatal("after the certificates expired: verifies from memory")
	}
	if _, err := v.Verify(f.raw, f.col); err != nil {
		t.Fatal(err)
	}
}

// A real SGX quote (testdata/README.md) parses, marshals back, and its
// quote side verifies against Intel's real SGX Root CA at the time its
// publisher verified it; a flipped byte of its report fails.
func TestRealSGXQuote(t *testing.T) {
	raw := realQuote(t)
	at := time.Unix(1727956804, 0)
	v := dcap.NewVerifier(dcap.Options{})
	r, err := v.VerifyQuote(raw, at)
	if err != nil {
		t.Fatal(err)
	}
	if r.Quote.Version != 3 || r.Quote.PCKChain[len(r.Quote.PCKChain)-1] != 0 || hex.EncodeToString(r.PCK.FMSPC[:]) != "00906ed50000" {
		t.Fatalf("version %d, FMSPC %x", r.Quote.Version, r.PCK.FMSPC)
	}
	if got := hex.EncodeToString(r.Report.MREnclave[:]); got != "ea4047329d65711f63993b9397245d44bafaee5e7d56a4906e7738f7cf697d7d" {
		t.Fatalf("MRENCLAVE %s", got)
	}
	t.Logf("real quote: ISV product %d SVN %d, debug %v, PCESVN %d, components %v", r.Report.ISVProdID, r.Report.ISVSVN, r.Report.Debug(), r.PCK.PCESVN, r.PCK.CompSVN)
	bad := bytes.Clone(raw)
	bad[dcap.HeaderLen+0x40] ^= 1 // MRENCLAVE
	if _, err := v.VerifyQuote(bad, at); !errors.Is(err, dcap.ErrInvalid) {
		t.Fatalf("a changed MRENCLAVE: %v", err)
	}
	// Its PCK certificate was issued 2024-09-18: not valid before.
	if _, err := v.VerifyQuote(raw, time.Date(2024, 9, 1, 0, 0, 0, 0, time.UTC)); err == nil {
		t.Fatal("verified before its PCK certificate was issued")
	}
}

// realQuote is testdata/lcp-sgx-v3.hex.
func realQuote(t testing.TB) []byte {
	h, err := os.ReadFile("testdata/lcp-sgx-v3.hex")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := hex.DecodeString(strings.TrimSpace(string(h)))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// The production TDX quote go-tdx-guest ships goes through the same QE,
// PCK chain and signature checks against Intel's real root, at the time
// its canned collateral is valid (2023-07-01).
func TestProductionTDXQuoteSide(t *testing.T) {
	raw := testdata.RawQuote
	raw = raw[:0x27C+int(binary.LittleEndian.Uint32(raw[0x278:]))]
	at := time.Date(2023, time.July, 1, 1, 0, 0, 0, time.UTC)
	v := dcap.NewVerifier(dcap.Options{})
	r, err := v.VerifyQuote(raw, at)
	if err != nil {
		t.Fatal(err)
	}
	if r.Quote.TEEType != dcap.TEETDX || hex.EncodeToString(r.PCK.FMSPC[:]) != "50806f000000" {
		t.Fatalf("%+v", r.PCK)
	}
	// TD quotes are not SGX evidence: VerifyAt refuses them.
	if _, err := v.VerifyAt(raw, &dcap.Collateral{}, at); !errors.Is(err, dcap.ErrInvalid) {
		t.Fatalf("VerifyAt on a TDX quote: %v", err)
	}
	bad := bytes.Clone(raw)
	bad[dcap.HeaderLen+0xB8] ^= 1 // MRTD
	if _, err := v.VerifyQuote(bad, at); !errors.Is(err, dcap.ErrInvalid) {
		t.Fatalf("a changed MRTD: %v", err)
	}
}
