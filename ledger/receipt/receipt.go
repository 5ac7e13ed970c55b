// Package receipt holds what proves a ledger transaction to someone who
// trusts only the service certificate: signature transactions (a node's
// signature over the Merkle root) and receipts (a transaction's leaf
// components, its inclusion proof, and the signature that covers it).
// Formats: spec/ledger-receipt.md. Verification needs no network.
package receipt

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/confide/confide/ledger/entry"
	"github.com/confide/confide/ledger/identity"
	"github.com/confide/confide/ledger/merkle"
)

// Errors.
var (
	ErrFormat  = errors.New("receipt: malformed")
	ErrInvalid = errors.New("receipt: does not verify")
)

// Signature is a signature transaction's content: the node that signed,
// the transaction's own ID, and the root of the Merkle tree over every
// transaction before it (seqnos 1 … seqno−1).
type Signature struct {
	Node      string `json:"node"`
	View      uint64 `json:"view"`
	Seqno     uint64 `json:"seqno"`
	Root      string `json:"root"`
	Signature []byte `json:"signature"` // ECDSA P-256, ASN.1, over signedDigest
	// Cert is the node's certificate (PEM), endorsed by the service. A
	// receipt carries it; the ledger's signature transactions do not
	// (the certificate is in the nodes map once, written with the node's
	// first signature).
	Cert string `json:"cert,omitempty"`
}

// signedDigest is what a node signs: SHA-256("confide-ledger-v1
// signature" ‖ view (8) ‖ seqno (8) ‖ root). Binding view and seqno
// fixes the tree's size, which an inclusion proof alone does not.
func signedDigest(view, seqno uint64, root merkle.Hash) []byte {
	h := sha256.New()
	h.Write([]byte("confide-ledger-v1 signature"))
	h.Write(binary.BigEndian.AppendUint64(nil, view))
	h.Write(binary.BigEndian.AppendUint64(nil, seqno))
	h.Write(root[:])
	return h.Sum(nil)
}

// Sign makes a signature transaction's content.
func Sign(node *identity.Identity, id entry.TxID, root merkle.Hash) (*Signature, error) {
	sig, err := ecdsa.SignASN1(rand.Reader, node.Key, signedDigest(id.View, id.Seqno, root))
	if err != nil {
		return nil, err
	}
	return &Signature{
		Node:      identity.NodeID(node.Cert),
		View:      id.View,
		Seqno:     id.Seqno,
		Root:      hex.EncodeToString(root[:]),
		Signature: sig,
		Cert:      string(node.CertPEM()),
	}, nil
}

// ParseSignature reads a signature transaction's content.
func ParseSignature(b []byte) (*Signature, error) {
	var s Signature
	if err := strict(b, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// RootHash is the signed root.
func (s *Signature) RootHash() (merkle.Hash, error) { return parseHash(s.Root) }

// Verify checks that the signing node is endorsed by the service and
// that it signed the root.
func (s *Signature) Verify(service *x509.Certificate) error {
	return s.VerifyVia(service, nil)
}

// VerifyVia is Verify for a node the service endorsed, or a previous
// service the endorsements name (identity.CheckNodeVia).
func (s *Signature) VerifyVia(service *x509.Certificate, endorsements []*x509.Certificate) error {
	cert, err := identity.ParseCert([]byte(s.Cert))
	if err != nil {
		return fmt.Errorf("%w: signing node's certificate: %v", ErrFormat, err)
	}
	if _, err := identity.CheckNodeVia(cert, service, endorsements); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return s.verifyBy(cert)
}

// VerifyKey checks the signature with the key of a certificate the
// caller has already seen pass Verify (a node checking its peers'
// signatures), without parsing and checking the certificate again.
func (s *Signature) VerifyKey(pub *ecdsa.PublicKey) error {
	root, err := s.RootHash()
	if err != nil {
		return err
	}
	if !ecdsa.VerifyASN1(pub, signedDigest(s.View, s.Seqno, root), s.Signature) {
		return fmt.Errorf("%w: the node's signature over the root", ErrInvalid)
	}
	return nil
}

func (s *Signature) verifyBy(cert *x509.Certificate) error {
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok || identity.NodeID(cert) != s.Node {
		return fmt.Errorf("%w: the certificate is not node %s's", ErrInvalid, s.Node)
	}
	return s.VerifyKey(pub)
}

// Receipt proves that a committed transaction is in the ledger.
type Receipt struct {
	TxID           string         `json:"transaction_id"`
	LeafComponents LeafComponents `json:"leaf_components"`
	// Proof is the inclusion proof (RFC 9162) of the transaction's leaf,
	// index seqno−1, in the tree of the signature's seqno−1 leaves.
	Proof     []string  `json:"proof"`
	Signature Signature `json:"signature"`
	// ServiceEndorsements, after a recovery, chain the current service
	// to the one that endorsed the signing node: certificates (PEM),
	// newest first, each issued by the service before it
	// (identity.EndorsePrevious).
	ServiceEndorsements []string `json:"service_endorsements,omitempty"`
}

// LeafComponents are what the leaf hashes: H(write-set digest ‖
// H(commit evidence) ‖ claims digest).
type LeafComponents struct {
	WriteSetDigest string `json:"write_set_digest"`
	CommitEvidence string `json:"commit_evidence"`
	ClaimsDigest   string `json:"claims_digest"`
}

// Parse reads a receipt.
func Parse(b []byte) (*Receipt, error) {
	var r Receipt
	if err := strict(b, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// Verify checks a receipt against the service certificate: the commit
// evidence names the transaction, the leaf is in the tree whose root the
// signature covers, and a node endorsed by the service signed that root.
func (r *Receipt) Verify(service *x509.Certificate) error {
	id, err := entry.ParseTxID(r.TxID)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrFormat, err)
	}
	lc := r.LeafComponents
	ws, err := parseHash(lc.WriteSetDigest)
	if err != nil {
		return err
	}
	claims, err := parseHash(lc.ClaimsDigest)
	if err != nil {
		return err
	}
	// The commit evidence is revealed only for committed transactions
	// and names its transaction; a receipt must not borrow another's.
	rest, ok := strings.CutPrefix(lc.CommitEvidence, "ce:"+id.String()+":")
	if !ok || len(rest) != 64 {
		return fmt.Errorf("%w: the commit evidence is not transaction %s's", ErrInvalid, id)
	}
	sig := &r.Signature
	if sig.Seqno <= id.Seqno {
		return fmt.Errorf("%w: signature at %d cannot cover seqno %d", ErrInvalid, sig.Seqno, id.Seqno)
	}
	if len(r.Proof) > 64 {
		return fmt.Errorf("%w: proof of %d hashes", ErrFormat, len(r.Proof))
	}
	proof := make([]merkle.Hash, len(r.Proof))
	for i, p := range r.Proof {
		if proof[i], err = parseHash(p); err != nil {
			return err
		}
	}
	root, err := sig.RootHash()
	if err != nil {
		return err
	}
	leaf := merkle.Leaf(ws, []byte(lc.CommitEvidence), claims)
	if !merkle.VerifyInclusion(id.Seqno-1, sig.Seqno-1, leaf, proof, root) {
		return fmt.Errorf("%w: the leaf is not under the signed root", ErrInvalid)
	}
	if len(r.ServiceEndorsements) > 8 {
		return fmt.Errorf("%w: %d service endorsements", ErrFormat, len(r.ServiceEndorsements))
	}
	var ends []*x509.Certificate
	for _, e := range r.ServiceEndorsements {
		c, err := identity.ParseCert([]byte(e))
		if err != nil {
			return fmt.Errorf("%w: a service endorsement: %v", ErrFormat, err)
		}
		ends = append(ends, c)
	}
	return sig.VerifyVia(service, ends)
}

func parseHash(s string) (merkle.Hash, error) {
	var h merkle.Hash
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(h) {
		return h, fmt.Errorf("%w: %q is not a hex SHA-256 hash", ErrFormat, s)
	}
	copy(h[:], b)
	return h, nil
}

// strict decodes JSON refusing unknown fields and trailing data.
func strict(b []byte, v any) error {
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrFormat, err)
	}
	if d.More() {
		return fmt.Errorf("%w: data after the JSON object", ErrFormat)
	}
	return nil
}
