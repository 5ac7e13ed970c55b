package atls_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"

	"github.com/confide/confide/attest/atls"
	"go.uber.org/goleak"
)

func selfSigned(t testing.TB) tls.Certificate {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "plain"}, DNSNames: []string{"plain"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// graft re-issues cert `to`, self-signed with its own key, carrying the
// evidence extension of `from`.
func graft(t *testing.T, to, from *tls.Certificate) []byte {
	var ev []byte
	for _, e := range from.Leaf.Extensions {
		if e.Id.Equal(atls.OIDEvidence) {
			ev = e.Value
		}
	}
	tmpl := *to.Leaf
	tmpl.ExtraExtensions = []pkix.Extension{{Id: atls.OIDEvidence, Value: ev}}
	tmpl.Extensions = nil
	key := to.PrivateKey.(*ecdsa.PrivateKey)
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, &tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
