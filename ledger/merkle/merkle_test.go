package merkle_test

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/confide/confide/ledger/merkle"
)

// naive is the tree hash by its definition, for checking.
func naive(leaves []merkle.Hash) merkle.Hash {
	switch len(leaves) {
	case 0:
		return merkle.EmptyRoot
	case 1:
		return leaves[0]
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	return merkle.NodeHash(naive(leaves[:k]), naive(leaves[k:]))
}

func build(n int) (*merkle.Tree, []merkle.Hash) {
	t := &merkle.Tree{}
	var leaves []merkle.Hash
	for i := range n {
		l := merkle.LeafHash(binary.BigEndian.AppendUint64(nil, uint64(i)))
		leaves = append(leaves, l)
		t.Append(l)
	}
	return t, leaves
}

func TestProofsEverywhere(t *testing.T) {
	tree, leaves := build(70)
	for n := 1; n <= len(leaves); n++ {
		root, err := tree.RootAt(uint64(n))
		if err != nil || root != naive(leaves[:n]) {
			t.Fatalf("root at %d", n)
		}
		for i := range n {
			p, err := tree.InclusionProof(uint64(i), uint64(n))
			if err != nil || !merkle.VerifyInclusion(uint64(i), uint64(n), leaves[i], p, root) {
				t.Fatalf("inclusion %d/%d", i, n)
			}
			// Another leaf, index or size fails.
			other := leaves[(i+1)%n]
			if n > 1 && merkle.VerifyInclusion(uint64(i), uint64(n), other, p, root) {
				t.Fatalf("inclusion %d/%d accepts another leaf", i, n)
			}
			if len(p) > 0 {
				bad := append([]merkle.Hash(nil), p...)
				bad[len(bad)-1][0] ^= 1
				if merkle.VerifyInclusion(uint64(i), uint64(n), leaves[i], bad, root) {
					t.Fatalf("inclusion %d/%d accepts a tampered proof", i, n)
				}
				if merkle.VerifyInclusion(uint64(i), uint64(n), leaves[i], p[:len(p)-1], root) {
					t.Fatalf("inclusion %d/%d accepts a short proof", i, n)
				}
			}
		}
		for m := 1; m <= n; m++ {
			first, _ := tree.RootAt(uint64(m))
			p, err := tree.ConsistencyProof(uint64(m), uint64(n))
			if err != nil || !merkle.VerifyConsistency(uint64(m), uint64(n), p, first, root) {
				t.Fatalf("consistency %d→%d", m, n)
			}
			if m < n {
				bad := first
				bad[0] ^= 1
				if merkle.VerifyConsistency(uint64(m), uint64(n), p, bad, root) {
					t.Fatalf("consistency %d→%d accepts another first root", m, n)
				}
			}
		}
	}
	if _, err := tree.InclusionProof(70, 70); err == nil {
		t.Error("proof for a leaf beyond the tree")
	}
	if _, err := tree.ConsistencyProof(0, 5); err == nil {
		t.Error("consistency from size 0")
	}
}

func TestLeaf(t *testing.T) {
	var ws, claims merkle.Hash
	ws[0], claims[31] = 1, 2
	a := merkle.Leaf(ws, []byte("evidence"), claims)
	if a == merkle.Leaf(ws, []byte("evidencf"), claims) || a == merkle.Leaf(ws, []byte("evidence"), merkle.Hash{}) {
		t.Error("the leaf does not depend on its parts")
	}
}

func FuzzVerify(f *testing.F) {
	tree, leaves := build(13)
	root := tree.Root()
	p, _ := tree.InclusionProof(5, 13)
	var seed []byte
	for _, h := range p {
		seed = append(seed, h[:]...)
	}
	f.Add(uint64(5), uint64(13), seed)
	f.Add(uint64(0), uint64(0), []byte{})
	f.Fuzz(func(t *testing.T, index, size uint64, raw []byte) {
		var proof []merkle.Hash
		for len(raw) >= 32 {
			proof = append(proof, merkle.Hash(raw[:32]))
			raw = raw[32:]
		}
		if merkle.VerifyInclusion(index, size, leaves[index%13], proof, root) && index >= size {
			t.Fatalf("accepted leaf %d of %d", index, size)
		}
		merkle.VerifyConsistency(index, size, proof, root, root)
	})
}

func BenchmarkAppend(b *testing.B) {
	tree := &merkle.Tree{}
	var h merkle.Hash
	for b.Loop() {
		h[0]++
		tree.Append(h)
	}
}

func BenchmarkProof(b *testing.B) {
	tree, _ := build(1 << 16)
	r := rand.New(rand.NewPCG(1, 2))
	for b.Loop() {
		tree.InclusionProof(r.Uint64N(1<<16), 1<<16)
	}
}

func TestTruncate(t *testing.T) {
	tree, leaves := build(45)
	for _, n := range []uint64{45, 44, 33, 32, 31, 17, 1, 0} {
		if err := tree.Truncate(n); err != nil {
			t.Fatal(err)
		}
		if tree.Size() != n || tree.Root() != naive(leaves[:n]) {
			t.Fatalf("after truncating to %d: size %d, wrong root", n, tree.Size())
		}
		// Growing again from there gives the same tree as building it.
		for i := n; i < 45; i++ {
			tree.Append(leaves[i])
		}
		if tree.Root() != naive(leaves) {
			t.Fatalf("regrown from %d: wrong root", n)
		}
		tree.Truncate(n)
	}
	if err := tree.Truncate(1); err == nil {
		t.Error("truncating beyond the tree")
	}
}
