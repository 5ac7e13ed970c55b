package snp_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/confide/confide/enclave"
	"github.com/confide/confide/enclave/snp"
	"github.com/confide/confide/enclave/snp/snptest"
	"github.com/google/go-sev-guest/abi"
	spb "github.com/google/go-sev-guest/proto/sevsnp"
	sevtest "github.com/google/go-sev-guest/testing"
	"github.com/google/uuid"
)

var ctx = context.Background()

// Compile-time checks of the interfaces the backend promises.
var (
	_ enclave.Platform  = (*snp.Attester)(nil)
	_ enclave.SealKeyer = (*snp.Attester)(nil)
	_ enclave.Verifier  = (*snp.Verifier)(nil)
)

func newPlatform(t testing.TB, o snptest.Options) *snptest.Platform {
	t.Helper()
	p, err := snptest.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func mustEvidence(t testing.TB, a enclave.Attester, rd enclave.ReportData) []byte {
	t.Helper()
	ev, err := a.Evidence(ctx, rd)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func mustReportData(t testing.TB, nonce, runtime string) enclave.ReportData {
	t.Helper()
	rd, err := enclave.NewReportData([]byte(nonce), []byte(runtime))
	if err != nil {
		t.Fatal(err)
	}
	return rd
}

func fill[T ~[]byte](b T, v byte) T {
	for i := range b {
		b[i] = v + byte(i)
	}
	return b
}

// fullOptions sets every report field that becomes a claim.
func fullOptions() snptest.Options {
	var o snptest.Options
	fill(o.Measurement[:], 0x10)
	fill(o.HostData[:], 0x40)
	fill(o.IDKeyDigest[:], 0x60)
	fill(o.AuthorKeyDigest[:], 0x90)
	fill(o.FamilyID[:], 0xC0)
	fill(o.ChipID[:], 0xD0)
	o.ImageID = [16]byte{0x34, 0x12, 0xEE}
	o.GuestSVN = 7
	o.TCB = 0xD1_18_00_00_00_00_09_04 // ucode 0xD1, SNP 0x18, TEE 9, BL 4
	return o
}

// TestEndToEnd produces evidence through the Attester and checks every
// claim the Verifier returns, for each kind of endorsement key and
// signer.
func TestEndToEnd(t *testing.T) {
	for _, tc := range []struct {
		name      string
		vlek      bool
		authorKey bool
		version   uint32
	}{
		{name: "vcek"},
		{name: "vlek", vlek: true},
		{name: "author key", authorKey: true},
		{name: "report v2", version: abi.ReportVersion2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := fullOptions()
			o.VLEK, o.AuthorKey, o.Version = tc.vlek, tc.authorKey, tc.version
			p := newPlatform(t, o)
			rd := mustReportData(t, "a nonce", "a public key")
			ev := mustEvidence(t, p.Attester(), rd)
			c, err := p.Verifier().Verify(ctx, ev)
			if err != nil {
				t.Fatal(err)
			}
			signer := o.IDKeyDigest[:]
			if tc.authorKey {
				signer = o.AuthorKeyDigest[:]
			}
			want := enclave.Claims{
				Identity: enclave.Identity{
					Platform:  enclave.PlatformSNP,
					UniqueID:  o.Measurement[:],
					ConfigID:  o.HostData[:],
					SignerID:  signer,
					ProductID: 0x1234,
					SVN:       7,
					Debug:     false,
					TCBStatus: enclave.TCBUpToDate,
				},
				ReportData: rd,
			}
			if !c.Identity.Equal(want.Identity) || c.ReportData != want.ReportData {
				t.Errorf("claims\n got %+v\nwant %+v", c, want)
			}
			if len(c.UniqueID) != 48 || len(c.ConfigID) != 32 || len(c.SignerID) != 48 {
				t.Errorf("claim lengths %d/%d/%d, want 48/32/48", len(c.UniqueID), len(c.ConfigID), len(c.SignerID))
			}
			// Identity maps a fresh report the same way.
			id, err := p.Attester().Identity(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !id.Equal(want.Identity) {
				t.Errorf("Identity() = %+v, want %+v", id, want.Identity)
			}
		})
	}
}

// TestSignerIDAbsent: without an ID block the signer is 48 zero bytes.
func TestSignerIDAbsent(t *testing.T) {
	p := newPlatform(t, snptest.Options{})
	c, err := p.Verifier().Verify(ctx, mustEvidence(t, p.Attester(), enclave.ReportData{}))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(c.SignerID, make([]byte, 48)) {
		t.Errorf("SignerID = %x, want 48 zero bytes", c.SignerID)
	}
}

func TestDebugPolicyBit(t *testing.T) {
	for _, debug := range []bool{false, true} {
		p := newPlatform(t, snptest.Options{Debug: debug})
		c, err := p.Verifier().Verify(ctx, mustEvidence(t, p.Attester(), enclave.ReportData{}))
		if err != nil {
			t.Fatal(err)
		}
		if c.Debug != debug {
			t.Errorf("policy debug bit %v: claim debug = %v", debug, c.Debug)
		}
	}
}

func TestSVNAbove16Bits(t *testing.T) {
	p := newPlatform(t, snptest.Options{GuestSVN: 0x10000})
	if _, err := p.Verifier().Verify(ctx, mustEvidence(t, p.Attester(), enclave.ReportData{})); err == nil {
		t.Error("GUEST_SVN 0x10000 accepted")
	}
	p.Options.GuestSVN = 0xFFFF
	c, err := p.Verifier().Verify(ctx, mustEvidence(t, p.Attester(), enclave.ReportData{}))
	if err != nil || c.SVN != 0xFFFF {
		t.Errorf("GUEST_SVN 0xFFFF: svn %d, %v", c.SVN, err)
	}
}

func TestTCBStatus(t *testing.T) {
	const tcb = 0x20_10_00_00_00_00_05_03
	for _, tc := range []struct {
		name    string
		minimum uint64
		edit    func(*spb.Report)
		want    string // "" for rejection
	}{
		{name: "all equal", want: enclave.TCBUpToDate},
		{name: "minimum met", minimum: tcb, want: enclave.TCBUpToDate},
		{name: "below minimum microcode", minimum: 0x21_00_00_00_00_00_00_00, want: enclave.TCBOutOfDate},
		{name: "below minimum one component", minimum: 0x00_00_00_00_00_00_06_00, want: enclave.TCBOutOfDate},
		{name: "reported below committed", edit: func(r *spb.Report) {
			r.CurrentTcb, r.CommittedTcb = tcb+1<<56, tcb+1<<56
		}, want: enclave.TCBOutOfDate},
		{name: "provisional firmware", edit: func(r *spb.Report) {
			r.CurrentTcb = tcb + 1<<48
		}, want: enclave.TCBConfigurationNeeded},
		{name: "uncommitted build", edit: func(r *spb.Report) {
			r.CurrentBuild++
		}, want: enclave.TCBConfigurationNeeded},
		{name: "uncommitted version", edit: func(r *spb.Report) {
			r.CurrentMinor++
		}, want: enclave.TCBConfigurationNeeded},
		{name: "reported above current", edit: func(r *spb.Report) {
			r.CurrentTcb, r.CommittedTcb = tcb-1, tcb-1
		}},
		{name: "committed above current", edit: func(r *spb.Report) {
			r.CommittedTcb = tcb + 1<<8
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPlatform(t, snptest.Options{TCB: tcb, Edit: tc.edit})
			v := p.Verifier()
			v.MinimumTCB = tc.minimum
			c, err := v.Verify(ctx, mustEvidence(t, p.Attester(), enclave.ReportData{}))
			switch {
			case tc.want == "" && err == nil:
				t.Fatalf("accepted with TCB status %s", c.TCBStatus)
			case tc.want == "":
				t.Logf("rejected: %v", err)
			case err != nil:
				t.Fatal(err)
			case c.TCBStatus != tc.want:
				t.Errorf("TCB status %s, want %s", c.TCBStatus, tc.want)
			}
		})
	}
}

// TestEndorsementMismatch: the endorsement certificate must certify the
// report's TCB and, for a VCEK, its chip.
func TestEndorsementMismatch(t *testing.T) {
	p := newPlatform(t, fullOptions())
	v := p.Verifier()
	p.Options.Edit = func(r *spb.Report) { r.ChipId[0] ^= 1 }
	if _, err := v.Verify(ctx, mustEvidence(t, p.Attester(), enclave.ReportData{})); err == nil {
		t.Error("VCEK of another chip accepted")
	}
	p.Options.Edit = func(r *spb.Report) { clear(r.ChipId) } // MASK_CHIP_ID
	if _, err := v.Verify(ctx, mustEvidence(t, p.Attester(), enclave.ReportData{})); err != nil {
		t.Errorf("masked CHIP_ID rejected: %v", err)
	}
	p.Options.Edit = nil
	p.Options.TCB -= 1 // the VCEK still certifies the old TCB
	if _, err := v.Verify(ctx, mustEvidence(t, p.Attester(), enclave.ReportData{})); err == nil {
		t.Error("VCEK for another TCB accepted")
	}
}

// TestTamper flips every byte of valid evidence, in two bit positions,
// and checks that the verifier rejects every result, with its chain cache
// warm and cold.
func TestTamper(t *testing.T) {
	o := fullOptions()
	o.AuthorKey = true
	p := newPlatform(t, o)
	ev := mustEvidence(t, p.Attester(), mustReportData(t, "nonce", "data"))
	for _, cache := range []int{0, -1} {
		v := p.Verifier()
		v.ChainCacheSize = cache
		if _, err := v.Verify(ctx, ev); err != nil {
			t.Fatal(err)
		}
		masks := []byte{0x01, 0x80}
		if cache < 0 || testing.Short() {
			masks = masks[:1]
		}
		for _, mask := range masks {
			bad := bytes.Clone(ev)
			for i := range bad {
				bad[i] ^= mask
				if c, err := v.Verify(ctx, bad); err == nil {
					t.Fatalf("cache %d: byte %d ^ %#x accepted: %+v", cache, i, mask, c)
				}
				bad[i] ^= mask
			}
		}
		if _, err := v.Verify(ctx, ev); err != nil {
			t.Fatalf("original evidence rejected after tampering: %v", err)
		}
	}
}

// TestTamperAllValues tries every other value of the bytes most likely to
// slip through: the envelope header, the payload framing, each field edge
// of the report's unsigned part and of each certificate.
func TestTamperAllValues(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	p := newPlatform(t, snptest.Options{})
	ev := mustEvidence(t, p.Attester(), enclave.ReportData{})
	v := p.Verifier()
	const env, rep = 10, 11 // offsets of the payload and of the report
	_, certs := split(t, ev[env:])
	n1, n2, n3 := len(certs[0]), len(certs[1]), len(certs[2])
	c1, c2, c3 := rep+0x4A0+2, rep+0x4A0+4+n1, rep+0x4A0+6+n1+n2
	positions := []int{
		0, 4, 5, 6, 9, // envelope magic, version, tag, length
		env,                          // payload version
		rep, rep + 0x48, rep + 0x18A, // report version, signer info, stepping
		rep + 0x29F,                   // last signed byte
		rep + 0x2A0, rep + 0x2A0 + 47, // R low and high P-384 bytes
		rep + 0x2A0 + 48, rep + 0x2A0 + 71, // R unused bytes
		rep + 0x2E8, rep + 0x2E8 + 47, // S
		rep + 0x2E8 + 48, rep + 0x2E8 + 71, // S unused bytes
		rep + 0x330, rep + 0x49F, // signature padding
		c1 - 2, c1 - 1, c1, c1 + 1, c1 + n1 - 1, // VCEK length, start, end
		c2 - 2, c2 - 1, c2, c2 + n2 - 1, // ASK
		c3 - 2, c3 - 1, c3, c3 + n3 - 1, // ARK
	}
	for _, i := range positions {
		bad := bytes.Clone(ev)
		for d := 1; d < 256; d++ {
			bad[i] = ev[i] ^ byte(d)
			if _, err := v.Verify(ctx, bad); err == nil {
				t.Fatalf("byte %d: %#x instead of %#x accepted", i, bad[i], ev[i])
			}
		}
	}
}

// TestTruncateAndExtend cuts the payload at every length and appends a
// byte: the envelope stays valid, the payload does not.
func TestTruncateAndExtend(t *testing.T) {
	p := newPlatform(t, snptest.Options{})
	v := p.Verifier()
	_, payload, err := enclave.UnwrapEvidence(mustEvidence(t, p.Attester(), enclave.ReportData{}))
	if err != nil {
		t.Fatal(err)
	}
	for n := 0; n <= len(payload)+1; n++ {
		if n == len(payload) {
			continue
		}
		b := append(bytes.Clone(payload), 0)[:n]
		ev, err := enclave.WrapEvidence(enclave.PlatformSNP, b)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(ctx, ev); !errors.Is(err, enclave.ErrMalformedEvidence) {
			t.Fatalf("payload of %d/%d bytes: %v, want ErrMalformedEvidence", n, len(payload), err)
		}
	}
}

// split is a reference parser of the payload, written from the spec.
func split(t testing.TB, payload []byte) (report []byte, certs [3][]byte) {
	t.Helper()
	if payload[0] != 1 {
		t.Fatalf("payload version %d", payload[0])
	}
	report, rest := payload[1:1+0x4A0], payload[1+0x4A0:]
	for i := range certs {
		n := int(binary.BigEndian.Uint16(rest))
		certs[i], rest = rest[2:2+n], rest[2+n:]
	}
	if len(rest) != 0 {
		t.Fatalf("%d trailing bytes", len(rest))
	}
	return report, certs
}

func join(report []byte, certs [3][]byte) []byte {
	out := append([]byte{1}, report...)
	for _, c := range certs {
		out = binary.BigEndian.AppendUint16(out, uint16(len(c)))
		out = append(out, c...)
	}
	return out
}

func wrap(t testing.TB, payload []byte) []byte {
	t.Helper()
	ev, err := enclave.WrapEvidence(enclave.PlatformSNP, payload)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// TestMalformedReports edits bytes outside the signed part of the report,
// re-signing where the signature would otherwise fail first.
func TestMalformedReports(t *testing.T) {
	p := newPlatform(t, snptest.Options{})
	v := p.Verifier()
	_, payload, _ := enclave.UnwrapEvidence(mustEvidence(t, p.Attester(), enclave.ReportData{}))
	report, certs := split(t, payload)
	for _, tc := range []struct {
		name   string
		edit   func(r []byte)
		resign bool
	}{
		{name: "R high byte", edit: func(r []byte) { r[0x2A0+71] = 1 }},
		{name: "S high byte", edit: func(r []byte) { r[0x2A0+72+48] = 1 }},
		{name: "signature padding", edit: func(r []byte) { r[0x4A0-1] = 1 }},
		{name: "reserved after CPUID", edit: func(r []byte) { r[0x18B] = 1 }, resign: true},
		{name: "reserved before signature", edit: func(r []byte) { r[0x29F] = 1 }, resign: true},
		{name: "stepping high nibble", edit: func(r []byte) { r[0x18A] |= 0x10 }, resign: true},
		{name: "report version 1", edit: func(r []byte) { r[0] = 1 }, resign: true},
		{name: "report version 6", edit: func(r []byte) { r[0] = 6 }, resign: true},
		{name: "unsigned report", edit: func(r []byte) { r[0x48] = 7 << 2 }, resign: true},
		{name: "policy reserved bit clear", edit: func(r []byte) { r[0x0A] &^= 2 }, resign: true},
		{name: "signature algorithm", edit: func(r []byte) { r[0x34] = 2 }, resign: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := bytes.Clone(report)
			tc.edit(r)
			if tc.resign {
				if err := snptest.Sign(r, p.Signer.Keys.Vcek); err != nil {
					t.Fatal(err)
				}
			}
			_, err := v.Verify(ctx, wrap(t, join(r, certs)))
			if !errors.Is(err, enclave.ErrMalformedEvidence) {
				t.Errorf("got %v, want ErrMalformedEvidence", err)
			}
		})
	}
}

func TestMalformedPayloads(t *testing.T) {
	p := newPlatform(t, snptest.Options{})
	v := p.Verifier()
	_, payload, _ := enclave.UnwrapEvidence(mustEvidence(t, p.Attester(), enclave.ReportData{}))
	report, certs := split(t, payload)
	for _, tc := range []struct {
		name    string
		payload []byte
	}{
		{"empty", nil},
		{"version 0", append([]byte{0}, payload[1:]...)},
		{"version 2", append([]byte{2}, payload[1:]...)},
		{"trailing byte", append(bytes.Clone(payload), 0)},
		{"empty certificate", join(report, [3][]byte{certs[0], {}, certs[2]})},
		{"certificate with trailing byte", join(report, [3][]byte{append(bytes.Clone(certs[0]), 0), certs[1], certs[2]})},
		{"certificates swapped", join(report, [3][]byte{certs[1], certs[0], certs[2]})},
		{"not a certificate", join(report, [3][]byte{certs[0], certs[1], []byte("ARK")})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := v.Verify(ctx, wrap(t, tc.payload)); err == nil {
				t.Error("accepted")
			}
		})
	}
}

func TestWrongPlatformTag(t *testing.T) {
	p := newPlatform(t, snptest.Options{})
	_, payload, _ := enclave.UnwrapEvidence(mustEvidence(t, p.Attester(), enclave.ReportData{}))
	ev, err := enclave.WrapEvidence(enclave.PlatformTDX, payload)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Verifier().Verify(ctx, ev); err == nil {
		t.Error("SNP payload accepted under the tdx tag")
	}
}

var otherKeys = sync.OnceValue(func() *sevtest.AmdKeys {
	k := sevtest.DefaultAmdKeys()
	for _, dst := range []**rsa.PrivateKey{&k.Ark, &k.Ask, &k.Asvk} {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		*dst = key
	}
	return k
})

// TestWrongRoot: evidence from one fake AMD must not verify under
// another's roots, whether it carries its own chain or the other's.
func TestWrongRoot(t *testing.T) {
	a := newPlatform(t, snptest.Options{})
	b := newPlatform(t, snptest.Options{Keys: otherKeys()})
	ev := mustEvidence(t, a.Attester(), enclave.ReportData{})
	if _, err := b.Verifier().Verify(ctx, ev); !errors.Is(err, snp.ErrUntrustedRoot) {
		t.Errorf("own chain under other roots: %v, want ErrUntrustedRoot", err)
	}
	_, payload, _ := enclave.UnwrapEvidence(ev)
	report, certs := split(t, payload)
	certs[1], certs[2] = b.Signer.Ask.Raw, b.Signer.Ark.Raw
	_, err := b.Verifier().Verify(ctx, wrap(t, join(report, certs)))
	if err == nil || errors.Is(err, snp.ErrUntrustedRoot) {
		t.Errorf("VCEK under another's ASK: %v, want a chain error", err)
	}
	// Same keys, other certificates: bytes must match, not just keys.
	c := newPlatform(t, snptest.Options{})
	if _, err := c.Verifier().Verify(ctx, ev); !errors.Is(err, snp.ErrUntrustedRoot) {
		t.Errorf("reissued roots: %v, want ErrUntrustedRoot", err)
	}
}

// TestAMDRootsRejectFake: the default verifier trusts only AMD, and AMD's
// real ASK and ARK do not certify the fake VCEK.
func TestAMDRootsRejectFake(t *testing.T) {
	p := newPlatform(t, snptest.Options{})
	ev := mustEvidence(t, p.Attester(), enclave.ReportData{})
	v := &snp.Verifier{Now: p.Now}
	if _, err := v.Verify(ctx, ev); !errors.Is(err, snp.ErrUntrustedRoot) {
		t.Errorf("fake chain under AMD roots: %v, want ErrUntrustedRoot", err)
	}
	_, payload, _ := enclave.UnwrapEvidence(ev)
	report, certs := split(t, payload)
	var milan snp.Root
	for _, r := range snp.AMDRoots() {
		if r.ProductLine == "Milan" {
			milan = r
		}
	}
	if milan.ARK == nil || milan.ASK == nil || milan.ASVK == nil {
		t.Fatalf("AMDRoots lacks a complete Milan root: %+v", milan)
	}
	certs[1], certs[2] = milan.ASK.Raw, milan.ARK.Raw
	_, err := v.Verify(ctx, wrap(t, join(report, certs)))
	if err == nil || errors.Is(err, snp.ErrUntrustedRoot) {
		t.Errorf("fake VCEK under AMD's ASK: %v, want a chain error", err)
	}
	t.Logf("rejected: %v", err)
}

func TestAMDRoots(t *testing.T) {
	roots := snp.AMDRoots()
	var lines []string
	for _, r := range roots {
		lines = append(lines, r.ProductLine)
		if r.ARK.Subject.CommonName != "ARK-"+r.ProductLine ||
			r.ASK.Subject.CommonName != "SEV-"+r.ProductLine ||
			r.ASVK.Subject.CommonName != "SEV-VLEK-"+r.ProductLine {
			t.Errorf("%s: unexpected names %q %q %q", r.ProductLine, r.ARK.Subject.CommonName, r.ASK.Subject.CommonName, r.ASVK.Subject.CommonName)
		}
		if r.ASK.CheckSignatureFrom(r.ARK) != nil || r.ASVK.CheckSignatureFrom(r.ARK) != nil {
			t.Errorf("%s: ARK did not sign the ASK and ASVK", r.ProductLine)
		}
	}
	if fmt.Sprint(lines) != "[Milan Genoa Turin]" {
		t.Errorf("product lines %v", lines)
	}
	roots[0].ProductLine = "changed"
	if snp.AMDRoots()[0].ProductLine != "Milan" {
		t.Error("AMDRoots returns shared state")
	}
}

// TestCertificateValidity: the chain is checked at the verifier's time,
// also when the chain cache already holds it.
func TestCertificateValidity(t *testing.T) {
	p := newPlatform(t, snptest.Options{})
	ev := mustEvidence(t, p.Attester(), enclave.ReportData{})
	now := p.Now()
	v := &snp.Verifier{Roots: p.Roots(), Now: func() time.Time { return now }}
	if _, err := v.Verify(ctx, ev); err != nil {
		t.Fatal(err)
	}
	for _, at := range []time.Time{
		p.Options.Created.AddDate(10, 0, 0), // VCEK expired (7 years)
		p.Options.Created.AddDate(0, 0, -1), // ASK and ARK not yet valid
	} {
		now = at
		if _, err := v.Verify(ctx, ev); err == nil {
			t.Errorf("accepted at %v (cached chain)", at)
		}
		fresh := &snp.Verifier{Roots: p.Roots(), Now: func() time.Time { return at }}
		if _, err := fresh.Verify(ctx, ev); err == nil {
			t.Errorf("accepted at %v (fresh verifier)", at)
		}
	}
}

// TestEndorsementOnlyTable: hosts often cache only the VCEK; the attester
// completes the chain from its roots, and fails clearly without them.
func TestEndorsementOnlyTable(t *testing.T) {
	for _, vlek := range []bool{false, true} {
		p := newPlatform(t, snptest.Options{EndorsementOnly: true, VLEK: vlek})
		ev := mustEvidence(t, p.Attester(), enclave.ReportData{})
		if _, err := p.Verifier().Verify(ctx, ev); err != nil {
			t.Errorf("vlek %v: %v", vlek, err)
		}
		a := &snp.Attester{Quotes: p} // AMD roots only
		if _, err := a.Evidence(ctx, enclave.ReportData{}); !errors.Is(err, snp.ErrNoCertificate) {
			t.Errorf("vlek %v without roots: %v, want ErrNoCertificate", vlek, err)
		}
	}
}

// TestHostTableEncodings: hosts may zero-pad certificate entries or store
// PEM; evidence still carries exact DER.
func TestHostTableEncodings(t *testing.T) {
	p := newPlatform(t, snptest.Options{})
	s := p.Signer
	table := abi.CertTable{Entries: []abi.CertTableEntry{
		{GUID: uuid.MustParse(abi.VcekGUID), RawCert: append(bytes.Clone(s.Vcek.Raw), make([]byte, 100)...)},
		{GUID: uuid.MustParse(abi.AskGUID), RawCert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Ask.Raw})},
		{GUID: uuid.MustParse(abi.ArkGUID), RawCert: s.Ark.Raw},
		{GUID: uuid.MustParse(abi.ExtraPlatformInfoGUID), RawCert: []byte{8, 0, 0, 0, 0x10, 0x0f, 0xa0, 0}},
	}}
	quote := quoteFunc(func(rd [64]byte) ([]byte, error) {
		r, err := p.Report(rd)
		return append(r, table.Marshal()...), err
	})
	ev := mustEvidence(t, &snp.Attester{Quotes: quote}, enclave.ReportData{})
	if _, err := p.Verifier().Verify(ctx, ev); err != nil {
		t.Fatal(err)
	}
	_, certs := split(t, ev[10:])
	if !bytes.Equal(certs[0], s.Vcek.Raw) || !bytes.Equal(certs[1], s.Ask.Raw) {
		t.Error("evidence does not carry the exact DER")
	}
	table.Entries[0].RawCert = append(bytes.Clone(s.Vcek.Raw), 1)
	if _, err := (&snp.Attester{Quotes: quote}).Evidence(ctx, enclave.ReportData{}); !errors.Is(err, snp.ErrNoCertificate) {
		t.Errorf("VCEK followed by garbage: %v, want ErrNoCertificate", err)
	}
}

type quoteFunc func([64]byte) ([]byte, error)

func (f quoteFunc) GetRawQuote(rd [64]byte) ([]byte, error) { return f(rd) }

func TestAttesterErrors(t *testing.T) {
	p := newPlatform(t, snptest.Options{})
	for _, tc := range []struct {
		name  string
		quote quoteFunc
		want  error
	}{
		{"no certificates", func(rd [64]byte) ([]byte, error) { return p.Report(rd) }, snp.ErrNoCertificate},
		{"short", func(rd [64]byte) ([]byte, error) { return make([]byte, 100), nil }, nil},
		{"other report data", func(rd [64]byte) ([]byte, error) { rd[0] ^= 1; return p.GetRawQuote(rd) }, nil},
		{"failure", func(rd [64]byte) ([]byte, error) { return nil, errors.New("EIO") }, nil},
	} {
		a := &snp.Attester{Quotes: tc.quote, Roots: p.Roots()}
		_, err := a.Evidence(ctx, enclave.ReportData{})
		if err == nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := (&snp.Attester{}).Evidence(ctx, enclave.ReportData{}); err == nil {
		t.Error("attester without a quote provider produced evidence")
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := p.Attester().Evidence(cancelled, enclave.ReportData{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
}

// TestLibraryFakes drives the attester with go-sev-guest's own fake quote
// provider, whose canned reports are keyed by report data (v2 and v3, VCEK
// and VLEK, all with the debug policy bit).
func TestLibraryFakes(t *testing.T) {
	qp, err := sevtest.TcQuoteProvider(sevtest.TestCases(), &sevtest.DeviceOptions{
		Now:     time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		Product: abi.DefaultSevProduct(),
	})
	if err != nil {
		t.Fatal(err)
	}
	s := qp.Device.Signer
	roots := []snp.Root{{ProductLine: "Milan", ARK: s.Ark, ASK: s.Ask, ASVK: s.Asvk}}
	a := &snp.Attester{Quotes: qp, Roots: roots}
	v := &snp.Verifier{Roots: roots, Now: func() time.Time { return time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC) }}
	n := 0
	for _, tc := range sevtest.TestCases() {
		if tc.FwErr != 0 || tc.Name == "zeros genoa v3" { // a Genoa report from a Milan chip
			continue
		}
		ev, err := a.Evidence(ctx, tc.Input)
		if err != nil {
			t.Errorf("%s: %v", tc.Name, err)
			continue
		}
		c, err := v.Verify(ctx, ev)
		if err != nil {
			t.Errorf("%s: %v", tc.Name, err)
			continue
		}
		if c.ReportData != tc.Input || !c.Debug || c.Platform != enclave.PlatformSNP {
			t.Errorf("%s: claims %+v", tc.Name, c)
		}
		n++
	}
	if n != 4 {
		t.Errorf("verified %d of the library's test cases, want 4", n)
	}
}

func TestNewAttesterWithoutHardware(t *testing.T) {
	a, err := snp.NewAttester()
	if err == nil {
		t.Skipf("this machine is an SEV-SNP guest (%T)", a.Quotes)
	}
	t.Logf("as expected: %v", err)
}

// TestConcurrentVerify shares one verifier, whose one-entry chain cache
// keeps changing, between goroutines verifying evidence of two chains.
func TestConcurrentVerify(t *testing.T) {
	p := newPlatform(t, snptest.Options{})
	q := newPlatform(t, snptest.Options{})
	v := p.Verifier()
	v.Roots = append(p.Roots(), q.Roots()...)
	v.ChainCacheSize = 1
	evs := [][]byte{
		mustEvidence(t, p.Attester(), enclave.ReportData{1}),
		mustEvidence(t, q.Attester(), enclave.ReportData{2}),
	}
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 6 {
				c, err := v.Verify(ctx, evs[(i+j)%2])
				if err != nil {
					t.Error(err)
				} else if c.ReportData[0] != byte((i+j)%2+1) {
					t.Errorf("claims of the wrong evidence: %x", c.ReportData[:1])
				}
			}
		}()
	}
	wg.Wait()
}
