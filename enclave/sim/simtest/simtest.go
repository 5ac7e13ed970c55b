// Package simtest runs a simulated platform inside a test process, so that
// tests of code built on the enclave API run without `confide platform
// serve`. The test process is the enclave the platform measures.
package simtest

import (
	"context"
	"crypto/x509"
	"os"
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
	// A short path: Unix socket paths are limited to 108 bytes, and test
	// names make t.TempDir long.
	dir, err := os.MkdirTemp("", "cfsim")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	keys, err := sim.Init(dir, sim.InitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return Serve(t, dir, keys)
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
