// Package identity makes and checks the ledger's identities: the service
// identity (a self-signed CA certificate whose key endorses nodes) and
// node identities (a node key and its certificate endorsed by the
// service), as CCF has them. Keys are ECDSA P-256.
package identity

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"
)

// Identity is a key and its certificate.
type Identity struct {
	Key  *ecdsa.PrivateKey
	Cert *x509.Certificate
}

// CertPEM is the certificate in PEM.
func (id *Identity) CertPEM() []byte { return EncodeCert(id.Cert) }

// NewService makes a service identity.
func NewService(name string) (*Identity, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := template("confide ledger service " + name)
	tmpl.IsCA = true
	tmpl.BasicConstraintsValid = true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return &Identity{Key: key, Cert: cert}, err
}

// NewNode makes a node key and endorses it with the service identity,
// for the host names or IP addresses clients reach the node at.
func NewNode(service *Identity, hosts ...string) (*Identity, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	return Endorse(service, &key.PublicKey, key, hosts...)
}

// Endorse issues a node certificate for pub, signed by the service.
func Endorse(service *Identity, pub *ecdsa.PublicKey, key *ecdsa.PrivateKey, hosts ...string) (*Identity, error) {
	tmpl := template("confide ledger node " + NodeIDOfKey(pub)[:16])
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, service.Cert, pub, service.Key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return &Identity{Key: key, Cert: cert}, err
}

func template(cn string) *x509.Certificate {
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	now := time.Now()
	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(10, 0, 0),
	}
}

// NodeIDOfKey is a node's ID: hex SHA-256 of its public key (DER
// SubjectPublicKeyInfo).
func NodeIDOfKey(pub *ecdsa.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// NodeID is the ID of the node a certificate names.
func NodeID(cert *x509.Certificate) string {
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok {
		return ""
	}
	return NodeIDOfKey(pub)
}

// CheckNode verifies that cert is a node certificate endorsed by the
// service certificate and returns its key. Validity dates are not
// checked: receipts are verified long after they were issued.
func CheckNode(cert, service *x509.Certificate) (*ecdsa.PublicKey, error) {
	if err := cert.CheckSignatureFrom(service); err != nil {
		return nil, fmt.Errorf("identity: the node certificate is not endorsed by the service: %w", err)
	}
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil, errors.New("identity: a node key is ECDSA P-256")
	}
	return pub, nil
}

// EndorsePrevious issues, with a service identity, a certificate for a
// previous service identity's key (CCF's service endorsement): after a
// disaster recovery the new service vouches for the old one, so that
// nodes the old one endorsed — and the receipts they signed — verify
// against the new service certificate through it.
func EndorsePrevious(service *Identity, previous *x509.Certificate) (*x509.Certificate, error) {
	tmpl := &x509.Certificate{
		SerialNumber:          new(big.Int).SetBytes(previous.SerialNumber.Bytes()),
		Subject:               previous.Subject,
		NotBefore:             previous.NotBefore,
		NotAfter:              previous.NotAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, service.Cert, previous.PublicKey, service.Key)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// CheckNodeVia is CheckNode for a node of the service or of a previous
// service one of the endorsements (EndorsePrevious, newest first, each
// issued by the service before it in the chain) names.
func CheckNodeVia(cert, service *x509.Certificate, endorsements []*x509.Certificate) (*ecdsa.PublicKey, error) {
	pub, err := CheckNode(cert, service)
	if err == nil {
		return pub, nil
	}
	issuer := service
	for _, e := range endorsements {
		if e.CheckSignatureFrom(issuer) != nil {
			return nil, errors.New("identity: a service endorsement is not issued by the service after it")
		}
		if pub, err := CheckNode(cert, e); err == nil {
			return pub, nil
		}
		issuer = e
	}
	return nil, err
}

// EncodeCert is a certificate in PEM.
func EncodeCert(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// ParseCert reads one PEM certificate.
func ParseCert(b []byte) (*x509.Certificate, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, errors.New("identity: not a PEM certificate")
	}
	return x509.ParseCertificate(blk.Bytes)
}

// EncodeKey is a private key in PEM (PKCS #8).
func EncodeKey(k *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParseKey reads a PEM private key (PKCS #8 or SEC 1).
func ParseKey(b []byte) (*ecdsa.PrivateKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("identity: not a PEM key")
	}
	if k, err := x509.ParsePKCS8PrivateKey(blk.Bytes); err == nil {
		if ek, ok := k.(*ecdsa.PrivateKey); ok {
			return ek, nil
		}
		return nil, errors.New("identity: not an ECDSA key")
	}
	return x509.ParseECPrivateKey(blk.Bytes)
}

// NewClient makes a self-signed client identity (a member or a user):
// the ledger knows it by its certificate's digest, not by an issuer.
func NewClient(name string) (*Identity, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := template(name)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return &Identity{Key: key, Cert: cert}, err
}
