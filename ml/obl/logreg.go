package obl

import (
	"errors"
	"math"
	"sync"

	"github.com/confide/confide/ml/dataset"
	"github.com/confide/confide/ml/logreg"
	"github.com/confide/confide/oblivious"
	"github.com/confide/confide/oblivious/trace"
)

// lbfgsMemory is how many (s, y) pairs the oblivious L-BFGS keeps.
const lbfgsMemory = 10

// LogReg trains the model logreg.Train trains, obliviously.
//
// Public parameters: the number of rows and features, C, whether features
// are standardised, and p.MaxIter, which here is the exact number of
// iterations: each evaluates the objective and its gradient once, over
// every row in order. Granularity: element (rows are read whole, in
// order; the solver's state is touched in a fixed order).
//
// The solver is L-BFGS with a fixed step schedule instead of a line
// search: a trial step is accepted or refused by masks (Armijo's
// condition), a refused one halves the next trial, and the (s, y) pair of
// every iteration is written to the same public slot either way — a
// refused or non-curving one with ρ = 0, so that it counts for nothing.
// No branch, loop count or index depends on the data.
func LogReg(d *dataset.Dataset, p logreg.Params) (*logreg.Model, error) {
	p.Defaults()
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if d.Y == nil || len(d.X) == 0 {
		return nil, errors.New("obl: logreg needs labelled rows")
	}
	nf := len(d.Features)
	x, y := load(d)
	if !checkBinary(y) {
		return nil, dataset.ErrFormat // which row is not said: that would be a leak
	}
	m := &logreg.Model{Format: logreg.FormatName, Version: 1, Features: d.Features, Label: d.Label, Params: p}
	if p.Standardize {
		mean, scale := standardize(x)
		m.Mean, m.Scale = publish(mean), publish(scale)
	}
	theta, g := lbfgs(x, y, p.C, p.MaxIter)
	theta = publish(theta)
	m.Coef, m.Intercept = theta[:nf], theta[nf]
	m.Iterations = p.MaxIter
	// Outputs of the model, and so declassified with it.
	m.Converged = converged(g, p.Tol)
	return m, nil
}

// load copies the rows into traced containers.
func load(d *dataset.Dataset) (trace.Table, trace.Vec) {
	x := trace.NewTable(len(d.X), len(d.Features))
	y := make(trace.Vec, len(d.X))
	for i, row := range d.X {
		copy(x.RowW(i), row)
		if d.Y != nil {
			y.Set(i, d.Y[i])
		}
	}
	return x, y
}

// checkBinary reports whether every label is 0 or 1: one answer for the
// whole table, computed without a branch.
//
//confide:oblivious
//confide:secret y
func checkBinary(y trace.Vec) bool {
	ok := oblivious.Mask(^uint64(0))
	for i := range len(y) {
		b := math.Float64bits(y.At(i))
		ok = ok.And(oblivious.Eq(b, 0).Or(oblivious.Eq(b, math.Float64bits(1))))
	}
	return declassify(ok)
}

// declassify turns a mask into a bool that may be branched on: for
// answers that are public by design (the data set is well-formed, the
// solver converged), never for a row's value.
//
//confide:declassify
func declassify(m oblivious.Mask) bool { return m.Bit() == 1 }

// standardize scales each column to mean 0 and variance 1 in place (a
// constant column by 1) and returns the means and scales.
//
//confide:oblivious float-division
func standardize(x trace.Table) (mean, scale []float64) {
	nf, n := x.Cols, x.Rows()
	mean, scale = make([]float64, nf), make([]float64, nf)
	for i := range n {
		for j, v := range x.Row(i) {
			mean[j] += v
		}
	}
	for j := range mean {
		mean[j] /= float64(n)
	}
	for i := range n {
		for j, v := range x.Row(i) {
			d := v - mean[j]
			scale[j] += d * d
		}
	}
	for j := range scale {
		s := math.Sqrt(scale[j] / float64(n))
		scale[j] = oblivious.SelectFloat(oblivious.LtFloat(0, s), s, 1)
	}
	for i := range n {
		row := x.RowW(i)
		for j, v := range row {
			row[j] = (v - mean[j]) / scale[j]
		}
	}
	return mean, scale
}

// objective is the loss C·Σ[softplus(z) − y·z] + ½‖w‖² and its gradient
// at theta (w, then b), summed over blocks of rows on the CPUs; the
// partition depends only on the number of rows.
type objective struct {
	c       float64
	workers int
	parts   [][]float64 // per block: the gradient, then b's, then the loss
}

func newObjective(x trace.Table, c float64) *objective {
	o := &objective{c: c, workers: workers(x.Rows())}
	o.parts = make([][]float64, o.workers)
	for i := range o.parts {
		o.parts[i] = make([]float64, x.Cols+2)
	}
	return o
}

// eval writes the gradient into g and returns the loss.
//
//confide:oblivious float-division
//confide:secret y theta g
func (o *objective) eval(x trace.Table, y trace.Vec, theta, g []float64) float64 {
	nf, n, workers := x.Cols, x.Rows(), o.workers
	var wg sync.WaitGroup
	wg.Add(workers)
	for k := range workers {
		lo, hi := k*n/workers, (k+1)*n/workers
		part := o.parts[k]
		go func() {
			defer wg.Done()
			block(x, y, theta, part, lo, hi)
		}()
	}
	wg.Wait()
	clear(g)
	f := 0.0
	for _, part := range o.parts {
		for j := range nf + 1 {
			g[j] += o.c * part[j]
		}
		f += part[nf+1]
	}
	f *= o.c
	for j := range nf {
		f += 0.5 * theta[j] * theta[j]
		g[j] += theta[j]
	}
	return f
}

// block sums rows lo to hi into part: the gradient, then b's, then the
// loss.
//
//confide:oblivious float-division
//confide:secret y theta part
func block(x trace.Table, y trace.Vec, theta, part []float64, lo, hi int) {
	nf := x.Cols
	clear(part)
	w, b := theta[:nf], theta[nf]
	gw := part[:nf]
	f, gb := 0.0, 0.0
	for i := lo; i < hi; i++ {
		row := x.Row(i)
		yi := y.At(i)
		z := b + dot4(row, w)
		// One exponential serves the loss and σ(z), as in logreg.Train.
		e := Exp(-math.Abs(z))
		pos := oblivious.LtFloat(0, z)
		sp := oblivious.SelectFloat(pos, z, 0) + Log(1+e)
		sg := oblivious.SelectFloat(pos, 1, e) / (1 + e)
		f += sp - yi*z
		r := sg - yi
		for j, v := range row {
			gw[j] += r * v
		}
		gb += r
	}
	part[nf], part[nf+1] = gb, f
}

// lbfgs runs iters iterations from 0 and returns the point and its
// gradient.
//
//confide:oblivious float-division
//confide:secret y
func lbfgs(x trace.Table, y trace.Vec, c float64, iters int) (theta, g []float64) {
	o := newObjective(x, c)
	dim := x.Cols + 1
	theta, g = make([]float64, dim), make([]float64, dim)
	f := o.eval(x, y, theta, g)
	trial, gt := make([]float64, dim), make([]float64, dim)
	d, alpha := make([]float64, dim), make([]float64, lbfgsMemory)
	S, Y := make([][]float64, lbfgsMemory), make([][]float64, lbfgsMemory)
	rho := make([]float64, lbfgsMemory)
	for i := range S {
		S[i], Y[i] = make([]float64, dim), make([]float64, dim)
	}
	// The first step is scaled to length 1; afterwards by the last
	// accepted pair's s·y/y·y.
	gamma := 1 / math.Sqrt(dot(g, g)+1e-300)
	step := 1.0
	for k := range iters {
		// d = −H·g by the two-loop recursion, newest pair first (slots
		// are written in order k mod m: public).
		copy(d, g)
		for i := range lbfgsMemory {
			s := (k - 1 - i + 2*lbfgsMemory) % lbfgsMemory
			alpha[s] = rho[s] * dot(S[s], d)
			axpy(-alpha[s], Y[s], d)
		}
		for j := range d {
			d[j] *= gamma
		}
		for i := range lbfgsMemory {
			s := (k - lbfgsMemory + i + 2*lbfgsMemory) % lbfgsMemory
			beta := rho[s] * dot(Y[s], d)
			axpy(alpha[s]-beta, S[s], d)
		}
		// d is H·g so far, and −d a descent direction if g·d > 0;
		// otherwise the scaled gradient serves.
		ascent := oblivious.LtFloat(0, dot(g, d)).Not()
		for j := range d {
			d[j] = -oblivious.SelectFloat(ascent, gamma*g[j], d[j])
		}
		gd := dot(g, d)
		for j := range trial {
			trial[j] = theta[j] + step*d[j]
		}
		ft := o.eval(x, y, trial, gt)
		// Armijo's condition: ft ≤ f + c·step·g·d.
		armijo := f + 1e-4*step*gd
		accept := oblivious.LtFloat(ft, armijo).Or(equalF(ft, armijo))
		// The pair, in this iteration's slot either way.
		slot := k % lbfgsMemory
		for j := range dim {
			S[slot][j] = trial[j] - theta[j]
			Y[slot][j] = gt[j] - g[j]
		}
		sy, yy := dot(S[slot], Y[slot]), dot(Y[slot], Y[slot])
		curved := accept.And(oblivious.LtFloat(1e-10, sy))
		rho[slot] = oblivious.SelectFloat(curved, 1/(sy+1e-300), 0)
		gamma = oblivious.SelectFloat(curved, sy/(yy+1e-300), gamma)
		for j := range dim {
			theta[j] = oblivious.SelectFloat(accept, trial[j], theta[j])
			g[j] = oblivious.SelectFloat(accept, gt[j], g[j])
		}
		f = oblivious.SelectFloat(accept, ft, f)
		step = oblivious.SelectFloat(accept, 1, step*0.5)
	}
	return theta, g
}

//confide:oblivious
//confide:secret a b
func equalF(a, b float64) oblivious.Mask {
	return oblivious.Eq(math.Float64bits(a), math.Float64bits(b))
}

//confide:oblivious
//confide:secret a b
func dot(a, b []float64) float64 {
	s := 0.0
	for i, v := range a {
		s += v * b[i]
	}
	return s
}

//confide:oblivious
//confide:secret a x y
func axpy(a float64, x, y []float64) {
	for i, v := range x {
		y[i] += a * v
	}
}

// converged reports whether the gradient's largest component is below
// tol: part of the model, declassified with it.
//
//confide:oblivious
//confide:secret g
func converged(g []float64, tol float64) bool {
	worst := 0.0
	for _, v := range g {
		a := math.Abs(v)
		worst = oblivious.SelectFloat(oblivious.LtFloat(worst, a), a, worst)
	}
	return declassify(oblivious.LtFloat(worst, tol))
}
