package atls

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"
	"sync"
	"time"

	"github.com/confide/confide/attest"
	"github.com/confide/confide/enclave"
)

// OIDEvidence identifies the certificate extension that carries confide
// evidence (spec/atls.md). It sits in the Internet "experimental" arc
// 1.3.6.1.3 (RFC 1155): confide holds no enterprise number yet, and the
// UUID arc 2.25 has arcs too long for Go's asn1.ObjectIdentifier.
var OIDEvidence = asn1.ObjectIdentifier{1, 3, 6, 1, 3, 31415, 1, 1}

// Config configures one side of an attested TLS connection.
type Config struct {
	// Attester, when set, gives this side an attested certificate. A
	// client without one connects one-way.
	Attester enclave.Attester
	// Verifier and Policy appraise the peer's evidence. A server whose
	// Verifier is nil does not ask for client certificates (one-way).
	Verifier *attest.Verifier
	Policy   *attest.Policy
	// CertLifetime bounds how long a certificate, and the evidence in it,
	// is accepted; certificates are renewed at half-life. Zero means 24h.
	CertLifetime time.Duration
	Now          func() time.Time
	Rand         io.Reader

	mu     sync.Mutex
	cert   *tls.Certificate
	claims map[[32]byte]verifiedCert
}

const maxClaimCache = 1024

// verifiedCert is a cached verification: the claims, and the validity
// window that is checked again on every use.
type verifiedCert struct {
	claims              enclave.Claims
	notBefore, notAfter time.Time
}

var (
	// ErrNoEvidence is returned when the peer's certificate has no evidence.
	ErrNoEvidence = errors.New("atls: peer certificate carries no evidence")
	// ErrExpired is returned for certificates outside their validity.
	ErrExpired = errors.New("atls: peer certificate is expired or not yet valid")
)

func (c *Config) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Config) lifetime() time.Duration {
	if c.CertLifetime > 0 {
		return c.CertLifetime
	}
	return 24 * time.Hour
}

// ServerConfig returns a TLS 1.3 server configuration presenting an
// attested certificate and, if c.Verifier is set, requiring and verifying
// one from the client.
func (c *Config) ServerConfig() (*tls.Config, error) {
	if c.Attester == nil {
		return nil, errors.New("atls: a server needs an Attester")
	}
	tc := &tls.Config{
		MinVersion: tls.VersionTLS13,
		Time:       c.Now,
		Rand:       c.Rand,
		GetCertificate: func(hi *tls.ClientHelloInfo) (*tls.Certificate, error) {
			return c.certificate(hi.Context())
		},
	}
	if c.Verifier != nil {
		if c.Policy == nil {
			return nil, errors.New("atls: verifying peers needs a Policy")
		}
		tc.ClientAuth = tls.RequireAnyClientCert
		tc.VerifyPeerCertificate = c.verifyPeer
	}
	return tc, nil
}

// ClientConfig returns a TLS 1.3 client configuration that verifies the
// server's evidence against c.Policy, presenting an attested certificate
// of its own if c.Attester is set. The usual WebPKI checks are replaced by
// evidence verification: the server's identity is its measurement.
func (c *Config) ClientConfig() (*tls.Config, error) {
	if c.Verifier == nil || c.Policy == nil {
		return nil, errors.New("atls: a client needs a Verifier and a Policy")
	}
	tc := &tls.Config{
		MinVersion:            tls.VersionTLS13,
		Time:                  c.Now,
		Rand:                  c.Rand,
		InsecureSkipVerify:    true, // replaced by verifyPeer, which is stricter
		VerifyPeerCertificate: c.verifyPeer,
	}
	if c.Attester != nil {
		tc.GetClientCertificate = func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return c.certificate(cri.Context())
		}
	}
	return tc, nil
}

func (c *Config) certificate(ctx context.Context) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if c.cert != nil && now.Before(c.cert.Leaf.NotAfter.Add(-c.lifetime()/2)) {
		return c.cert, nil
	}
	cert, err := NewCertificate(ctx, c.Attester, c.Rand, now, c.lifetime())
	if err != nil {
		return nil, err
	}
	c.cert = cert
	return cert, nil
}

// NewCertificate makes a self-signed certificate for a fresh P-256 key,
// with evidence whose report data binds the key: bytes 32–63 are the
// SHA-256 of the certificate's SubjectPublicKeyInfo, bytes 0–31 zero.
func NewCertificate(ctx context.Context, a enclave.Attester, rnd io.Reader, now time.Time, lifetime time.Duration) (*tls.Certificate, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rnd)
	if err != nil {
		return nil, err
	}
	spki, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	rd, _ := enclave.NewReportData(nil, spki)
	ev, err := a.Evidence(ctx, rd)
	if err != nil {
		return nil, fmt.Errorf("atls: evidence for certificate: %w", err)
	}
	serial, err := rand.Int(rnd, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:    serial,
		Subject:         pkix.Name{CommonName: "confide attested TLS"},
		NotBefore:       now.Add(-time.Minute),
		NotAfter:        now.Add(lifetime),
		KeyUsage:        x509.KeyUsageDigitalSignature,
		ExtKeyUsage:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		ExtraExtensions: []pkix.Extension{{Id: OIDEvidence, Value: ev}},
	}
	der, err := x509.CreateCertificate(rnd, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

func (c *Config) verifyPeer(raw [][]byte, _ [][]*x509.Certificate) error {
	_, err := c.VerifyCertificate(context.Background(), raw)
	return err
}

// VerifyCertificate verifies a peer's certificate chain as the handshake
// does and returns the claims of its evidence. Results are cached by
// certificate fingerprint; validity times are checked on every call.
func (c *Config) VerifyCertificate(ctx context.Context, raw [][]byte) (enclave.Claims, error) {
	if len(raw) != 1 {
		return enclave.Claims{}, fmt.Errorf("atls: expected one self-signed certificate, got %d", len(raw))
	}
	now := c.now()
	// A certificate seen before is not parsed or verified again: a
	// reconnecting peer costs a hash and a validity check.
	fp := sha256.Sum256(raw[0])
	c.mu.Lock()
	v, ok := c.claims[fp]
	c.mu.Unlock()
	if ok {
		if now.Before(v.notBefore) || now.After(v.notAfter) {
			return enclave.Claims{}, ErrExpired
		}
		return v.claims, nil
	}
	leaf, err := x509.ParseCertificate(raw[0])
	if err != nil {
		return enclave.Claims{}, fmt.Errorf("atls: %w", err)
	}
	if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		return enclave.Claims{}, ErrExpired
	}
	if err := leaf.CheckSignature(leaf.SignatureAlgorithm, leaf.RawTBSCertificate, leaf.Signature); err != nil {
		return enclave.Claims{}, fmt.Errorf("atls: certificate is not validly self-signed: %w", err)
	}
	// RFC 5280: a critical extension the verifier does not process fails
	// the certificate. The evidence extension is processed below.
	for _, oid := range leaf.UnhandledCriticalExtensions {
		if !oid.Equal(OIDEvidence) {
			return enclave.Claims{}, fmt.Errorf("atls: certificate has unknown critical extension %v", oid)
		}
	}
	var ev []byte
	for _, ext := range leaf.Extensions {
		if ext.Id.Equal(OIDEvidence) {
			if ev != nil {
				return enclave.Claims{}, errors.New("atls: two evidence extensions")
			}
			ev = ext.Value
		}
	}
	if ev == nil {
		return enclave.Claims{}, ErrNoEvidence
	}
	cl, err := c.Verifier.Verify(ctx, ev, attest.Expect{Nonce: []byte{}, RuntimeData: leaf.RawSubjectPublicKeyInfo, Policy: c.Policy})
	if err != nil {
		return enclave.Claims{}, fmt.Errorf("atls: peer evidence: %w", err)
	}
	c.mu.Lock()
	if c.claims == nil || len(c.claims) >= maxClaimCache {
		c.claims = make(map[[32]byte]verifiedCert)
	}
	c.claims[fp] = verifiedCert{claims: cl, notBefore: leaf.NotBefore, notAfter: leaf.NotAfter}
	c.mu.Unlock()
	return cl, nil
}

// PeerClaims returns the claims of the peer of an established connection.
func (c *Config) PeerClaims(cs tls.ConnectionState) (enclave.Claims, error) {
	raw := make([][]byte, len(cs.PeerCertificates))
	for i, pc := range cs.PeerCertificates {
		raw[i] = pc.Raw
	}
	return c.VerifyCertificate(context.Background(), raw)
}
