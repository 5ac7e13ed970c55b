// Package logreg is L2-regularised binary logistic regression trained
// with L-BFGS (gonum's optimize), the model scikit-learn's
// LogisticRegression fits with its defaults (penalty "l2", solver
// "lbfgs", an unpenalised intercept): it minimises
//
//	C · Σᵢ [log(1 + e^{zᵢ}) − yᵢ·zᵢ] + ½‖w‖²,   zᵢ = w·xᵢ + b,
//
// so that the same C gives the same model. Features may be standardised
// first (mean 0, variance 1, with the mean and scale kept in the model
// and applied to every prediction), as users of scikit-learn do with a
// StandardScaler in front.
package logreg

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"unsafe"

	"gonum.org/v1/gonum/optimize"

	"github.com/confide/confide/ml/dataset"
	"github.com/confide/confide/oblivious/trace"
)

// Params are the hyperparameters.
type Params struct {
	C           float64 `json:"C"`           // inverse regularisation strength (default 1)
	MaxIter     int     `json:"max_iter"`    // L-BFGS iterations at most (default 1000)
	Tol         float64 `json:"tol"`         // stop when the gradient's largest component is below (default 1e-6)
	Standardize bool    `json:"standardize"` // standardise features first
}

// Defaults fills what is unset.
func (p *Params) Defaults() {
	if p.C == 0 {
		p.C = 1
	}
	if p.MaxIter == 0 {
		p.MaxIter = 1000
	}
	if p.Tol == 0 {
		p.Tol = 1e-6
	}
}

// Validate checks the hyperparameters.
func (p Params) Validate() error {
	switch {
	case !(p.C > 0) || math.IsInf(p.C, 0):
		return fmt.Errorf("logreg: C must be a positive number, not %v", p.C)
	case p.MaxIter < 1:
		return fmt.Errorf("logreg: max_iter must be at least 1, not %d", p.MaxIter)
	case !(p.Tol > 0):
		return fmt.Errorf("logreg: tol must be positive, not %v", p.Tol)
	}
	return nil
}

// Model is a trained model; its JSON form is spec/ml-models.md's.
type Model struct {
	Format    string    `json:"format"` // "confide-logreg"
	Version   int       `json:"version"`
	Features  []string  `json:"features"`
	Label     string    `json:"label"`
	Mean      []float64 `json:"mean,omitempty"` // standardisation, if any
	Scale     []float64 `json:"scale,omitempty"`
	Coef      []float64 `json:"coef"`
	Intercept float64   `json:"intercept"`
	Params    Params    `json:"params"`
	// Iterations and Converged say how the solver ended.
	Iterations int  `json:"iterations"`
	Converged  bool `json:"converged"`
}

// FormatName is the model's "format" value.
const FormatName = "confide-logreg"

// Train fits a model on d (labels 0 and 1).
func Train(d *dataset.Dataset, p Params) (*Model, error) {
	p.Defaults()
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if d.Y == nil {
		return nil, errors.New("logreg: the data set has no label")
	}
	if err := d.CheckBinary(); err != nil {
		return nil, err
	}
	nf := len(d.Features)
	m := &Model{Format: FormatName, Version: 1, Features: d.Features, Label: d.Label, Params: p}
	if p.Standardize {
		m.Mean, m.Scale = moments(d.X, nf)
	}
	// One contiguous row-major copy (standardised if asked): the
	// objective streams through it dozens of times.
	n := len(d.X)
	x := make([]float64, n*nf)
	for i, row := range d.X {
		r := x[i*nf : (i+1)*nf]
		if m.Mean != nil {
			for j, v := range row {
				r[j] = (v - m.Mean[j]) / m.Scale[j]
			}
		} else {
			copy(r, row)
		}
	}
	y := d.Y
	// Parameters: w (nf) then b. The objective and its gradient are
	// computed together and cached, since L-BFGS asks for both at the
	// same points.
	var lastX []float64
	var lastF float64
	lastG := make([]float64, nf+1)
	// The sums run over row blocks in parallel; each block's partial
	// sums are added in block order, so a result does not depend on
	// scheduling.
	workers := min(runtime.GOMAXPROCS(0), max(1, n/4096))
	parts := make([][]float64, workers) // per block: gradient, then f
	for i := range parts {
		parts[i] = make([]float64, nf+2)
	}
	eval := func(theta []float64) {
		if lastX != nil && equal(lastX, theta) {
			return
		}
		lastX = append(lastX[:0], theta...)
		w, b := theta[:nf], theta[nf]
		var wg sync.WaitGroup
		for k := range workers {
			lo, hi := k*n/workers, (k+1)*n/workers
			g := parts[k]
			wg.Go(func() {
				clear(g)
				gw := g[:nf]
				f, gb := 0.0, 0.0
				for i := lo; i < hi; i++ {
					// Recorded in obltrace builds: how often the solver
					// reads the rows is what the oblivious trainer's
					// trace tests show this one to leak.
					trace.Access(trace.OpRead, unsafe.Pointer(unsafe.SliceData(x)), i)
					row := x[i*nf : (i+1)*nf : (i+1)*nf]
					z := b
					for j, v := range row {
						z += w[j] * v
					}
					// log(1+e^z) − y·z and σ(z) − y from one exponential.
					e := math.Exp(-math.Abs(z))
					var sp, sg float64
					if z > 0 {
						sp, sg = z+math.Log1p(e), 1/(1+e)
					} else {
						sp, sg = math.Log1p(e), e/(1+e)
					}
					f += sp - y[i]*z
					r := sg - y[i]
					for j, v := range row {
						gw[j] += r * v
					}
					gb += r
				}
				g[nf], g[nf+1] = gb, f
			})
		}
		wg.Wait()
		clear(lastG)
		f := 0.0
		for _, g := range parts {
			for j := range nf + 1 {
				lastG[j] += p.C * g[j]
			}
			f += g[nf+1]
		}
		f *= p.C
		for j := range nf {
			f += 0.5 * w[j] * w[j]
			lastG[j] += w[j]
		}
		lastF = f
	}
	prob := optimize.Problem{
		Func: func(theta []float64) float64 { eval(theta); return lastF },
		Grad: func(g, theta []float64) { eval(theta); copy(g, lastG) },
	}
	settings := &optimize.Settings{GradientThreshold: p.Tol, MajorIterations: p.MaxIter,
		Converger: &optimize.FunctionConverge{Absolute: 1e-12, Relative: 1e-12, Iterations: 50}}
	res, err := optimize.Minimize(prob, make([]float64, nf+1), settings, &optimize.LBFGS{})
	if err != nil && res == nil {
		return nil, fmt.Errorf("logreg: %w", err)
	}
	m.Coef = append([]float64(nil), res.X[:nf]...)
	m.Intercept = res.X[nf]
	m.Iterations = res.Stats.MajorIterations
	// A line search that cannot decrease the objective any further ends
	// L-BFGS at the optimum as far as float64 goes: converged if the
	// gradient is that small.
	m.Converged = res.Status == optimize.GradientThreshold || res.Status == optimize.FunctionConvergence ||
		res.Status == optimize.Failure && infNorm(res.Gradient) < 1e-5
	return m, nil
}

func infNorm(g []float64) float64 {
	n := 0.0
	for _, v := range g {
		n = math.Max(n, math.Abs(v))
	}
	return n
}

func equal(a, b []float64) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func softplus(z float64) float64 {
	if z > 0 {
		return z + math.Log1p(math.Exp(-z))
	}
	return math.Log1p(math.Exp(z))
}

func sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}

// moments are the columns' means and standard deviations (population, as
// scikit-learn's StandardScaler); a constant column scales by 1.
func moments(x [][]float64, nf int) (mean, scale []float64) {
	mean, scale = make([]float64, nf), make([]float64, nf)
	n := float64(len(x))
	for _, row := range x {
		for j, v := range row {
			mean[j] += v
		}
	}
	for j := range mean {
		mean[j] /= n
	}
	for _, row := range x {
		for j, v := range row {
			d := v - mean[j]
			scale[j] += d * d
		}
	}
	for j := range scale {
		scale[j] = math.Sqrt(scale[j] / n)
		if scale[j] == 0 {
			scale[j] = 1
		}
	}
	return mean, scale
}

func (m *Model) standardize(row []float64) []float64 {
	out := make([]float64, len(row))
	for j, v := range row {
		out[j] = (v - m.Mean[j]) / m.Scale[j]
	}
	return out
}

// Predict is the probability of label 1 for a row of features in the
// model's order.
func (m *Model) Predict(row []float64) float64 {
	if m.Mean != nil {
		row = m.standardize(row)
	}
	z := m.Intercept
	for j, v := range row {
		z += m.Coef[j] * v
	}
	return sigmoid(z)
}

// Read parses and checks a model document.
func Read(b []byte) (*Model, error) {
	var m Model
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("logreg model: %w", err)
	}
	if m.Format != FormatName || m.Version != 1 {
		return nil, fmt.Errorf("logreg model: format %q version %d, want %q version 1", m.Format, m.Version, FormatName)
	}
	nf := len(m.Features)
	if nf == 0 || len(m.Coef) != nf || m.Mean != nil && len(m.Mean) != nf || (m.Mean == nil) != (m.Scale == nil) || m.Scale != nil && len(m.Scale) != nf {
		return nil, fmt.Errorf("logreg model: %d features but %d coefficients, %d means, %d scales", nf, len(m.Coef), len(m.Mean), len(m.Scale))
	}
	for _, v := range append(append(append([]float64{m.Intercept}, m.Coef...), m.Mean...), m.Scale...) {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, errors.New("logreg model: a parameter is not a finite number")
		}
	}
	for _, s := range m.Scale {
		if s <= 0 {
			return nil, errors.New("logreg model: a scale is not positive")
		}
	}
	return &m, nil
}
