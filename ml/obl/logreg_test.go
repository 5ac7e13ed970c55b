package obl

import (
	"bytes"
	"math"
	"testing"

	"github.com/confide/confide/ml/data"
	"github.com/confide/confide/ml/dataset"
	"github.com/confide/confide/ml/logreg"
)

func breastCancer(t testing.TB) *dataset.Dataset {
	d, err := dataset.ReadCSV(bytes.NewReader(data.BreastCancerCSV), "bc", "malignant")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// folds splits rows into k train/test pairs by position (i mod k).
func folds(d *dataset.Dataset, k int) (train, test []*dataset.Dataset) {
	for f := range k {
		var tr, te []int
		for i := range d.Rows() {
			if i%k == f {
				te = append(te, i)
			} else {
				tr = append(tr, i)
			}
		}
		train, test = append(train, d.Subset(tr)), append(test, d.Subset(te))
	}
	return train, test
}

func accuracy(d *dataset.Dataset, predict func([]float64) float64) float64 {
	ok := 0
	for i, x := range d.X {
		if (predict(x) >= 0.5) == (d.Y[i] == 1) {
			ok++
		}
	}
	return float64(ok) / float64(d.Rows())
}

// The oblivious trainer's models are as accurate as logreg.Train's, over
// the same 5-fold cross-validation of the breast-cancer data, and close
// to them.
func TestLogRegQuality(t *testing.T) {
	d := breastCancer(t)
	p := logreg.Params{C: 1, MaxIter: 200, Standardize: true}
	train, test := folds(d, 5)
	accO, accP := 0.0, 0.0
	for f := range train {
		mo, err := LogReg(train[f], p)
		if err != nil {
			t.Fatal(err)
		}
		mp, err := logreg.Train(train[f], logreg.Params{C: 1, Standardize: true})
		if err != nil {
			t.Fatal(err)
		}
		accO += accuracy(test[f], mo.Predict) / 5
		accP += accuracy(test[f], mp.Predict) / 5
		// The same optimum, to the solver's precision.
		for j, c := range mp.Coef {
			if math.Abs(mo.Coef[j]-c) > 1e-3*max(1, math.Abs(c)) {
				t.Errorf("fold %d: coef %d: oblivious %v, logreg.Train %v", f, j, mo.Coef[j], c)
			}
		}
		if !mo.Converged || mo.Iterations != 200 {
			t.Errorf("fold %d: converged %v after %d iterations", f, mo.Converged, mo.Iterations)
		}
	}
	t.Logf("5-fold accuracy: oblivious %.4f, logreg.Train %.4f", accO, accP)
	if math.Abs(accO-accP) > 0.01 {
		t.Errorf("oblivious %.4f, logreg.Train %.4f: more than 1 point apart", accO, accP)
	}
}

func TestLogRegBadInput(t *testing.T) {
	d := breastCancer(t).Subset([]int{0, 1, 2, 3})
	d.Y = []float64{0, 1, 2, 1}
	if _, err := LogReg(d, logreg.Params{}); err == nil {
		t.Error("a label 2 accepted")
	}
	d.Y = nil
	if _, err := LogReg(d, logreg.Params{}); err == nil {
		t.Error("no labels accepted")
	}
}
