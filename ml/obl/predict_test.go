package obl

import (
	"math"
	"testing"

	"github.com/confide/confide/ml/gbdt"
	"github.com/confide/confide/ml/kmeans"
	"github.com/confide/confide/ml/logreg"
)

// The oblivious predictors agree with the models' own.
func TestPredictors(t *testing.T) {
	d := breastCancer(t)
	lr, err := logreg.Train(d, logreg.Params{Standardize: true})
	if err != nil {
		t.Fatal(err)
	}
	km, err := kmeans.Train(d, kmeans.Params{K: 4, NInit: 2, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	gp := gbdt.Defaults()
	gp.Objective, gp.Rounds, gp.MaxDepth = gbdt.BinaryLogistic, 30, 4
	gb, err := gbdt.Train(d, gp)
	if err != nil {
		t.Fatal(err)
	}
	gpr := gp
	gpr.Objective = gbdt.RegSquaredError
	gr, err := gbdt.Train(d, gpr)
	if err != nil {
		t.Fatal(err)
	}
	gbo, err := GBDTPredictor(gb)
	if err != nil {
		t.Fatal(err)
	}
	gro, err := GBDTPredictor(gr)
	if err != nil {
		t.Fatal(err)
	}
	lro, kmo := LogRegPredictor(lr), KMeansPredictor(km)
	for i, x := range d.X {
		if a, b := lro(x), lr.Predict(x); math.Abs(a-b) > 1e-12 {
			t.Fatalf("row %d: logreg %v, oblivious %v", i, b, a)
		}
		if a, b := kmo(x), float64(km.Predict(x)); a != b {
			t.Fatalf("row %d: kmeans %v, oblivious %v", i, b, a)
		}
		if a, b := gbo(x), gb.Predict(x); math.Abs(a-b) > 1e-6 {
			t.Fatalf("row %d: gbdt %v, oblivious %v", i, b, a)
		}
		if a, b := gro(x), gr.Predict(x); math.Abs(a-b) > 1e-6*max(1, math.Abs(b)) {
			t.Fatalf("row %d: gbdt regression %v, oblivious %v", i, b, a)
		}
	}
	// Metrics as the trainer computes them.
	p := make([]float64, d.Rows())
	for i, x := range d.X {
		p[i] = lr.Predict(x)
	}
	acc, ll := BinaryMetrics(p, d.Y)
	wantAcc, wantLL := 0.0, 0.0
	for i, pi := range p {
		if (pi >= 0.5) == (d.Y[i] == 1) {
			wantAcc++
		}
		q := math.Min(math.Max(pi, 1e-15), 1-1e-15)
		if d.Y[i] == 1 {
			wantLL -= math.Log(q)
		} else {
			wantLL -= math.Log(1 - q)
		}
	}
	n := float64(d.Rows())
	if acc != wantAcc/n || math.Abs(ll-wantLL/n) > 1e-12 {
		t.Errorf("metrics %v %v, want %v %v", acc, ll, wantAcc/n, wantLL/n)
	}
}
