package atls_test

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"testing"

	"github.com/confide/confide/attest/atls"
	"github.com/confide/confide/enclave/sim/simtest"
)

// benchHandshake runs full TLS 1.3 handshakes (no resumption) over
// loopback TCP, a new connection each time.
func benchHandshake(b *testing.B, server *tls.Config, client func() *tls.Config) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				s := tls.Server(c, server)
				s.Handshake()
				s.Close()
			}()
		}
	}()
	for b.Loop() {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		tc := tls.Client(c, client())
		if err := tc.Handshake(); err != nil {
			b.Fatal(err)
		}
		tc.Close()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "handshakes/s")
}

// BenchmarkHandshake compares attested TLS with plain TLS 1.3 (ECDSA
// P-256 certificate verified against a root pool) in the same run.
//   - atls-cold: a fresh client each time, so every handshake verifies
//     the server's evidence from scratch (the attestation key's chain,
//     a P-384 signature by the root, then the report's P-256 signature);
//   - atls-warm: one client, whose cache remembers the server's
//     certificate (what a long-lived client sees);
//   - atls-mutual-cold: a new attested client each time (fresh key and
//     evidence), and both sides verify the other's evidence from scratch.
func BenchmarkHandshake(b *testing.B) {
	p := simtest.Start(b)
	srv := &atls.Config{Attester: p.Client}
	sc, _ := srv.ServerConfig()
	fresh := func() *tls.Config {
		c := &atls.Config{Verifier: verifier(p), Policy: simPolicy}
		cc, _ := c.ClientConfig()
		return cc
	}
	b.Run("atls-cold", func(b *testing.B) { benchHandshake(b, sc, fresh) })
	b.Run("atls-warm", func(b *testing.B) {
		cc := fresh()
		benchHandshake(b, sc, func() *tls.Config { return cc })
	})
	b.Run("atls-mutual-cold", func(b *testing.B) {
		mutual := &atls.Config{Attester: p.Client, Verifier: verifier(p), Policy: simPolicy}
		msc, _ := mutual.ServerConfig()
		benchHandshake(b, msc, func() *tls.Config {
			c := &atls.Config{Attester: p.Client, Verifier: verifier(p), Policy: simPolicy}
			cc, _ := c.ClientConfig()
			return cc
		})
	})
	b.Run("tls13", func(b *testing.B) {
		cert := selfSigned(b)
		leaf, _ := x509.ParseCertificate(cert.Certificate[0])
		pool := x509.NewCertPool()
		pool.AddCert(leaf)
		server := &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}}
		benchHandshake(b, server, func() *tls.Config {
			return &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pool, ServerName: "plain"}
		})
	})
}
