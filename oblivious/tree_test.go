package oblivious

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// treeSpecials are feature values and thresholds where a float comparison
// can go wrong: signed zeros, infinities, NaNs of both signs,
// subnormals, the treeExtremes. Random trees and inputs draw from them often,
// so that equal values and the edge cases meet.
var treeSpecials = []float64{
	0, math.Copysign(0, -1), 1, -1, 0.5, 2,
	math.Inf(1), math.Inf(-1), math.NaN(), math.Float64frombits(0xfff8_0000_0000_0001),
	math.SmallestNonzeroFloat64, -math.SmallestNonzeroFloat64, math.MaxFloat64, -math.MaxFloat64,
}

func randTreeFloat(rng *rand.Rand) float64 {
	if rng.IntN(2) == 0 {
		return treeSpecials[rng.IntN(len(treeSpecials))]
	}
	return math.Round(rng.NormFloat64()*4) / 2 // small grid: ties with thresholds are common
}

// randTree returns a valid tree of depth at most maxDepth over features
// features. Nodes are numbered breadth-first or depth-first at random:
// both put children after parents, in different orders. vote makes leaf
// values class indexes below classes.
func randTree(rng *rand.Rand, features, maxDepth int, vote bool, classes int) Tree {
	type pending struct{ parent, depth int }
	t := Tree{}
	var queue []pending // slot, in the order children are numbered
	add := func(depth int) int {
		i := len(t)
		t = append(t, Node{})
		if depth < maxDepth && rng.IntN(4) != 0 {
			t[i] = Node{Feature: uint32(rng.IntN(features)), Threshold: randTreeFloat(rng)}
			queue = append(queue, pending{i, depth})
			return i
		}
		v := randTreeFloat(rng)
		if vote {
			v = float64(rng.IntN(classes))
		}
		t[i] = Node{Leaf: true, Left: uint32(i), Right: uint32(i), Value: v}
		return i
	}
	add(0)
	bfs := rng.IntN(2) == 0
	for len(queue) > 0 {
		var p pending
		if bfs {
			p, queue = queue[0], queue[1:]
		} else {
			p, queue = queue[len(queue)-1], queue[:len(queue)-1]
		}
		l := add(p.depth + 1)
		r := add(p.depth + 1)
		t[p.parent].Left, t[p.parent].Right = uint32(l), uint32(r)
	}
	return t
}

func randEnsemble(rng *rand.Rand, features, maxDepth, trees int) *Ensemble {
	e := &Ensemble{Base: randTreeFloat(rng)}
	if rng.IntN(3) == 0 {
		e.Aggregation, e.Classes, e.Base = Vote, 1+rng.IntN(4), 0
	}
	for range trees {
		e.Trees = append(e.Trees, randTree(rng, features, maxDepth, e.Aggregation == Vote, e.Classes))
	}
	return e
}

func randFeatures(rng *rand.Rand, features int) []float64 {
	x := make([]float64, features)
	for i := range x {
		x[i] = randTreeFloat(rng)
	}
	return x
}

// sameFloat reports whether a and b are the same float to the bit, signed
// zeros included, except that any two NaNs match: when a sum adds two
// NaNs, which payload survives depends on the order in which the
// compiler puts the operands of the commutative addition (seen to change
// with -race), and Go does not specify it.
func sameFloat(a, b float64) bool {
	return math.Float64bits(a) == math.Float64bits(b) || (math.IsNaN(a) && math.IsNaN(b))
}

// TestTreeDifferential compares both oblivious modes with the naive walk
// on random models and inputs; results must be identical to the bit.
func TestTreeDifferential(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for m := range 300 {
		features := 1 + rng.IntN(8)
		e := randEnsemble(rng, features, rng.IntN(7), 1+rng.IntN(5))
		if err := e.Validate(features); err != nil {
			t.Fatalf("model %d: random model invalid: %v", m, err)
		}
		pub, err := NewPublicModel(e, features)
		if err != nil {
			t.Fatal(err)
		}
		// A shape with room to spare: padding and extra levels must not
		// change a prediction.
		s := ShapeOf(e, features)
		s.Nodes += rng.IntN(3)
		s.Depth += rng.IntN(2)
		padded, err := Pad(e, s)
		if err != nil {
			t.Fatal(err)
		}
		if err := padded.Validate(features); err != nil {
			t.Fatalf("model %d: padded model invalid: %v", m, err)
		}
		sec, err := NewSecretModel(padded, s)
		if err != nil {
			t.Fatal(err)
		}
		for range 50 {
			x := randFeatures(rng, features)
			want := e.Predict(x)
			if got := pub.Predict(x); !sameFloat(got, want) {
				t.Fatalf("model %d %+v\ninput %v: public %v, naive %v", m, e, x, got, want)
			}
			if got := sec.Predict(x); !sameFloat(got, want) {
				t.Fatalf("model %d %+v\ninput %v: secret %v, naive %v", m, e, x, got, want)
			}
			if got := padded.Predict(x); !sameFloat(got, want) {
				t.Fatalf("model %d: padded naive %v, naive %v", m, got, want)
			}
		}
	}
}

// TestFloatLess checks the branch-free comparison against Go's < on
// every pair of special values and on random bit patterns.
func TestFloatLess(t *testing.T) {
	check := func(a, b float64) {
		t.Helper()
		if got, want := floatLess(a, b) == True, a < b; got != want || (floatLess(a, b) != True && floatLess(a, b) != False) {
			t.Fatalf("floatLess(%v [%#x], %v [%#x]) = %#x, want %v", a, math.Float64bits(a), b, math.Float64bits(b), uint64(floatLess(a, b)), want)
		}
	}
	for _, a := range treeSpecials {
		for _, b := range treeSpecials {
			check(a, b)
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 100000 {
		check(math.Float64frombits(rng.Uint64()), math.Float64frombits(rng.Uint64()))
	}
}

func TestVoteTies(t *testing.T) {
	leaf := func(v float64) Tree { return Tree{{Leaf: true, Value: v}} }
	for _, c := range []struct {
		votes   []float64
		classes int
		want    float64
	}{
		{[]float64{2, 1, 2, 1}, 3, 1}, // tie: lowest class
		{[]float64{2, 2, 1}, 3, 2},
		{[]float64{0}, 1, 0},
		{[]float64{1, 1, 0}, 2, 1},
	} {
		e := &Ensemble{Aggregation: Vote, Classes: c.classes}
		for _, v := range c.votes {
			e.Trees = append(e.Trees, leaf(v))
		}
		pub, err := NewPublicModel(e, 1)
		if err != nil {
			t.Fatal(err)
		}
		sec, err := NewSecretModel(e, ShapeOf(e, 1))
		if err != nil {
			t.Fatal(err)
		}
		x := []float64{0}
		for name, got := range map[string]float64{"naive": e.Predict(x), "public": pub.Predict(x), "secret": sec.Predict(x)} {
			if got != c.want {
				t.Errorf("%s vote of %v = %v, want %v", name, c.votes, got, c.want)
			}
		}
	}
}

func TestTreeValidate(t *testing.T) {
	leaf := func(i uint32) Node { return Node{Leaf: true, Left: i, Right: i} }
	split := func(l, r uint32) Node { return Node{Feature: 0, Left: l, Right: r} }
	for _, c := range []struct {
		name string
		tree Tree
		ok   bool
	}{
		{"single leaf", Tree{leaf(0)}, true},
		{"stump", Tree{split(1, 2), leaf(1), leaf(2)}, true},
		{"padding leaf", Tree{split(1, 2), leaf(1), leaf(2), leaf(3)}, true},
		{"children in any order", Tree{split(2, 1), leaf(1), leaf(2)}, true},
		{"empty", Tree{}, false},
		{"leaf not self-looping", Tree{split(1, 2), leaf(1), {Leaf: true, Left: 2, Right: 1}}, false},
		{"feature out of range", Tree{{Feature: 3, Left: 1, Right: 2}, leaf(1), leaf(2)}, false},
		{"child before parent", Tree{split(1, 2), split(0, 3), leaf(2), leaf(3)}, false},
		{"child is itself", Tree{split(0, 1), leaf(1)}, false},
		{"child out of range", Tree{split(1, 5), leaf(1)}, false},
		{"same children", Tree{split(1, 1), leaf(1)}, false},
		{"two levels", Tree{split(1, 2), split(3, 4), leaf(2), leaf(3), leaf(4)}, true},
		{"shared child", Tree{split(1, 2), split(2, 3), leaf(2), leaf(3)}, false},
		{"unreachable internal node", Tree{split(1, 2), leaf(1), leaf(2), split(4, 5), leaf(4), leaf(5)}, false},
	} {
		err := c.tree.Validate(3)
		if (err == nil) != c.ok {
			t.Errorf("%s: Validate = %v, want ok %v", c.name, err, c.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidModel) {
			t.Errorf("%s: %v does not wrap ErrInvalidModel", c.name, err)
		}
	}
}

func TestEnsembleValidate(t *testing.T) {
	stump := Tree{{Left: 1, Right: 2}, {Leaf: true, Left: 1, Right: 1, Value: 1}, {Leaf: true, Left: 2, Right: 2, Value: 0.5}}
	for _, c := range []struct {
		name string
		e    Ensemble
		ok   bool
	}{
		{"sum", Ensemble{Trees: []Tree{stump}}, true},
		{"no trees", Ensemble{}, false},
		{"unknown aggregation", Ensemble{Trees: []Tree{stump}, Aggregation: 7}, false},
		{"vote without classes", Ensemble{Trees: []Tree{stump}, Aggregation: Vote}, false},
		{"vote on a fraction", Ensemble{Trees: []Tree{stump}, Aggregation: Vote, Classes: 2}, false},
		{"vote beyond classes", Ensemble{Trees: []Tree{{{Leaf: true, Value: 1}}}, Aggregation: Vote, Classes: 1}, false},
		{"vote", Ensemble{Trees: []Tree{{{Leaf: true, Value: 1}}}, Aggregation: Vote, Classes: 2}, true},
	} {
		err := c.e.Validate(1)
		if (err == nil) != c.ok {
			t.Errorf("%s: Validate = %v, want ok %v", c.name, err, c.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidModel) {
			t.Errorf("%s: %v does not wrap ErrInvalidModel", c.name, err)
		}
		if _, err := NewPublicModel(&c.e, 1); (err == nil) != c.ok {
			t.Errorf("%s: NewPublicModel = %v, want ok %v", c.name, err, c.ok)
		}
	}
}

func TestShapeChecks(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	e := randEnsemble(rng, 4, 4, 3)
	for e.Trees[0].Depth() == 0 {
		e = randEnsemble(rng, 4, 4, 3)
	}
	s := ShapeOf(e, 4)
	for _, c := range []struct {
		name string
		s    Shape
	}{
		{"too few nodes", Shape{s.Trees, s.Nodes - 1, s.Depth, 4}},
		{"too shallow", Shape{s.Trees, s.Nodes, s.Depth - 1, 4}},
		{"wrong tree count", Shape{s.Trees + 1, s.Nodes, s.Depth, 4}},
	} {
		if _, err := Pad(e, c.s); !errors.Is(err, ErrInvalidModel) {
			t.Errorf("Pad with %s: %v", c.name, err)
		}
	}
	p, err := Pad(e, s)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		s    Shape
	}{
		{"other node count", Shape{s.Trees, s.Nodes + 1, s.Depth, 4}},
		{"other tree count", Shape{s.Trees - 1, s.Nodes, s.Depth, 4}},
		{"no features", Shape{s.Trees, s.Nodes, s.Depth, 0}},
		{"negative depth", Shape{s.Trees, s.Nodes, -1, 4}},
	} {
		if _, err := NewSecretModel(p, c.s); !errors.Is(err, ErrInvalidModel) {
			t.Errorf("NewSecretModel with %s: %v", c.name, err)
		}
	}
	sec, err := NewSecretModel(p, s)
	if err != nil {
		t.Fatal(err)
	}
	if sec.Shape() != s {
		t.Errorf("Shape() = %+v, want %+v", sec.Shape(), s)
	}
	// The feature count is public: a vector of another length is a
	// programming error, not a secret-dependent outcome.
	for name, f := range map[string]func(){
		"public": func() { mustPublic(t, e, 4).Predict(make([]float64, 3)) },
		"secret": func() { sec.Predict(make([]float64, 5)) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s Predict with the wrong feature count did not panic", name)
				}
			}()
			f()
		}()
	}
}

func mustPublic(t testing.TB, e *Ensemble, features int) *PublicModel {
	t.Helper()
	m, err := NewPublicModel(e, features)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestNodeIsRecord(t *testing.T) {
	if err := CheckRecord[Node](); err != nil {
		t.Fatal(err)
	}
}

// A clinic publishes its model; a patient's measurements stay secret.
func ExamplePublicModel() {
	// x[0] < 2.5 ? (x[1] < 0.1 ? 0.9 : 0.4) : 0.1
	tree := Tree{
		{Feature: 0, Threshold: 2.5, Left: 1, Right: 2},
		{Feature: 1, Threshold: 0.1, Left: 3, Right: 4},
		{Leaf: true, Left: 2, Right: 2, Value: 0.1},
		{Leaf: true, Left: 3, Right: 3, Value: 0.9},
		{Leaf: true, Left: 4, Right: 4, Value: 0.4},
	}
	m, err := NewPublicModel(&Ensemble{Trees: []Tree{tree}}, 2)
	if err != nil {
		panic(err)
	}
	fmt.Println(m.Predict([]float64{1.0, 0.05}), m.Predict([]float64{3.0, 0.05}))
	// Output: 0.9 0.1
}

// A vendor's model stays secret too: only its shape is public.
func ExampleSecretModel() {
	e := &Ensemble{Trees: []Tree{
		{{Feature: 1, Threshold: 10, Left: 1, Right: 2}, {Leaf: true, Left: 1, Right: 1, Value: -1}, {Leaf: true, Left: 2, Right: 2, Value: 1}},
		{{Leaf: true, Value: 0.25}},
	}, Base: 0.5}
	s := Shape{Trees: 2, Nodes: 3, Depth: 1, Features: 2}
	padded, err := Pad(e, s) // by the owner, before the model is secret
	if err != nil {
		panic(err)
	}
	m, err := NewSecretModel(padded, s)
	if err != nil {
		panic(err)
	}
	fmt.Println(m.Predict([]float64{0, 3}), m.Predict([]float64{0, 30}))
	// Output: -0.25 1.75
}
