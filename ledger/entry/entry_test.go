package entry_test

import (
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"sync"
	"testing"

	"github.com/confide/confide/ledger/entry"
	"github.com/confide/confide/ledger/merkle"
)

func secret(t testing.TB, b byte) *entry.Secret {
	s, err := entry.NewSecret(bytes.Repeat([]byte{b}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func sample() *entry.Entry {
	return &entry.Entry{TxID: entry.TxID{View: 2, Seqno: 41}, Flags: entry.FlagSignature, Writes: entry.WriteSet{
		"public:ccf.gov.nodes": {{Key: []byte("n1"), Value: []byte(`{"status":"Trusted"}`)}},
		"records":              {{Key: []byte("b"), Value: []byte("patient 7: diabetic")}, {Key: []byte("a"), Deleted: true}},
	}}
}

func TestRoundTrip(t *testing.T) {
	s := secret(t, 1)
	b, err := s.Encode(sample())
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("diabetic")) || !bytes.Contains(b, []byte("Trusted")) {
		t.Error("the private map is in clear, or the public one is not")
	}
	e, err := s.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if e.TxID != (entry.TxID{2, 41}) || e.Flags != entry.FlagSignature || len(e.Writes) != 2 ||
		string(e.Writes["records"][1].Value) != "patient 7: diabetic" || !e.Writes["records"][0].Deleted {
		t.Errorf("decoded %+v", e)
	}
	// Encoding is deterministic but for the GCM tag's key: same secret,
	// same bytes.
	b2, _ := s.Encode(sample())
	if !bytes.Equal(b, b2) {
		t.Error("two encodings differ")
	}
	h, err := entry.ParseHeader(b)
	if err != nil || h.TxID != (entry.TxID{2, 41}) || len(h.Public) != 1 {
		t.Errorf("header: %+v %v", h, err)
	}
}

func TestTamper(t *testing.T) {
	s := secret(t, 1)
	b, _ := s.Encode(sample())
	for i := range b {
		bad := bytes.Clone(b)
		bad[i] ^= 0x01
		if _, err := s.Decode(bad); err == nil {
			t.Fatalf("byte %d flipped: accepted", i)
		}
	}
	if _, err := secret(t, 2).Decode(b); !errors.Is(err, entry.ErrAuth) {
		t.Errorf("another ledger secret: %v", err)
	}
	// The private part of one entry under another's header fails.
	other := sample()
	other.TxID.Seqno = 42
	b2, _ := s.Encode(other)
	h1, _ := entry.ParseHeader(b)
	h2, _ := entry.ParseHeader(b2)
	moved := append(bytes.Clone(b[:len(b)-len(h1.Private)]), h2.Private...)
	if _, err := s.Decode(moved); !errors.Is(err, entry.ErrAuth) {
		t.Errorf("moved private part: %v", err)
	}
}

func TestRefusals(t *testing.T) {
	s := secret(t, 1)
	for _, e := range []*entry.Entry{
		{TxID: entry.TxID{0, 1}},
		{TxID: entry.TxID{1, 0}},
		{TxID: entry.TxID{1, 1}, Flags: 0x80},
		{TxID: entry.TxID{1, 1}, Writes: entry.WriteSet{"m": {{Key: []byte("k")}, {Key: []byte("k")}}}},
		{TxID: entry.TxID{1, 1}, Writes: entry.WriteSet{"": {{Key: []byte("k")}}}},
	} {
		if _, err := s.Encode(e); err == nil {
			t.Errorf("%+v encoded", e)
		}
	}
	if _, err := entry.NewSecret([]byte("short")); err == nil {
		t.Error("a short secret")
	}
	for _, bad := range []string{"", "1", "0.1", "1.0", "a.b", "1.2.3"} {
		if _, err := entry.ParseTxID(bad); err == nil {
			t.Errorf("txid %q accepted", bad)
		}
	}
	if id, err := entry.ParseTxID("3.17"); err != nil || id != (entry.TxID{3, 17}) || id.String() != "3.17" {
		t.Errorf("3.17: %v %v", id, err)
	}
}

func TestCommitEvidenceAndLeaf(t *testing.T) {
	s := secret(t, 1)
	a, b := s.CommitEvidence(entry.TxID{2, 41}), s.CommitEvidence(entry.TxID{2, 42})
	if a == b || a != s.CommitEvidence(entry.TxID{2, 41}) || a == secret(t, 2).CommitEvidence(entry.TxID{2, 41}) {
		t.Error("commit evidence is not a function of the secret and the ID")
	}
	e := sample()
	enc, _ := s.Encode(e)
	h, err := entry.ParseHeader(enc)
	if err != nil {
		t.Fatal(err)
	}
	want := merkle.Leaf(entry.Digest(enc), []byte(s.CommitEvidence(e.TxID)), merkle.Hash{})
	if h.Leaf(enc) != want || entry.LeafOf(enc, entry.Digest(enc)) != want {
		t.Error("the leaf from the header differs from the leaf of the commit evidence")
	}
	// The format of spec/ledger-entry.md, computed here from its parts:
	// the pooled HMACs must give it on every call, from any goroutine.
	key, err := hkdf.Key(sha256.New, bytes.Repeat([]byte{1}, 32), nil, "confide-ledger-v1 commit evidence", 32)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				id := entry.TxID{View: uint64(g + 1), Seqno: uint64(1e9 + i)}
				m := hmac.New(sha256.New, key)
				m.Write([]byte(id.String()))
				if ce, want := s.CommitEvidence(id), "ce:"+id.String()+":"+hex.EncodeToString(m.Sum(nil)); ce != want {
					t.Errorf("commit evidence %s, want %s", ce, want)
					return
				}
			}
		})
	}
	wg.Wait()
	// Claims enter the header and the leaf.
	e.Claims = merkle.Hash{9}
	enc2, _ := s.Encode(e)
	h2, _ := entry.ParseHeader(enc2)
	if h2.Claims != e.Claims || h2.Leaf(enc2) != merkle.Leaf(entry.Digest(enc2), []byte(s.CommitEvidence(e.TxID)), e.Claims) {
		t.Error("claims digest")
	}
	// A header whose commit evidence digest was changed fails to decode.
	enc2[30] ^= 1
	if _, err := s.Decode(enc2); err == nil {
		t.Error("decoded an entry with a changed commit evidence digest")
	}
}

func FuzzDecode(f *testing.F) {
	s := secret(f, 1)
	b, _ := s.Encode(sample())
	f.Add(b)
	f.Add([]byte("CFLE"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := entry.ParseHeader(b)
		if err != nil {
			return
		}
		e, err := s.Decode(b)
		if err != nil {
			return
		}
		// What decodes encodes back to the same bytes.
		again, err := s.Encode(e)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("%s does not re-encode: %v", h.TxID, err)
		}
	})
}
