package gbdt

import (
	"fmt"
	"math"
	"slices"

	"github.com/confide/confide/oblivious"
)

// Model is a trained ensemble: the sum of its trees' leaves plus the base
// margin, all in float32 as XGBoost computes it.
type Model struct {
	objective string
	baseScore float32
	// boostFromAverage is XGBoost's flag of the same name, carried only so
	// that a model read and written again is unchanged; 1.7 ignores it.
	boostFromAverage bool
	// scalePosWeight is the objective's parameter as XGBoost wrote it,
	// "" for "1"; it only matters in training, so it is only carried.
	scalePosWeight string
	numFeature     int
	featureNames   []string // nil or numFeature names
	featureTypes   []string // nil or numFeature XGBoost type names
	attributes     map[string]string
	trees          []tree
}

// tree is one regression tree in XGBoost's layout: node 0 is the root; a
// leaf has left == right == -1 and its value in cond.
type tree struct {
	left, right, parent []int32
	feature             []int32
	cond                []float32 // split threshold (go left if x < cond), or leaf value
	defaultLeft         []bool    // where a missing (NaN) value goes
	// Training statistics, kept for XGBoost's file format only.
	baseWeight, lossChange, sumHess []float32
	// nodes is the tree packed for prediction (pack): one 16-byte node
	// per step instead of a cache line from each of five arrays.
	nodes []pnode
	// depth is the longest path from the root to a leaf.
	depth int
}

// pnode is a packed node. A leaf is its own child both ways, so that a
// walk of the tree's full depth ends on the leaf whatever its length:
// prediction runs a fixed number of steps, without the branch that asks
// whether it has reached a leaf (a coin toss to the branch predictor).
type pnode struct {
	feature int32
	cond    float32
	// child[1] is where a value >= cond goes, child[0] the rest; missing
	// values go to child[missing].
	child   [2]int32
	missing uint8
}

// pack builds t.nodes; trees are packed once they are complete. Children
// come after their parents (growth and the JSON reader both ensure it),
// so one pass finds every node's depth.
func (t *tree) pack() {
	t.nodes = make([]pnode, len(t.left))
	depth := make([]int, len(t.left))
	t.depth = 0
	for i := range t.nodes {
		if i > 0 {
			depth[i] = depth[t.parent[i]] + 1
			t.depth = max(t.depth, depth[i])
		}
		if t.left[i] < 0 {
			t.nodes[i] = pnode{child: [2]int32{int32(i), int32(i)}}
			continue
		}
		n := pnode{feature: t.feature[i], cond: t.cond[i], child: [2]int32{t.left[i], t.right[i]}, missing: 1}
		if t.defaultLeft[i] {
			n.missing = 0
		}
		t.nodes[i] = n
	}
}

// packAll packs every tree of m.
func (m *Model) packAll() {
	for i := range m.trees {
		m.trees[i].pack()
	}
}

func (t *tree) numNodes() int { return len(t.left) }

// addNode appends a leaf and returns its id.
func (t *tree) addNode(parent int32, leaf, baseWeight, sumHess float32) int32 {
	id := int32(len(t.left))
	t.left = append(t.left, -1)
	t.right = append(t.right, -1)
	t.parent = append(t.parent, parent)
	t.feature = append(t.feature, 0)
	t.cond = append(t.cond, leaf)
	t.defaultLeft = append(t.defaultLeft, false)
	t.baseWeight = append(t.baseWeight, baseWeight)
	t.lossChange = append(t.lossChange, 0)
	t.sumHess = append(t.sumHess, sumHess)
	return id
}

// leaf returns the leaf x falls into.
func (t *tree) leaf(x []float64) int32 {
	ns := t.nodes
	n := int32(0)
	for range t.depth {
		n = step(&ns[n], x)
	}
	return n
}

// step is where x goes from nd, chosen by an index rather than a branch.
func step(nd *pnode, x []float64) int32 {
	v := float32(x[nd.feature])
	var right uint8
	if v >= nd.cond {
		right = 1
	}
	if v != v {
		right = nd.missing
	}
	return nd.child[right]
}

// Objective is the learning objective, BinaryLogistic or RegSquaredError.
func (m *Model) Objective() string { return m.objective }

// NumFeatures is how many values PredictMargin and Predict take.
func (m *Model) NumFeatures() int { return m.numFeature }

// FeatureNames are the training features' names, or nil if the model
// does not record them.
func (m *Model) FeatureNames() []string { return slices.Clone(m.featureNames) }

// NumTrees is the number of trees (boosting rounds).
func (m *Model) NumTrees() int { return len(m.trees) }

// baseMargin is base_score on the margin scale.
func (m *Model) baseMargin() float32 { return baseMargin(m.objective, m.baseScore) }

func baseMargin(objective string, baseScore float32) float32 {
	if objective == BinaryLogistic {
		// XGBoost's ProbToMargin: -log(1/p - 1), in float32.
		return float32(-math.Log(float64(1/baseScore - 1)))
	}
	return baseScore
}

// PredictMargin is the raw score of x: the log-odds for binary:logistic,
// the prediction itself for reg:squarederror. x holds NumFeatures values
// (compared in float32, as XGBoost does); NaN means missing. It panics if
// len(x) differs from NumFeatures.
func (m *Model) PredictMargin(x []float64) float64 {
	if len(x) != m.numFeature {
		panic(fmt.Sprintf("gbdt: PredictMargin: got %d values, the model has %d features", len(x), m.numFeature))
	}
	s := m.baseMargin()
	for i := range m.trees {
		t := &m.trees[i]
		s += t.cond[t.leaf(x)]
	}
	return float64(s)
}

// block is how many rows PredictAll walks through a tree side by side:
// independent walks keep the CPU busy while each waits for its next node.
const block = 8

// PredictAll is Predict for every row of X, without the per-row checks'
// panics: it returns an error if a row's length is not NumFeatures.
func (m *Model) PredictAll(X [][]float64) ([]float64, error) {
	for i, x := range X {
		if len(x) != m.numFeature {
			return nil, fmt.Errorf("gbdt: row %d has %d values, the model has %d features", i, len(x), m.numFeature)
		}
	}
	out := make([]float64, len(X))
	base := m.baseMargin()
	var s [block]float32
	var n [block]int32
	for lo := 0; lo < len(X); lo += block {
		rows := X[lo:min(lo+block, len(X))]
		for r := range rows {
			s[r] = base
		}
		for i := range m.trees {
			t := &m.trees[i]
			ns := t.nodes
			n = [block]int32{}
			for range t.depth {
				for r, x := range rows {
					n[r] = step(&ns[n[r]], x)
				}
			}
			for r := range rows {
				s[r] += t.cond[n[r]]
			}
		}
		for r := range rows {
			out[lo+r] = float64(s[r])
			if m.objective == BinaryLogistic {
				out[lo+r] = float64(sigmoid(s[r]))
			}
		}
	}
	return out, nil
}

// Predict is the prediction for x: a probability for binary:logistic, the
// value for reg:squarederror. See PredictMargin.
func (m *Model) Predict(x []float64) float64 {
	s := m.PredictMargin(x)
	if m.objective == BinaryLogistic {
		return float64(sigmoid(float32(s)))
	}
	return s
}

// sigmoid is XGBoost's common::Sigmoid: 1/(1+exp(-x)) in float32.
func sigmoid(x float32) float32 {
	e := float32(math.Exp(-float64(x)))
	return 1 / (1 + e)
}

// Ensemble returns the trees in package oblivious's form, for oblivious
// prediction: thresholds and leaf values widened to float64, the base
// margin as Base. The oblivious walk compares float64 inputs with Go's <
// and sends NaN right, where PredictMargin compares float32(x) and sends
// NaN the tree's default way: round finite inputs to float32 first and
// the walks agree.
func (m *Model) Ensemble() *oblivious.Ensemble {
	e := &oblivious.Ensemble{Aggregation: oblivious.Sum, Base: float64(m.baseMargin())}
	for i := range m.trees {
		t := &m.trees[i]
		ot := make(oblivious.Tree, t.numNodes())
		for n := range ot {
			if t.left[n] < 0 {
				ot[n] = oblivious.Node{Leaf: true, Left: uint32(n), Right: uint32(n), Value: float64(t.cond[n])}
				continue
			}
			ot[n] = oblivious.Node{Feature: uint32(t.feature[n]), Left: uint32(t.left[n]), Right: uint32(t.right[n]), Threshold: float64(t.cond[n])}
		}
		e.Trees = append(e.Trees, ot)
	}
	return e
}
