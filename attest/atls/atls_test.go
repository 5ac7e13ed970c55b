package atls_test

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/confide/confide/attest"
	"github.com/confide/confide/attest/atls"
	"github.com/confide/confide/enclave"
	"github.com/confide/confide/enclave/sim/simtest"
)

var simPolicy = mustPolicy(`{"version":"1.0.0","allOf":[{"claim":"platform","equals":"sim"}]}`)

func mustPolicy(s string) *attest.Policy {
	p, err := attest.ParsePolicy([]byte(s))
	if err != nil {
		panic(err)
	}
	return p
}

func verifier(p *simtest.Platform) *attest.Verifier {
	return &attest.Verifier{Backends: map[string]enclave.Verifier{enclave.PlatformSim: p.Verifier()}}
}

// handshake runs a TLS handshake over loopback TCP (buffered, unlike
// net.Pipe, so that alerts never deadlock) and a one-byte echo.
func handshake(t *testing.T, server, client *tls.Config) (srvErr, cliErr error, cliState tls.ConnectionState) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	b, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	a, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	a.SetDeadline(time.Now().Add(20 * time.Second))
	b.SetDeadline(time.Now().Add(20 * time.Second))
	done := make(chan error, 1)
	go func() {
		s := tls.Server(a, server)
		defer s.Close()
		if err := s.Handshake(); err != nil {
			done <- err
			return
		}
		buf := make([]byte, 1)
		if _, err := io.ReadFull(s, buf); err != nil {
			done <- err
			return
		}
		_, err := s.Write(buf)
		done <- err
	}()
	c := tls.Client(b, client)
	cliErr = c.Handshake()
	if cliErr == nil {
		if _, cliErr = c.Write([]byte{7}); cliErr == nil {
			buf := make([]byte, 1)
			_, cliErr = io.ReadFull(c, buf)
		}
		cliState = c.ConnectionState()
	}
	c.Close()
	return <-done, cliErr, cliState
}

func TestOneWay(t *testing.T) {
	p := simtest.Start(t)
	srv := &atls.Config{Attester: p.Client}
	cli := &atls.Config{Verifier: verifier(p), Policy: simPolicy}
	sc, _ := srv.ServerConfig()
	cc, _ := cli.ClientConfig()
	serr, cerr, st := handshake(t, sc, cc)
	if serr != nil || cerr != nil {
		t.Fatalf("server %v, client %v", serr, cerr)
	}
	if st.Version != tls.VersionTLS13 {
		t.Errorf("version %x", st.Version)
	}
	c, err := cli.PeerClaims(st)
	if err != nil {
		t.Fatal(err)
	}
	self, _ := p.Client.Identity(context.Background())
	if !c.Identity.Equal(self) || !c.ReportData.Binds(st.PeerCertificates[0].RawSubjectPublicKeyInfo) {
		t.Errorf("peer claims %+v", c)
	}
}

func TestMutual(t *testing.T) {
	p := simtest.Start(t)
	srv := &atls.Config{Attester: p.Client, Verifier: verifier(p), Policy: simPolicy}
	cli := &atls.Config{Attester: p.Client, Verifier: verifier(p), Policy: simPolicy}
	sc, _ := srv.ServerConfig()
	cc, _ := cli.ClientConfig()
	if serr, cerr, _ := handshake(t, sc, cc); serr != nil || cerr != nil {
		t.Fatalf("server %v, client %v", serr, cerr)
	}
	// A client without evidence is refused by a mutual server.
	plain := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}
	if serr, _, _ := handshake(t, sc, plain); serr == nil {
		t.Error("mutual server accepted a client without a certificate")
	}
}

func TestRejections(t *testing.T) {
	p := simtest.Start(t)
	other := simtest.Start(t)
	prod := mustPolicy(`{"version":"1.0.0","allOf":[{"claim":"platform","equals":"sim"},{"claim":"debug","equals":false}]}`)
	pinned := mustPolicy(`{"version":"1.0.0","allOf":[{"claim":"platform","equals":"sim"},{"claim":"unique_id","equals":"00"}]}`)
	srv := &atls.Config{Attester: p.Client, CertLifetime: time.Hour}
	sc, _ := srv.ServerConfig()
	for name, cli := range map[string]*atls.Config{
		"wrong policy":       {Verifier: verifier(p), Policy: pinned},
		"debug in prod":      {Verifier: verifier(p), Policy: prod},
		"untrusted root":     {Verifier: verifier(other), Policy: simPolicy},
		"expired cert":       {Verifier: verifier(p), Policy: simPolicy, Now: func() time.Time { return time.Now().Add(2 * time.Hour) }},
		"cert not yet valid": {Verifier: verifier(p), Policy: simPolicy, Now: func() time.Time { return time.Now().Add(-time.Hour) }},
	} {
		cc, err := cli.ClientConfig()
		if err != nil {
			t.Fatal(err)
		}
		if _, cerr, _ := handshake(t, sc, cc); cerr == nil {
			t.Errorf("%s: handshake succeeded", name)
		}
	}
	// A server with an ordinary certificate carries no evidence.
	cc, _ := (&atls.Config{Verifier: verifier(p), Policy: simPolicy}).ClientConfig()
	_, cerr, _ := handshake(t, &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}}, cc)
	if cerr == nil || !strings.Contains(cerr.Error(), "no evidence") {
		t.Errorf("plain server: %v", cerr)
	}
}

// Evidence copied from one certificate into another, for another key,
// does not bind that key.
func TestEvidenceBoundToKey(t *testing.T) {
	p := simtest.Start(t)
	ctx := context.Background()
	a, err := atls.NewCertificate(ctx, p.Client, nil, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	b, err := atls.NewCertificate(ctx, p.Client, nil, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	forged := graft(t, b, a)
	cli := &atls.Config{Verifier: verifier(p), Policy: simPolicy}
	if _, err := cli.VerifyCertificate(ctx, [][]byte{forged}); err == nil {
		t.Error("certificate with another key's evidence accepted")
	}
	if _, err := cli.VerifyCertificate(ctx, [][]byte{a.Certificate[0]}); err != nil {
		t.Errorf("genuine certificate: %v", err)
	}
	if _, err := cli.VerifyCertificate(ctx, [][]byte{a.Certificate[0], a.Certificate[0]}); err == nil {
		t.Error("chain of two accepted")
	}
	if _, err := cli.VerifyCertificate(ctx, [][]byte{[]byte("junk")}); err == nil {
		t.Error("junk accepted")
	}
}

func TestConfigErrors(t *testing.T) {
	if _, err := (&atls.Config{}).ServerConfig(); err == nil {
		t.Error("server without attester")
	}
	if _, err := (&atls.Config{}).ClientConfig(); err == nil {
		t.Error("client without verifier")
	}
	p := simtest.Start(t)
	if _, err := (&atls.Config{Attester: p.Client, Verifier: verifier(p)}).ServerConfig(); err == nil {
		t.Error("mutual server without policy")
	}
}
