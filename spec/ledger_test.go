package spec_test

import (
	"encoding/hex"
	"testing"

	"github.com/confide/confide/ledger/entry"
	"github.com/confide/confide/ledger/merkle"
)

type ledgerMerkleFile struct {
	fileHeader
	Leaves    []string `json:"leaves"`
	Roots     []string `json:"roots"`
	Inclusion []struct {
		Leaf  uint64   `json:"leaf"`
		Size  uint64   `json:"size"`
		Proof []string `json:"proof"`
	} `json:"inclusion"`
	Consistency []struct {
		First  uint64   `json:"first"`
		Second uint64   `json:"second"`
		Proof  []string `json:"proof"`
	} `json:"consistency"`
}

func hexHash(t *testing.T, s string) merkle.Hash {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		t.Fatalf("bad hash %q", s)
	}
	return merkle.Hash(b)
}

func runLedgerMerkle(t *testing.T, b []byte) int {
	var f ledgerMerkleFile
	decodeStrict(t, b, &f)
	f.fileHeader.check(t)
	tree := &merkle.Tree{}
	if tree.Root() != hexHash(t, f.Roots[0]) {
		t.Error("empty root")
	}
	for i, l := range f.Leaves {
		d, _ := hex.DecodeString(l)
		tree.Append(merkle.LeafHash(d))
		if got := tree.Root(); got != hexHash(t, f.Roots[i+1]) {
			t.Errorf("root of %d leaves: %x", i+1, got)
		}
	}
	for n := range f.Roots {
		if r, err := tree.RootAt(uint64(n)); err != nil || r != hexHash(t, f.Roots[n]) {
			t.Errorf("root at %d: %x %v", n, r, err)
		}
	}
	proof := func(ss []string) []merkle.Hash {
		var out []merkle.Hash
		for _, s := range ss {
			out = append(out, hexHash(t, s))
		}
		return out
	}
	for _, v := range f.Inclusion {
		want := proof(v.Proof)
		got, err := tree.InclusionProof(v.Leaf-1, v.Size)
		if err != nil || len(got) != len(want) {
			t.Errorf("inclusion %d/%d: %x %v", v.Leaf, v.Size, got, err)
			continue
		}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("inclusion %d/%d step %d: %x", v.Leaf, v.Size, i, got[i])
			}
		}
		leaf, _ := tree.Leaf(v.Leaf - 1)
		if !merkle.VerifyInclusion(v.Leaf-1, v.Size, leaf, want, hexHash(t, f.Roots[v.Size])) {
			t.Errorf("inclusion %d/%d does not verify", v.Leaf, v.Size)
		}
	}
	for _, v := range f.Consistency {
		want := proof(v.Proof)
		got, err := tree.ConsistencyProof(v.First, v.Second)
		if err != nil || len(got) != len(want) {
			t.Errorf("consistency %d→%d: %x %v", v.First, v.Second, got, err)
			continue
		}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("consistency %d→%d step %d: %x", v.First, v.Second, i, got[i])
			}
		}
		if !merkle.VerifyConsistency(v.First, v.Second, want, hexHash(t, f.Roots[v.First]), hexHash(t, f.Roots[v.Second])) {
			t.Errorf("consistency %d→%d does not verify", v.First, v.Second)
		}
	}
	return len(f.Roots) + len(f.Inclusion) + len(f.Consistency)
}

type ledgerEntryFile struct {
	fileHeader
	Vectors []struct {
		Secret         string                  `json:"secret"`
		TxID           string                  `json:"txid"`
		Flags          uint8                   `json:"flags"`
		Public         map[string][][2]*string `json:"public"`
		Private        map[string][][2]*string `json:"private"`
		Encoded        string                  `json:"encoded"`
		Digest         string                  `json:"digest"`
		Claims         string                  `json:"claims"`
		CommitEvidence string                  `json:"commit_evidence"`
		Leaf           string                  `json:"leaf"`
	} `json:"vectors"`
}

func runLedgerEntry(t *testing.T, b []byte) int {
	var f ledgerEntryFile
	decodeStrict(t, b, &f)
	f.fileHeader.check(t)
	for _, v := range f.Vectors {
		sec, _ := hex.DecodeString(v.Secret)
		s, err := entry.NewSecret(sec)
		if err != nil {
			t.Fatal(err)
		}
		id, err := entry.ParseTxID(v.TxID)
		if err != nil {
			t.Fatal(err)
		}
		e := &entry.Entry{TxID: id, Flags: v.Flags, Writes: entry.WriteSet{}, Claims: hexHash(t, v.Claims)}
		for _, part := range []map[string][][2]*string{v.Public, v.Private} {
			for name, ws := range part {
				for _, w := range ws {
					if w[1] == nil {
						e.Writes[name] = append(e.Writes[name], entry.Write{Key: []byte(*w[0]), Deleted: true})
					} else {
						e.Writes[name] = append(e.Writes[name], entry.Write{Key: []byte(*w[0]), Value: []byte(*w[1])})
					}
				}
			}
		}
		enc, err := s.Encode(e)
		if err != nil || hex.EncodeToString(enc) != v.Encoded {
			t.Errorf("%s: encoded %x %v", v.TxID, enc, err)
		}
		want, _ := hex.DecodeString(v.Encoded)
		if _, err := s.Decode(want); err != nil {
			t.Errorf("%s: decode: %v", v.TxID, err)
		}
		if d := entry.Digest(want); hex.EncodeToString(d[:]) != v.Digest {
			t.Errorf("%s: digest %x", v.TxID, d)
		}
		if ce := s.CommitEvidence(id); ce != v.CommitEvidence {
			t.Errorf("%s: commit evidence %s", v.TxID, ce)
		}
		// The leaf by its definition, and from the entry's bytes alone.
		if l := merkle.Leaf(entry.Digest(want), []byte(v.CommitEvidence), e.Claims); hex.EncodeToString(l[:]) != v.Leaf {
			t.Errorf("%s: leaf %x", v.TxID, l)
		}
		if h, err := entry.ParseHeader(want); err != nil || h.Leaf(want) != hexHash(t, v.Leaf) {
			t.Errorf("%s: leaf from the header: %v", v.TxID, err)
		}
	}
	return len(f.Vectors)
}
