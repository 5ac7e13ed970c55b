// Package kmeans is k-means clustering as scikit-learn's KMeans runs it
// by default: k-means++ seeding (with 2 + ⌊ln k⌋ candidates per centre,
// the greedy variant), Lloyd iterations until the centres move less than
// tol × the features' mean variance, the best of n_init seedings by
// inertia (the sum of squared distances to the nearest centre). The
// random source is seeded, so a run is reproducible.
package kmeans

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"unsafe"

	"github.com/confide/confide/ml/dataset"
	"github.com/confide/confide/oblivious/trace"
)

// Params are the hyperparameters.
type Params struct {
	K       int     `json:"k"`
	NInit   int     `json:"n_init"`   // seedings tried (default 10)
	MaxIter int     `json:"max_iter"` // Lloyd iterations per seeding (default 300)
	Tol     float64 `json:"tol"`      // default 1e-4, relative to the mean variance
	Seed    uint64  `json:"seed"`
}

// Defaults fills what is unset.
func (p *Params) Defaults() {
	if p.NInit == 0 {
		p.NInit = 10
	}
	if p.MaxIter == 0 {
		p.MaxIter = 300
	}
	if p.Tol == 0 {
		p.Tol = 1e-4
	}
}

// Validate checks the hyperparameters against n rows.
func (p Params) Validate(n int) error {
	switch {
	case p.K < 1:
		return fmt.Errorf("kmeans: k must be at least 1, not %d", p.K)
	case p.K > n:
		return fmt.Errorf("kmeans: k = %d clusters from %d rows", p.K, n)
	case p.NInit < 1 || p.MaxIter < 1:
		return errors.New("kmeans: n_init and max_iter must be at least 1")
	case !(p.Tol >= 0):
		return fmt.Errorf("kmeans: tol must not be negative, not %v", p.Tol)
	}
	return nil
}

// Model is a trained model; its JSON form is spec/ml-models.md's.
type Model struct {
	Format   string      `json:"format"` // "confide-kmeans"
	Version  int         `json:"version"`
	Features []string    `json:"features"`
	Centers  [][]float64 `json:"centers"`
	Inertia  float64     `json:"inertia"`
	Params   Params      `json:"params"`
}

// FormatName is the model's "format" value.
const FormatName = "confide-kmeans"

// Train clusters d's rows (a label column, if any, is ignored).
func Train(d *dataset.Dataset, p Params) (*Model, error) {
	p.Defaults()
	if err := p.Validate(d.Rows()); err != nil {
		return nil, err
	}
	nf := len(d.Features)
	tol := p.Tol * meanVariance(d.X, nf)
	rng := rand.New(rand.NewPCG(p.Seed, 0x6b6d65616e73)) // "kmeans"
	var best [][]float64
	bestInertia := math.Inf(1)
	for range p.NInit {
		c := seed(d.X, p.K, rng)
		c, inertia := lloyd(d.X, c, p.MaxIter, tol)
		if inertia < bestInertia {
			best, bestInertia = c, inertia
		}
	}
	return &Model{Format: FormatName, Version: 1, Features: d.Features, Centers: best, Inertia: bestInertia, Params: p}, nil
}

func meanVariance(x [][]float64, nf int) float64 {
	n := float64(len(x))
	total := 0.0
	for j := range nf {
		mean := 0.0
		for _, row := range x {
			mean += row[j]
		}
		mean /= n
		v := 0.0
		for _, row := range x {
			d := row[j] - mean
			v += d * d
		}
		total += v / n
	}
	return total / float64(nf)
}

func dist2(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		d := a[i] - b[i]
		s += d * d
	}
	return s
}

// seed is greedy k-means++: each new centre is the best, by the
// resulting potential, of 2 + ⌊ln k⌋ candidates drawn with probability
// proportional to the squared distance to the nearest centre so far.
func seed(x [][]float64, k int, rng *rand.Rand) [][]float64 {
	n := len(x)
	trials := 2 + int(math.Log(float64(k)))
	centers := [][]float64{append([]float64(nil), x[rng.IntN(n)]...)}
	closest := make([]float64, n)
	pot := 0.0
	for i, row := range x {
		closest[i] = dist2(row, centers[0])
		pot += closest[i]
	}
	cand := make([]float64, n)
	bestD := make([]float64, n)
	for len(centers) < k {
		bestPot, bestIdx := math.Inf(1), -1
		for range trials {
			idx := n - 1
			if pot > 0 {
				r := rng.Float64() * pot
				for i, d := range closest {
					if r -= d; r < 0 {
						idx = i
						break
					}
				}
			} else {
				idx = rng.IntN(n)
			}
			p := blocks(len(x), func(lo, hi int) float64 {
				s := 0.0
				for i := lo; i < hi; i++ {
					cand[i] = min(closest[i], dist2(x[i], x[idx]))
					s += cand[i]
				}
				return s
			})
			if p < bestPot {
				bestPot, bestIdx = p, idx
				copy(bestD, cand)
			}
		}
		centers = append(centers, append([]float64(nil), x[bestIdx]...))
		copy(closest, bestD)
		pot = bestPot
	}
	return centers
}

// blocks runs f over row blocks in parallel and adds the blocks' results
// in block order.
func blocks(n int, f func(lo, hi int) float64) float64 {
	workers := min(runtime.GOMAXPROCS(0), max(1, n/4096))
	out := make([]float64, workers)
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := w*n/workers, (w+1)*n/workers
		wg.Go(func() { out[w] = f(lo, hi) })
	}
	wg.Wait()
	s := 0.0
	for _, v := range out {
		s += v
	}
	return s
}

// lloyd runs Lloyd's iterations from centres c until the centres' total
// squared movement is at most tol, and returns the centres and the
// inertia of the final assignment (labels recomputed for the final
// centres, as scikit-learn does). Assignments use Hamerly's bounds: each
// row keeps an upper bound on the distance to its centre and a lower
// bound on the distance to any other, moved by how far centres moved,
// and is compared with every centre only when the bounds no longer
// settle it. The bounds are exact inequalities, so the assignments — and
// the centres — are Lloyd's; most rows skip the scan once centres settle.
func lloyd(x [][]float64, c [][]float64, maxIter int, tol float64) ([][]float64, float64) {
	k, nf, n := len(c), len(c[0]), len(x)
	assign := make([]int32, n)
	upper := make([]float64, n)
	lower := make([]float64, n)
	half := make([]float64, k) // half the distance to the nearest other centre
	moved := make([]float64, k)
	old := make([]float64, nf)
	workers := min(runtime.GOMAXPROCS(0), max(1, n/4096))
	type part struct {
		sums   [][]float64
		counts []int
	}
	parts := make([]part, workers)
	for w := range parts {
		parts[w].sums = make([][]float64, k)
		for i := range k {
			parts[w].sums[i] = make([]float64, nf)
		}
		parts[w].counts = make([]int, k)
	}
	sums := make([][]float64, k)
	for i := range sums {
		sums[i] = make([]float64, nf)
	}
	counts := make([]int, k)
	for it := range maxIter {
		for a := range k {
			half[a] = math.Inf(1)
			for b := range k {
				if a != b {
					half[a] = min(half[a], 0.5*math.Sqrt(dist2(c[a], c[b])))
				}
			}
		}
		var wg sync.WaitGroup
		for w := range workers {
			lo, hi := w*n/workers, (w+1)*n/workers
			pt := parts[w]
			wg.Go(func() {
				for i := range pt.sums {
					clear(pt.sums[i])
					pt.counts[i] = 0
				}
				for i := lo; i < hi; i++ {
					row := x[i]
					if it == 0 {
						assign[i], upper[i], lower[i] = nearestTwo(c, row)
					} else if a := assign[i]; upper[i] > max(half[a], lower[i]) {
						upper[i] = math.Sqrt(dist2(row, c[a]))
						if upper[i] > max(half[a], lower[i]) {
							assign[i], upper[i], lower[i] = nearestTwo(c, row)
						}
					}
					a := assign[i]
					// Recorded in obltrace builds: the cluster a row
					// joins is what the oblivious trainer's trace tests
					// show this one to leak.
					trace.Access(trace.OpWrite, unsafe.Pointer(unsafe.SliceData(pt.counts)), int(a))
					pt.counts[a]++
					s := pt.sums[a]
					for f, v := range row {
						s[f] += v
					}
				}
			})
		}
		wg.Wait()
		for i := range sums {
			clear(sums[i])
			counts[i] = 0
			for _, pt := range parts {
				counts[i] += pt.counts[i]
				for f, v := range pt.sums[i] {
					sums[i][f] += v
				}
			}
		}
		shift, maxMoved := 0.0, 0.0
		for j := range c {
			moved[j] = 0
			if counts[j] == 0 {
				continue // an empty cluster keeps its centre
			}
			copy(old, c[j])
			for f := range nf {
				c[j][f] = sums[j][f] / float64(counts[j])
			}
			d2 := dist2(old, c[j])
			shift += d2
			moved[j] = math.Sqrt(d2)
			maxMoved = max(maxMoved, moved[j])
		}
		for i := range n {
			upper[i] += moved[assign[i]]
			lower[i] -= maxMoved
		}
		if shift <= tol {
			break
		}
	}
	inertia := blocks(len(x), func(lo, hi int) float64 {
		s := 0.0
		for _, row := range x[lo:hi] {
			_, d := nearest(c, row)
			s += d
		}
		return s
	})
	return c, inertia
}

// nearestTwo is the nearest centre (the first on a tie, as nearest), its
// distance, and the distance to the second nearest.
func nearestTwo(c [][]float64, row []float64) (int32, float64, float64) {
	best, bd, second := 0, math.Inf(1), math.Inf(1)
	for j, cj := range c {
		d := dist2(row, cj)
		if d < bd {
			best, bd, second = j, d, bd
		} else if d < second {
			second = d
		}
	}
	return int32(best), math.Sqrt(bd), math.Sqrt(second)
}

func nearest(c [][]float64, row []float64) (int, float64) {
	best, bd := 0, math.Inf(1)
	for j, cj := range c {
		if d := dist2(row, cj); d < bd {
			best, bd = j, d
		}
	}
	return best, bd
}

// Predict is the index of the nearest centre.
func (m *Model) Predict(row []float64) int {
	j, _ := nearest(m.Centers, row)
	return j
}

// Read parses and checks a model document.
func Read(b []byte) (*Model, error) {
	var m Model
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("kmeans model: %w", err)
	}
	if m.Format != FormatName || m.Version != 1 {
		return nil, fmt.Errorf("kmeans model: format %q version %d, want %q version 1", m.Format, m.Version, FormatName)
	}
	if len(m.Features) == 0 || len(m.Centers) == 0 {
		return nil, errors.New("kmeans model: no features or no centres")
	}
	for i, c := range m.Centers {
		if len(c) != len(m.Features) {
			return nil, fmt.Errorf("kmeans model: centre %d has %d values for %d features", i, len(c), len(m.Features))
		}
		for _, v := range c {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("kmeans model: centre %d is not finite", i)
			}
		}
	}
	return &m, nil
}
