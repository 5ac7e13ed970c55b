package oblivious

import (
	"fmt"
	"math"
)

// CompleteModel predicts with a secret model whose trees are complete —
// every leaf at the same depth D, as oblivious training grows them — so
// that the shape is public and only the splits' features and thresholds
// and the leaves' values are secret. Every tree is walked root to leaf,
// D steps whatever the row: at level d the row's node is secret, so its
// feature and threshold are read at cache-line granularity from the
// level's 2^d nodes (ReadLine64: eight nodes a line), then the row's
// value for that feature the same way, then the leaf's value from the
// 2^D leaves. Per tree that is Σ_d 2·⌈2^d/8⌉ + D·⌈features/8⌉ + 2^D/8
// line reads (62 at depth 6 and 28 features), where SecretModel scans
// every node and feature at every level and evaluating every split (as
// QuickScorer does, with public leaf masks) reads the row 2^D − 1 times.
//
// A tree is D levels of splits in breadth-first order (2^D − 1), then
// 2^D leaf values left to right; a split sends x left when x < its
// threshold (Go's <: NaN goes right); thresholds are not NaN. D is at
// most MaxCompleteDepth.
type CompleteModel struct {
	depth, features int
	base            float64
	trees           []completeTree
}

// MaxCompleteDepth bounds a CompleteModel's depth (1,024 leaves a tree).
const MaxCompleteDepth = 10

type completeTree struct {
	// Per level, its nodes' features and thresholds' keys (−0 made +0),
	// each level on whole lines.
	feature [][]uint64 // secret
	tkey    [][]uint64 // secret
	leaves  []float64  // secret, on whole lines
}

// NewCompleteModel makes a model of depth D ≤ MaxCompleteDepth over the
// given number of features: per tree, 2^D − 1 split features and
// thresholds and 2^D leaf values; the prediction is base plus the trees'
// leaves. Only the sizes are checked (they are public): a feature out of
// range reads 0.
func NewCompleteModel(depth, features int, base float64, feature [][]uint32, threshold, leaves [][]float64) (*CompleteModel, error) {
	if depth < 1 || depth > MaxCompleteDepth || features < 1 || len(feature) != len(threshold) || len(feature) != len(leaves) {
		return nil, fmt.Errorf("oblivious: complete model: depth %d, %d features, %d/%d/%d trees: %w", depth, features, len(feature), len(threshold), len(leaves), ErrInvalidModel)
	}
	splits := 1<<depth - 1
	m := &CompleteModel{depth: depth, features: features, base: base}
	for k := range feature {
		if len(feature[k]) != splits || len(threshold[k]) != splits || len(leaves[k]) != 1<<depth {
			return nil, fmt.Errorf("oblivious: complete model: tree %d has the wrong sizes: %w", k, ErrInvalidModel)
		}
		t := completeTree{leaves: AlignedFloats(1 << depth)}
		copy(t.leaves, leaves[k])
		for d := range depth {
			first, n := 1<<d-1, 1<<d
			fs, ks := AlignedUint64s(n), AlignedUint64s(n)
			for j := range n {
				fs[j] = uint64(feature[k][first+j])
				ks[j] = thresholdKey(threshold[k][first+j])
			}
			t.feature, t.tkey = append(t.feature, fs), append(t.tkey, ks)
		}
		m.trees = append(m.trees, t)
	}
	return m, nil
}

// thresholdKey is the key a threshold is compared by: FloatKey's formula
// on t + 0 (−0 made +0), inline, since the thresholds are the model
// owner's to convert (FloatKey declares its argument secret, which would
// make the leak checker follow every threshold as a new secret). Branch-
// free; a NaN threshold is not allowed (its key would not say "nothing is
// less").
func thresholdKey(t float64) uint64 {
	b := math.Float64bits(t + 0)
	return b ^ (uint64(int64(b)>>63) | 1<<63)
}

// Predict returns the model's prediction for x. Public parameters: the
// depth, the number of trees and of features (len(x) must match).
// Granularity: element for the model, read in order, and the leaves;
// 64-byte cache line for the feature each split reads. Safe for
// concurrent use.
//
//confide:oblivious
//confide:secret x
func (m *CompleteModel) Predict(x []float64) float64 {
	if len(x) != m.features {
		panic(fmt.Sprintf("oblivious: %d features for a model of %d", len(x), m.features))
	}
	xk := AlignedUint64s(len(x)) // lines must be the hardware's
	for f, v := range x {
		v += 0
		b := math.Float64bits(v)
		nan := Gt(b<<1, 0x7ff0_0000_0000_0000<<1)
		xk[f] = Select(nan, ^uint64(0), FloatKey(v))
	}
	sum := m.base
	for i := range m.trees {
		sum += m.predictTree(&m.trees[i], xk)
	}
	return sum
}

//confide:oblivious
//confide:secret t xk
func (m *CompleteModel) predictTree(t *completeTree, xk []uint64) float64 {
	var p uint64 // the row's node within its level
	for d := range m.depth {
		f := ReadLine64(t.feature[d], p)
		right := Lt(ReadLine64(xk, f), ReadLine64(t.tkey[d], p)).Not().Bit()
		p = 2*p + right
	}
	return ReadLineFloat(t.leaves, p)
}

// Complete makes a CompleteModel of a valid Sum ensemble of any shape:
// every tree is expanded to a complete one as deep as the deepest (at
// least 1), a leaf above that depth becoming splits over copies of its
// value (feature 0, threshold +Inf: whichever way a row goes, it reaches
// the same value), so the predictions do not change. The depth is then
// all the model's trace shows of its trees' shapes (a SecretModel's
// Shape shows their sizes too), at a cost of 2^D leaves a tree. Like
// Pad, it is for the model's owner: it branches on the model.
func Complete(e *Ensemble, features int) (*CompleteModel, error) {
	if err := e.Validate(features); err != nil {
		return nil, err
	}
	if e.Aggregation != Sum {
		return nil, fmt.Errorf("oblivious: complete model: only a sum of trees: %w", ErrInvalidModel)
	}
	depth := max(1, ShapeOf(e, features).Depth)
	if depth > MaxCompleteDepth {
		return nil, fmt.Errorf("oblivious: complete model: depth %d, at most %d: %w", depth, MaxCompleteDepth, ErrInvalidModel)
	}
	splits := 1<<depth - 1
	var fs [][]uint32
	var ts, ls [][]float64
	for _, t := range e.Trees {
		f, th, lv := make([]uint32, splits), make([]float64, splits), make([]float64, 1<<depth)
		var fill func(node uint32, j int)
		fill = func(node uint32, j int) {
			n := t[node]
			switch {
			case j >= splits:
				lv[j-splits] = n.Value
				return
			case n.Leaf:
				th[j] = math.Inf(1)
				fill(node, 2*j+1)
				fill(node, 2*j+2)
				return
			}
			f[j], th[j] = n.Feature, n.Threshold
			if math.IsNaN(n.Threshold) {
				th[j] = math.Inf(-1) // nothing is below either: every row goes right
			}
			fill(n.Left, 2*j+1)
			fill(n.Right, 2*j+2)
		}
		fill(0, 0)
		fs, ts, ls = append(fs, f), append(ts, th), append(ls, lv)
	}
	return NewCompleteModel(depth, features, e.Base, fs, ts, ls)
}
