package tdx

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/confide/confide/enclave"
	"github.com/confide/confide/enclave/dcap"
	"github.com/google/go-tdx-guest/abi"
	pb "github.com/google/go-tdx-guest/proto/tdx"
	tdxtesting "github.com/google/go-tdx-guest/testing"
)

// TestVerifyCaptured checks every claim against the quote as go-tdx-guest's
// own parser reads it, and the committed test vector and golden claims.
func TestVerifyCaptured(t *testing.T) {
	ev := capturedEvidence(t)
	if *update {
		if err := os.WriteFile(evidenceFile, ev, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	golden, err := os.ReadFile(evidenceFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(golden, ev) {
		t.Fatalf("%s is not the captured quote's evidence; run with -update", evidenceFile)
	}

	v := newTestVerifier(t, testConfig(t))
	got, err := v.Verify(context.Background(), golden)
	if err != nil {
		t.Fatal(err)
	}

	anyQuote, err := abi.QuoteToProto(capturedQuote(t))
	if err != nil {
		t.Fatal(err)
	}
	body := anyQuote.(*pb.QuoteV4).GetTdQuoteBody()
	want := enclave.Claims{Identity: enclave.Identity{
		Platform:  enclave.PlatformTDX,
		UniqueID:  body.GetMrTd(),
		ConfigID:  body.GetMrConfigId(),
		SignerID:  body.GetMrOwner(),
		ProductID: 0,
		SVN:       0,
		Debug:     body.GetTdAttributes()[0]&1 == 1,
		TCBStatus: enclave.TCBUpToDate,
	}}
	copy(want.ReportData[:], body.GetReportData())
	if !got.Identity.Equal(want.Identity) || got.ReportData != want.ReportData {
		t.Fatalf("claims:\n got %+v\nwant %+v", got, want)
	}
	// The captured TD is a production TD: TD_ATTRIBUTES is 0x40000000
	// (SEPT_VE_DISABLE), and its owner left MRCONFIGID and MROWNER zero.
	if got.Debug || len(got.UniqueID) != 48 || len(got.ConfigID) != 48 || len(got.SignerID) != 48 {
		t.Fatalf("unexpected shape of claims %+v", got)
	}

	gotJSON, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	gotJSON = append(gotJSON, '\n')
	if *update {
		if err := os.WriteFile(claimsFile, gotJSON, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	wantJSON, err := os.ReadFile(claimsFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(gotJSON, wantJSON) {
		t.Fatalf("claims differ from %s; run with -update\n got %s\nwant %s", claimsFile, gotJSON, wantJSON)
	}
}

// TestTamper changes every byte of the evidence, one at a time, and
// requires that Verify rejects each change. Every byte is XORed with 0x01.
// In the PCK certificate chain, where PEM decoders are lenient, each byte
// is also replaced by each of NUL, tab, CR, LF and space, and the base64
// character before each "=" is XORed with 0x02 and 0x03, which reaches its
// padding bits. Without the canonical-PEM rule of payload.go, 160 of these
// changes verify (line breaks turned into tab, CR or space, and padding
// bits of the root certificate's last base64 character); without the
// layout walk, go-tdx-guest's parser panics on some length changes.
func TestTamper(t *testing.T) {
	v := newTestVerifier(t, testConfig(t))
	ev := capturedEvidence(t)
	ctx := context.Background()
	if _, err := v.Verify(ctx, ev); err != nil {
		t.Fatal(err)
	}
	chain := bytes.Index(ev, []byte("-----BEGIN CERTIFICATE-----"))
	if chain < 0 {
		t.Fatal("no PCK chain in evidence")
	}

	type change struct {
		at  int
		val byte
	}
	var changes []change
	for i, b := range ev {
		vals := []byte{b ^ 0x01}
		if i >= chain {
			vals = append(vals, 0x00, '\t', '\r', '\n', ' ')
			if i+1 < len(ev) && ev[i+1] == '=' && b != '=' {
				vals = append(vals, b^0x02, b^0x03)
			}
		}
		for _, val := range vals {
			if val != b {
				changes = append(changes, change{i, val})
			}
		}
	}

	var (
		mu       sync.Mutex
		accepted []change
		wg       sync.WaitGroup
	)
	work := make(chan change)
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range work {
				mut := bytes.Clone(ev)
				mut[c.at] = c.val
				if _, err := v.Verify(ctx, mut); err == nil {
					mu.Lock()
					accepted = append(accepted, c)
					mu.Unlock()
				}
			}
		}()
	}
	for _, c := range changes {
		work <- c
	}
	close(work)
	wg.Wait()
	for _, c := range accepted {
		t.Errorf("byte %d changed from %#x to %#x: accepted", c.at, ev[c.at], c.val)
	}
	t.Logf("%d single-byte changes of %d bytes of evidence, all rejected", len(changes), len(ev))
}

func TestVerifyRejects(t *testing.T) {
	quote := capturedQuote(t)
	otherRoot := selfSignedRoot(t)

	withQuote := func(edit func(q []byte) []byte) []byte {
		return evidenceOf(t, edit(bytes.Clone(quote)))
	}
	cfg := func(edit func(*Config)) Config {
		c := testConfig(t)
		if edit != nil {
			edit(&c)
		}
		return c
	}
	at := func(ts time.Time) func(*Config) {
		return func(c *Config) { c.Now = func() time.Time { return ts } }
	}
	rdOff := quoteHeaderLen + bodyReportData
	tests := []struct {
		name     string
		evidence []byte
		cfg      Config
		want     error
	}{
		{"other report data", withQuote(func(q []byte) []byte {
			rd, _ := enclave.NewReportData([]byte("a different nonce"), nil)
			copy(q[rdOff:], rd[:])
			return q
		}), cfg(nil), ErrInvalidQuote},
		{"zero report data", withQuote(func(q []byte) []byte {
			clear(q[rdOff : rdOff+64])
			return q
		}), cfg(nil), ErrInvalidQuote},
		{"debug bit set", withQuote(func(q []byte) []byte {
			q[quoteHeaderLen+bodyTDAttrs] |= tdAttrDebugMask
			return q
		}), cfg(nil), ErrInvalidQuote},
		{"collateral expired", capturedEvidence(t), cfg(at(fixedNow.AddDate(0, 1, 0))), ErrInvalidQuote},
		{"far future", capturedEvidence(t), cfg(at(time.Date(2053, 7, 1, 0, 0, 0, 0, time.UTC))), ErrInvalidQuote},
		{"before the PCK certificate", capturedEvidence(t), cfg(at(time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC))), ErrInvalidQuote},
		{"only the test root", capturedEvidence(t), cfg(func(c *Config) {
			c.Roots = x509.NewCertPool()
			c.Roots.AppendCertsFromPEM(mustRead(t, testRootFile))
		}), ErrInvalidQuote},
		{"only Intel's root", capturedEvidence(t), cfg(func(c *Config) { c.Roots = nil }), ErrInvalidQuote},
		{"unrelated root", capturedEvidence(t), cfg(func(c *Config) {
			c.Roots = x509.NewCertPool()
			c.Roots.AddCert(otherRoot)
		}), ErrInvalidQuote},
		{"no collateral", capturedEvidence(t), cfg(func(c *Config) { c.Collateral = CollateralFS(fstest.MapFS{}) }), ErrInvalidQuote},
		{"revocation without CRLs", capturedEvidence(t), cfg(func(c *Config) {
			fsys := fstest.MapFS{}
			for _, name := range []string{"tcbinfo-" + capturedFMSPC + ".json", "tcbinfo-" + capturedFMSPC + ".chain.pem", "qeidentity.json", "qeidentity.chain.pem"} {
				fsys[name] = &fstest.MapFile{Data: mustRead(t, collateralDir+"/"+name)}
			}
			c.Collateral = CollateralFS(fsys)
			c.SkipRevocation = false
		}), ErrInvalidQuote},
		{"as shipped by go-tdx-guest, with extra bytes", withQuote(func(q []byte) []byte {
			return append(q, "\nextra bytes(only for testing purpose)\n"...)
		}), cfg(nil), enclave.ErrMalformedEvidence},
		{"one zero byte appended", withQuote(func(q []byte) []byte { return append(q, 0) }), cfg(nil), enclave.ErrMalformedEvidence},
		{"truncated", withQuote(func(q []byte) []byte { return q[:len(q)-1] }), cfg(nil), enclave.ErrMalformedEvidence},
		{"snp envelope", func() []byte {
			ev, _ := enclave.WrapEvidence(enclave.PlatformSNP, append([]byte{payloadV1}, quote...))
			return ev
		}(), cfg(nil), enclave.ErrMalformedEvidence},
		{"payload version 2", func() []byte {
			ev, _ := enclave.WrapEvidence(enclave.PlatformTDX, append([]byte{2}, quote...))
			return ev
		}(), cfg(nil), enclave.ErrMalformedEvidence},
		{"not an envelope", quote, cfg(nil), enclave.ErrMalformedEvidence},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newTestVerifier(t, tt.cfg)
			c, err := v.Verify(context.Background(), tt.evidence)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %+v, %v; want %v", c, err, tt.want)
			}
		})
	}
}

// TestGenuineCollateral verifies the captured quote against Intel's genuine
// canned collateral, CRLs included, served both by go-tdx-guest's canned
// getter and from files. Every check passes but the last: Intel's TCB info
// has no level that the quote's platform meets, so the quote is rejected,
// exactly as go-tdx-guest rejects it.
func TestGenuineCollateral(t *testing.T) {
	sources := map[string]Collateral{
		"go-tdx-guest getter": GetterCollateral(tdxtesting.TestGetter),
		"files":               CollateralFS(cannedFS(t)),
	}
	for name, src := range sources {
		for _, skip := range []bool{false, true} {
			v := newTestVerifier(t, Config{Collateral: src, Now: func() time.Time { return fixedNow }, SkipRevocation: skip})
			_, err := v.Verify(context.Background(), capturedEvidence(t))
			if !errors.Is(err, ErrInvalidQuote) || !strings.Contains(err.Error(), "no matching TCB level found") {
				t.Errorf("%s, SkipRevocation=%v: Verify error %v; want no matching TCB level", name, skip, err)
			}
		}
	}
}

func TestVerifyContext(t *testing.T) {
	v := newTestVerifier(t, testConfig(t))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := v.Verify(ctx, capturedEvidence(t)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Verify with a cancelled context = %v", err)
	}
}

func TestNewVerifier(t *testing.T) {
	if _, err := NewVerifier(Config{}); err == nil {
		t.Fatal("NewVerifier without collateral succeeded")
	}
	v, err := NewVerifier(Config{Collateral: CollateralFS(fstest.MapFS{})})
	if err != nil {
		t.Fatal(err)
	}
	if v.now == nil || v.roots == nil {
		t.Fatal("defaults not applied")
	}
}

// TestIntelRoots checks the embedded root against the root that the
// captured quote's PCK chain carries, which go-tdx-guest verifies against
// its own embedded copy.
func TestIntelRoots(t *testing.T) {
	q, _, err := parsePayload(append([]byte{payloadV1}, capturedQuote(t)...))
	if err != nil {
		t.Fatal(err)
	}
	chain := q.GetSignedData().GetCertificationData().GetQeReportCertificationData().GetPckCertificateChainData().GetPckCertChain()
	last := bytes.LastIndex(chain, []byte("-----BEGIN CERTIFICATE-----"))
	block, _ := pem.Decode(chain[last:])
	if block == nil || !bytes.Equal(block.Bytes, dcap.IntelRoot().Raw) {
		t.Fatal("embedded Intel SGX Root CA differs from the captured chain's root")
	}
	if IntelRoots().Equal(x509.NewCertPool()) {
		t.Fatal("IntelRoots is empty")
	}
}

// TestVerifiedTCBStatusDisagreement feeds the TCB evaluation collateral that
// rates the TCB below UpToDate, as if go-tdx-guest had accepted it: the
// quote must be rejected, not reported.
func TestVerifiedTCBStatusDisagreement(t *testing.T) {
	q, _, err := parsePayload(append([]byte{payloadV1}, capturedQuote(t)...))
	if err != nil {
		t.Fatal(err)
	}
	info := mustRead(t, collateralDir+"/tcbinfo-"+capturedFMSPC+".json")
	g := &recordingGetter{qeIdentity: mustRead(t, collateralDir+"/qeidentity.json")}
	g.tcbInfo = info
	if s, err := verifiedTCBStatus(q, g); err != nil || s != enclave.TCBUpToDate {
		t.Fatalf("verifiedTCBStatus = %q, %v", s, err)
	}
	g.tcbInfo = bytes.Replace(info, []byte(`"UpToDate"`), []byte(`"SWHardeningNeeded"`), 1)
	if _, err := verifiedTCBStatus(q, g); !errors.Is(err, ErrTCBStatus) {
		t.Fatalf("verifiedTCBStatus with SWHardeningNeeded = %v", err)
	}
	g.tcbInfo = []byte("{")
	if _, err := verifiedTCBStatus(q, g); !errors.Is(err, ErrTCBStatus) {
		t.Fatalf("verifiedTCBStatus with bad JSON = %v", err)
	}
}

func mustRead(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func selfSignedRoot(t testing.TB) *x509.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Intel SGX Root CA"},
		NotBefore:             time.Date(2018, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:              time.Date(2049, 1, 1, 0, 0, 0, 0, time.UTC),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return cert
}
