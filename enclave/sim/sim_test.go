package sim_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/binary"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/confide/confide/enclave"
	"github.com/confide/confide/enclave/enclavetest"
	"github.com/confide/confide/enclave/sim"
	"github.com/confide/confide/enclave/sim/simtest"
)

func TestConformance(t *testing.T) {
	p := simtest.Start(t)
	enclavetest.Run(t, enclavetest.Backend{Platform: p.Client, Verifier: p.Verifier()})
}

// A platform initialised before report version 2 holds a P-384 attestation
// key: it still serves, with version 1 reports, which verify.
func TestConformanceP384AttestationKey(t *testing.T) {
	p := simtest.StartP384(t)
	enclavetest.Run(t, enclavetest.Backend{Platform: p.Client, Verifier: p.Verifier()})
}

// reportVersion returns the version byte of simulated evidence and checks
// its length: 233 + c bytes for version 2, 265 + c for version 1.
func reportVersion(t *testing.T, ev []byte) byte {
	t.Helper()
	_, p, err := enclave.UnwrapEvidence(ev)
	if err != nil {
		t.Fatal(err)
	}
	c := int(binary.BigEndian.Uint16(p[167:]))
	want := map[byte]int{1: 265 + c, 2: 233 + c}[p[0]]
	if len(p) != want {
		t.Fatalf("version %d payload of %d bytes, want %d", p[0], len(p), want)
	}
	return p[0]
}

func akCurve(k *sim.Keys) elliptic.Curve { return k.AKCert.PublicKey.(*ecdsa.PublicKey).Curve }

func TestNewPlatformSignsVersion2(t *testing.T) {
	p := simtest.Start(t)
	if akCurve(p.Keys) != elliptic.P256() || p.Keys.ReportVersion() != 2 {
		t.Fatalf("new platform: attestation key on %s, report version %d", akCurve(p.Keys).Params().Name, p.Keys.ReportVersion())
	}
	if p.Keys.AKCert.SignatureAlgorithm != x509.ECDSAWithSHA384 {
		t.Errorf("attestation key certificate signed %v, want ECDSA-SHA384 by the P-384 root", p.Keys.AKCert.SignatureAlgorithm)
	}
	ev, err := p.Client.Evidence(context.Background(), enclave.ReportData{})
	if err != nil {
		t.Fatal(err)
	}
	if v := reportVersion(t, ev); v != 2 {
		t.Fatalf("report version %d", v)
	}
}

// A P-384 attestation key is kept, signing version 1 reports, until Load
// renews it; its successor is on P-256 and signs version 2, under the
// same root, while evidence the old key signed verifies until its
// certificate expires.
func TestP384AttestationKeyRenewedOnP256(t *testing.T) {
	ctx := context.Background()
	start := time.Now()
	dir := simtest.Dir(t)
	if _, err := sim.Init(dir, sim.InitOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := simtest.ReplaceAK(dir, elliptic.P384(), start); err != nil {
		t.Fatal(err)
	}
	old, err := sim.Load(dir, sim.InitOptions{Now: func() time.Time { return start.Add(10 * 24 * time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	if akCurve(old) != elliptic.P384() || old.ReportVersion() != 1 {
		t.Fatalf("P-384 key not kept before renewal: %s, version %d", akCurve(old).Params().Name, old.ReportVersion())
	}
	var oldEv []byte
	func() {
		sub := simtest.Dir(t) // serve a copy, so that dir is free for the renewal
		copyPlatform(t, dir, sub)
		p := simtest.Serve(t, sub, old)
		if oldEv, err = p.Client.Evidence(ctx, enclave.ReportData{}); err != nil {
			t.Fatal(err)
		}
		if v := reportVersion(t, oldEv); v != 1 {
			t.Fatalf("P-384 platform wrote report version %d", v)
		}
	}()

	later := start.Add(80 * 24 * time.Hour)
	renewed, err := sim.Load(dir, sim.InitOptions{Now: func() time.Time { return later }})
	if err != nil {
		t.Fatal(err)
	}
	if akCurve(renewed) != elliptic.P256() || renewed.ReportVersion() != 2 || renewed.AKCert.Equal(old.AKCert) {
		t.Fatalf("renewal kept the P-384 key: %s, version %d", akCurve(renewed).Params().Name, renewed.ReportVersion())
	}
	again, err := sim.Load(dir, sim.InitOptions{Now: func() time.Time { return later }})
	if err != nil {
		t.Fatal(err)
	}
	if !again.AKCert.Equal(renewed.AKCert) {
		t.Error("renewed attestation key not saved")
	}
	p := simtest.Serve(t, dir, renewed)
	ev, err := p.Client.Evidence(ctx, enclave.ReportData{})
	if err != nil {
		t.Fatal(err)
	}
	if v := reportVersion(t, ev); v != 2 {
		t.Fatalf("renewed platform wrote report version %d", v)
	}
	v := &sim.Verifier{Roots: p.Roots(), Now: func() time.Time { return later }}
	for name, e := range map[string][]byte{"version 1 from the old key": oldEv, "version 2 from the renewed key": ev} {
		if _, err := v.Verify(ctx, e); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := (&sim.Verifier{Roots: p.Roots(), Now: func() time.Time { return start.Add(91 * 24 * time.Hour) }}).Verify(ctx, oldEv); err == nil {
		t.Error("version 1 evidence accepted after its certificate expired")
	}
}

// An attestation key on a curve no report version names is refused.
func TestLoadRefusesAttestationKeyOnOtherCurve(t *testing.T) {
	dir := simtest.Dir(t)
	if _, err := sim.Init(dir, sim.InitOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := simtest.ReplaceAK(dir, elliptic.P521(), time.Now()); err != nil {
		t.Fatal(err)
	}
	if k, err := sim.Load(dir, sim.InitOptions{}); err == nil {
		t.Fatalf("loaded a P-521 attestation key (report version %d)", k.ReportVersion())
	}
}

func copyPlatform(t *testing.T, from, to string) {
	t.Helper()
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func TestIdentityIsMeasuredCLI(t *testing.T) {
	p := simtest.Start(t)
	id, err := p.Client.Identity(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if string(id.ConfigID) != string(enclave.CLIManifest.ConfigID()) {
		t.Errorf("config ID %x, want the CLI manifest's", id.ConfigID)
	}
	if id.ProductID != 0 || id.SVN != 0 || !id.Debug || string(id.SignerID) != string(make([]byte, 32)) {
		t.Errorf("unsigned process got %+v", id)
	}
}

func TestVerifierRejects(t *testing.T) {
	ctx := context.Background()
	p := simtest.Start(t)
	other := simtest.Start(t)
	ev, err := p.Client.Evidence(ctx, enclave.ReportData{})
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]enclave.Verifier{
		"other root":   other.Verifier(),
		"no roots":     &sim.Verifier{},
		"expired":      p.VerifierAt(time.Now().AddDate(1, 0, 0)),
		"not yet":      p.VerifierAt(time.Now().Add(-48 * time.Hour)),
		"expired root": p.VerifierAt(time.Now().AddDate(21, 0, 0)),
	} {
		if _, err := v.Verify(ctx, ev); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// A cached chain must not outlive its certificate.
	now := time.Now()
	v := &sim.Verifier{Roots: p.Roots(), Now: func() time.Time { return now }}
	if _, err := v.Verify(ctx, ev); err != nil {
		t.Fatal(err)
	}
	now = now.AddDate(1, 0, 0)
	if _, err := v.Verify(ctx, ev); err == nil {
		t.Error("cached chain accepted after expiry")
	}
}

func TestInitRefusesOverwrite(t *testing.T) {
	p := simtest.Start(t)
	if _, err := sim.Init(p.Dir, sim.InitOptions{}); err == nil {
		t.Fatal("Init overwrote a platform")
	}
	k, err := sim.Load(p.Dir, sim.InitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !k.Root.Equal(p.Keys.Root) {
		t.Error("Load returned another root")
	}
}

func TestLoadRenewsAttestationKey(t *testing.T) {
	p := simtest.Start(t)
	later := time.Now().Add(80 * 24 * time.Hour)
	k, err := sim.Load(p.Dir, sim.InitOptions{Now: func() time.Time { return later }})
	if err != nil {
		t.Fatal(err)
	}
	if k.AKCert.Equal(p.Keys.AKCert) || !k.AKCert.NotAfter.After(later.Add(60*24*time.Hour)) {
		t.Errorf("attestation key not renewed: valid until %v", k.AKCert.NotAfter)
	}
}

func TestLoadUninitialized(t *testing.T) {
	if _, err := sim.Load(t.TempDir(), sim.InitOptions{}); err != sim.ErrNotInitialized {
		t.Errorf("got %v, want ErrNotInitialized", err)
	}
}

func TestClientAfterCancel(t *testing.T) {
	p := simtest.Start(t)
	c, err := sim.Dial(context.Background(), p.Dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Evidence(ctx, enclave.ReportData{}); err == nil {
		t.Fatal("cancelled call succeeded")
	}
	if _, err := c.Evidence(context.Background(), enclave.ReportData{}); err == nil {
		t.Error("connection reused after a cancelled call")
	}
}

func TestServerRejectsGarbage(t *testing.T) {
	p := simtest.Start(t)
	for _, frame := range [][]byte{
		{0xff, 0xff, 0xff, 0xff},              // oversized
		{0, 0, 0, 5, 'h', 'e', 'l', 'l', 'o'}, // not JSON
		append([]byte{0, 0, 0, 14}, `{"op":"nope"}`...),
		append([]byte{0, 0, 0, 38}, `{"op":"evidence","report_data":"AA=="}`...),
	} {
		c, err := net.Dial("unix", filepath.Join(p.Dir, sim.SocketFile))
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.Write(frame)
		var hdr [4]byte
		n, _ := io.ReadFull(c, hdr[:])
		if n == 4 {
			body := make([]byte, binary.BigEndian.Uint32(hdr[:]))
			io.ReadFull(c, body)
			if !strings.Contains(string(body), `"error"`) {
				t.Errorf("frame %q answered %s", frame, body)
			}
		}
		c.Close()
	}
	// The platform still serves.
	if _, err := p.Client.Evidence(context.Background(), enclave.ReportData{}); err != nil {
		t.Fatal(err)
	}
}
