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
	m := &kmeans.Model{Format: kmeans.FormatName, Version: 1, Features: d.Features, Inertia: bestInertia, Params: p}
	for i := range p.K {
		m.Centers = append(m.Centers, append([]float64(nil), best.Row(i)...))
	}
	return m, nil
}

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
	s := 0.0
	for i, v := range a {
		d := v - b[i]
		s += d * d
	}
	return s
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
			p := 0.0
			for i := range n {
				d := minF(closest.At(i), sqDist(x.Row(i), row))
				cand.Set(i, d)
				p += d
			}
			better := oblivious.LtFloat(p, bestPot)
			bestPot = oblivious.SelectFloat(better, p, bestPot)
			for j, v := range row {
				bestRow[j] = oblivious.SelectFloat(better, v, bestRow[j])
			}
			for i := range n {
				bestD.Set(i, oblivious.SelectFloat(better, cand.At(i), bestD.At(i)))
			}
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

// lloydFixed runs iters Lloyd iterations from the centres c (updated in
// place) and returns the inertia of the final centres.
//
//confide:oblivious float-division
func lloydFixed(x trace.Table, c trace.Table, iters int) float64 {
	n, k, nf := x.Rows(), c.Rows(), x.Cols
	workers := min(runtime.GOMAXPROCS(0), max(1, n/4096))
	if trace.Enabled {
		workers = 1
	}
	// Per worker: k rows of sums, then the k counts, then the inertia.
	parts := make([]trace.Table, workers)
	for w := range parts {
		parts[w] = trace.NewTable(k+1, max(nf, k+1))
	}
	run := func(update bool) float64 {
		var wg sync.WaitGroup
		wg.Add(workers)
		for w := range workers {
			lo, hi, part := w*n/workers, (w+1)*n/workers, parts[w]
			go func() {
				defer wg.Done()
				assignBlock(x, c, part, lo, hi, update)
			}()
		}
		wg.Wait()
		inertia := 0.0
		for _, part := range parts {
			inertia += part.Row(k)[k]
		}
		return inertia
	}
	for range iters {
		run(true)
		for ci := range k {
			count := 0.0
			for _, part := range parts {
				count += part.Row(k)[ci]
			}
			empty := oblivious.LtFloat(0, count).Not()
			centre := c.RowW(ci)
			for j := range nf {
				s := 0.0
				for _, part := range parts {
					s += part.Row(ci)[j]
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
// others; it stores the block's inertia at part[k][k].
//
//confide:oblivious
func assignBlock(x, c, part trace.Table, lo, hi int, update bool) {
	k, nf := c.Rows(), x.Cols
	for ci := range k + 1 {
		clear(part.RowW(ci))
	}
	counts := part.RowW(k)
	inertia := 0.0
	for i := lo; i < hi; i++ {
		row := x.Row(i)
		best, bd := uint64(0), sqDist(row, c.Row(0))
		for ci := 1; ci < k; ci++ {
			d := sqDist(row, c.Row(ci))
			lt := oblivious.LtFloat(d, bd)
			bd = oblivious.SelectFloat(lt, d, bd)
			best = oblivious.Select(lt, uint64(ci), best)
		}
		inertia += bd
		if !update {
			continue
		}
		for ci := range k {
			wgt := oblivious.SelectFloat(oblivious.Eq(best, uint64(ci)), 1, 0)
			counts[ci] += wgt
			s := part.RowW(ci)
			for j := range nf {
				s[j] += wgt * row[j]
			}
		}
	}
	counts[k] = inertia
}
