package oblivious

import (
	"math/rand/v2"
	"testing"
)

type allocRec struct{ G, V uint64 }

func (r allocRec) Key() uint64   { return r.G }
func (r allocRec) Group() uint64 { return r.G }
func (r allocRec) Value() uint64 { return r.V }

// Allocations are counted: the allocator and the garbage collector see
// sizes and counts, so they must not depend on secrets. Each primitive
// runs on two inputs that differ in every secret (values, keys, groups,
// masks, indexes) with the same public lengths, and must allocate the
// same number of times.
func TestAllocationsIndependentOfSecrets(t *testing.T) {
	const n = 257
	rng := rand.New(rand.NewPCG(3, 4))
	inputs := func(groups uint64) []allocRec {
		rs := make([]allocRec, n)
		for i := range rs {
			rs[i] = allocRec{G: rng.Uint64N(groups), V: rng.Uint64()}
		}
		return rs
	}
	a, b := inputs(2), inputs(1<<40) // few groups vs all distinct
	keepA, keepB := make([]Mask, n), make([]Mask, n)
	for i := range keepB {
		keepB[i] = True // keep all vs keep none
	}
	buf := make([]allocRec, n)
	o, err := NewORAM[allocRec](1000, rand.NewChaCha8([32]byte{1}))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		run  func(in []allocRec, keep []Mask, idx uint64)
	}{
		{"Sort", func(in []allocRec, _ []Mask, _ uint64) { copy(buf, in); Sort(buf) }},
		{"Compact", func(in []allocRec, keep []Mask, _ uint64) { copy(buf, in); Compact(buf, keep) }},
		{"Aggregate", func(in []allocRec, _ []Mask, _ uint64) { Aggregate(in) }},
		{"Read", func(in []allocRec, _ []Mask, idx uint64) { Read(in, idx) }},
		{"Write", func(in []allocRec, _ []Mask, idx uint64) { copy(buf, in); Write(buf, idx, in[0]) }},
		{"ORAM", func(in []allocRec, _ []Mask, idx uint64) { o.Write(idx, in[1]); o.Read(idx / 2) }},
	}
	for _, c := range cases {
		na := testing.AllocsPerRun(20, func() { c.run(a, keepA, 3) })
		nb := testing.AllocsPerRun(20, func() { c.run(b, keepB, 1<<40) })
		if na != nb {
			t.Errorf("%s: %v allocations on one secret, %v on another", c.name, na, nb)
		}
	}
}
