package oblivious

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

// randComplete is a random complete model and the same trees as an
// Ensemble, for the reference walk.
func randComplete(rng *rand.Rand, depth, features, trees int) (*CompleteModel, *Ensemble) {
	splits := 1<<depth - 1
	e := &Ensemble{Aggregation: Sum, Base: randTreeFloat(rng)}
	var fs [][]uint32
	var ts, ls [][]float64
	for range trees {
		f, th, lv := make([]uint32, splits), make([]float64, splits), make([]float64, 1<<depth)
		tr := make(Tree, splits+len(lv))
		for j := range splits {
			f[j], th[j] = uint32(rng.IntN(features)), randTreeFloat(rng)
			for math.IsNaN(th[j]) { // not allowed in a complete model
				th[j] = randTreeFloat(rng)
			}
			tr[j] = Node{Feature: f[j], Threshold: th[j], Left: uint32(2*j + 1), Right: uint32(2*j + 2)}
		}
		for k := range lv {
			lv[k] = randTreeFloat(rng)
			tr[splits+k] = Node{Leaf: true, Value: lv[k], Left: uint32(splits + k), Right: uint32(splits + k)}
		}
		fs, ts, ls = append(fs, f), append(ts, th), append(ls, lv)
		e.Trees = append(e.Trees, tr)
	}
	m, err := NewCompleteModel(depth, features, e.Base, fs, ts, ls)
	if err != nil {
		panic(err)
	}
	return m, e
}

// A complete model predicts what the reference walk predicts, to the bit.
func TestCompleteDifferential(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for m := range 200 {
		depth, features := 1+rng.IntN(MaxCompleteDepth), 1+rng.IntN(40)
		cm, e := randComplete(rng, depth, features, 1+rng.IntN(5))
		if err := e.Validate(features); err != nil {
			t.Fatalf("model %d: %v", m, err)
		}
		for range 50 {
			x := randFeatures(rng, features)
			if got, want := cm.Predict(x), e.Predict(x); !sameFloat(got, want) {
				t.Fatalf("model %d depth %d: input %v: %v, reference %v", m, depth, x, got, want)
			}
		}
	}
	if _, err := NewCompleteModel(MaxCompleteDepth+1, 3, 0, nil, nil, nil); err == nil {
		t.Error("depth 11 accepted")
	}
	if _, err := NewCompleteModel(2, 3, 0, [][]uint32{{0, 1}}, [][]float64{{0, 1, 2}}, [][]float64{{0, 0, 0, 0}}); err == nil {
		t.Error("a tree of the wrong size accepted")
	}
}

// Complete expands trees of any shape and predicts what the reference
// walk predicts, to the bit; it refuses what it cannot hold.
func TestComplete(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for m := range 200 {
		features := 1 + rng.IntN(20)
		e := randEnsemble(rng, features, 1+rng.IntN(MaxCompleteDepth), 1+rng.IntN(5))
		if e.Aggregation != Sum {
			continue
		}
		cm, err := Complete(e, features)
		if err != nil {
			t.Fatalf("model %d: %v", m, err)
		}
		for range 50 {
			x := randFeatures(rng, features)
			if got, want := cm.Predict(x), e.Predict(x); !sameFloat(got, want) {
				t.Fatalf("model %d: input %v: %v, reference %v", m, x, got, want)
			}
		}
	}
	deep := randEnsemble(rng, 3, MaxCompleteDepth+3, 1)
	for deep.Trees[0].Depth() <= MaxCompleteDepth {
		deep = randEnsemble(rng, 3, MaxCompleteDepth+3, 1)
	}
	if _, err := Complete(deep, 3); !errors.Is(err, ErrInvalidModel) {
		t.Errorf("depth %d: %v", deep.Trees[0].Depth(), err)
	}
	vote := &Ensemble{Trees: []Tree{{{Leaf: true, Value: 1}}}, Aggregation: Vote, Classes: 2}
	if _, err := Complete(vote, 3); !errors.Is(err, ErrInvalidModel) {
		t.Errorf("a vote: %v", err)
	}
}
