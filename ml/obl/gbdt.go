package obl

import (
	"errors"
	"fmt"
	"math"

	"github.com/confide/confide/ml/dataset"
	"github.com/confide/confide/ml/gbdt"
	"github.com/confide/confide/oblivious"
	"github.com/confide/confide/oblivious/trace"
)

// MaxGBDTDepth bounds the depth of obliviously grown trees, which are
// always full.
const MaxGBDTDepth = 10

// cutSample is how many rows, evenly spaced (positions are public), the
// quantile cuts are taken from.
const cutSample = 1 << 14

// GBDT trains boosted trees of gbdt.Train's kind, obliviously.
//
// Public parameters: the number of rows and features and every
// hyperparameter — rounds, max depth, bins, eta, lambda, alpha,
// min_child_weight, gamma, the objective, base_score. Granularity: 64-byte
// cache line for the per-node state (sorted columns) or the histograms
// (oblivious.LineTable, AddPairLines32) and the reads of a node's split
// and a leaf's value; element for everything else.
//
//   - Cuts: each feature's quantiles over up to cutSample rows at evenly
//     spaced positions, sorted by a sorting network (oblivious.SortUint64):
//     max_bin − 1 cuts at fixed ranks, duplicates kept (a bin may be empty),
//     so that their number says nothing about the data. XGBoost's sketch
//     is data-dependent; these cuts are not the same cuts.
//   - Bins: a value's bin is the number of cuts at or below it, counted
//     against every cut (no search).
//   - Trees are grown to full depth, level by level, every node's split
//     the best by XGBoost's loss change (ties to the lower feature, then
//     bin); a node without a valid split sends all its rows left
//     (threshold the largest float32), so its left child carries on with
//     its rows and its right child is an empty leaf.
//   - Splits are found by sorted columns (gbdtcols.go) when every
//     feature's copy of the rows fits in columnBudget — features² × rows
//     bytes and more; that is a choice made on public sizes — else by
//     histograms: a level's histograms are built for the left children
//     only (every row added, with weight 0 if it is a right child, to its
//     parent's slot; the right children's are the parents' minus them),
//     each addition touching every cache line of that feature's
//     histograms. Both give the same splits but for the sums' rounding.
//   - A row moves to its child by reading its node's split (a scan of the
//     level, or a line-granular read) and its bin for that feature (a
//     scan of its features); a leaf's value reaches its margin the same
//     way.
func GBDT(d *dataset.Dataset, p gbdt.Params) (*gbdt.Model, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if d.Y == nil || len(d.X) == 0 || len(d.Features) == 0 {
		return nil, errors.New("obl: gbdt needs labelled rows and features")
	}
	if p.MaxDepth > MaxGBDTDepth {
		// Full trees: 2^depth leaves, and histograms for half as many
		// nodes at the last level, whatever the data.
		return nil, fmt.Errorf("obl: gbdt: max_depth %d; oblivious trees grow to full depth, at most %d", p.MaxDepth, MaxGBDTDepth)
	}
	x, y := load(d)
	binary := p.Objective == gbdt.BinaryLogistic
	if !finite32(x) || binary && !checkBinary(y) || !finiteY(y) {
		// Which cell is not said: that would be a leak.
		return nil, errors.New("obl: gbdt: a value is not a finite float32, or a label is not 0 or 1")
	}
	return gbdtTrain(d.Features, x, y, p, columnBytes(x.Rows(), x.Cols, binary) <= columnBudget)
}

// gbdtTrain grows the trees by sorted columns or by histograms.
func gbdtTrain(features []string, x trace.Table, y trace.Vec, p gbdt.Params, columns bool) (*gbdt.Model, error) {
	t := newGBDT(x, y, p)
	tree := t.tree
	if columns {
		tree = newColumns(t).tree
	}
	var trees []gbdt.FullTree
	for range p.Rounds {
		trees = append(trees, tree())
	}
	return gbdt.FromFullTrees(p, features, trees)
}

// finite32 reports whether every cell is finite as a float32, without a
// branch per cell.
//
//confide:oblivious
func finite32(x trace.Table) bool {
	ok := oblivious.Mask(^uint64(0))
	for i := range x.Rows() {
		for _, v := range x.Row(i) {
			b := uint64(math.Float32bits(float32(v)))
			ok = ok.AndNot(oblivious.Eq(b&0x7f800000, 0x7f800000))
		}
	}
	return declassify(ok)
}

//confide:oblivious
//confide:secret y
func finiteY(y trace.Vec) bool {
	ok := oblivious.Mask(^uint64(0))
	for i := range len(y) {
		b := math.Float64bits(y.At(i))
		ok = ok.AndNot(oblivious.Eq(b&0x7ff0000000000000, 0x7ff0000000000000))
	}
	return declassify(ok)
}

// gbdtTrainer holds the binned data and the margins between trees.
type gbdtTrainer struct {
	p     gbdt.Params
	n, nf int
	bins  trace.Bytes
	// cuts holds each feature's nbins−1 cuts, ascending.
	cuts   [][]float32 //confide:secret
	y      trace.Vec   //confide:secret
	margin trace.Vec   //confide:secret
	g      trace.Vec   //confide:secret
	h      trace.Vec   //confide:secret
	// pos is each row's node within its level.
	pos    trace.Vec //confide:secret
	nbins  int
	binary bool
	lambda float64
	alpha  float64
	mcw    float64
	gamma  float64
	eta    float64
	base   float64 // the base margin
}

//confide:oblivious float-division
func newGBDT(x trace.Table, y trace.Vec, p gbdt.Params) *gbdtTrainer {
	n, nf := x.Rows(), x.Cols
	t := &gbdtTrainer{p: p, n: n, nf: nf, y: y, nbins: p.MaxBins, binary: p.Objective == gbdt.BinaryLogistic,
		lambda: p.Lambda, alpha: p.Alpha, mcw: p.MinChildWeight, gamma: p.Gamma, eta: p.LearningRate,
		margin: make(trace.Vec, n), g: make(trace.Vec, n), h: make(trace.Vec, n), pos: make(trace.Vec, n)}
	t.base = p.BaseScore
	if t.binary {
		t.base = math.Log(p.BaseScore / (1 - p.BaseScore)) // public: a hyperparameter
	}
	for i := range n {
		t.margin.Set(i, t.base)
	}
	t.cuts = quantileCuts(x, t.nbins)
	t.bins = binAll(x, t.cuts)
	return t
}

// quantileCuts takes each feature's nbins−1 cuts at fixed ranks of a
// sorted sample of rows at evenly spaced positions.
//
//confide:oblivious
func quantileCuts(x trace.Table, nbins int) [][]float32 {
	n, nf := x.Rows(), x.Cols
	s := min(n, cutSample)
	cuts := make([][]float32, nf)
	keys := make([]uint64, s)
	for f := range nf {
		for k := range s {
			keys[k] = oblivious.FloatKey(float64(float32(x.Row(k * n / s)[f])))
		}
		oblivious.SortUint64(keys)
		cuts[f] = make([]float32, nbins-1)
		for b := range nbins - 1 {
			cuts[f][b] = float32(math.Float64frombits(fromFloatKey(keys[min(s-1, (b+1)*s/nbins)])))
		}
	}
	return cuts
}

// fromFloatKey inverts oblivious.FloatKey, branch-free.
//
//confide:oblivious
//confide:secret k
func fromFloatKey(k uint64) uint64 {
	t := uint64(int64(k) >> 63)
	return k ^ (^t | t&(1<<63))
}

// binAll gives every cell its bin: how many of its feature's cuts are at
// or below it, counted against all of them.
//
//confide:oblivious
func binAll(x trace.Table, cuts [][]float32) trace.Bytes {
	n, nf := x.Rows(), x.Cols
	bins := trace.NewBytes(n, nf)
	ck := make([][]uint64, nf)
	for f := range nf {
		ck[f] = make([]uint64, len(cuts[f]))
		for b, c := range cuts[f] {
			ck[f][b] = oblivious.FloatKey(float64(c))
		}
	}
	for i := range n {
		row, out := x.Row(i), bins.RowW(i)
		for f, v := range row {
			vk := oblivious.FloatKey(float64(float32(v)))
			count := uint64(0)
			for _, c := range ck[f] {
				count += 1 - oblivious.Lt(vk, c).Bit()
			}
			out[f] = uint8(count)
		}
	}
	return bins
}

// gradients computes every row's gradient and hessian from its margin.
//
//confide:oblivious
func (t *gbdtTrainer) gradients() {
	for i := range t.n {
		g, h := t.gradient(t.margin.At(i), t.y.At(i))
		t.g.Set(i, g)
		t.h.Set(i, h)
		t.pos.Set(i, 0)
	}
}

// gradient is the loss's gradient and hessian at margin m for label y
// (gbdt's: the logistic hessian floored at 1e-16).
//
//confide:oblivious
//confide:secret m y
func (t *gbdtTrainer) gradient(m, y float64) (g, h float64) {
	if !t.binary {
		return m - y, 1
	}
	pr := Sigmoid(m)
	h = pr * (1 - pr)
	return pr - y, oblivious.SelectFloat(oblivious.LtFloat(h, 1e-16), 1e-16, h)
}

// thresholdL1 soft-thresholds g by alpha, branch-free.
//
//confide:oblivious
//confide:secret g
func thresholdL1(g, alpha float64) float64 {
	if alpha == 0 { // public: a hyperparameter (and the default)
		return g
	}
	hi := oblivious.LtFloat(alpha, g)
	lo := oblivious.LtFloat(g, -alpha)
	return oblivious.SelectFloat(hi, g-alpha, oblivious.SelectFloat(lo, g+alpha, 0))
}

// gain is G²/(H+λ), 0 for no hessian (gbdt's gain).
//
//confide:oblivious float-division
//confide:secret g h
func (t *gbdtTrainer) gain(g, h float64) float64 {
	tg := thresholdL1(g, t.alpha)
	return oblivious.SelectFloat(oblivious.LtFloat(0, h), tg*tg/(h+t.lambda), 0)
}

// weight is −G/(H+λ), 0 below min_child_weight (gbdt's weight).
//
//confide:oblivious float-division
//confide:secret g h
func (t *gbdtTrainer) weight(g, h float64) float64 {
	ok := oblivious.LtFloat(h, t.mcw).Not().And(oblivious.LtFloat(0, h))
	return oblivious.SelectFloat(ok, -thresholdL1(g, t.alpha)/(h+t.lambda), 0)
}

// tree grows one full tree and adds it to the margins.
//
//confide:oblivious float-division
func (t *gbdtTrainer) tree() gbdt.FullTree {
	t.gradients()
	depth := t.p.MaxDepth
	ft, G, H := t.newTree()
	for i := range t.n {
		G[0] += t.g.At(i)
		H[0] += t.h.At(i)
	}
	var hist [][]float64 // this level's, per feature: [node][bin](g, h)
	split := make([]float64, 2*(1<<depth))
	for level := range depth {
		nodes := 1 << level
		first := nodes - 1
		hist = t.levelHist(level, hist)
		for v := range nodes {
			id := first + v
			f, s, loss, gl, hl := t.bestSplit(hist, v, G[id], H[id])
			t.setSplit(ft, G, H, id, f, s, loss, gl, hl)
			split[2*v], split[2*v+1] = float64(int64(f)), float64(int64(s))
		}
		t.descend(nodes, split)
	}
	// The leaves: their values, and each row's margin.
	values := t.setLeaves(ft, G, H)
	for i := range t.n {
		pos := posAt(t.pos, i)
		add := 0.0
		for v, w := range values {
			add = oblivious.SelectFloat(oblivious.Eq(uint64(v), pos), w, add)
		}
		t.margin.Set(i, t.margin.At(i)+add)
	}
	return publishTree(ft)
}

// newTree makes a full tree of the trainer's depth to fill, and its
// nodes' gradient and hessian sums.
func (t *gbdtTrainer) newTree() (ft gbdt.FullTree, G, H []float64) {
	depth := t.p.MaxDepth
	nNodes, nSplits := 1<<(depth+1)-1, 1<<depth-1
	ft = gbdt.FullTree{Depth: depth, Feature: make([]int32, nSplits), Cond: make([]float32, nNodes),
		BaseWeight: make([]float32, nNodes), LossChange: make([]float32, nSplits), SumHess: make([]float32, nNodes)}
	return ft, make([]float64, nNodes), make([]float64, nNodes)
}

// setSplit records node id's split — feature f, bin s (nbins−1: none),
// its loss change and its left child's sums — and its children's sums.
//
//confide:oblivious float-division
//confide:secret ft G H f s loss gl hl
func (t *gbdtTrainer) setSplit(ft gbdt.FullTree, G, H []float64, id int, f, s uint64, loss, gl, hl float64) {
	ft.Feature[id] = int32(f)
	ft.LossChange[id] = float32(loss)
	ft.Cond[id] = t.cond(f, s)
	ft.BaseWeight[id] = float32(t.weight(G[id], H[id]))
	ft.SumHess[id] = float32(H[id])
	G[2*id+1], H[2*id+1] = gl, hl
	G[2*id+2], H[2*id+2] = G[id]-gl, H[id]-hl
}

// setLeaves records the leaves' values from their sums and returns them
// (AlignedFloats, as float32 rounds them).
//
//confide:oblivious float-division
//confide:secret ft G H
func (t *gbdtTrainer) setLeaves(ft gbdt.FullTree, G, H []float64) []float64 {
	leaves := 1 << t.p.MaxDepth
	values := oblivious.AlignedFloats(leaves)
	for v := range leaves {
		id := leaves - 1 + v
		w := t.weight(G[id], H[id]) * t.eta
		values[v] = float64(float32(w))
		ft.Cond[id] = float32(w)
		ft.BaseWeight[id] = float32(w)
		ft.SumHess[id] = float32(H[id])
	}
	return values
}

// posAt and setPos read and write a row's node position, kept as a
// float64 in a traced vector. Through int64: Go converts between float64
// and uint64 with a branch on the value (the same way for every
// position, but a branch); between float64 and int64 it does not.
//
//confide:oblivious
//confide:secret v
func posAt(v trace.Vec, i int) uint64 { return uint64(int64(v.At(i))) }

//confide:oblivious
//confide:secret v pos
func setPos(v trace.Vec, i int, pos uint64) { v.Set(i, float64(int64(pos))) }

// publishTree copies a finished tree, declassified on purpose: it is the
// model, which goes (sealed) to the job's recipients.
//
//confide:declassify
func publishTree(ft gbdt.FullTree) gbdt.FullTree {
	return gbdt.FullTree{Depth: ft.Depth, Feature: append([]int32(nil), ft.Feature...), Cond: append([]float32(nil), ft.Cond...),
		BaseWeight: append([]float32(nil), ft.BaseWeight...), LossChange: append([]float32(nil), ft.LossChange...),
		SumHess: append([]float32(nil), ft.SumHess...)}
}

// levelHist builds this level's histograms: the root's from every row;
// below it, each left child's from every row (weighted 0 unless the row
// is a left child) and each right child's as its parent's minus it.
//
//confide:oblivious
func (t *gbdtTrainer) levelHist(level int, parent [][]float64) [][]float64 {
	nb := t.nbins
	nodes := 1 << level
	built := max(1, nodes/2)
	out := make([][]float64, t.nf)
	for f := range out {
		out[f] = oblivious.AlignedFloats(built * nb * 2)
	}
	// The features are shared among the CPUs (each histogram has one
	// writer); every worker reads every row.
	workers := min(workers(t.n*t.nf), t.nf)
	spread(workers, t.nf, func(_, lo, hi int) { t.histFeatures(out, level, lo, hi) })
	if level == 0 {
		return out
	}
	full := make([][]float64, t.nf)
	for f := range full {
		full[f] = make([]float64, nodes*nb*2)
		for pn := range built {
			l := out[f][pn*nb*2 : (pn+1)*nb*2]
			par := parent[f][pn*nb*2 : (pn+1)*nb*2]
			copy(full[f][2*pn*nb*2:], l)
			r := full[f][(2*pn+1)*nb*2 : (2*pn+2)*nb*2]
			for k := range r {
				r[k] = par[k] - l[k]
			}
		}
	}
	return full
}

// histBlock is how many rows are summed in float32 before their sums
// join the float64 histograms: float32 pairs put eight in a cache line
// (half the lines to touch per row), and a block's rounding stays small.
const histBlock = 4096

// histFeatures adds every row to the histograms of features lo to hi.
//
//confide:oblivious
func (t *gbdtTrainer) histFeatures(out [][]float64, level, lo, hi int) {
	nb := uint64(t.nbins)
	part := make([][]float32, hi-lo)
	for f := range part {
		part[f] = oblivious.AlignedFloat32s(len(out[lo+f]))
	}
	flush := func() {
		for f, pf := range part {
			of := out[lo+f]
			for k, v := range pf[:len(of)] {
				of[k] += float64(v)
			}
			clear(pf)
		}
	}
	for i := range t.n {
		g, h := t.g.At(i), t.h.At(i)
		pos := posAt(t.pos, i)
		slot := pos >> 1
		if level > 0 {
			left := oblivious.SelectFloat(oblivious.Eq(pos&1, 0), 1, 0)
			g, h = g*left, h*left
		} else {
			slot = 0
		}
		row := t.bins.Row(i)
		g32, h32 := float32(g), float32(h)
		for f := lo; f < hi; f++ {
			oblivious.AddPairLines32(part[f-lo], (slot*nb+uint64(row[f]))*2, g32, h32)
		}
		if (i+1)%histBlock == 0 {
			flush()
		}
	}
	flush()
}

// bestSplit is the best split of node v over every feature and bin, as
// gbdt's evaluation scores them (ties to the lower feature, then bin), or
// bin nbins−1 (no split) if none is valid.
//
//confide:oblivious float-division
//confide:secret gsum hsum
func (t *gbdtTrainer) bestSplit(hist [][]float64, v int, gsum, hsum float64) (f, s uint64, loss, gl, hl float64) {
	nb := t.nbins
	root := t.gain(gsum, hsum)
	best := 0.0
	bf, bs := uint64(0), uint64(nb-1)
	for feat := range t.nf {
		hv := hist[feat][v*nb*2 : (v+1)*nb*2]
		lg, lh := 0.0, 0.0
		for b := range nb - 1 {
			lg += hv[2*b]
			lh += hv[2*b+1]
			rg, rh := gsum-lg, hsum-lh
			l := t.gain(lg, lh) + t.gain(rg, rh) - root
			valid := oblivious.LtFloat(lh, t.mcw).Not().And(oblivious.LtFloat(rh, t.mcw).Not()).
				And(oblivious.LtFloat(1e-6, l)).And(oblivious.LtFloat(l, t.gamma).Not()).
				And(oblivious.LtFloat(0, lh)).And(oblivious.LtFloat(0, rh)).
				And(oblivious.LtFloat(best, l))
			best = oblivious.SelectFloat(valid, l, best)
			bf = oblivious.Select(valid, uint64(feat), bf)
			bs = oblivious.Select(valid, uint64(b), bs)
			gl = oblivious.SelectFloat(valid, lg, gl)
			hl = oblivious.SelectFloat(valid, lh, hl)
		}
	}
	none := oblivious.Eq(bs, uint64(nb-1))
	gl = oblivious.SelectFloat(none, gsum, gl)
	hl = oblivious.SelectFloat(none, hsum, hl)
	return bf, bs, best, gl, hl
}

// descend moves every row to its child: split holds each node's feature
// and bin; a row goes right if its bin is above its node's.
//
//confide:oblivious
//confide:secret split
func (t *gbdtTrainer) descend(nodes int, split []float64) {
	for i := range t.n {
		pos := posAt(t.pos, i)
		f, s := 0.0, 0.0
		for v := range nodes {
			m := oblivious.Eq(uint64(v), pos)
			f = oblivious.SelectFloat(m, split[2*v], f)
			s = oblivious.SelectFloat(m, split[2*v+1], s)
		}
		row := t.bins.Row(i)
		b := uint64(0)
		for k, bin := range row {
			b = oblivious.Select(oblivious.Eq(uint64(k), uint64(int64(f))), uint64(bin), b)
		}
		right := oblivious.Lt(uint64(int64(s)), b).Bit()
		setPos(t.pos, i, 2*pos+right)
	}
}
