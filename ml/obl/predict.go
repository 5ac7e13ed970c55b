package obl

import (
	"fmt"
	"math"

	"github.com/confide/confide/ml/gbdt"
	"github.com/confide/confide/ml/kmeans"
	"github.com/confide/confide/ml/logreg"
	"github.com/confide/confide/oblivious"
)

// Oblivious prediction. Public parameters: the model's kind and size
// (features; clusters; trees, nodes per tree, depth), never a row's
// values. Granularity: element.

// LogRegPredictor returns m's prediction (the probability of label 1)
// computed without a branch on the row: the standardisation, the dot
// product and the branch-free Sigmoid.
//
//confide:oblivious float-division
func LogRegPredictor(m *logreg.Model) func(x []float64) float64 {
	return func(x []float64) float64 {
		z := m.Intercept
		for j, v := range x {
			if m.Mean != nil {
				v = (v - m.Mean[j]) / m.Scale[j]
			}
			z += m.Coef[j] * v
		}
		return Sigmoid(z)
	}
}

// KMeansPredictor returns the index of the centre nearest to a row (the
// first on a tie, as kmeans.Model.Predict), chosen by masks.
//
//confide:oblivious
func KMeansPredictor(m *kmeans.Model) func(x []float64) float64 {
	return func(x []float64) float64 {
		best, bd := uint64(0), sqDist(x, m.Centers[0])
		for c := 1; c < len(m.Centers); c++ {
			d := sqDist(x, m.Centers[c])
			lt := oblivious.LtFloat(d, bd)
			bd = oblivious.SelectFloat(lt, d, bd)
			best = oblivious.Select(lt, uint64(c), best)
		}
		return float64(int64(best)) // through int64: no branch on the value
	}
}

// GBDTPredictor returns m's prediction through package oblivious's
// CompleteModel, so that neither the row nor the model's splits and
// values (one kept inside the enclave) show in the trace: trees grown
// obliviously are complete already; others are expanded to complete
// trees as deep as the deepest (oblivious.Complete), and only beyond
// oblivious.MaxCompleteDepth does it fall back to a SecretModel (the
// trees padded to one shape and read by scans, much slower). Rows are
// rounded to float32 first, as XGBoost compares them; the margin is
// summed in float64 (PredictMargin sums in float32), so predictions
// agree with m.Predict to about 1e-6.
func GBDTPredictor(m *gbdt.Model) (func(x []float64) float64, error) {
	binary := m.Objective() == gbdt.BinaryLogistic
	if depth, f, th, lv, ok := m.CompleteTrees(); ok && depth >= 1 && depth <= oblivious.MaxCompleteDepth {
		cm, err := oblivious.NewCompleteModel(depth, m.NumFeatures(), m.BaseMargin(), f, th, lv)
		if err != nil {
			return nil, fmt.Errorf("obl: %w", err)
		}
		return gbdtPredict(cm, binary), nil
	}
	e := m.Ensemble()
	shape := oblivious.ShapeOf(e, m.NumFeatures())
	if shape.Depth <= oblivious.MaxCompleteDepth {
		cm, err := oblivious.Complete(e, m.NumFeatures())
		if err != nil {
			return nil, fmt.Errorf("obl: %w", err)
		}
		return gbdtPredict(cm, binary), nil
	}
	padded, err := oblivious.Pad(e, shape)
	if err != nil {
		return nil, fmt.Errorf("obl: %w", err)
	}
	sm, err := oblivious.NewSecretModel(padded, shape)
	if err != nil {
		return nil, fmt.Errorf("obl: %w", err)
	}
	return gbdtPredict(sm, binary), nil
}

// treePredictor is what gbdtPredict walks: a SecretModel or a
// CompleteModel.
type treePredictor interface {
	//confide:oblivious
	//confide:secret x
	Predict(x []float64) float64
}

//confide:oblivious
func gbdtPredict(sm treePredictor, binary bool) func(x []float64) float64 {
	return func(x []float64) float64 {
		r := make([]float64, len(x))
		for j, v := range x {
			r[j] = float64(float32(v))
		}
		margin := sm.Predict(r)
		if binary {
			return Sigmoid(margin)
		}
		return margin
	}
}

// BinaryMetrics are the accuracy (threshold 0.5) and log loss of
// probabilities p for labels y (0 or 1), computed without a branch on
// either. They are published (the training report), so declassified.
//
//confide:declassify
//confide:oblivious float-division
//confide:secret p y
func BinaryMetrics(p, y []float64) (accuracy, logloss float64) {
	correct := 0.0
	for i, pi := range p {
		yes := oblivious.LtFloat(pi, 0.5).Not()
		one := oblivious.Eq(math.Float64bits(y[i]), math.Float64bits(1))
		correct += oblivious.SelectFloat(yes.And(one).Or(yes.Not().AndNot(one)), 1, 0)
		q := clamp(pi, 1e-15, 1-1e-15)
		logloss -= Log(oblivious.SelectFloat(one, q, 1-q))
	}
	n := float64(max(1, len(p)))
	return correct / n, logloss / n
}

// RMSE is the root mean squared error of predictions p for values y,
// published in the training report.
//
//confide:declassify
//confide:oblivious
//confide:secret p y
func RMSE(p, y []float64) float64 {
	se := 0.0
	for i, pi := range p {
		e := pi - y[i]
		se += e * e
	}
	return math.Sqrt(se / float64(max(1, len(p))))
}
