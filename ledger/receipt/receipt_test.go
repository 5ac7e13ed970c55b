package receipt_test

import (
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"

	"github.com/confide/confide/ledger/entry"
	"github.com/confide/confide/ledger/identity"
	"github.com/confide/confide/ledger/merkle"
	"github.com/confide/confide/ledger/receipt"
)

// build makes a tree of n transactions and a receipt for seqno s under
// a signature at seqno n+1.
func build(t testing.TB, n, s uint64) (*receipt.Receipt, *identity.Identity) {
	svc, err := identity.NewService("t")
	if err != nil {
		t.Fatal(err)
	}
	node, _ := identity.NewNode(svc)
	sec, _ := entry.NewSecret(make([]byte, 32))
	var tree merkle.Tree
	var leaves []receipt.LeafComponents
	for i := uint64(1); i <= n; i++ {
		id := entry.TxID{View: 2, Seqno: i}
		ws := merkle.Hash{byte(i)}
		ce := sec.CommitEvidence(id)
		tree.Append(merkle.Leaf(ws, []byte(ce), merkle.Hash{}))
		leaves = append(leaves, receipt.LeafComponents{WriteSetDigest: hex.EncodeToString(ws[:]), CommitEvidence: ce, ClaimsDigest: hex.EncodeToString(make([]byte, 32))})
	}
	sig, err := receipt.Sign(node, entry.TxID{View: 2, Seqno: n + 1}, tree.Root())
	if err != nil {
		t.Fatal(err)
	}
	proof, _ := tree.InclusionProof(s-1, n)
	r := &receipt.Receipt{TxID: entry.TxID{View: 2, Seqno: s}.String(), LeafComponents: leaves[s-1], Signature: *sig}
	for _, p := range proof {
		r.Proof = append(r.Proof, hex.EncodeToString(p[:]))
	}
	return r, svc
}

func TestVerify(t *testing.T) {
	r, svc := build(t, 13, 6)
	if err := r.Verify(svc.Cert); err != nil {
		t.Fatal(err)
	}
	// Round trip through JSON.
	b, _ := json.Marshal(r)
	r2, err := receipt.Parse(b)
	if err != nil || r2.Verify(svc.Cert) != nil {
		t.Fatalf("parsed receipt: %v", err)
	}
	other, _ := identity.NewService("other")
	if err := r.Verify(other.Cert); !errors.Is(err, receipt.ErrInvalid) {
		t.Fatalf("another service: %v", err)
	}
	flip := func(s string) string {
		b := []byte(s)
		if b[len(b)-1] == '0' {
			b[len(b)-1] = '1'
		} else {
			b[len(b)-1] = '0'
		}
		return string(b)
	}
	for name, change := range map[string]func(r *receipt.Receipt){
		"write set digest": func(r *receipt.Receipt) { r.LeafComponents.WriteSetDigest = flip(r.LeafComponents.WriteSetDigest) },
		"commit evidence":  func(r *receipt.Receipt) { r.LeafComponents.CommitEvidence = flip(r.LeafComponents.CommitEvidence) },
		"claims":           func(r *receipt.Receipt) { r.LeafComponents.ClaimsDigest = flip(r.LeafComponents.ClaimsDigest) },
		"proof":            func(r *receipt.Receipt) { r.Proof[1] = flip(r.Proof[1]) },
		"short proof":      func(r *receipt.Receipt) { r.Proof = r.Proof[1:] },
		"root":             func(r *receipt.Receipt) { r.Signature.Root = flip(r.Signature.Root) },
		"signature":        func(r *receipt.Receipt) { r.Signature.Signature[10] ^= 1 },
		"signer":           func(r *receipt.Receipt) { r.Signature.Node = flip(r.Signature.Node) },
		"transaction ID":   func(r *receipt.Receipt) { r.TxID = "2.7" },
		"view":             func(r *receipt.Receipt) { r.TxID = "3.6" },
		"signature seqno":  func(r *receipt.Receipt) { r.Signature.Seqno = 15 },
		"not hex":          func(r *receipt.Receipt) { r.Proof[0] = "zz" },
	} {
		c, _ := receipt.Parse(b)
		change(c)
		if err := c.Verify(svc.Cert); err == nil {
			t.Errorf("%s changed: verified", name)
		}
	}
}

func FuzzParseVerify(f *testing.F) {
	want, svc := build(f, 5, 3)
	b, _ := json.Marshal(want)
	f.Add(b)
	f.Add([]byte(`{"transaction_id":"1.1"}`))
	seeds, _ := filepath.Glob("testdata/fuzz/FuzzParseVerify/*")
	if len(seeds) == 0 {
		f.Fatal("the seed corpus is missing")
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := receipt.Parse(b)
		if err != nil {
			return
		}
		// Whatever parses verifies or fails without panicking, and only
		// the receipt the service signed verifies: the fuzzer cannot
		// make another.
		if r.Verify(svc.Cert) == nil && (r.TxID != want.TxID || r.LeafComponents != want.LeafComponents || r.Signature.Root != want.Signature.Root) {
			t.Fatalf("a changed receipt verifies: %s", b)
		}
	})
}

// TestServiceEndorsements: after recoveries, a signature by a node of an
// earlier service verifies against the current service through the chain
// of endorsements, and not without it or through a forged link.
func TestServiceEndorsements(t *testing.T) {
	svc1, _ := identity.NewService("one")
	svc2, _ := identity.NewService("two")
	svc3, _ := identity.NewService("three")
	node, _ := identity.NewNode(svc1)
	sig, err := receipt.Sign(node, entry.TxID{View: 2, Seqno: 7}, merkle.Hash{7})
	if err != nil {
		t.Fatal(err)
	}
	e21, err := identity.EndorsePrevious(svc2, svc1.Cert)
	if err != nil {
		t.Fatal(err)
	}
	e32, _ := identity.EndorsePrevious(svc3, svc2.Cert)
	if sig.Verify(svc2.Cert) == nil {
		t.Error("verified against a later service without its endorsement")
	}
	if err := sig.VerifyVia(svc2.Cert, []*x509.Certificate{e21}); err != nil {
		t.Errorf("one recovery: %v", err)
	}
	if err := sig.VerifyVia(svc3.Cert, []*x509.Certificate{e32, e21}); err != nil {
		t.Errorf("two recoveries: %v", err)
	}
	if sig.VerifyVia(svc3.Cert, []*x509.Certificate{e21}) == nil {
		t.Error("an endorsement the current service did not issue was accepted")
	}
	mallory, _ := identity.NewService("mallory")
	forged, _ := identity.EndorsePrevious(mallory, svc1.Cert)
	if sig.VerifyVia(svc3.Cert, []*x509.Certificate{forged}) == nil {
		t.Error("a forged endorsement was accepted")
	}
}
