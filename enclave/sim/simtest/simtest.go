// Package simtest runs a simulated platform inside a test process, so that
// tests of code built on the enclave API run without `confide platform
// serve`. The test process is the enclave the platform measures.
package simtest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/confide/confide/enclave"
	"github.com/confide/confide/enclave/sim"
)

// Platform is a running simulated platform.
type Platform struct {
	Dir  string
	Keys *sim.Keys
	// Client is connected as the test process itself.
	Client *sim.Client
}

// Start initialises a platform in a fresh directory, serves it until the
// test ends and connects to it.
func Start(t testing.TB) *Platform {
	t.Helper()
	dir := Dir(t)
	keys, err := sim.Init(dir, sim.InitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return Serve(t, dir, keys)
}

// StartP384 is Start for a platform as `confide platform init` made them
// before report version 2: its attestation key is on P-384, so it signs
// version 1 reports until the key is renewed (spec/evidence-sim.md).
func StartP384(t testing.TB) *Platform {
	t.Helper()
	dir := Dir(t)
	if _, err := sim.Init(dir, sim.InitOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := ReplaceAK(dir, elliptic.P384(), time.Now()); err != nil {
		t.Fatal(err)
	}
	keys, err := sim.Load(dir, sim.InitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return Serve(t, dir, keys)
}

// Dir returns a fresh directory for a platform, removed when the test
// ends. Its path is short: Unix socket paths are limited to 108 bytes, and
// test names make t.TempDir long.
func Dir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "cfsim")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// ReplaceAK replaces the attestation key of the platform initialised in
// dir, not serving, by a new key on curve, certified by the platform's
// root as of now for 90 days, as the platform certifies its own
// (spec/evidence-sim.md). With P-384 the platform is one initialised
// before report version 2; sim.Load reads it.
func ReplaceAK(dir string, curve elliptic.Curve, now time.Time) error {
	root, err := readPEM(filepath.Join(dir, sim.RootCertFile), "CERTIFICATE")
	if err != nil {
		return err
	}
	rootCert, err := x509.ParseCertificate(root)
	if err != nil {
		return err
	}
	b, err := os.ReadFile(filepath.Join(dir, "root.key")) // spec/sim-platform.md
	if err != nil {
		return err
	}
	rootKey, err := sim.ParsePrivateKeyPEM(b)
	if err != nil {
		return err
	}
	signer, ok := rootKey.(*ecdsa.PrivateKey)
	if !ok {
		return errors.New("simtest: root key is not ECDSA")
	}
	ak, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		return err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{Organization: []string{"confide"}, CommonName: "confide SIMULATED platform attestation key"},
		NotBefore:    now.Add(-time.Hour), NotAfter: now.Add(90 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, rootCert, &ak.PublicKey, signer)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "ak.key"), sim.MarshalPrivateKeyPEM(ak), 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "ak.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
}

func readPEM(path, typ string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != typ {
		return nil, errors.New("simtest: " + path + " is not PEM " + typ)
	}
	return blk.Bytes, nil
}

// Serve serves an initialised platform directory until the test ends.
func Serve(t testing.TB, dir string, keys *sim.Keys) *Platform {
	t.Helper()
	l, err := sim.Listen(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- (&sim.Server{Keys: keys}).Serve(ctx, l) }()
	c, err := sim.Dial(ctx, dir, nil)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("platform: %v", err)
		}
	})
	return &Platform{Dir: dir, Keys: keys, Client: c}
}

// Roots returns the platform's trust anchor.
func (p *Platform) Roots() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.Keys.Root)
	return pool
}

// Verifier returns a verifier trusting this platform's root.
func (p *Platform) Verifier() enclave.Verifier {
	return &sim.Verifier{Roots: p.Roots()}
}

// VerifierAt returns a verifier whose clock is fixed at t.
func (p *Platform) VerifierAt(t time.Time) enclave.Verifier {
	return &sim.Verifier{Roots: p.Roots(), Now: func() time.Time { return t }}
}
