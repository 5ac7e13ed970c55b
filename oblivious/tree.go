package oblivious

import (
	"errors"
	"fmt"
	"math"
	"unsafe"

	"github.com/confide/confide/oblivious/trace"
)

// Decision-tree and tree-ensemble inference, three ways: Tree.Predict
// and Ensemble.Predict walk the path with ordinary branches and indexing
// (the leaky reference, which the differential tests compare against);
// PublicModel hides the input from an observer who knows the model;
// SecretModel hides the model as well.

// Node is one node of a Tree. It is a pointer-free record of 32 bytes,
// so that trees can live in oblivious containers and be read by scan.
type Node struct {
	Feature   uint32  // index into the feature vector (internal nodes)
	Left      uint32  // child taken when x[Feature] < Threshold; a leaf's own index
	Right     uint32  // child taken otherwise; a leaf's own index
	Leaf      bool    // Value is the tree's output
	Threshold float64 // split point (internal nodes)
	Value     float64 // output (leaves): a margin, or a class index for Vote
}

// Tree is a decision tree as one flat array of Nodes with explicit
// children, rather than a full binary layout: real trees (CART, gradient
// boosting) are unbalanced, and a full layout of depth D costs 2^(D+1)
// nodes whatever the tree. The rules, which Validate checks:
//
//   - the root is node 0, and both children of an internal node come
//     after it (Left, Right > its index), so one pass in array order
//     visits every parent before its children;
//   - every node but the root has at most one parent, and a node with
//     none is an unreachable leaf (the padding that Pad appends);
//   - a leaf's Left and Right are its own index: a walk of a fixed,
//     public number of steps stays on the leaf it reached, which is how
//     trees of unequal depth are walked to the same depth;
//   - an internal node sends x to Left when x[Feature] < Threshold with
//     Go's <, so NaN on either side goes Right and −0 equals +0.
type Tree []Node

// Aggregation is how an Ensemble combines its trees' outputs.
type Aggregation uint8

const (
	// Sum adds the leaf values to Base, in tree order: a gradient-boosting
	// margin (apply the link function, e.g. a sigmoid, to the result).
	Sum Aggregation = iota
	// Vote returns the class that most trees' leaves name (leaf values
	// are class indexes 0 … Classes−1); ties go to the lowest class.
	Vote
)

func (a Aggregation) String() string {
	switch a {
	case Sum:
		return "sum"
	case Vote:
		return "vote"
	}
	return fmt.Sprintf("Aggregation(%d)", uint8(a))
}

// Ensemble is several trees and how their outputs combine. A single tree
// is an Ensemble of one (with Sum and Base 0 its prediction is the leaf's
// value, except that a −0 leaf becomes +0).
type Ensemble struct {
	Trees       []Tree
	Aggregation Aggregation
	Base        float64 // Sum: the starting value of the sum
	Classes     int     // Vote: the number of classes
}

// ErrInvalidModel is wrapped by every error about a model's structure.
var ErrInvalidModel = errors.New("invalid tree model")

// maxClasses bounds Vote's classes: the vote scans a counter per class
// for every tree.
const maxClasses = 1 << 16

// Predict walks x down the tree with ordinary branches and returns the
// leaf's value. It is the reference: which nodes and features it reads
// (recorded under the obltrace tag) is the path, so its trace reveals the
// input. t must be valid (Validate) and x at least as long as every
// feature index it uses.
func (t Tree) Predict(x []float64) float64 {
	nodes := unsafe.Pointer(unsafe.SliceData(t))
	xs := unsafe.Pointer(unsafe.SliceData(x))
	i := uint32(0)
	for range len(t) { // a valid tree reaches a leaf sooner
		trace.Access(trace.OpRead, nodes, int(i))
		n := &t[i]
		if n.Leaf {
			break
		}
		trace.Access(trace.OpRead, xs, int(n.Feature))
		if x[n.Feature] < n.Threshold {
			i = n.Left
		} else {
			i = n.Right
		}
	}
	return t[i].Value
}

// Predict is the reference prediction of the ensemble: Tree.Predict on
// every tree, then the aggregation with ordinary branches. e must be
// valid (Validate).
func (e *Ensemble) Predict(x []float64) float64 {
	if e.Aggregation == Sum {
		s := e.Base
		for _, t := range e.Trees {
			s += t.Predict(x)
		}
		return s
	}
	counts := make([]uint64, e.Classes)
	for _, t := range e.Trees {
		if c := classOf(t.Predict(x)); c < uint64(len(counts)) {
			counts[c]++
		}
	}
	best := 0
	for c := 1; c < len(counts); c++ {
		if counts[c] > counts[best] {
			best = c
		}
	}
	return float64(best)
}

// classOf converts a Vote leaf value to a class index. int64(v) is one
// instruction on amd64 and arm64 where uint64(v) is a branch on the
// value; a negative or NaN value becomes a huge index that counts nowhere.
func classOf(v float64) uint64 { return uint64(int64(v)) }

// Validate checks t against the format rules for feature vectors of
// length features. It branches on the model, so for a secret model it is
// for the owner, before the model is handed over (Pad calls it).
func (t Tree) Validate(features int) error {
	if len(t) == 0 || len(t) > math.MaxUint32 {
		return fmt.Errorf("oblivious: tree of %d nodes: %w", len(t), ErrInvalidModel)
	}
	parents := make([]uint8, len(t))
	for i := range t {
		n := &t[i]
		bad := func(format string, args ...any) error {
			return fmt.Errorf("oblivious: tree node %d: %s: %w", i, fmt.Sprintf(format, args...), ErrInvalidModel)
		}
		if n.Leaf {
			if int(n.Left) != i || int(n.Right) != i {
				return bad("leaf's children %d, %d are not itself", n.Left, n.Right)
			}
			continue
		}
		if int(n.Feature) >= features {
			return bad("feature %d of %d", n.Feature, features)
		}
		for _, c := range [2]uint32{n.Left, n.Right} {
			if int(c) <= i || int(c) >= len(t) {
				return bad("child %d not after the node and inside %d nodes", c, len(t))
			}
		}
		if n.Left == n.Right {
			return bad("both children are %d", n.Left)
		}
		parents[n.Left]++
		parents[n.Right]++
	}
	for i := 1; i < len(t); i++ {
		if parents[i] > 1 {
			return fmt.Errorf("oblivious: tree node %d has %d parents: %w", i, parents[i], ErrInvalidModel)
		}
		if parents[i] == 0 && !t[i].Leaf {
			return fmt.Errorf("oblivious: tree node %d is unreachable and not a leaf: %w", i, ErrInvalidModel)
		}
	}
	return nil
}

// Depth returns the number of edges on t's longest root-to-leaf path (0
// for a single leaf). t must be valid.
func (t Tree) Depth() int {
	depth := make([]int, len(t))
	d := 0
	for i := range t {
		if !t[i].Leaf {
			depth[t[i].Left] = depth[i] + 1
			depth[t[i].Right] = depth[i] + 1
		}
		d = max(d, depth[i])
	}
	return d
}

// Validate checks the aggregation and every tree for feature vectors of
// length features; with Vote, every leaf must name a class.
func (e *Ensemble) Validate(features int) error {
	if len(e.Trees) == 0 {
		return fmt.Errorf("oblivious: ensemble without trees: %w", ErrInvalidModel)
	}
	if err := e.checkAggregation(); err != nil {
		return err
	}
	for k, t := range e.Trees {
		if err := t.Validate(features); err != nil {
			return fmt.Errorf("oblivious: tree %d: %w", k, err)
		}
		if e.Aggregation != Vote {
			continue
		}
		for i, n := range t {
			if n.Leaf && !(n.Value >= 0 && n.Value < float64(e.Classes) && n.Value == math.Trunc(n.Value)) {
				return fmt.Errorf("oblivious: tree %d leaf %d: value %v is not a class below %d: %w", k, i, n.Value, e.Classes, ErrInvalidModel)
			}
		}
	}
	return nil
}

func (e *Ensemble) checkAggregation() error {
	switch e.Aggregation {
	case Sum:
		return nil
	case Vote:
		if e.Classes < 1 || e.Classes > maxClasses {
			return fmt.Errorf("oblivious: vote over %d classes (1 to %d): %w", e.Classes, maxClasses, ErrInvalidModel)
		}
		return nil
	}
	return fmt.Errorf("oblivious: unknown aggregation %v: %w", e.Aggregation, ErrInvalidModel)
}

// floatLess is Go's x < t as a Mask. LtFloat orders every bit pattern
// (NaNs included, −0 before +0); removing those two cases makes the
// oblivious predictions bit-identical to Predict for every input, NaN and
// signed zeros included, which the differential tests rely on.
//
//confide:oblivious
//confide:secret x t
func floatLess(x, t float64) Mask {
	bx, bt := math.Float64bits(x), math.Float64bits(t)
	const inf = 0x7ff0_0000_0000_0000 << 1 // exponent all ones, shifted past the sign
	nan := Gt(bx<<1, inf).Or(Gt(bt<<1, inf))
	zeros := IsZero((bx | bt) << 1)
	return LtFloat(x, t).AndNot(nan.Or(zeros))
}

// aggregator combines tree outputs branch-free: the Sum is plain float
// addition in tree order (as in Ensemble.Predict, so results match to
// the bit), the Vote a counter per class updated by a scan of all
// counters. Public: the aggregation, the number of classes.
type aggregator struct {
	agg    Aggregation
	sum    float64
	counts []uint64
}

func newAggregator(agg Aggregation, base float64, classes int) aggregator {
	a := aggregator{agg: agg, sum: base}
	if agg == Vote {
		a.counts = make([]uint64, classes)
	}
	return a
}

//confide:oblivious
//confide:secret v
func (a *aggregator) add(v float64) {
	if a.agg == Sum { // public
		a.sum += v
		return
	}
	c := classOf(v)
	base := unsafe.Pointer(unsafe.SliceData(a.counts))
	for j := range a.counts {
		trace.Access(trace.OpWrite, base, j)
		a.counts[j] += Eq(uint64(j), c).Bit()
	}
}

//confide:oblivious
func (a *aggregator) result() float64 {
	if a.agg == Sum {
		return a.sum
	}
	var best uint64
	bestCount := a.counts[0]
	for j := 1; j < len(a.counts); j++ {
		more := Gt(a.counts[j], bestCount)
		best = Select(more, uint64(j), best)
		bestCount = Select(more, a.counts[j], bestCount)
	}
	return float64(int64(best)) // int64: uint64→float64 branches on the top bit
}

// PublicModel predicts with a public model on secret inputs: an observer
// who knows the model (structure, features, thresholds, values) and
// watches every memory access and branch learns nothing about the input
// or the path it takes.
//
// The path is secret, so the node it reaches at each level is secret,
// and so is which feature that node compares. But every node is public:
// rather than follow the path (reading the current node and then its
// feature by scans, D·(N+F) reads a tree), Predict evaluates every node's
// comparison once, in array order, reading the feature at the node's
// public index, and pushes a "reached" mask from each node to its
// children; the leaf whose mask is set gives the tree's output. That is N
// comparisons per tree and a trace fixed by the model.
//
// Trees of at most 64 reachable leaves take a faster route to the same
// answer (QuickScorer's, Lucchese et al. 2015): the leaves are numbered
// left to right; every split that sends x right removes the leaves of its
// left subtree from a 64-bit mask, and the leftmost leaf left is the one
// x reaches. Every split is still evaluated, in array order, then every
// leaf's value read with a mask: about four operations a split instead
// of a mask pushed to each child.
type PublicModel struct {
	e        Ensemble
	features int
	maxNodes int
	qs       []qsTree // nil unless every tree has at most 64 leaves
}

// qsTree is a tree prepared for the leaf-mask route.
type qsTree struct {
	splits []qsSplit
	leaves []float64 // values, left to right
}

// qsSplit is a split: where x goes left, keep is all ones; where it goes
// right, keep has zeros for the leaves of the left subtree.
type qsSplit struct {
	feature uint32
	// tkey is FloatKey of the threshold (−0 made +0), so that x < t is one
	// integer comparison of keys, as Go's < decides it; 0 for a NaN
	// threshold, which nothing is less than.
	tkey uint64
	keep uint64
}

// quickScorer prepares t for the leaf-mask route, or reports false if it
// has more than 64 reachable leaves. The model is public: this branches
// on it.
func quickScorer(t Tree) (qsTree, bool) {
	var q qsTree
	// Number the leaves left to right; note each split's left-subtree
	// leaf range.
	lo := make([]int, len(t))
	hi := make([]int, len(t))
	var walk func(j int) bool
	walk = func(j int) bool {
		n := t[j]
		if n.Leaf {
			if len(q.leaves) == 64 {
				return false
			}
			lo[j], hi[j] = len(q.leaves), len(q.leaves)+1
			q.leaves = append(q.leaves, n.Value)
			return true
		}
		if !walk(int(n.Left)) || !walk(int(n.Right)) {
			return false
		}
		lo[j], hi[j] = lo[n.Left], hi[n.Right]
		return true
	}
	if !walk(0) {
		return qsTree{}, false
	}
	for j, n := range t {
		if n.Leaf || (j > 0 && hi[j] == 0) { // a leaf, or unreachable
			continue
		}
		l, h := lo[n.Left], hi[n.Left]
		var left uint64
		if h-l == 64 {
			left = ^uint64(0)
		} else {
			left = (uint64(1)<<(h-l) - 1) << l
		}
		// FloatKey's formula on a public threshold (FloatKey itself
		// declares its argument secret); −0 + 0 is +0.
		b := math.Float64bits(n.Threshold + 0)
		tkey := b ^ (uint64(int64(b)>>63) | 1<<63)
		if math.IsNaN(n.Threshold) {
			tkey = 0
		}
		q.splits = append(q.splits, qsSplit{feature: n.Feature, tkey: tkey, keep: ^left})
	}
	return q, true
}

// NewPublicModel validates e for feature vectors of length features and
// prepares it for oblivious prediction. The model is public, so checking
// it may branch on it. The trees are shared with e, not copied: do not
// modify them while the PublicModel is in use.
func NewPublicModel(e *Ensemble, features int) (*PublicModel, error) {
	if err := e.Validate(features); err != nil {
		return nil, err
	}
	m := &PublicModel{e: *e, features: features}
	for _, t := range e.Trees {
		m.maxNodes = max(m.maxNodes, len(t))
	}
	if e.Aggregation == Sum {
		qs := make([]qsTree, 0, len(e.Trees))
		for _, t := range e.Trees {
			q, ok := quickScorer(t)
			if !ok {
				qs = nil
				break
			}
			qs = append(qs, q)
		}
		m.qs = qs
	}
	return m, nil
}

// Predict returns the ensemble's prediction for x, equal to the bit to
// Ensemble.Predict (but for which NaN a sum of NaNs yields). Public
// parameters: the model (so the number of trees and of nodes, the
// features compared, the aggregation) and len(x), which must be the
// model's number of features. Granularity: element — the trace is one
// read of every node and of the feature it compares, and the writes of
// each node's children's masks, in array order, whatever x. The Sum is
// float addition, assumed constant-time (subnormal operands are slower
// on some older CPUs). Safe for concurrent use.
//
//confide:oblivious
//confide:secret x
func (m *PublicModel) Predict(x []float64) float64 {
	if len(x) != m.features {
		panic(fmt.Sprintf("oblivious: %d features for a model of %d", len(x), m.features))
	}
	if m.qs != nil { // public: the model's shape
		// Each feature's key once: −0 made +0, NaN the largest key,
		// which no threshold's key exceeds (Go's <: NaN is never less).
		var small [64]uint64
		var xk []uint64
		if len(x) <= len(small) {
			xk = small[:len(x)]
		} else {
			xk = make([]uint64, len(x))
		}
		for f, v := range x {
			v += 0
			b := math.Float64bits(v)
			nan := Gt(b<<1, 0x7ff0_0000_0000_0000<<1)
			xk[f] = Select(nan, ^uint64(0), FloatKey(v))
		}
		sum := m.e.Base
		for i := range m.qs {
			sum += predictQS(&m.qs[i], xk)
		}
		return sum
	}
	// Scratch on the stack for trees of up to 256 nodes (depth 7), to
	// spare the allocator one allocation per prediction. Both sizes are
	// public.
	var small [256]Mask
	var reach []Mask
	if m.maxNodes <= len(small) {
		reach = small[:m.maxNodes]
	} else {
		reach = make([]Mask, m.maxNodes)
	}
	agg := newAggregator(m.e.Aggregation, m.e.Base, m.e.Classes)
	for _, t := range m.e.Trees {
		agg.add(predictPublic(t, x, reach))
	}
	return agg.result()
}

// predictQS evaluates one tree by the leaf-mask route, on the features'
// keys xk.
//
//confide:oblivious
//confide:secret xk
func predictQS(q *qsTree, xk []uint64) float64 {
	splits := unsafe.Pointer(unsafe.SliceData(q.splits))
	xs := unsafe.Pointer(unsafe.SliceData(xk))
	leaves := unsafe.Pointer(unsafe.SliceData(q.leaves))
	mask := ^uint64(0)
	for j := range q.splits {
		s := &q.splits[j]
		trace.Access(trace.OpRead, splits, j)
		trace.Access(trace.OpRead, xs, int(s.feature))
		mask &= s.keep | uint64(Lt(xk[s.feature], s.tkey))
	}
	// The leftmost leaf left, as a one-bit mask; each leaf's value is
	// kept where its bit is set.
	one := mask & -mask
	var v uint64
	for k, lv := range q.leaves {
		trace.Access(trace.OpRead, leaves, k)
		v |= math.Float64bits(lv) & -(one >> k & 1)
	}
	return math.Float64frombits(v)
}

// predictPublic evaluates one tree by pushing reached masks down in array
// order. reach is scratch of at least len(t).
//
//confide:oblivious
//confide:secret x reach
func predictPublic(t Tree, x []float64, reach []Mask) float64 {
	nodes := unsafe.Pointer(unsafe.SliceData(t))
	xs := unsafe.Pointer(unsafe.SliceData(x))
	rs := unsafe.Pointer(unsafe.SliceData(reach))
	reach = reach[:len(t)]
	clear(reach) // unreachable padding leaves keep False
	reach[0] = True
	var v float64
	for j := range t {
		n := &t[j]
		trace.Access(trace.OpRead, nodes, j)
		if n.Leaf { // public
			v = SelectFloat(reach[j], n.Value, v)
			continue
		}
		trace.Access(trace.OpRead, xs, int(n.Feature))
		left := floatLess(x[n.Feature], n.Threshold)
		trace.Access(trace.OpWrite, rs, int(n.Left))
		trace.Access(trace.OpWrite, rs, int(n.Right))
		reach[n.Left] = reach[j].And(left)
		reach[n.Right] = reach[j].AndNot(left)
	}
	return v
}

// Shape is everything a SecretModel lets an observer learn about the
// model: sizes, never contents. The aggregation and number of classes
// are public too.
type Shape struct {
	Trees    int // number of trees
	Nodes    int // nodes in every tree (Pad appends unreachable leaves)
	Depth    int // levels walked: at least every tree's depth
	Features int // length of the feature vector
}

// ShapeOf returns the smallest Shape that fits e: its number of trees,
// its largest tree, its deepest tree. e must be valid for features.
func ShapeOf(e *Ensemble, features int) Shape {
	s := Shape{Trees: len(e.Trees), Features: features}
	for _, t := range e.Trees {
		s.Nodes = max(s.Nodes, len(t))
		s.Depth = max(s.Depth, t.Depth())
	}
	return s
}

// Pad validates e and returns a copy whose trees all have s.Nodes nodes,
// by appending unreachable self-looping leaves, so that the sizes of the
// individual trees stay secret. It is for the model's owner, before the
// model is secret: it branches on the model. The number of trees is part
// of the shape and must match.
func Pad(e *Ensemble, s Shape) (*Ensemble, error) {
	if err := e.Validate(s.Features); err != nil {
		return nil, err
	}
	if len(e.Trees) != s.Trees {
		return nil, fmt.Errorf("oblivious: %d trees for a shape of %d: %w", len(e.Trees), s.Trees, ErrInvalidModel)
	}
	if s.Nodes > math.MaxUint32 {
		return nil, fmt.Errorf("oblivious: shape of %d nodes: %w", s.Nodes, ErrInvalidModel)
	}
	out := *e
	out.Trees = make([]Tree, len(e.Trees))
	for k, t := range e.Trees {
		if len(t) > s.Nodes {
			return nil, fmt.Errorf("oblivious: tree %d has %d nodes, over the shape's %d: %w", k, len(t), s.Nodes, ErrInvalidModel)
		}
		if d := t.Depth(); d > s.Depth {
			return nil, fmt.Errorf("oblivious: tree %d has depth %d, over the shape's %d: %w", k, d, s.Depth, ErrInvalidModel)
		}
		p := make(Tree, s.Nodes)
		copy(p, t)
		for i := len(t); i < len(p); i++ {
			p[i] = Node{Leaf: true, Left: uint32(i), Right: uint32(i)}
		}
		out.Trees[k] = p
	}
	return &out, nil
}

// SecretModel predicts with a secret model on secret inputs: an observer
// who watches every memory access and branch learns the Shape (and the
// aggregation and number of classes) but neither the input, nor the
// path, nor the model's features, thresholds, values or structure.
//
// Each tree is walked for exactly Depth levels, leaves looping to
// themselves. At every level the current node is read by a scan of all
// the tree's nodes, and its feature by a scan of the whole feature
// vector: D+1 node scans and D feature scans a tree, D·(N+F)+N reads.
type SecretModel struct {
	e     Ensemble
	shape Shape
}

// NewSecretModel prepares e, already padded to s (Pad), for oblivious
// prediction. It checks only what s makes public — the number of trees,
// each tree's number of nodes, the aggregation and number of classes —
// and nothing in the nodes, which are secret: checking them would branch
// on them. A model that breaks the format rules, or is deeper than
// s.Depth, gives meaningless predictions but never an out-of-range
// access. The trees are shared with e, not copied.
func NewSecretModel(e *Ensemble, s Shape) (*SecretModel, error) {
	if s.Nodes < 1 || s.Depth < 0 || s.Features < 1 || s.Trees < 1 {
		return nil, fmt.Errorf("oblivious: shape %+v: %w", s, ErrInvalidModel)
	}
	if err := e.checkAggregation(); err != nil {
		return nil, err
	}
	if len(e.Trees) != s.Trees {
		return nil, fmt.Errorf("oblivious: %d trees for a shape of %d: %w", len(e.Trees), s.Trees, ErrInvalidModel)
	}
	for k, t := range e.Trees {
		if len(t) != s.Nodes {
			return nil, fmt.Errorf("oblivious: tree %d has %d nodes, not the shape's %d (Pad it): %w", k, len(t), s.Nodes, ErrInvalidModel)
		}
	}
	return &SecretModel{e: *e, shape: s}, nil
}

// Shape returns the model's public shape.
func (m *SecretModel) Shape() Shape { return m.shape }

// Predict returns the ensemble's prediction for x, equal to the bit to
// Ensemble.Predict (but for which NaN a sum of NaNs yields) when the model
// is valid and no deeper than the shape.
// Public parameters: the Shape (trees T, nodes N, depth D, features F =
// len(x), which must match), the aggregation and number of classes.
// Granularity: element — the trace is, for each tree and level, a scan
// of the N nodes and of the F features, then a scan of the nodes for
// the leaf, whatever x and whatever the model's contents. Float
// addition (Sum) is assumed constant-time, as in PublicModel. Safe for
// concurrent use.
//
//confide:oblivious
//confide:secret x
func (m *SecretModel) Predict(x []float64) float64 {
	if len(x) != m.shape.Features {
		panic(fmt.Sprintf("oblivious: %d features for a model of %d", len(x), m.shape.Features))
	}
	agg := newAggregator(m.e.Aggregation, m.e.Base, m.e.Classes)
	for _, t := range m.e.Trees {
		agg.add(predictSecret(t, x, m.shape.Depth))
	}
	return agg.result()
}

// predictSecret walks one tree for depth levels, reading nodes and
// features by full scans.
//
//confide:oblivious
//confide:secret t x
func predictSecret(t Tree, x []float64, depth int) float64 {
	var cur uint64
	for range depth {
		n := readNode(t, cur)
		v := Read(x, uint64(n.Feature))
		cur = Select(floatLess(v, n.Threshold), uint64(n.Left), uint64(n.Right))
	}
	return readNode(t, cur).Value
}

// readNode is Read specialised to Node, with the same trace (every node,
// in order, whatever i) and the same result but for Leaf, which the
// secret walk does not use: selecting four words per node in registers
// is about three times faster than Read's generic record move, and the
// node scans are most of a secret prediction's work.
//
//confide:oblivious
//confide:secret t i
func readNode(t Tree, i uint64) Node {
	base := unsafe.Pointer(unsafe.SliceData(t))
	var featureLeft, right, threshold, value uint64
	for j := range t {
		trace.Access(trace.OpRead, base, j)
		n := &t[j]
		m := Eq(uint64(j), i)
		featureLeft = Select(m, uint64(n.Feature)|uint64(n.Left)<<32, featureLeft)
		right = Select(m, uint64(n.Right), right)
		threshold = Select(m, math.Float64bits(n.Threshold), threshold)
		value = Select(m, math.Float64bits(n.Value), value)
	}
	return Node{
		Feature:   uint32(featureLeft),
		Left:      uint32(featureLeft >> 32),
		Right:     uint32(right),
		Threshold: math.Float64frombits(threshold),
		Value:     math.Float64frombits(value),
	}
}
