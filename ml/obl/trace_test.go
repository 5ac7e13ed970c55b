//go:build obltrace

package obl

import (
	"math/rand/v2"
	"testing"

	"github.com/confide/confide/ml/dataset"
	"github.com/confide/confide/ml/gbdt"
	"github.com/confide/confide/ml/kmeans"
	"github.com/confide/confide/ml/logreg"
	"github.com/confide/confide/oblivious/trace"
)

// record returns the accesses f makes to traced memory.
func record(f func()) []trace.Event {
	r := trace.Start()
	f()
	trace.Stop()
	return r.Events
}

// pairs are data sets with the same public parameters (rows, features,
// label column) and different values, chosen to push a leaky trainer
// down different paths.
func pairs(rows, features int) map[string][2]*dataset.Dataset {
	rng := rand.New(rand.NewPCG(7, 7))
	make := func(f func(i, j int) float64, label func(i int) float64) *dataset.Dataset {
		d := &dataset.Dataset{Label: "y"}
		for j := range features {
			d.Features = append(d.Features, string(rune('a'+j)))
		}
		for i := range rows {
			x := []float64{}
			for j := range features {
				x = append(x, f(i, j))
			}
			d.X, d.Y = append(d.X, x), append(d.Y, label(i))
		}
		return d
	}
	noise := [][]float64{}
	for range rows {
		r := []float64{}
		for range features {
			r = append(r, rng.NormFloat64())
		}
		noise = append(noise, r)
	}
	normal := func(i, j int) float64 { return noise[i][j] + float64(i%2) }
	balanced := func(i int) float64 { return float64(i % 2) }
	return map[string][2]*dataset.Dataset{
		"one class vs balanced": {
			make(normal, func(int) float64 { return 1 }),
			make(normal, balanced)},
		"duplicates vs distinct": {
			make(func(i, j int) float64 { return noise[0][j] + float64(i%2) }, balanced),
			make(normal, balanced)},
		"extreme vs ordinary values": {
			make(func(i, j int) float64 { return noise[i][j] * 1e12 }, balanced),
			make(normal, balanced)},
		"one cluster vs two": {
			make(func(i, j int) float64 { return noise[i][j] * 1e-3 }, balanced),
			make(func(i, j int) float64 { return noise[i][j] + 100*float64(i%2) }, balanced)},
	}
}

// checkTraces runs an oblivious and a non-oblivious trainer on each
// pair (for an unsupervised trainer, those whose rows differ): the first
// must leave identical traces, the second must not (so the test can
// fail).
func checkTraces(t *testing.T, unsupervised bool, obl, plain func(*dataset.Dataset)) {
	for name, p := range pairs(64, 4) {
		if unsupervised && name == "one class vs balanced" {
			continue // the same rows: labels are not read
		}
		a, b := record(func() { obl(p[0]) }), record(func() { obl(p[1]) })
		if len(a) == 0 {
			t.Fatalf("%s: nothing recorded", name)
		}
		if d := trace.Diff(a, b); d != "" {
			t.Errorf("%s: the oblivious trainer's traces differ: %s", name, d)
		}
		na, nb := record(func() { plain(p[0]) }), record(func() { plain(p[1]) })
		if trace.Diff(na, nb) == "" {
			t.Errorf("%s: the non-oblivious trainer's traces do not differ", name)
		}
		t.Logf("%s: %d events each; non-oblivious: %s", name, len(a), trace.Diff(na, nb))
	}
}

func TestLogRegTrace(t *testing.T) {
	p := logreg.Params{C: 1, MaxIter: 30, Standardize: true}
	checkTraces(t, false,
		func(d *dataset.Dataset) { LogReg(d, p) },
		func(d *dataset.Dataset) { logreg.Train(d, p) })
}

func TestKMeansTrace(t *testing.T) {
	p := kmeans.Params{K: 3, NInit: 2, MaxIter: 5, Seed: 3}
	checkTraces(t, true,
		func(d *dataset.Dataset) { KMeans(d, p) },
		func(d *dataset.Dataset) { kmeans.Train(d, p) })
}

func TestGBDTTrace(t *testing.T) {
	p := gbdt.Defaults()
	p.Objective, p.Rounds, p.MaxDepth, p.MaxBins = gbdt.BinaryLogistic, 3, 3, 16
	p.Threads = 1
	for _, columns := range []bool{true, false} {
		name := map[bool]string{true: "sorted columns", false: "histograms"}[columns]
		t.Run(name, func(t *testing.T) {
			checkTraces(t, false,
				func(d *dataset.Dataset) {
					x, y := load(d)
					if _, err := gbdtTrain(d.Features, x, y, p, columns); err != nil {
						t.Fatal(err)
					}
				},
				func(d *dataset.Dataset) { gbdt.Train(d, p) })
		})
	}
}

// Oblivious prediction leaves the same trace for any row; the reference
// walk (oblivious.Ensemble.Predict) does not.
func TestPredictTrace(t *testing.T) {
	d := pairs(64, 4)["one cluster vs two"][1]
	p := gbdt.Defaults()
	p.Objective, p.Rounds, p.MaxDepth = gbdt.BinaryLogistic, 4, 3
	m, err := gbdt.Train(d, p)
	if err != nil {
		t.Fatal(err)
	}
	pr, err := GBDTPredictor(m)
	if err != nil {
		t.Fatal(err)
	}
	e := m.Ensemble()
	lo, hi := []float64{-1e6, -1e6, -1e6, -1e6}, []float64{1e6, 1e6, 1e6, 1e6}
	a, b := record(func() { pr(lo) }), record(func() { pr(hi) })
	if d := trace.Diff(a, b); d != "" || len(a) == 0 {
		t.Errorf("oblivious prediction: %d events, %s", len(a), d)
	}
	if trace.Diff(record(func() { e.Predict(lo) }), record(func() { e.Predict(hi) })) == "" {
		t.Error("the reference walk's traces do not differ")
	}
}
