// Package mldata generates the benchmark data sets of bench/mlbench and
// bench/oblbench: HIGGS-sized tables of Gaussian features with labels
// from a seeded logistic model.
package mldata

import (
	"math"
	"math/rand/v2"
	"strconv"

	"github.com/confide/confide/ml/dataset"
)

// Generate draws Gaussian features and labels from a logistic model with
// a few interactions, so that trees have something to find.
func Generate(rows, cols int, seed uint64) *dataset.Dataset {
	rng := rand.New(rand.NewPCG(seed, 0))
	w := make([]float64, cols)
	for j := range w {
		w[j] = rng.NormFloat64()
	}
	d := &dataset.Dataset{Label: "y", X: make([][]float64, rows), Y: make([]float64, rows)}
	for j := range cols {
		d.Features = append(d.Features, "f"+strconv.Itoa(j))
	}
	for i := range rows {
		x := make([]float64, cols)
		z := 0.0
		for j := range x {
			x[j] = rng.NormFloat64()
			z += w[j] * x[j]
		}
		z += 1.5 * x[0] * x[1]
		if x[2] > 0.5 {
			z -= 2
		}
		d.X[i] = x
		if rng.Float64() < 1/(1+math.Exp(-z)) {
			d.Y[i] = 1
		}
	}
	return d
}
