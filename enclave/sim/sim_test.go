package sim_test

import (
	"context"
	"encoding/binary"
	"io"
	"net"
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
