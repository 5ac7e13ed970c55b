package obl

import (
	"math"
	"unsafe"

	"github.com/confide/confide/ml/gbdt"
	"github.com/confide/confide/oblivious"
	"github.com/confide/confide/oblivious/trace"
)

// Sorted columns: GBDT's other way to find splits, the one it takes when
// the columns fit in columnBudget.
//
// Histograms cost every row a touch of every cache line of (nodes × bins)
// cells, since its node and bin are secret. But a split search needs only
// each node's running sums in bin order, not the histogram itself. So
// each feature gets its own copy of the rows (bins and label), sorted
// once by that feature's bin with a sorting network; then, level by
// level, each copy is read in its order and every row is added to its
// node's running sums (every cache line of the level's node state: eight
// nodes a line — not of nodes × bins).
// Before a row is added, its node's sums are those of the node's rows in
// lower bins — a left child — whenever the row opens a new bin for its
// node: that is a candidate split, scored then. Every copy moves its rows
// to their children itself (each holds every feature's bin), and keeps
// its own margins, so nothing is ever routed between copies. Work per
// row, feature and level: 14 fields × ⌈2^level/8⌉ line touches, against
// 2^(level−1) × bins/8 for a histogram.
//
// Memory: a copy of every row for every feature — features² × rows bytes
// and more — which is why there is a budget (public parameters decide).
//
// The candidates and their order are the histogram's: bins ascending,
// the first best kept (a bin left empty by a node's rows scores as its
// lower neighbour, which comes first), features ascending. Only the
// sums' rounding differs: these add float64 rows in sorted order; the
// histograms add float32 blocks.

// columnBudget bounds the sorted columns' memory (bytes).
const columnBudget = 2 << 30

// columnLayout is the record layout of a copy: binWords words of bins
// (byte f of the record is feature f's bin), and the label — for binary
// labels the byte after the bins, otherwise a float64 in the last word.
func columnLayout(nf int, binary bool) (width, binWords int) {
	if binary {
		w := (nf + 1 + 7) / 8
		return w, w
	}
	w := (nf + 7) / 8
	return w + 1, w
}

// columnBytes is the sorted columns' memory for n rows and nf features.
func columnBytes(n, nf int, binary bool) int {
	width, _ := columnLayout(nf, binary)
	// Per copy and row: the record, its sort key, position, margin,
	// gradient and hessian.
	return nf * n * (8*width + 8 + 8 + 8 + 16)
}

// A copy's state of the level's nodes, one oblivious.LineTable field
// each: the nodes' totals (the level's, the same in every copy), their
// running sums so far in this copy's order, the last bin seen, and the
// best candidate so far. Eight nodes share a line, so a row reads and
// writes its node's fields touching nodes/8 lines per field.
const (
	nG = iota
	nH
	nRoot
	nAccG
	nAccH
	nLast
	nBest
	nBestS
	nBestG
	nBestH
	nFields
)

// column is one feature's copy of the rows, in that feature's bin order.
type column struct {
	rec    trace.Words // Cells secret, shape public
	pos    trace.Vec   //confide:secret
	margin trace.Vec   //confide:secret
	g, h   trace.Vec   //confide:secret
	nodes  oblivious.LineTable
}

// noBin is a Last that no bin exceeds: a node's first row opens no
// candidate.
const noBin = 1 << 16

// colTrainer grows trees over sorted columns.
type colTrainer struct {
	*gbdtTrainer
	width, binWords int
	cols            []*column
}

// newColumns makes every feature's copy of the rows and sorts it by that
// feature's bin.
//
//confide:oblivious
func newColumns(t *gbdtTrainer) *colTrainer {
	width, binWords := columnLayout(t.nf, t.binary)
	c := &colTrainer{gbdtTrainer: t, width: width, binWords: binWords, cols: make([]*column, t.nf)}
	t.parallel(t.nf, func(f int) {
		col := &column{rec: trace.NewWords(t.n, width), pos: make(trace.Vec, t.n),
			margin: make(trace.Vec, t.n), g: make(trace.Vec, t.n), h: make(trace.Vec, t.n)}
		keys := make([]uint64, t.n)
		for i := range t.n {
			c.fill(col.rec.RowW(i), t.bins.Row(i), t.y.At(i))
			keys[i] = uint64(t.bins.Row(i)[f])
			col.margin.Set(i, t.base)
		}
		oblivious.SortRows(keys, col.rec.Cells, width)
		c.cols[f] = col
	})
	return c
}

// fill packs a row's bins and label into a record.
//
//confide:oblivious
//confide:secret rec bins y
func (c *colTrainer) fill(rec []uint64, bins []uint8, y float64) {
	b := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(rec))), len(rec)*8)
	copy(b, bins)
	if c.binary {
		b[c.nf] = uint8(y) // 0 or 1, checked
		return
	}
	rec[c.binWords] = math.Float64bits(y)
}

// label reads a record's label.
//
//confide:oblivious
//confide:secret rec
func (c *colTrainer) label(rec []uint64) float64 {
	if c.binary {
		return float64(int64(oblivious.ByteAt(rec[:c.binWords], uint64(c.nf))))
	}
	return math.Float64frombits(rec[c.binWords])
}

// parallel runs f(k) for k < n, shared among the CPUs. Each k must write
// only its own data.
func (t *gbdtTrainer) parallel(n int, f func(k int)) {
	spread(min(workers(t.n*n), n), n, func(_, lo, hi int) {
		for j := lo; j < hi; j++ {
			f(j)
		}
	})
}

// tree grows one full tree and adds it to every copy's margins.
//
//confide:oblivious float-division
func (c *colTrainer) tree() gbdt.FullTree {
	ft, G, H := c.newTree()
	c.parallel(c.nf, func(f int) { c.gradients(c.cols[f]) })
	for i := range c.n {
		G[0] += c.cols[0].g.At(i)
		H[0] += c.cols[0].h.At(i)
	}
	var split []uint64 // the last level's splits: feature<<16 | bin
	for level := range c.p.MaxDepth {
		nodes := 1 << level
		first := nodes - 1
		c.parallel((c.nf+interleave-1)/interleave, func(k int) {
			c.scan(k*interleave, level, G[first:first+nodes], H[first:first+nodes], split)
		})
		split = oblivious.AlignedUint64s(nodes)
		for v := range nodes {
			id := first + v
			best, bf, bs, gl, hl := 0.0, uint64(0), uint64(c.nbins-1), G[id], H[id]
			for f, col := range c.cols { // features ascending: ties to the lower
				ns := col.nodes
				f64 := func(k int) float64 { return math.Float64frombits(ns.Get(k, v)) }
				better := oblivious.LtFloat(best, f64(nBest))
				best = oblivious.SelectFloat(better, f64(nBest), best)
				bf = oblivious.Select(better, uint64(f), bf)
				bs = oblivious.Select(better, ns.Get(nBestS, v), bs)
				gl = oblivious.SelectFloat(better, f64(nBestG), gl)
				hl = oblivious.SelectFloat(better, f64(nBestH), hl)
			}
			c.setSplit(ft, G, H, id, bf, bs, best, gl, hl)
			split[v] = bf<<16 | bs
		}
	}
	values := c.setLeaves(ft, G, H)
	c.parallel(c.nf, func(f int) { c.leaves(c.cols[f], split, values) })
	return publishTree(ft)
}

// cond is the threshold of split (feature f, bin s): the bin's upper cut,
// or the largest float32 for s = nbins−1 (no split: all go left). Every
// feature's cuts are read.
//
//confide:oblivious
//confide:secret f s
func (t *gbdtTrainer) cond(f, s uint64) float32 {
	cond := float32(math.MaxFloat32)
	for feat, cuts := range t.cuts {
		isF := oblivious.Eq(uint64(feat), f)
		for b, cut := range cuts {
			cond = float32(oblivious.SelectFloat(isF.And(oblivious.Eq(uint64(b), s)), float64(cut), float64(cond)))
		}
	}
	return cond
}

// gradients sets a copy's gradients and hessians from its margins and
// puts every row at the root.
//
//confide:oblivious
func (c *colTrainer) gradients(col *column) {
	for i := range c.n {
		g, h := c.gradient(col.margin.At(i), c.label(col.rec.Row(i)))
		col.g.Set(i, g)
		col.h.Set(i, h)
		col.pos.Set(i, 0)
	}
}

// descend moves a row from its node to the child that split (the last
// level's, feature<<16 | bin per node, AlignedUint64s) sends it to: the
// node's split at line granularity, the feature's bin by ByteAt.
//
//confide:oblivious
//confide:secret rec pos split
func (c *colTrainer) descend(rec []uint64, pos uint64, split []uint64) uint64 {
	fs := oblivious.ReadLine64(split, pos)
	b := oblivious.ByteAt(rec[:c.binWords], fs>>16)
	return 2*pos + oblivious.Lt(fs&0xffff, b).Bit()
}

// interleave is how many copies one worker steps through side by side,
// a row of each in turn: a row's step depends on the one before it in
// the same copy (through its node's sums), and a copy's next row cannot
// start until this one's gains are divided out; another copy's row can.
const interleave = 2

// scan runs one level over a group of copies (interleave features from
// first): in each, every row moves to its child (below the root), its
// candidate split is scored against its node's sums so far, and it joins
// them. G and H are the level's node totals; split the last level's
// splits.
//
//confide:oblivious float-division
//confide:secret G H split
func (c *colTrainer) scan(first, level int, G, H []float64, split []uint64) {
	last := min(first+interleave, c.nf)
	for f := first; f < last; f++ {
		ns := oblivious.NewLineTable(nFields, len(G))
		for v := range G {
			for k, x := range []float64{nG: G[v], nH: H[v], nRoot: c.gain(G[v], H[v]), nBestG: G[v], nBestH: H[v]} {
				ns.Set(k, v, math.Float64bits(x))
			}
			ns.Set(nLast, v, noBin)
			ns.Set(nBestS, v, uint64(c.nbins-1))
		}
		c.cols[f].nodes = ns
	}
	for i := range c.n {
		for f := first; f < last; f++ {
			c.step(c.cols[f], f, i, level, split)
		}
	}
}

// step is scan's work on row i of the copy sorted by feature f.
//
//confide:oblivious float-division
//confide:secret split
func (c *colTrainer) step(col *column, f, i, level int, split []uint64) {
	var cur [nBest + 1]uint64       // the row's node: fields nG … nBest
	var upd [nFields - nAccG]uint64 // and what it writes back: nAccG …
	var mask [nFields - nAccG]oblivious.Mask
	ns := col.nodes
	rec := col.rec.Row(i)
	pos := posAt(col.pos, i)
	if level > 0 {
		pos = c.descend(rec, pos, split)
		setPos(col.pos, i, pos)
	}
	b := rec[f/8] >> (8 * (f % 8)) & 0xff // public: where the feature is
	g, h := col.g.At(i), col.h.At(i)
	ns.Read(pos, 0, cur[:])
	f64 := math.Float64frombits
	lg, lh := f64(cur[nAccG]), f64(cur[nAccH])
	rg, rh := f64(cur[nG])-lg, f64(cur[nH])-lh
	last := cur[nLast]
	var l float64
	if c.alpha == 0 { // public: a hyperparameter, and the default
		// gain without its test for a zero hessian: a split with one
		// fails valid whatever the division gives.
		l = lg*lg/(lh+c.lambda) + rg*rg/(rh+c.lambda) - f64(cur[nRoot])
	} else {
		l = c.gain(lg, lh) + c.gain(rg, rh) - f64(cur[nRoot])
	}
	ok := oblivious.Lt(last, b).And(c.valid(lh, rh, l)).
		And(oblivious.Lt(cur[nBest], math.Float64bits(l))) // both ≥ 0 where valid: bits order as floats
	const o = nAccG // upd and mask start at field nAccG
	upd[nAccG-o], upd[nAccH-o], upd[nLast-o] = math.Float64bits(lg+g), math.Float64bits(lh+h), b
	upd[nBest-o], upd[nBestS-o], upd[nBestG-o], upd[nBestH-o] = math.Float64bits(l), last, math.Float64bits(lg), math.Float64bits(lh)
	mask[nAccG-o], mask[nAccH-o], mask[nLast-o] = oblivious.True, oblivious.True, oblivious.True
	mask[nBest-o], mask[nBestS-o], mask[nBestG-o], mask[nBestH-o] = ok, ok, ok, ok
	ns.Write(pos, nAccG, upd[:], mask[:])
}

// valid is bestSplit's test of a split (but for beating the best so
// far), with the terms that the public parameters make redundant left
// out: a min_child_weight above 0 implies both hessian sums are, and a
// gamma at most 1e-6 is implied by the loss change's floor. The sums are
// finite; l is too unless a hessian sum is at most 0 with lambda 0 (a
// division by zero), and then a hessian term fails: so LtFinite.
//
//confide:oblivious
//confide:secret lh rh l
func (c *colTrainer) valid(lh, rh, l float64) oblivious.Mask {
	ok := oblivious.LtFinite(lh, c.mcw).Or(oblivious.LtFinite(rh, c.mcw)).Not().And(oblivious.LtFinite(1e-6, l))
	if c.gamma > 1e-6 {
		ok = ok.AndNot(oblivious.LtFinite(l, c.gamma))
	}
	if c.mcw <= 0 {
		ok = ok.And(oblivious.LtFinite(0, lh)).And(oblivious.LtFinite(0, rh))
	}
	return ok
}

// leaves moves every row of a copy to its leaf and adds the leaf's value
// to its margin (values: AlignedFloats, read at line granularity).
//
//confide:oblivious
//confide:secret split values
func (c *colTrainer) leaves(col *column, split []uint64, values []float64) {
	for i := range c.n {
		pos := c.descend(col.rec.Row(i), posAt(col.pos, i), split)
		col.margin.Set(i, col.margin.At(i)+oblivious.ReadLineFloat(values, pos))
	}
}
