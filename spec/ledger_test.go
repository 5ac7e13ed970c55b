package spec_test

import (
	"encoding/hex"
	"testing"

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
