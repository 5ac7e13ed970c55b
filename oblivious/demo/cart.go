package demo

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/confide/confide/oblivious"
)

// CART is a classification tree learner: Breiman's CART with Gini
// impurity, binary splits "feature < threshold" at midpoints between
// consecutive distinct values. It is here to obtain a small real tree
// without Python; it is ordinary, leaky code (training is not the
// demo's subject).
type CART struct {
	MaxDepth int // deepest level grown; the root is level 0
	MinLeaf  int // fewest training rows in a leaf (at least 1)
}

// ErrNoData is returned when there is nothing to train on.
var ErrNoData = errors.New("demo: no training rows")

// Train grows a tree on the given rows of d. Leaf values are class
// indexes, so the tree fits an oblivious.Ensemble with Vote. Nodes are
// numbered in pre-order, which puts children after their parent as the
// model format requires. Ties (between features, thresholds or classes)
// go to the lowest index, so training is deterministic.
func (c CART) Train(d *Dataset, rows []int) (oblivious.Tree, error) {
	if len(rows) == 0 {
		return nil, ErrNoData
	}
	if c.MaxDepth < 0 || c.MinLeaf < 1 {
		return nil, fmt.Errorf("demo: CART with depth %d and minimum leaf %d", c.MaxDepth, c.MinLeaf)
	}
	g := grower{cfg: c, d: d}
	g.grow(slices.Clone(rows), 0)
	return g.nodes, nil
}

type grower struct {
	cfg   CART
	d     *Dataset
	nodes oblivious.Tree
}

func (g *grower) counts(rows []int) []int {
	n := make([]int, len(g.d.Classes))
	for _, r := range rows {
		n[g.d.Y[r]]++
	}
	return n
}

func gini(counts []int, n int) float64 {
	if n == 0 {
		return 0
	}
	s := 1.0
	for _, c := range counts {
		p := float64(c) / float64(n)
		s -= p * p
	}
	return s
}

func (g *grower) grow(rows []int, depth int) uint32 {
	i := uint32(len(g.nodes))
	counts := g.counts(rows)
	leaf := oblivious.Node{Leaf: true, Left: i, Right: i, Value: float64(argmax(counts))}
	g.nodes = append(g.nodes, leaf)
	if depth >= g.cfg.MaxDepth {
		return i
	}
	feature, threshold, ok := g.bestSplit(rows, gini(counts, len(rows)))
	if !ok {
		return i
	}
	var left, right []int
	for _, r := range rows {
		if g.d.X[r][feature] < threshold {
			left = append(left, r)
		} else {
			right = append(right, r)
		}
	}
	l := g.grow(left, depth+1)
	r := g.grow(right, depth+1)
	if g.nodes[l].Leaf && g.nodes[r].Leaf && g.nodes[l].Value == g.nodes[r].Value {
		g.nodes = g.nodes[:i+1] // the split changes no prediction
		return i
	}
	g.nodes[i] = oblivious.Node{Feature: uint32(feature), Threshold: threshold, Left: l, Right: r}
	return i
}

// bestSplit returns the split of rows with the lowest weighted Gini
// impurity, if it is below the parent's and leaves MinLeaf rows a side.
func (g *grower) bestSplit(rows []int, parent float64) (feature int, threshold float64, ok bool) {
	n := len(rows)
	best := parent
	sorted := slices.Clone(rows)
	left := make([]int, len(g.d.Classes))
	right := make([]int, len(g.d.Classes))
	for f := range g.d.Features {
		slices.SortStableFunc(sorted, func(a, b int) int {
			return cmpFloat(g.d.X[a][f], g.d.X[b][f])
		})
		clear(left)
		copy(right, g.counts(sorted))
		for k := 0; k < n-1; k++ {
			y := g.d.Y[sorted[k]]
			left[y]++
			right[y]--
			lo, hi := g.d.X[sorted[k]][f], g.d.X[sorted[k+1]][f]
			nl := k + 1
			if lo == hi || nl < g.cfg.MinLeaf || n-nl < g.cfg.MinLeaf {
				continue
			}
			imp := (float64(nl)*gini(left, nl) + float64(n-nl)*gini(right, n-nl)) / float64(n)
			if imp < best-1e-12 {
				t := lo + (hi-lo)/2
				if t <= lo { // adjacent floats: the midpoint rounds down
					t = hi
				}
				best, feature, threshold, ok = imp, f, t, true
			}
		}
	}
	return feature, threshold, ok
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func argmax(counts []int) int {
	best := 0
	for c := range counts {
		if counts[c] > counts[best] {
			best = c
		}
	}
	return best
}

// Accuracy returns the fraction of rows whose class t predicts.
func Accuracy(t oblivious.Tree, d *Dataset, rows []int) float64 {
	if len(rows) == 0 {
		return math.NaN()
	}
	right := 0
	for _, r := range rows {
		if int(t.Predict(d.X[r])) == d.Y[r] {
			right++
		}
	}
	return float64(right) / float64(len(rows))
}
