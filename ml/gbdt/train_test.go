package gbdt

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/confide/confide/ml/dataset"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func oneFeature(x, y []float64) *dataset.Dataset {
	d := &dataset.Dataset{Features: []string{"x"}, Label: "y", Y: y}
	for _, v := range x {
		d.X = append(d.X, []float64{v})
	}
	return d
}

func mustTrain(t *testing.T, d *dataset.Dataset, p Params) *Model {
	t.Helper()
	m, err := Train(d, p)
	if err != nil {
		t.Fatalf("Train: %v", err)
	}
	return m
}

// TestTinyRegressionTree checks one stump by hand. Labels 1 1 3 3 at x =
// 1 2 3 4, margin 0, so g = -y, h = 1; cuts 2 3 4 and one above 4. The
// candidates' loss changes (G_L²/(H_L+1) + G_R²/(H_R+1) − 64/5) are
// −0.05, 0.5333 and −2.05: the split is x < 3, with leaves 2/3 and 6/3.
func TestTinyRegressionTree(t *testing.T) {
	p := Defaults()
	p.Rounds, p.MaxDepth, p.LearningRate, p.BaseScore = 1, 1, 1, 0
	m := mustTrain(t, oneFeature([]float64{1, 2, 3, 4}, []float64{1, 1, 3, 3}), p)
	tr := m.trees[0]
	if !slices.Equal(tr.left, []int32{1, -1, -1}) || !slices.Equal(tr.right, []int32{2, -1, -1}) {
		t.Fatalf("tree shape: left %v right %v", tr.left, tr.right)
	}
	f32 := func(x float64) float32 { return float32(x) }
	if tr.cond[0] != 3 || tr.cond[1] != f32(2.0/3) || tr.cond[2] != 2 {
		t.Errorf("split/leaves = %v, want [3 0.6666667 2]", tr.cond)
	}
	if !slices.Equal(tr.sumHess, []float32{4, 2, 2}) {
		t.Errorf("sum_hessian = %v", tr.sumHess)
	}
	if !slices.Equal(tr.baseWeight, []float32{1.6, f32(2.0 / 3), 2}) {
		t.Errorf("base_weights = %v (root: 8/5 unscaled; leaves: their values)", tr.baseWeight)
	}
	if l := tr.lossChange[0]; math.Abs(float64(l)-(4.0/3+12-12.8)) > 1e-5 {
		t.Errorf("loss change = %v, want 0.5333", l)
	}
	for _, c := range []struct{ x, want float64 }{{1, 2.0 / 3}, {2.9999, 2.0 / 3}, {3, 2}, {100, 2}, {-5, 2.0 / 3}} {
		if got := m.PredictMargin([]float64{c.x}); got != float64(f32(c.want)) {
			t.Errorf("PredictMargin(%v) = %v, want %v", c.x, got, f32(c.want))
		}
	}
	if got := m.PredictMargin([]float64{math.NaN()}); got != 2 {
		t.Errorf("PredictMargin(NaN) = %v, want 2 (missing goes right)", got)
	}
}

// TestTinyBinaryTree: labels 0 1 at x = 0 1 and p = 0.5 give g = ±0.5,
// h = 0.25. The split x < 1 has loss change 0.2 + 0.2 − 0 and leaves
// ∓0.5/1.25 — if min_child_weight allows children of hessian 0.25 and
// gamma at most 0.4.
func TestTinyBinaryTree(t *testing.T) {
	d := oneFeature([]float64{0, 1}, []float64{0, 1})
	for _, tc := range []struct {
		mcw, gamma float64
		split      bool
	}{
		{0, 0, true}, {0.25, 0, true}, {0.26, 0, false}, {1, 0, false},
		{0, 0.4, true}, {0, 0.41, false},
	} {
		p := Defaults()
		p.Objective, p.Rounds, p.MaxDepth, p.LearningRate = BinaryLogistic, 1, 3, 1
		p.MinChildWeight, p.Gamma = tc.mcw, tc.gamma
		m := mustTrain(t, d, p)
		tr := m.trees[0]
		if !tc.split {
			// One leaf; its weight is 0 too when H = 0.5 < min_child_weight.
			if tr.numNodes() != 1 || (tc.mcw > 0.5 && tr.cond[0] != 0) {
				t.Errorf("mcw %v gamma %v: want a single leaf, got %d nodes %v", tc.mcw, tc.gamma, tr.numNodes(), tr.cond)
			}
			continue
		}
		if tr.numNodes() != 3 || tr.cond[0] != 1 || tr.cond[1] != -0.4 || tr.cond[2] != 0.4 || tr.lossChange[0] != 0.4 {
			t.Errorf("mcw %v gamma %v: got split %v loss %v", tc.mcw, tc.gamma, tr.cond, tr.lossChange)
			continue
		}
		if got, want := m.Predict([]float64{1}), 1/(1+math.Exp(-0.4)); math.Abs(got-want) > 1e-7 {
			t.Errorf("Predict(1) = %v, want %v", got, want)
		}
	}
}

// TestTieBreak: two identical features split on the first, as XGBoost.
func TestTieBreak(t *testing.T) {
	d := &dataset.Dataset{Features: []string{"a", "b"}, Y: []float64{0, 0, 1, 1}}
	for _, v := range []float64{1, 2, 3, 4} {
		d.X = append(d.X, []float64{v, v})
	}
	p := Defaults()
	p.MinChildWeight = 0
	m := mustTrain(t, d, p)
	if f := m.trees[0].feature[0]; f != 0 || m.trees[0].cond[0] != 3 {
		t.Errorf("split on feature %d at %v, want feature 0 at 3", f, m.trees[0].cond[0])
	}
}

// TestMarginsMatchPredict checks training against prediction: the margins
// training kept (from partitions of bins) equal what the model predicts
// from the raw values, bit for bit.
func TestMarginsMatchPredict(t *testing.T) {
	for _, obj := range []string{BinaryLogistic, RegSquaredError} {
		d := synthetic(40000, 6, 7)
		p := Defaults()
		p.Objective, p.Rounds, p.MaxDepth, p.MaxBins = obj, 8, 5, 64
		m, tr, err := train(d, p)
		if err != nil {
			t.Fatal(err)
		}
		for i, x := range d.X {
			if got := m.PredictMargin(x); got != float64(tr.margin[i]) {
				t.Fatalf("%s: row %d: PredictMargin %v, training margin %v", obj, i, got, tr.margin[i])
			}
		}
		// PredictAll, walking rows side by side, agrees with Predict,
		// missing values (and a ragged last block) included.
		X := d.X[:1003]
		for i := 0; i < len(X); i += 7 {
			X[i] = slices.Clone(X[i])
			X[i][i%6] = math.NaN()
		}
		all, err := m.PredictAll(X)
		if err != nil {
			t.Fatal(err)
		}
		for i, x := range X {
			if got := m.Predict(x); all[i] != got {
				t.Fatalf("%s: row %d: PredictAll %v, Predict %v", obj, i, all[i], got)
			}
		}
		if _, err := m.PredictAll([][]float64{{1, 2}}); err == nil {
			t.Fatal("PredictAll took a short row")
		}
	}
}

// TestThreadsDoNotMatter: the model is the same however many goroutines
// train it (the data spans several histogram and partition pieces).
func TestThreadsDoNotMatter(t *testing.T) {
	d := synthetic(70000, 5, 8)
	var first []byte
	for _, threads := range []int{1, 2, 3} {
		p := Defaults()
		p.Objective, p.Rounds, p.Threads = BinaryLogistic, 4, threads
		js, err := mustTrain(t, d, p).MarshalXGBoostJSON()
		if err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = js
		} else if !bytes.Equal(js, first) {
			t.Fatalf("Threads=%d trains another model than Threads=1", threads)
		}
	}
}

func TestTrainDataErrors(t *testing.T) {
	good := func() *dataset.Dataset {
		return &dataset.Dataset{Features: []string{"a", "b"}, X: [][]float64{{1, 2}, {3, 4}}, Y: []float64{0, 1}}
	}
	for _, tc := range []struct {
		name   string
		d      *dataset.Dataset
		change func(*dataset.Dataset)
		want   string
	}{
		{"nil", nil, nil, "no rows"},
		{"no rows", &dataset.Dataset{Features: []string{"a"}}, nil, "no rows"},
		{"no features", &dataset.Dataset{X: [][]float64{{}}, Y: []float64{1}}, nil, "no features"},
		{"labels", good(), func(d *dataset.Dataset) { d.Y = d.Y[:1] }, "1 labels for 2 rows"},
		{"no labels", good(), func(d *dataset.Dataset) { d.Y = nil }, "0 labels for 2 rows"},
		{"short row", good(), func(d *dataset.Dataset) { d.X[1] = d.X[1][:1] }, "row index 1 has 1 values for 2 features"},
		{"NaN label", good(), func(d *dataset.Dataset) { d.Y[1] = math.NaN() }, "label NaN is not a finite float32"},
		{"binary label", good(), func(d *dataset.Dataset) { d.Y[0] = 2 }, "label 2; binary:logistic needs labels from 0 to 1"},
		{"NaN value", good(), func(d *dataset.Dataset) { d.X[1][1] = math.NaN() }, `row index 1, feature "b": NaN is not a finite float32`},
		{"huge value", good(), func(d *dataset.Dataset) { d.X[0][0] = -1e39 }, `row index 0, feature "a": -1e+39 is not a finite float32`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.change != nil {
				tc.change(tc.d)
			}
			p := Defaults()
			p.Objective = BinaryLogistic
			_, err := Train(tc.d, p)
			if err == nil || !errors.Is(err, ErrData) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Train: %v, want an ErrData containing %q", err, tc.want)
			}
		})
	}
	p := Defaults()
	p.MaxBins = 300
	if _, err := Train(good(), p); !errors.Is(err, ErrParams) {
		t.Errorf("Train with MaxBins 300: %v, want ErrParams", err)
	}
}

// TestAccumulate checks the histogram kernel (assembly on amd64) against
// the Go loop, bit for bit.
func TestAccumulate(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, nf := range []int{1, 3, 4, 5, 28} {
		const nrow = 3000
		bins := make([]uint8, nrow*nf)
		for i := range bins {
			bins[i] = uint8(r.IntN(256))
		}
		gp := make([]gradPair, nrow)
		for i := range gp {
			gp[i] = gradPair{float32(r.NormFloat64()), float32(r.Float64())}
		}
		var rows []uint32
		for i := range nrow {
			if r.IntN(3) > 0 {
				rows = append(rows, uint32(i))
			}
		}
		for _, rs := range [][]uint32{nil, rows[:1], rows[:17], rows} {
			want, got := make(histogram, nf), make(histogram, nf)
			accumulateGo(want, rs, bins, gp, nf)
			accumulate(got, rs, bins, gp, nf)
			if !slices.Equal(want, got) {
				t.Fatalf("nf=%d, %d rows: accumulate differs from accumulateGo", nf, len(rs))
			}
		}
	}
}

// TestBreastCancerAccuracy is a check that needs no XGBoost: 5-fold
// accuracy on the breast-cancer data (XGBoost's is about 96%).
func TestBreastCancerAccuracy(t *testing.T) {
	d := breastCancer(t)
	folds := foldsOf(len(d.X), 5)
	p := Defaults()
	p.Objective, p.Rounds = BinaryLogistic, 100
	acc := crossValidate(t, d, folds, p)
	mean := 0.0
	for _, a := range acc {
		mean += a / float64(len(acc))
	}
	t.Logf("fold accuracies %.4f, mean %.4f", acc, mean)
	if mean < 0.94 {
		t.Errorf("mean accuracy %.4f < 0.94", mean)
	}
}

// foldsOf assigns n rows to k folds at random, the same every run.
func foldsOf(n, k int) []int {
	perm := rand.New(rand.NewPCG(2024, 5)).Perm(n)
	folds := make([]int, n)
	for i, row := range perm {
		folds[row] = i % k
	}
	return folds
}

// crossValidate trains on all folds but one and returns each held-out
// fold's accuracy (probability >= 0.5 means 1).
func crossValidate(t *testing.T, d *dataset.Dataset, folds []int, p Params) []float64 {
	k := slices.Max(folds) + 1
	var acc []float64
	for f := range k {
		var tr, te []int
		for i, fi := range folds {
			if fi == f {
				te = append(te, i)
			} else {
				tr = append(tr, i)
			}
		}
		m := mustTrain(t, d.Subset(tr), p)
		right := 0
		for _, i := range te {
			if (m.Predict(d.X[i]) >= 0.5) == (d.Y[i] == 1) {
				right++
			}
		}
		acc = append(acc, float64(right)/float64(len(te)))
	}
	return acc
}
