package gbdt

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"unsafe"

	"github.com/confide/confide/ml/dataset"
	"github.com/confide/confide/oblivious/trace"
)

// ErrData wraps every error about the training data.
var ErrData = errors.New("gbdt: training data")

// Work is split into pieces of at most these many rows. The sizes depend
// only on the data, never on the number of goroutines, so that every
// floating-point sum is taken in the same order however many run.
const (
	histChunk = 16384 // rows per partial histogram
	rowChunk  = 32768 // rows per partition or margin-update task
	// histBudget bounds the memory of histograms kept from one level to
	// the next for the subtraction trick (only deep trees come near it).
	histBudget = 256 << 20
	// batchNodes is how many parents' children are built at once.
	batchNodes = 64
)

// XGBoost's float32 constants.
const (
	rtEps   = float32(1e-6)  // kRtEps: least loss change that counts
	hessEps = float32(1e-16) // least hessian of binary:logistic
)

// Train grows p.Rounds trees on d as XGBoost 1.7's hist tree method does:
// quantile cuts per feature, then depthwise growth on gradient
// histograms. d.Y must hold the labels: 0 to 1 for binary:logistic.
func Train(d *dataset.Dataset, p Params) (*Model, error) {
	m, _, err := train(d, p)
	return m, err
}

// train is Train, also returning the trainer for tests to look into.
func train(d *dataset.Dataset, p Params) (*Model, *trainer, error) {
	if err := p.Validate(); err != nil {
		return nil, nil, err
	}
	if err := checkData(d, p.Objective); err != nil {
		return nil, nil, err
	}
	t := newTrainer(d, p)
	if err := t.sketch(d); err != nil {
		return nil, nil, err
	}
	t.binRows(d)
	t.initGradients()
	m := &Model{
		objective:        p.Objective,
		baseScore:        float32(p.BaseScore),
		boostFromAverage: p.BaseScore == 0.5,
		numFeature:       t.nf,
		featureNames:     append([]string(nil), d.Features...),
		attributes: map[string]string{
			// What xgb.train records; Python's sklearn wrapper reads them.
			"best_iteration":   strconv.Itoa(p.Rounds - 1),
			"best_ntree_limit": strconv.Itoa(p.Rounds),
		},
	}
	for range p.Rounds {
		m.trees = append(m.trees, t.growTree())
	}
	m.packAll()
	return m, t, nil
}

func checkData(d *dataset.Dataset, objective string) error {
	if d == nil || len(d.X) == 0 {
		return fmt.Errorf("%w: no rows", ErrData)
	}
	nf := len(d.Features)
	if nf == 0 {
		return fmt.Errorf("%w: no features", ErrData)
	}
	if uint64(len(d.X)) > math.MaxUint32 {
		return fmt.Errorf("%w: %d rows; at most %d are supported", ErrData, len(d.X), uint32(math.MaxUint32))
	}
	if len(d.Y) != len(d.X) {
		return fmt.Errorf("%w: %d labels for %d rows", ErrData, len(d.Y), len(d.X))
	}
	for i, x := range d.X {
		if len(x) != nf {
			return fmt.Errorf("%w: row index %d has %d values for %d features", ErrData, i, len(x), nf)
		}
	}
	for i, y := range d.Y {
		y32 := float32(y)
		if math.IsNaN(y) || math.IsInf(float64(y32), 0) {
			return fmt.Errorf("%w: row index %d: label %v is not a finite float32", ErrData, i, y)
		}
		if objective == BinaryLogistic && (y32 < 0 || y32 > 1) {
			return fmt.Errorf("%w: row index %d: label %v; binary:logistic needs labels from 0 to 1", ErrData, i, y)
		}
	}
	return nil
}

// trainer holds the training state. Rows are addressed by uint32 index;
// rows holds a permutation of them in which each tree node owns a
// contiguous segment, in ascending row order.
type trainer struct {
	p                              Params
	threads                        int
	nrow, nf                       int
	eta, lambda, alpha, mcw, gamma float32 // XGBoost keeps these in float32

	cuts  [][]float32 // per feature: bin upper bounds
	nbins []int       // per feature: len(cuts[f])
	// The bin indices twice, as XGBoost keeps them: row-major (nf per
	// row) for histograms, which read whole rows, and column-major (nrow
	// per feature) for partitions, which read one feature of many rows.
	bins, colBins []uint8
	label         []float32
	margin        []float32
	delta         []float32 // per row: the leaf of the tree being grown
	gpair         []gradPair

	rows, left, right []uint32 // the permutation and partition scratch
	free              []histogram
	keepRows          int // keep a node's histogram if it has this many rows
}

func newTrainer(d *dataset.Dataset, p Params) *trainer {
	nrow, nf := len(d.X), len(d.Features)
	t := &trainer{
		p:       p,
		threads: p.threads(),
		nrow:    nrow,
		nf:      nf,
		eta:     float32(p.LearningRate),
		lambda:  float32(p.Lambda),
		alpha:   float32(p.Alpha),
		mcw:     float32(p.MinChildWeight),
		gamma:   float32(p.Gamma),
		label:   make([]float32, nrow),
		margin:  make([]float32, nrow),
		delta:   make([]float32, nrow),
		gpair:   make([]gradPair, nrow),
		rows:    make([]uint32, nrow),
		left:    make([]uint32, nrow),
		right:   make([]uint32, nrow),
	}
	for i, y := range d.Y {
		t.label[i] = float32(y)
	}
	// Kept histograms belong to nodes of at least keepRows rows, so there
	// are at most nrow/keepRows of them: histBudget bytes.
	histBytes := int64(nf) * 256 * 16
	t.keepRows = int(int64(nrow) * histBytes / histBudget)
	return t
}

// sketch computes every feature's cuts (see sketch.go), one feature per
// task, and checks that every value fits float32.
func (t *trainer) sketch(d *dataset.Dataset) error {
	t.cuts = make([][]float32, t.nf)
	t.nbins = make([]int, t.nf)
	cols := make([][]float32, min(t.threads, t.nf)) // per worker
	bad := make([]int, t.nf)                        // per feature: first row not finite, or -1
	parallelFor(t.threads, t.nf, func(w, f int) {
		if cols[w] == nil {
			cols[w] = make([]float32, t.nrow)
		}
		col := cols[w]
		bad[f] = -1
		for i, x := range d.X {
			v := float32(x[f])
			if v-v != 0 { // NaN or ±Inf
				bad[f] = i
				return
			}
			col[i] = v
		}
		t.cuts[f] = featureCuts(col, t.p.MaxBins)
		t.nbins[f] = len(t.cuts[f])
	})
	first, feat := -1, -1
	for f, i := range bad {
		if i >= 0 && (first < 0 || i < first) {
			first, feat = i, f
		}
	}
	if first >= 0 {
		return fmt.Errorf("%w: row index %d, feature %q: %v is not a finite float32", ErrData, first, d.Features[feat], d.X[first][feat])
	}
	return nil
}

// binRows fills t.bins and t.colBins, one task per chunk of rows.
func (t *trainer) binRows(d *dataset.Dataset) {
	binners := make([]*binner, t.nf)
	for f, c := range t.cuts {
		binners[f] = newBinner(c)
	}
	t.bins = make([]uint8, t.nrow*t.nf)
	t.colBins = make([]uint8, t.nrow*t.nf)
	nf, nrow := t.nf, t.nrow
	parallelFor(t.threads, chunks(t.nrow, rowChunk), func(_, c int) {
		lo, hi := c*rowChunk, min((c+1)*rowChunk, t.nrow)
		for r := lo; r < hi; r++ {
			x := d.X[r][:nf]
			rb := t.bins[r*nf : r*nf+nf]
			for f, b := range binners {
				rb[f] = b.bin(float32(x[f]))
			}
		}
		for f := range nf {
			copyColumn(t.colBins[f*nrow+lo:f*nrow+hi], t.bins[lo*nf:hi*nf], nf, f)
		}
	})
}

// column returns feature f's bins, one per row.
func (t *trainer) column(f int) []uint8 { return t.colBins[f*t.nrow : (f+1)*t.nrow] }

func chunks(n, size int) int { return (n + size - 1) / size }

func (t *trainer) initGradients() {
	m0 := baseMargin(t.p.Objective, float32(t.p.BaseScore))
	parallelFor(t.threads, chunks(t.nrow, rowChunk), func(_, c int) {
		lo, hi := c*rowChunk, min((c+1)*rowChunk, t.nrow)
		for r := lo; r < hi; r++ {
			t.margin[r] = m0
		}
		t.gradients(lo, hi)
	})
}

// gradients sets the gradient pairs of rows lo…hi-1 from their margins,
// as XGBoost's objectives compute them (in float32).
func (t *trainer) gradients(lo, hi int) {
	m, y, gp := t.margin[lo:hi], t.label[lo:hi], t.gpair[lo:hi]
	y, gp = y[:len(m)], gp[:len(m)]
	if t.p.Objective == BinaryLogistic {
		for i, mi := range m {
			p := sigmoid(mi)
			gp[i] = gradPair{p - y[i], max(p*(1-p), hessEps)}
		}
		return
	}
	for i, mi := range m {
		gp[i] = gradPair{mi - y[i], 1}
	}
}

// node is a tree node while its tree grows.
type node struct {
	id         int32
	depth      int
	start, end int // its rows: t.rows[start:end]
	sum        binStat
	rootGain   float32 // the node's own gain term G²/(H+λ)
	hist       histogram
	best       split
	nleft      int // rows that went left, once partitioned
}

func (n *node) size() int { return n.end - n.start }

// split is a candidate split: bins <= bin of feature go left.
type split struct {
	loss        float32 // XGBoost's loss_chg
	feature     int
	bin         int
	left, right binStat
}

// thresholdL1 is XGBoost's ThresholdL1: soft thresholding by alpha.
func thresholdL1(g float64, alpha float32) float64 {
	a := float64(alpha)
	switch {
	case g > a:
		return g - a
	case g < -a:
		return g + a
	}
	return 0
}

// weight is XGBoost's CalcWeight: the unscaled optimal leaf weight.
func (t *trainer) weight(s binStat) float32 {
	if s.h < float64(t.mcw) || s.h <= 0 {
		return 0
	}
	return float32(-thresholdL1(s.g, t.alpha) / (s.h + float64(t.lambda)))
}

// gain is the split evaluator's CalcGain: G²/(H+λ), 0 for no hessian.
// As in XGBoost 1.7, numerator and denominator are rounded to float32
// before the division.
func (t *trainer) gain(s binStat) float32 {
	if s.h <= 0 {
		return 0
	}
	g := thresholdL1(s.g, t.alpha)
	return float32(g*g) / float32(s.h+float64(t.lambda))
}

// splittable is XGBoost's ExpandEntry::IsValid for a node above max_depth.
func (t *trainer) splittable(s split) bool {
	return s.loss > rtEps && s.left.h != 0 && s.right.h != 0 && !(s.loss < t.gamma)
}

func (t *trainer) getHist() histogram {
	if n := len(t.free); n > 0 {
		h := t.free[n-1]
		t.free = t.free[:n-1]
		return h
	}
	return make(histogram, t.nf)
}

func (t *trainer) putHist(h histogram) {
	if h != nil {
		t.free = append(t.free, h)
	}
}

// leafRows is a run of rows that ends in one leaf, or — when bin >= 0 —
// that a last split sends to one of two leaves.
type leafRows struct {
	start, end int
	value      float32 // the leaf, or the left leaf of a last split
	right      float32 // the right leaf of a last split
	feature    int
	bin        int // -1 for a plain leaf
}

// growTree grows one tree, adds it to the margins and recomputes the
// gradients.
func (t *trainer) growTree() tree {
	var tr tree
	parallelFor(t.threads, chunks(t.nrow, rowChunk), func(_, c int) {
		lo, hi := c*rowChunk, min((c+1)*rowChunk, t.nrow)
		for r := lo; r < hi; r++ {
			t.rows[r] = uint32(r)
		}
	})
	root := &node{start: 0, end: t.nrow}
	t.buildHists([]*node{root})
	// XGBoost sums the root from its first feature's histogram.
	for _, s := range root.hist[0][:t.nbins[0]] {
		root.sum.add(s)
	}
	w := t.weight(root.sum)
	root.id = tr.addNode(-1, w*t.eta, w, float32(root.sum.h))
	root.rootGain = t.gain(root.sum)
	t.evaluate([]*node{root})

	var out []leafRows
	level := []*node{root}
	for len(level) > 0 {
		var parents []*node
		for _, n := range level {
			if t.splittable(n.best) {
				t.applySplit(&tr, n)
				parents = append(parents, n)
				continue
			}
			out = append(out, leafRows{start: n.start, end: n.end, value: tr.cond[n.id], bin: -1})
			t.putHist(n.hist)
			n.hist = nil
		}
		if len(parents) == 0 {
			break
		}
		depth := parents[0].depth + 1
		if depth >= t.p.MaxDepth {
			// The children are leaves: add them to the margins
			// straight from the bins, without partitioning.
			for _, n := range parents {
				out = append(out, leafRows{
					start: n.start, end: n.end,
					value: tr.cond[tr.left[n.id]], right: tr.cond[tr.right[n.id]],
					feature: n.best.feature, bin: n.best.bin,
				})
				t.putHist(n.hist)
				n.hist = nil
			}
			break
		}
		t.partition(parents)
		level = level[:0:0]
		for i := 0; i < len(parents); i += batchNodes {
			level = append(level, t.children(&tr, parents[i:min(i+batchNodes, len(parents))])...)
		}
	}
	t.addLeaves(out)
	return tr
}

// applySplit turns leaf n into a split with two new leaves, as XGBoost's
// ApplyTreeSplit and RegTree::ExpandNode do.
func (t *trainer) applySplit(tr *tree, n *node) {
	s := n.best
	parent := s.left
	parent.add(s.right)
	wl, wr := t.weight(s.left), t.weight(s.right)
	l := tr.addNode(n.id, wl*t.eta, wl*t.eta, float32(s.left.h))
	r := tr.addNode(n.id, wr*t.eta, wr*t.eta, float32(s.right.h))
	tr.left[n.id], tr.right[n.id] = l, r
	tr.feature[n.id] = int32(s.feature)
	tr.cond[n.id] = t.cuts[s.feature][s.bin]
	tr.baseWeight[n.id] = t.weight(parent)
	tr.lossChange[n.id] = s.loss
	tr.sumHess[n.id] = float32(parent.h)
}

// partition splits each parent's rows between its children.
func (t *trainer) partition(parents []*node) {
	type piece struct {
		n          *node
		start, end int
		nl         int
		lo, ro     int // where its left and right rows go, from n.start
	}
	var pieces []piece
	for _, n := range parents {
		for s := n.start; s < n.end; s += rowChunk {
			pieces = append(pieces, piece{n: n, start: s, end: min(s+rowChunk, n.end)})
		}
	}
	parallelFor(t.threads, len(pieces), func(_, i int) {
		p := &pieces[i]
		s := p.n.best
		p.nl = partitionRows(t.rows[p.start:p.end], t.left[p.start:p.end], t.right[p.start:p.end],
			t.column(s.feature), uint8(s.bin))
	})
	for i := 0; i < len(pieces); {
		n := pieces[i].n
		j, nl := i, 0
		for ; j < len(pieces) && pieces[j].n == n; j++ {
			pieces[j].lo = nl
			nl += pieces[j].nl
		}
		n.nleft = nl
		// Recorded in obltrace builds: where a node's rows divide is
		// what the oblivious trainer's trace tests show this one to leak.
		trace.Access(trace.OpWrite, unsafe.Pointer(unsafe.SliceData(t.rows)), n.start+nl)
		ro := nl
		for k := i; k < j; k++ {
			pieces[k].ro = ro
			ro += pieces[k].end - pieces[k].start - pieces[k].nl
		}
		i = j
	}
	parallelFor(t.threads, len(pieces), func(_, i int) {
		p := &pieces[i]
		base := p.n.start
		copy(t.rows[base+p.lo:], t.left[p.start:p.start+p.nl])
		copy(t.rows[base+p.ro:], t.right[p.start:p.end-p.nl])
	})
}

// children makes the children of partitioned parents, builds their
// histograms — the smaller child's from its rows, the larger's by
// subtracting it from the parent's — and finds their best splits.
func (t *trainer) children(tr *tree, parents []*node) []*node {
	var kids, build []*node
	type pair struct{ parent, small, large *node }
	var pairs []pair
	for _, p := range parents {
		l := &node{id: tr.left[p.id], depth: p.depth + 1, start: p.start, end: p.start + p.nleft, sum: p.best.left}
		r := &node{id: tr.right[p.id], depth: p.depth + 1, start: p.start + p.nleft, end: p.end, sum: p.best.right}
		l.rootGain, r.rootGain = t.gain(l.sum), t.gain(r.sum)
		kids = append(kids, l, r)
		small, large := l, r
		if r.size() < l.size() {
			small, large = r, l
		}
		if p.hist == nil {
			build = append(build, l, r)
			continue
		}
		build = append(build, small)
		pairs = append(pairs, pair{p, small, large})
	}
	t.buildHists(build)
	parallelFor(t.threads, len(pairs), func(_, i int) {
		subtract(pairs[i].parent.hist, pairs[i].small.hist, t.nbins)
	})
	for _, pr := range pairs {
		pr.large.hist, pr.parent.hist = pr.parent.hist, nil
	}
	t.evaluate(kids)
	for _, k := range kids {
		// A child keeps its histogram only if its own children will be
		// built (and, in deep trees of big data, if it is among the
		// bigger nodes; the others' children are built from their rows).
		if !(t.splittable(k.best) && k.depth+1 < t.p.MaxDepth && k.size() >= t.keepRows) {
			t.putHist(k.hist)
			k.hist = nil
		}
	}
	return kids
}

// buildHists fills each node's histogram from its rows. A node's rows are
// cut into pieces of histChunk; every piece but the first fills a scratch
// histogram that is then added to the first in piece order.
func (t *trainer) buildHists(nodes []*node) {
	type piece struct {
		n          *node
		start, end int
		h          histogram
		scratch    bool // h is not n.hist
	}
	var pieces []piece
	extra := false
	for _, n := range nodes {
		n.hist = t.getHist()
		pieces = append(pieces, piece{n: n, start: n.start, end: min(n.start+histChunk, n.end), h: n.hist})
		for s := n.start + histChunk; s < n.end; s += histChunk {
			pieces = append(pieces, piece{n: n, start: s, end: min(s+histChunk, n.end), h: t.getHist(), scratch: true})
			extra = true
		}
	}
	parallelFor(t.threads, len(pieces), func(_, i int) {
		p := &pieces[i]
		clear(p.h)
		accumulate(p.h, t.rows[p.start:p.end], t.bins, t.gpair, t.nf)
	})
	if !extra {
		return
	}
	// Reduce: for each node with several pieces, one task per feature.
	type task struct {
		n0, n1 int // its pieces: pieces[n0] is the node's own histogram
		f      int
	}
	var tasks []task
	for i := 0; i < len(pieces); {
		j := i + 1
		for j < len(pieces) && pieces[j].n == pieces[i].n {
			j++
		}
		if j-i > 1 {
			for f := range t.nf {
				tasks = append(tasks, task{i, j, f})
			}
		}
		i = j
	}
	parallelFor(t.threads, len(tasks), func(_, i int) {
		k := tasks[i]
		nb := t.nbins[k.f]
		dst := pieces[k.n0].h[k.f][:nb]
		for _, p := range pieces[k.n0+1 : k.n1] {
			src := p.h[k.f][:nb]
			for b := range dst {
				dst[b].add(src[b])
			}
		}
	})
	for _, p := range pieces {
		if p.scratch {
			t.putHist(p.h)
		}
	}
}

// evaluate finds each node's best split, one task per node and feature.
// Features are then compared in order and a later one must be strictly
// better, which is XGBoost's tie-break (SplitEntry::NeedReplace).
func (t *trainer) evaluate(nodes []*node) {
	res := make([]split, len(nodes)*t.nf)
	parallelFor(t.threads, len(res), func(_, i int) {
		n, f := nodes[i/t.nf], i%t.nf
		res[i] = t.bestSplit(n, f)
	})
	for i, n := range nodes {
		n.best = split{}
		for _, s := range res[i*t.nf : (i+1)*t.nf] {
			if s.loss > n.best.loss {
				n.best = s
			}
		}
	}
}

// bestSplit is XGBoost's forward EnumerateSplit over one feature: every
// bin's upper cut is a candidate; the left side accumulates bins in order.
// (The backward pass XGBoost adds for missing values finds nothing more
// when no value is missing.)
func (t *trainer) bestSplit(n *node, f int) split {
	best := split{feature: f}
	mcw := float64(t.mcw)
	var left binStat
	for b, e := range n.hist[f][:t.nbins[f]] {
		if e.h == 0 {
			continue // an empty bin repeats the previous candidate
		}
		left.add(e)
		right := binStat{n.sum.g - left.g, n.sum.h - left.h}
		if left.h >= mcw && right.h >= mcw {
			loss := (t.gain(left) + t.gain(right)) - n.rootGain
			if loss > best.loss {
				best = split{loss: loss, feature: f, bin: b, left: left, right: right}
			}
		}
	}
	return best
}

// addLeaves adds each row's leaf to its margin and recomputes its
// gradient for the next tree: first each leaf writes its value into
// delta at its rows, then one pass in row order updates every row.
func (t *trainer) addLeaves(out []leafRows) {
	type piece struct {
		l          *leafRows
		start, end int
	}
	var pieces []piece
	for i := range out {
		l := &out[i]
		for s := l.start; s < l.end; s += rowChunk {
			pieces = append(pieces, piece{l, s, min(s+rowChunk, l.end)})
		}
	}
	parallelFor(t.threads, len(pieces), func(_, i int) {
		p := pieces[i]
		l := p.l
		rows := t.rows[p.start:p.end]
		if l.bin < 0 {
			for _, r := range rows {
				t.delta[r] = l.value
			}
			return
		}
		col, bin := t.column(l.feature), uint8(l.bin)
		for _, r := range rows {
			v := l.right
			if col[r] <= bin {
				v = l.value
			}
			t.delta[r] = v
		}
	})
	parallelFor(t.threads, chunks(t.nrow, rowChunk), func(_, c int) {
		lo, hi := c*rowChunk, min((c+1)*rowChunk, t.nrow)
		m, d := t.margin[lo:hi], t.delta[lo:hi]
		d = d[:len(m)]
		for i := range m {
			m[i] += d[i]
		}
		t.gradients(lo, hi)
	})
}
