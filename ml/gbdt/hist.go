package gbdt

// The inner loops of training: histogram accumulation, row partitioning
// and margin updates. They are kept free of bounds checks in their
// innermost statements (see `go build -gcflags=-d=ssa/check_bce`).

// gradPair is one row's gradient and hessian, float32 as in XGBoost.
type gradPair struct{ g, h float32 }

// binStat is a sum of gradient pairs, float64 as XGBoost's histograms.
type binStat struct{ g, h float64 }

func (s *binStat) add(o binStat) { s.g += o.g; s.h += o.h }

// histogram holds one node's gradient sums: [feature][bin]. A fixed 256
// bins per feature lets a uint8 bin index address it without a bounds
// check; features with fewer bins leave the rest zero.
type histogram [][256]binStat

// accumulateGo adds the gradient pairs of rows into h. bins is row-major
// with nf bins per row. accumulate is this loop, in assembly where there
// is some.
func accumulateGo(h histogram, rows []uint32, bins []uint8, gp []gradPair, nf int) {
	for _, r := range rows {
		p := gp[r]
		g, hs := float64(p.g), float64(p.h)
		off := int(r) * nf
		rb := bins[off : off+nf]
		hh := h[:len(rb)]
		for f, b := range rb {
			e := &hh[f][b]
			e.g += g
			e.h += hs
		}
	}
}

// checkAccumulate panics unless every access accumulate makes is in
// bounds, which the assembly does not check itself.
func checkAccumulate(h histogram, rows []uint32, bins []uint8, gp []gradPair, nf int) {
	if nf < 1 || len(h) < nf || len(bins)%nf != 0 || len(gp) < len(bins)/nf {
		panic("gbdt: accumulate: inconsistent sizes")
	}
	// rows are indices below len(bins)/nf by construction; one pass over
	// them costs far less than the accumulation, so check anyway.
	n := uint32(len(bins) / nf)
	for _, r := range rows {
		if r >= n {
			panic("gbdt: accumulate: row out of range")
		}
	}
}

// subtract sets dst to dst-src for the first nbins[f] bins of feature f.
func subtract(dst, src histogram, nbins []int) {
	for f, n := range nbins {
		d, s := dst[f][:n], src[f][:n]
		for b := range d {
			d[b].g -= s[b].g
			d[b].h -= s[b].h
		}
	}
}

// partitionRows writes the rows whose bin (in col, one per row) is at
// most bin to left, the others to right, keeping their order, and returns
// how many went left. left and right must be as long as rows. Both are
// written for every row so that the loop has no data-dependent branch.
func partitionRows(rows, left, right []uint32, col []uint8, bin uint8) int {
	nl, nr := 0, 0
	left, right = left[:len(rows)], right[:len(rows)]
	for _, r := range rows {
		isLeft := 0
		if col[r] <= bin {
			isLeft = 1
		}
		left[nl] = r
		right[nr] = r
		nl += isLeft
		nr += 1 - isLeft
	}
	return nl
}

// copyColumn copies feature f's bins out of row-major bins (nf per row).
func copyColumn(dst, bins []uint8, nf, f int) {
	for i := range dst {
		dst[i] = bins[i*nf+f]
	}
}
