package gov_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"

	"github.com/confide/confide/ledger/gov"
	"github.com/confide/confide/ledger/kv"
)

// FuzzVerify feeds arbitrary bytes to the signed-request parser: it must
// refuse them with an error and write nothing, never panic; only a
// request the member signed verifies.
func FuzzVerify(f *testing.F) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "m"}, NotBefore: time.Unix(0, 0), NotAfter: time.Unix(4e9, 0)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	cert, _ := x509.ParseCertificate(der)
	store := kv.New()
	tx := store.Begin()
	if err := gov.WriteGenesis(tx, gov.Genesis{Members: []gov.GenesisMember{{Cert: cert}}}); err != nil {
		f.Fatal(err)
	}
	if err := store.Apply(1, [32]byte{1}, tx.WriteSet()); err != nil {
		f.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	good, err := gov.Sign(key, cert, gov.TypeProposal, "", now, []byte(`{"actions":[{"name":"trigger_snapshot"}]}`))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte{0xd2, 0x84, 0x40, 0xa0, 0x40, 0x40})
	f.Fuzz(func(t *testing.T, b []byte) {
		tx := store.Begin()
		r, err := gov.Verify(tx, b, gov.TypeProposal, now)
		if err != nil {
			if tx.WriteSet() != nil {
				t.Fatalf("a refused request wrote %v", tx.WriteSet())
			}
			return
		}
		if r.Member != gov.MemberID(cert) {
			t.Fatalf("verified as %q", r.Member)
		}
	})
}
