//go:build obltrace

package oblivious

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/confide/confide/oblivious/trace"
)

// treeTrace records the accesses f makes.
func treeTrace(f func()) []trace.Event {
	r := trace.Start()
	f()
	trace.Stop()
	return r.Events
}

// treeExtremes returns inputs that go down opposite paths of any tree
// whose root is a split (all −Inf: left; all +Inf: right), which makes
// the naive walk's leak certain.
func treeExtremes(features int) (allLeft, allRight []float64) {
	allLeft, allRight = make([]float64, features), make([]float64, features)
	for i := range allLeft {
		allLeft[i], allRight[i] = math.Inf(-1), math.Inf(1)
	}
	return allLeft, allRight
}

// TestTreeTraces runs both oblivious modes on many pairs of different
// inputs and requires identical traces; the naive walk on the same
// models must leak (its traces differ on opposite paths).
func TestTreeTraces(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	naiveLeaks := 0
	for m := range 40 {
		features := 1 + rng.IntN(8)
		e := randEnsemble(rng, features, 1+rng.IntN(6), 1+rng.IntN(4))
		pub := mustPublic(t, e, features)
		s := ShapeOf(e, features)
		padded, err := Pad(e, s)
		if err != nil {
			t.Fatal(err)
		}
		sec, err := NewSecretModel(padded, s)
		if err != nil {
			t.Fatal(err)
		}
		left, right := treeExtremes(features)
		inputs := [][]float64{left, right}
		for range 20 {
			inputs = append(inputs, randFeatures(rng, features))
		}
		for _, mode := range []struct {
			name    string
			predict func([]float64) float64
		}{{"public", pub.Predict}, {"secret", sec.Predict}} {
			ref := treeTrace(func() { mode.predict(inputs[0]) })
			if len(ref) == 0 {
				t.Fatalf("%s: empty trace: hooks not recording", mode.name)
			}
			for i, x := range inputs[1:] {
				got := treeTrace(func() { mode.predict(x) })
				if d := trace.Diff(ref, got); d != "" {
					t.Fatalf("model %d %s: input %d leaks: %s", m, mode.name, i+1, d)
				}
			}
		}
		if !e.Trees[0][0].Leaf {
			a := treeTrace(func() { e.Predict(left) })
			b := treeTrace(func() { e.Predict(right) })
			if trace.Diff(a, b) == "" {
				t.Fatalf("model %d: naive traces of opposite paths are identical", m)
			}
			naiveLeaks++
		}
	}
	if naiveLeaks < 10 {
		t.Fatalf("only %d models showed the naive leak", naiveLeaks)
	}
}

// TestSecretModelTraces: two different models of the same shape, on
// different inputs, give identical traces in the secret mode — and
// different ones in the public mode, which does not hide the model.
func TestSecretModelTraces(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	const features = 6
	s := Shape{Trees: 3, Nodes: 40, Depth: 5, Features: features}
	newModel := func(vote bool) (*Ensemble, *SecretModel) {
		for {
			e := randEnsemble(rng, features, s.Depth, s.Trees)
			if vote {
				e.Aggregation, e.Classes, e.Base = Vote, 3, 0
				for k := range e.Trees {
					e.Trees[k] = randTree(rng, features, s.Depth, true, 3)
				}
			} else {
				e.Aggregation, e.Classes = Sum, 0
			}
			p, err := Pad(e, s)
			if err != nil {
				continue // larger than the shape: draw again
			}
			m, err := NewSecretModel(p, s)
			if err != nil {
				t.Fatal(err)
			}
			return e, m
		}
	}
	for _, vote := range []bool{false, true} {
		var ref []trace.Event
		var refPublic []trace.Event
		publicDiffers := false
		for k := range 20 {
			e, m := newModel(vote)
			x := randFeatures(rng, features)
			got := treeTrace(func() { m.Predict(x) })
			if k == 0 {
				ref = got
				refPublic = treeTrace(func() { mustPublic(t, e, features).Predict(x) })
				continue
			}
			if d := trace.Diff(ref, got); d != "" {
				t.Fatalf("vote %v: model %d leaks: %s", vote, k, d)
			}
			if trace.Diff(refPublic, treeTrace(func() { mustPublic(t, e, features).Predict(x) })) != "" {
				publicDiffers = true
			}
		}
		if !publicDiffers {
			t.Errorf("vote %v: public-mode traces of 20 different models are identical", vote)
		}
	}
}

// A complete model's trace is the same for every input.
func TestCompleteTraces(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	for m := range 20 {
		features := 1 + rng.IntN(40)
		cm, _ := randComplete(rng, 1+rng.IntN(MaxCompleteDepth), features, 1+rng.IntN(4))
		left, right := treeExtremes(features)
		ref := treeTrace(func() { cm.Predict(left) })
		if len(ref) == 0 {
			t.Fatal("empty trace")
		}
		for _, x := range [][]float64{right, randFeatures(rng, features), randFeatures(rng, features)} {
			if d := trace.Diff(ref, treeTrace(func() { cm.Predict(x) })); d != "" {
				t.Fatalf("model %d: %s", m, d)
			}
		}
	}
}
