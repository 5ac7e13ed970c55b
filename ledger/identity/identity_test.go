package identity_test

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/confide/confide/ledger/identity"
)

func TestEndorsement(t *testing.T) {
	svc, err := identity.NewService("a")
	if err != nil {
		t.Fatal(err)
	}
	node, err := identity.NewNode(svc, "127.0.0.1", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := identity.CheckNode(node.Cert, svc.Cert); err != nil {
		t.Fatal(err)
	}
	other, _ := identity.NewService("b")
	if _, err := identity.CheckNode(node.Cert, other.Cert); err == nil {
		t.Fatal("another service's endorsement accepted")
	}
	if len(node.Cert.IPAddresses) != 1 || node.Cert.DNSNames[0] != "localhost" {
		t.Fatalf("host names: %v %v", node.Cert.IPAddresses, node.Cert.DNSNames)
	}
	if identity.NodeID(node.Cert) != identity.NodeIDOfKey(&node.Key.PublicKey) || len(identity.NodeID(node.Cert)) != 64 {
		t.Fatal("node ID")
	}
	// PEM round trips.
	c, err := identity.ParseCert(node.CertPEM())
	if err != nil || !bytes.Equal(c.Raw, node.Cert.Raw) {
		t.Fatalf("certificate round trip: %v", err)
	}
	kp, _ := identity.EncodeKey(node.Key)
	k, err := identity.ParseKey(kp)
	if err != nil || !k.Equal(node.Key) {
		t.Fatalf("key round trip: %v", err)
	}
	// A client identity is not a node of the service.
	user, _ := identity.NewClient("user0")
	if _, err := identity.CheckNode(user.Cert, svc.Cert); err == nil {
		t.Fatal("a self-signed client passed as a node")
	}
}

func FuzzParse(f *testing.F) {
	if seeds, _ := filepath.Glob("testdata/fuzz/FuzzParse/*"); len(seeds) == 0 {
		f.Fatal("the seed corpus is missing")
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if c, err := identity.ParseCert(b); err == nil {
			if c2, err := identity.ParseCert(identity.EncodeCert(c)); err != nil || !bytes.Equal(c2.Raw, c.Raw) {
				t.Fatal("certificate does not round-trip")
			}
		}
		if k, err := identity.ParseKey(b); err == nil {
			kp, err := identity.EncodeKey(k)
			if err != nil {
				return // a key Go parses but cannot marshal (e.g. another curve) is refused where used
			}
			if k2, err := identity.ParseKey(kp); err != nil || !k2.Equal(k) {
				t.Fatal("key does not round-trip")
			}
		}
	})
}
