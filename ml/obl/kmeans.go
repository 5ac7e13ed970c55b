package obl

import (
	"math"
	"math/rand/v2"
	"runtime"
	"sync"

	"github.com/confide/confide/ml/dataset"
	"github.com/confide/confide/ml/kmeans"
	"github.com/confide/confide/oblivious"
	"github.com/confide/confide/oblivious/trace"
)

// KMeans trains the model kmeans.Train trains, obliviously.
//
// Public parameters: the number of rows and features, k, n_init, the
// seed, and max_iter, which here is the exact number of Lloyd iterations
// per seeding (tol is not used: stopping early would tell when the
// centres settled). Granularity: element.
//
// Seeding is greedy k-means++ as in kmeans.Train, the random draws made
// whatever the data (a fallback row is drawn for a zero potential every
// time, not only when it is needed), each sampled row found by a scan of
// all rows with masks. Every Lloyd iteration compares every row with
// every centre, chooses the nearest by masks, and adds the row to every
// centre's sums, weighted 1 for its own and 0 for the others: the cost
// of obliviousness is that add, k times the ordinary trainer's, and the
// distance computations that Hamerly's bounds let it skip.
func KMeans(d *dataset.Dataset, p kmeans.Params) (*kmeans.Model, error) {
	p.Defaults()
	if err := p.Validate(d.Rows()); err != nil {
		return nil, err
	}
	x, _ := load(&dataset.Dataset{Features: d.Features, X: d.X})
	rng := rand.New(rand.NewPCG(p.Seed, 0x6b6d65616e73)) // "kmeans", as kmeans.Train
	nf := x.Cols
	best := trace.NewTable(p.K, nf)
	bestInertia := math.Inf(1)
	for range p.NInit {
		c := seedCenters(x, p.K, rng)
		inertia := lloydFixed(x, c, p.MaxIter)
		keepBetter(best, c, &bestInertia, inertia)
	}
	m := &kmeans.Model{Format: kmeans.FormatName, Version: 1, Features: d.Features, Params: p}
	for i := range p.K {
		m.Centers = append(m.Centers, publish(best.Row(i)))
	}
	m.Inertia = publish([]float64{bestInertia})[0]
	return m, nil
}

// publish copies what becomes part of a model: the trainer's output,
// declassified on purpose (it goes, sealed, to the job's recipients).
//
//confide:declassify
func publish(v []float64) []float64 { return append([]float64(nil), v...) }

// keepBetter copies c into best if its inertia is lower.
//
//confide:oblivious
//confide:secret inertia bestInertia
func keepBetter(best, c trace.Table, bestInertia *float64, inertia float64) {
	better := oblivious.LtFloat(inertia, *bestInertia)
	for i := range c.Rows() {
		src, dst := c.Row(i), best.RowW(i)
		for j, v := range src {
			dst[j] = oblivious.SelectFloat(better, v, dst[j])
		}
	}
	*bestInertia = oblivious.SelectFloat(better, inertia, *bestInertia)
}

//confide:oblivious
//confide:secret a b
func sqDist(a, b []float64) float64 {
	b = b[:len(a)]
	// Four sums: a single one would wait on each addition's latency.
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(a); i += 4 {
		d0, d1, d2, d3 := a[i]-b[i], a[i+1]-b[i+1], a[i+2]-b[i+2], a[i+3]-b[i+3]
		s0 += d0 * d0
		s1 += d1 * d1
		s2 += d2 * d2
		s3 += d3 * d3
	}
	for ; i < len(a); i++ {
		d := a[i] - b[i]
		s0 += d * d
	}
	return (s0 + s1) + (s2 + s3)
}

// dot4 is a·b, in four sums.
//
//confide:oblivious
//confide:secret a b
func dot4(a, b []float64) float64 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// minF is min(a, b) by a mask.
//
//confide:oblivious
//confide:secret a b
func minF(a, b float64) float64 { return oblivious.SelectFloat(oblivious.LtFloat(a, b), a, b) }

// seedCenters is greedy k-means++ (kmeans.Train's seeding): each new
// centre is the best, by the resulting potential, of 2 + ⌊ln k⌋
// candidates drawn with probability proportional to the squared
// distance to the nearest centre so far.
//
//confide:oblivious
func seedCenters(x trace.Table, k int, rng *rand.Rand) trace.Table {
	n, nf := x.Rows(), x.Cols
	trials := 2 + int(math.Log(float64(k)))
	c := trace.NewTable(k, nf)
	copy(c.RowW(0), x.Row(rng.IntN(n))) // an index from the seed alone
	closest, cand, bestD := make(trace.Vec, n), make(trace.Vec, n), make(trace.Vec, n)
	pot := 0.0
	for i := range n {
		d := sqDist(x.Row(i), c.Row(0))
		closest.Set(i, d)
		pot += d
	}
	row, bestRow := make([]float64, nf), make([]float64, nf)
	for ci := 1; ci < k; ci++ {
		bestPot := math.Inf(1)
		for range trials {
			r := rng.Float64() * pot
			fallback := rng.IntN(n)
			pick(x, closest, r, row)
			// A zero potential: every row sits on a centre; any will do.
			zero := oblivious.LtFloat(0, pot).Not()
			for j, v := range x.Row(fallback) {
				row[j] = oblivious.SelectFloat(zero, v, row[j])
			}
			p := blocks(n, func(lo, hi int) float64 {
				s := 0.0
				for i := lo; i < hi; i++ {
					d := minF(closest.At(i), sqDist(x.Row(i), row))
					cand.Set(i, d)
					s += d
				}
				return s
			})
			better := oblivious.LtFloat(p, bestPot)
			bestPot = oblivious.SelectFloat(better, p, bestPot)
			for j, v := range row {
				bestRow[j] = oblivious.SelectFloat(better, v, bestRow[j])
			}
			blocks(n, func(lo, hi int) float64 {
				for i := lo; i < hi; i++ {
					bestD.Set(i, oblivious.SelectFloat(better, cand.At(i), bestD.At(i)))
				}
				return 0
			})
		}
		copy(c.RowW(ci), bestRow)
		for i := range n {
			closest.Set(i, bestD.At(i))
		}
		pot = bestPot
	}
	return c
}

// pick copies into row the first row at which the running sum of
// weights exceeds r (the last row if none does), reading every row.
//
//confide:oblivious
//confide:secret r
func pick(x trace.Table, w trace.Vec, r float64, row []float64) {
	copy(row, x.Row(x.Rows()-1))
	found := oblivious.Mask(0)
	acc := 0.0
	for i := range x.Rows() {
		acc += w.At(i)
		hit := oblivious.LtFloat(r, acc).AndNot(found)
		for j, v := range x.Row(i) {
			row[j] = oblivious.SelectFloat(hit, v, row[j])
		}
		found = found.Or(hit)
	}
}

// workers is how many goroutines share n rows: a function of n alone
// (one with obltrace, so that one recorder sees one order of events).
func workers(n int) int {
	if trace.Enabled {
		return 1
	}
	return min(runtime.GOMAXPROCS(0), max(1, n/4096))
}

// spread runs f(k, lo, hi) on w goroutines, the k-th taking [lo, hi) of
// [0, n), and waits for them.
func spread(w, n int, f func(k, lo, hi int)) {
	var wg sync.WaitGroup
	wg.Add(w)
	for k := range w {
		lo, hi := k*n/w, (k+1)*n/w
		go func() {
			defer wg.Done()
			f(k, lo, hi)
		}()
	}
	wg.Wait()
}

// blocks runs f over a partition of n rows on the CPUs and adds the
// parts' results in order.
func blocks(n int, f func(lo, hi int) float64) float64 {
	w := workers(n)
	out := make([]float64, w)
	spread(w, n, func(k, lo, hi int) { out[k] = f(lo, hi) })
	s := 0.0
	for _, v := range out {
		s += v
	}
	return s
}

// lloydFixed runs iters Lloyd iterations from the centres c (updated in
// place) and returns the inertia of the final centres.
//
// The centres are used transposed and padded to a multiple of four
// (padding centres are infinitely far), so that each row meets four
// centres at a time, feature by feature, and is added to every centre's
// sums in the same order.
//
//confide:oblivious float-division
func lloydFixed(x trace.Table, c trace.Table, iters int) float64 {
	n, k, nf := x.Rows(), c.Rows(), x.Cols
	kp := (k + 3) &^ 3
	workers := workers(n)
	// Per worker: nf rows of sums (feature j's row holds every centre's
	// sum), the counts, and the inertia.
	parts := make([]trace.Table, workers)
	for w := range parts {
		parts[w] = trace.NewTable(nf+2, kp)
	}
	ct := trace.NewTable(nf, kp)
	cn := make([]float64, kp)
	run := func(update bool) float64 {
		// ‖x − c‖² = ‖x‖² − 2x·c + ‖c‖², as scikit-learn computes it:
		// the nearest centre needs only the last two terms.
		for ci := range kp {
			cn[ci] = math.Inf(1)
		}
		for ci := range k {
			cr := c.Row(ci)
			cn[ci] = dot4(cr, cr)
			for j, v := range cr {
				ct.RowW(j)[ci] = v
			}
		}
		var wg sync.WaitGroup
		wg.Add(workers)
		for w := range workers {
			lo, hi, part := w*n/workers, (w+1)*n/workers, parts[w]
			go func() {
				defer wg.Done()
				assignBlock(x, ct, cn, part, lo, hi, update)
			}()
		}
		wg.Wait()
		inertia := 0.0
		for _, part := range parts {
			inertia += part.Row(nf + 1)[0]
		}
		return inertia
	}
	for range iters {
		run(true)
		for ci := range k {
			count := 0.0
			for _, part := range parts {
				count += part.Row(nf)[ci]
			}
			empty := oblivious.LtFloat(0, count).Not()
			centre := c.RowW(ci)
			for j := range nf {
				s := 0.0
				for _, part := range parts {
					s += part.Row(j)[ci]
				}
				// An empty cluster keeps its centre (0/0 is selected away).
				centre[j] = oblivious.SelectFloat(empty, centre[j], s/count)
			}
		}
	}
	return run(false)
}

// assignBlock assigns rows lo to hi to their nearest centres (the first
// on a tie, as kmeans.Train) and, if update, adds each row to every
// centre's sums in part, weighted 1 for its own centre and 0 for the
// others. ct holds the centres transposed (feature j's row), cn their
// squared norms; part gets the sums (transposed), the counts (row nf)
// and the block's inertia (row nf+1).
//
//confide:oblivious
//confide:secret cn
func assignBlock(x, ct trace.Table, cn []float64, part trace.Table, lo, hi int, update bool) {
	nf, kp := x.Cols, ct.Cols
	for j := range nf + 2 {
		clear(part.RowW(j))
	}
	dots, wgt := make([]float64, kp), make([]float64, kp)
	inertia := 0.0
	for i := lo; i < hi; i++ {
		row := x.Row(i)
		for c0 := 0; c0 < kp; c0 += 4 {
			var a0, a1, a2, a3 float64
			for j, v := range row {
				cj := ct.Row(j)[c0 : c0+4 : c0+4]
				a0 += v * cj[0]
				a1 += v * cj[1]
				a2 += v * cj[2]
				a3 += v * cj[3]
			}
			dots[c0], dots[c0+1], dots[c0+2], dots[c0+3] = a0, a1, a2, a3
		}
		best, bd := uint64(0), cn[0]-2*dots[0]
		for ci := 1; ci < kp; ci++ {
			d := cn[ci] - 2*dots[ci]
			lt := oblivious.LtFloat(d, bd)
			bd = oblivious.SelectFloat(lt, d, bd)
			best = oblivious.Select(lt, uint64(ci), best)
		}
		// Rounding can take a tiny distance below zero.
		sq := dot4(row, row) + bd
		inertia += oblivious.SelectFloat(oblivious.LtFloat(sq, 0), 0, sq)
		if !update {
			continue
		}
		for ci := range kp {
			wgt[ci] = oblivious.SelectFloat(oblivious.Eq(best, uint64(ci)), 1, 0)
		}
		counts := part.RowW(nf)
		for ci := range kp {
			counts[ci] += wgt[ci]
		}
		for c0 := 0; c0 < kp; c0 += 4 {
			w0, w1, w2, w3 := wgt[c0], wgt[c0+1], wgt[c0+2], wgt[c0+3]
			for j, v := range row {
				sj := part.RowW(j)[c0 : c0+4 : c0+4]
				sj[0] += w0 * v
				sj[1] += w1 * v
				sj[2] += w2 * v
				sj[3] += w3 * v
			}
		}
	}
	part.RowW(nf + 1)[0] = inertia
}

// Inertia is the sum of squared distances from each row of X to its
// nearest centre, computed without a branch on a row; published in the
// training report.
//
//confide:declassify
//confide:oblivious
//confide:secret X
func Inertia(m *kmeans.Model, X [][]float64) float64 {
	s := 0.0
	for _, x := range X {
		bd := sqDist(x, m.Centers[0])
		for c := 1; c < len(m.Centers); c++ {
			bd = minF(sqDist(x, m.Centers[c]), bd)
		}
		s += bd
	}
	return s
}
