package atls_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/confide/confide/attest"
	"github.com/confide/confide/attest/atls"
	"github.com/confide/confide/enclave"
	"github.com/confide/confide/enclave/sim"
)

// specVectors is spec/testdata/atls.json, which `go test ./spec -run
// TestVectors -update` regenerates together with the seed corpus under
// testdata/fuzz/FuzzVerifyCertificate.
const specVectors = "../../spec/testdata/atls.json"

// specConfig returns a Config that verifies like the spec's vectors (same
// simulated root, clock and policy) and the certificates it must accept.
func specConfig(t testing.TB) (*atls.Config, map[string]bool) {
	t.Helper()
	b, err := os.ReadFile(specVectors)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		SimRoot []byte          `json:"sim_root"`
		Now     time.Time       `json:"now"`
		Policy  json.RawMessage `json:"policy"`
		Vectors []struct {
			Certificates [][]byte        `json:"certificates"`
			Claims       json.RawMessage `json:"claims"`
		} `json:"vectors"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	root, err := x509.ParseCertificate(f.SimRoot)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(root)
	pol, err := attest.ParsePolicy(f.Policy)
	if err != nil {
		t.Fatal(err)
	}
	at := func() time.Time { return f.Now }
	cfg := &atls.Config{
		Verifier: &attest.Verifier{Backends: map[string]enclave.Verifier{enclave.PlatformSim: &sim.Verifier{Roots: roots, Now: at}}},
		Policy:   pol,
		Now:      at,
	}
	valid := map[string]bool{}
	for _, v := range f.Vectors {
		if v.Claims != nil && len(v.Certificates) == 1 {
			valid[string(v.Certificates[0])] = true
		}
	}
	if len(valid) < 3 {
		t.Fatalf("%s: %d valid certificates", specVectors, len(valid))
	}
	return cfg, valid
}

// FuzzVerifyCertificate feeds arbitrary DER to VerifyCertificate: it must
// never panic, and must accept no certificate but the valid ones of the
// spec's vectors, since making another needs evidence from the trusted
// platform binding a key, or a forged self-signature.
func FuzzVerifyCertificate(f *testing.F) {
	entries, err := os.ReadDir("testdata/fuzz/FuzzVerifyCertificate")
	if err != nil || len(entries) < 10 {
		f.Fatalf("%d seeds (%v): the corpus is gone (regenerate with go test ./spec -run TestVectors -update)", len(entries), err)
	}
	cfg, valid := specConfig(f)
	f.Add([]byte{})
	f.Add([]byte{0x30, 0x00})
	f.Fuzz(func(t *testing.T, der []byte) {
		c, err := cfg.VerifyCertificate(context.Background(), [][]byte{der})
		if err != nil {
			return
		}
		if !valid[string(der)] {
			t.Fatalf("accepted a certificate that is no valid vector: %x", der)
		}
		if c.Platform != enclave.PlatformSim {
			t.Fatalf("claims %+v", c)
		}
	})
}

// Every single-bit change of a valid certificate is rejected.
func TestFlippedCertificateRejected(t *testing.T) {
	cfg, valid := specConfig(t)
	for s := range valid {
		der := []byte(s)
		if _, err := cfg.VerifyCertificate(context.Background(), [][]byte{der}); err != nil {
			t.Fatalf("valid vector rejected: %v", err)
		}
		for i := 0; i < len(der); i += 3 {
			bad := bytes.Clone(der)
			bad[i] ^= 1 << (i % 8)
			if _, err := cfg.VerifyCertificate(context.Background(), [][]byte{bad}); err == nil {
				t.Fatalf("accepted a certificate with bit %d of byte %d flipped", i%8, i)
			}
		}
	}
}
