package oblivious

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/confide/confide/oblivious/trace"
)

// CompleteModel predicts with a secret model whose trees are complete —
// every leaf at the same depth D, as oblivious training grows them — so
// that the shape is public and only the splits' features and thresholds
// and the leaves' values are secret. That makes QuickScorer's leaf masks
// public (a split's left subtree is a fixed range of leaves), and each
// split costs one read of the row's feature at a secret index, made at
// cache-line granularity (ReadLine64), instead of SecretModel's scans of
// every node and feature at every level.
//
// A tree is D levels of splits in breadth-first order (2^D − 1), then
// 2^D leaf values left to right; a split sends x left when x < its
// threshold (Go's <: NaN goes right); thresholds are not NaN. D is at
// most 6 (64 leaves, one mask word).
type CompleteModel struct {
	depth, features int
	base            float64
	trees           []completeTree
	keep            []uint64 // per split: the leaves a right turn keeps
}

type completeTree struct {
	feature []uint64 // secret
	tkey    []uint64 // secret: the thresholds' keys (−0 made +0)
	leaves  []float64
}

// NewCompleteModel makes a model of depth D ≤ 6 over the given number of
// features: per tree, 2^D − 1 split features and thresholds and 2^D leaf
// values; the prediction is base plus the trees' leaves. Only the sizes
// are checked (they are public): a feature out of range reads 0.
func NewCompleteModel(depth, features int, base float64, feature [][]uint32, threshold, leaves [][]float64) (*CompleteModel, error) {
	if depth < 1 || depth > 6 || features < 1 || len(feature) != len(threshold) || len(feature) != len(leaves) {
		return nil, fmt.Errorf("oblivious: complete model: depth %d, %d features, %d/%d/%d trees: %w", depth, features, len(feature), len(threshold), len(leaves), ErrInvalidModel)
	}
	splits := 1<<depth - 1
	m := &CompleteModel{depth: depth, features: features, base: base, keep: make([]uint64, splits)}
	for j := range splits {
		// Node j at level d, position p: its left subtree holds leaves
		// [p·2^(D−d), p·2^(D−d) + 2^(D−d−1)).
		d := 0
		for (1<<(d+1))-1 <= j {
			d++
		}
		p := j - (1<<d - 1)
		width := 1 << (depth - d)
		left := (uint64(1)<<(width/2) - 1) << (p * width)
		m.keep[j] = ^left
	}
	for k := range feature {
		if len(feature[k]) != splits || len(threshold[k]) != splits || len(leaves[k]) != 1<<depth {
			return nil, fmt.Errorf("oblivious: complete model: tree %d has the wrong sizes: %w", k, ErrInvalidModel)
		}
		t := completeTree{feature: make([]uint64, splits), tkey: make([]uint64, splits), leaves: append([]float64(nil), leaves[k]...)}
		for j := range splits {
			t.feature[j] = uint64(feature[k][j])
			t.tkey[j] = thresholdKey(threshold[k][j])
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
	fs := unsafe.Pointer(unsafe.SliceData(t.feature))
	leaves := unsafe.Pointer(unsafe.SliceData(t.leaves))
	base := unsafe.Pointer(unsafe.SliceData(xk))
	lines := len(xk) / LineFloats
	mask := ^uint64(0)
	for j, f := range t.feature {
		trace.Access(trace.OpRead, fs, j)
		// ReadLine64(xk, f), inline: every line of the row's keys, the
		// feature's offset within each. (Called, it cost a quarter more:
		// the call is not inlined and sits in the innermost loop.)
		p := unsafe.Add(base, uintptr(f%LineFloats)*8)
		target := f / LineFloats
		var key uint64
		l := 0
		for ; l+4 <= lines; l += 4 {
			trace.LineAccess(trace.OpRead, base, l)
			trace.LineAccess(trace.OpRead, base, l+1)
			trace.LineAccess(trace.OpRead, base, l+2)
			trace.LineAccess(trace.OpRead, base, l+3)
			q := (*[25]uint64)(p)
			key |= q[0]&lineMask(uint64(l), target) | q[8]&lineMask(uint64(l+1), target) |
				q[16]&lineMask(uint64(l+2), target) | q[24]&lineMask(uint64(l+3), target)
			p = unsafe.Add(p, 256)
		}
		for ; l < lines; l++ {
			trace.LineAccess(trace.OpRead, base, l)
			key |= *(*uint64)(p) & lineMask(uint64(l), target)
			p = unsafe.Add(p, 64)
		}
		mask &= m.keep[j] | uint64(Lt(key, t.tkey[j]))
	}
	one := mask & -mask
	var v uint64
	for k, lv := range t.leaves {
		trace.Access(trace.OpRead, leaves, k)
		v |= math.Float64bits(lv) & -(one >> k & 1)
	}
	return math.Float64frombits(v)
}
