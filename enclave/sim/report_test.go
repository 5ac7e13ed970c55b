package sim

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"errors"
	"math/big"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/confide/confide/enclave"
)

// reportFixture is a platform's root with attestation keys on both curves
// certified by it, and a verifier trusting the root.
type reportFixture struct {
	keys     *Keys
	p256     *ecdsa.PrivateKey
	p256Cert []byte
	p384     *ecdsa.PrivateKey
	p384Cert []byte
	v        *Verifier
	id       enclave.Identity
	rd       enclave.ReportData
}

func newReportFixture(t *testing.T) *reportFixture {
	t.Helper()
	dir, err := os.MkdirTemp("", "cfrep")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	k, err := Init(dir, InitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fx := &reportFixture{keys: k}
	fx.p256, fx.p256Cert = certifiedKey(t, k, elliptic.P256())
	fx.p384, fx.p384Cert = certifiedKey(t, k, elliptic.P384())
	roots := x509.NewCertPool()
	roots.AddCert(k.Root)
	fx.v = &Verifier{Roots: roots}
	fx.id = enclave.Identity{Platform: enclave.PlatformSim, UniqueID: bytes.Repeat([]byte{1}, 32), ConfigID: bytes.Repeat([]byte{2}, 32),
		SignerID: bytes.Repeat([]byte{3}, 32), ProductID: 7, SVN: 3, Debug: true, TCBStatus: enclave.TCBUpToDate}
	fx.rd[0], fx.rd[63] = 0xAA, 0x55
	return fx
}

// certifiedKey makes an attestation key on curve, certified by k's root as
// issueAK certifies them.
func certifiedKey(t *testing.T, k *Keys, curve elliptic.Curve) (*ecdsa.PrivateKey, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{Organization: []string{"confide"}, CommonName: "confide SIMULATED platform attestation key"},
		NotBefore:    now.Add(-time.Hour), NotAfter: now.Add(akLifetime),
		KeyUsage: x509.KeyUsageDigitalSignature, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, k.Root, &key.PublicKey, k.rootKey)
	if err != nil {
		t.Fatal(err)
	}
	return key, der
}

// craft encodes evidence with any version byte, certificate and
// signature, for the rejections below.
func craft(t *testing.T, version byte, cert []byte, sig func(body []byte) []byte, id enclave.Identity, rd enclave.ReportData) []byte {
	t.Helper()
	body, err := encodeBody(version, id, rd)
	if err != nil {
		t.Fatal(err)
	}
	p := binary.BigEndian.AppendUint16(bytes.Clone(body), uint16(len(cert)))
	p = append(append(p, cert...), sig(body)...)
	ev, err := enclave.WrapEvidence(enclave.PlatformSim, p)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// ecdsaSig signs digest(body) under format f's context and hash with key,
// r and s each written in width bytes.
func ecdsaSig(t *testing.T, key *ecdsa.PrivateKey, f *reportFormat, width int) func([]byte) []byte {
	return func(body []byte) []byte {
		r, s, err := ecdsa.Sign(rand.Reader, key, f.digest(body))
		if err != nil {
			t.Fatal(err)
		}
		out := make([]byte, 2*width)
		r.FillBytes(out[:width])
		s.FillBytes(out[width:])
		return out
	}
}

// Each curve signs its own report version, which the verifier accepts with
// the same claims.
func TestReportVersions(t *testing.T) {
	fx := newReportFixture(t)
	for _, c := range []struct {
		key     *ecdsa.PrivateKey
		cert    []byte
		version byte
		sigLen  int
	}{
		{fx.p256, fx.p256Cert, 2, 64},
		{fx.p384, fx.p384Cert, 1, 96},
	} {
		ev, err := signReport(rand.Reader, c.key, c.cert, fx.id, fx.rd)
		if err != nil {
			t.Fatal(err)
		}
		_, payload, err := enclave.UnwrapEvidence(ev)
		if err != nil {
			t.Fatal(err)
		}
		if payload[0] != c.version || len(payload) != bodyLen+2+len(c.cert)+c.sigLen {
			t.Fatalf("%s key: version %d, %d bytes; want version %d, %d bytes", curveName(c.key.Curve), payload[0], len(payload),
				c.version, bodyLen+2+len(c.cert)+c.sigLen)
		}
		claims, err := fx.v.Verify(context.Background(), ev)
		if err != nil {
			t.Fatalf("version %d: %v", c.version, err)
		}
		if !claims.Equal(fx.id) || claims.ReportData != fx.rd {
			t.Fatalf("version %d: claims %+v", c.version, claims)
		}
	}
	// Any other curve is refused at signing.
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	if _, err := signReport(rand.Reader, p521, fx.p384Cert, fx.id, fx.rd); err == nil {
		t.Error("signed a report with a P-521 key")
	}
}

// A report whose version does not match its attestation key's curve is
// refused, whatever its signature, and so are versions other than 1 and 2
// and payloads of the other version's length.
func TestReportVersionMismatch(t *testing.T) {
	fx := newReportFixture(t)
	ctx := context.Background()
	mustReject := func(name string, ev []byte, malformed bool) {
		t.Helper()
		_, err := fx.v.Verify(ctx, ev)
		if err == nil {
			t.Errorf("%s: accepted", name)
			return
		}
		if errors.Is(err, enclave.ErrMalformedEvidence) != malformed {
			t.Errorf("%s: %v; want malformed %v", name, err, malformed)
		}
	}

	// Version 1 from the P-256 key: the P-256 signature over the version 1
	// digest (SHA-384, cut to the order's 256 bits) fits the 48-byte
	// fields and is a valid ECDSA signature; only the curve check refuses
	// it.
	v1P256 := craft(t, 1, fx.p256Cert, ecdsaSig(t, fx.p256, reportV1, 48), fx.id, fx.rd)
	rep := parsed(t, v1P256)
	if !ecdsa.Verify(&fx.p256.PublicKey, reportV1.digest(rep.body), rep.r, rep.s) {
		t.Fatal("the crafted signature does not verify: the test proves nothing")
	}
	_, err := fx.v.Verify(ctx, v1P256)
	if err == nil || !strings.Contains(err.Error(), "P-384") {
		t.Errorf("version 1 from a P-256 key: %v", err)
	}
	mustReject("version 1 from a P-256 key", v1P256, false)

	// Version 2 from the P-384 key: no P-384 signature fits 32-byte
	// fields, so the signature is the P-384 key's cut to them; the curve
	// check refuses it before.
	v2P384 := craft(t, 2, fx.p384Cert, func(body []byte) []byte {
		return ecdsaSig(t, fx.p384, reportV2, 48)(body)[16:80] // the low 32 bytes of r, the high of s: no signature
	}, fx.id, fx.rd)
	_, err = fx.v.Verify(ctx, v2P384)
	if err == nil || !strings.Contains(err.Error(), "P-256") {
		t.Errorf("version 2 from a P-384 key: %v", err)
	}
	mustReject("version 2 from a P-384 key", v2P384, false)

	// The right curve, the other version's digest.
	mustReject("version 2 signed over the version 1 digest", craft(t, 2, fx.p256Cert, ecdsaSig(t, fx.p256, reportV1, 32), fx.id, fx.rd), false)
	mustReject("version 1 signed over the version 2 digest", craft(t, 1, fx.p384Cert, ecdsaSig(t, fx.p384, reportV2, 48), fx.id, fx.rd), false)
	// Version byte and layout of different versions.
	mustReject("version 2 byte, version 1 layout", craft(t, 2, fx.p384Cert, ecdsaSig(t, fx.p384, reportV1, 48), fx.id, fx.rd), true)
	mustReject("version 1 byte, version 2 layout", craft(t, 1, fx.p256Cert, ecdsaSig(t, fx.p256, reportV2, 32), fx.id, fx.rd), true)
	// Other versions, with either layout.
	for _, v := range []byte{0, 3, 0x82, 0xFF} {
		mustReject("unknown version, version 2 layout", craft(t, v, fx.p256Cert, ecdsaSig(t, fx.p256, reportV2, 32), fx.id, fx.rd), true)
		mustReject("unknown version, version 1 layout", craft(t, v, fx.p384Cert, ecdsaSig(t, fx.p384, reportV1, 48), fx.id, fx.rd), true)
	}
	// Non-ECDSA key in a version 2 report.
	edPub, edKey, _ := ed25519.GenerateKey(rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(3), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, BasicConstraintsValid: true}
	edCert, err := x509.CreateCertificate(rand.Reader, tmpl, fx.keys.Root, edPub, fx.keys.rootKey)
	if err != nil {
		t.Fatal(err)
	}
	mustReject("version 2 from an Ed25519 key", craft(t, 2, edCert, func(body []byte) []byte {
		return ed25519.Sign(edKey, append([]byte(reportV2.context), body...))
	}, fx.id, fx.rd), false)

	// Valid version 2 evidence, then cut, extended and shortened.
	good, err := signReport(rand.Reader, fx.p256, fx.p256Cert, fx.id, fx.rd)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fx.v.Verify(ctx, good); err != nil {
		t.Fatal(err)
	}
	_, payload, _ := enclave.UnwrapEvidence(good)
	rewrap := func(p []byte) []byte {
		ev, err := enclave.WrapEvidence(enclave.PlatformSim, p)
		if err != nil {
			t.Fatal(err)
		}
		return ev
	}
	mustReject("version 2 with a trailing byte", rewrap(append(bytes.Clone(payload), 0)), true)
	mustReject("version 2 cut by one byte", rewrap(payload[:len(payload)-1]), true)
	mustReject("version 2 of 232 bytes", rewrap(payload[:232]), true)
	short := bytes.Clone(payload[:264])
	short[0] = 1
	mustReject("version 1 of 264 bytes", rewrap(short), true)
	// The twin (r, n − s) on P-256 is valid too (evidence-sim.md: evidence
	// is not unique).
	s := new(big.Int).SetBytes(good[len(good)-32:])
	tw := bytes.Clone(good)
	new(big.Int).Sub(elliptic.P256().Params().N, s).FillBytes(tw[len(tw)-32:])
	if _, err := fx.v.Verify(ctx, tw); err != nil {
		t.Errorf("signature twin: %v", err)
	}
}

func parsed(t *testing.T, ev []byte) *report {
	t.Helper()
	_, payload, err := enclave.UnwrapEvidence(ev)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := parseReport(payload)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}
