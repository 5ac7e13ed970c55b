package obl

import (
	"math"
	"strings"
	"testing"

	"github.com/confide/confide/ml/dataset"
	"github.com/confide/confide/ml/gbdt"
)

// Oblivious boosted trees are as accurate as gbdt.Train's over the same
// 5-fold cross-validation of the breast-cancer data.
func TestGBDTQuality(t *testing.T) {
	d := breastCancer(t)
	p := gbdt.Defaults()
	p.Objective, p.Rounds, p.MaxDepth, p.MaxBins = gbdt.BinaryLogistic, 20, 4, 64
	train, test := folds(d, 5)
	accC, accH, accP := 0.0, 0.0, 0.0
	for f := range train {
		mc, mh := trainBoth(t, train[f], p)
		mp, err := gbdt.Train(train[f], p)
		if err != nil {
			t.Fatal(err)
		}
		accC += accuracy(test[f], mc.Predict) / 5
		accH += accuracy(test[f], mh.Predict) / 5
		accP += accuracy(test[f], mp.Predict) / 5
		if mc.NumTrees() != 20 || mh.NumTrees() != 20 {
			t.Fatalf("%d and %d trees", mc.NumTrees(), mh.NumTrees())
		}
	}
	t.Logf("5-fold accuracy: oblivious by sorted columns %.4f, by histograms %.4f; gbdt.Train %.4f", accC, accH, accP)
	for _, acc := range []float64{accC, accH} {
		if math.Abs(acc-accP) > 0.01 {
			t.Errorf("oblivious %.4f, gbdt.Train %.4f: more than 1 point apart", acc, accP)
		}
	}
}

// Sorted columns and histograms find the same splits: with integer
// gradients (squared error, integer labels, base score 0.5) every sum is
// exact either way, so the first tree is the same to the bit; later
// trees may part where rounding breaks a near tie.
func TestGBDTColumns(t *testing.T) {
	d := breastCancer(t)
	for i := range d.Y {
		d.Y[i] = float64(int(d.X[i][0]) % 5) // integer labels, related to a feature
	}
	p := gbdt.Defaults()
	p.Objective, p.Rounds, p.MaxDepth, p.MaxBins = gbdt.RegSquaredError, 1, 4, 32
	for _, mcw := range []float64{1, 20} { // and where min_child_weight rules some out
		p.MinChildWeight = mcw
		mc, mh := trainBoth(t, d, p)
		jc, _ := mc.MarshalXGBoostJSON()
		jh, _ := mh.MarshalXGBoostJSON()
		if string(jc) != string(jh) {
			t.Fatalf("min_child_weight %v: the trees differ:\n%s\n%s", mcw, jc, jh)
		}
		depth, _, threshold, _, ok := mc.CompleteTrees()
		if !ok || depth != 4 {
			t.Fatalf("not a complete tree of depth 4")
		}
		splits := 0
		for _, c := range threshold[0] {
			if c < math.MaxFloat32 {
				splits++
			}
		}
		if splits < 8 {
			t.Fatalf("min_child_weight %v: %d real splits of 15: too few to compare", mcw, splits)
		}
		t.Logf("min_child_weight %v: %d real splits of 15, the same", mcw, splits)
	}
}

// The model written out reads back, predicts the same, and trains a
// regression too.
func TestGBDTModel(t *testing.T) {
	d := breastCancer(t).Subset(seqN(200))
	p := gbdt.Defaults()
	p.Objective, p.Rounds, p.MaxDepth, p.MaxBins = gbdt.RegSquaredError, 5, 3, 32
	m, err := GBDT(d, p)
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.MarshalXGBoostJSON()
	if err != nil {
		t.Fatal(err)
	}
	back, err := gbdt.ReadXGBoostJSON(b)
	if err != nil {
		t.Fatal(err)
	}
	se, se0, mean := 0.0, 0.0, 0.0
	for _, y := range d.Y {
		mean += y / float64(d.Rows())
	}
	// Its trees are complete: the oblivious predictor takes the
	// CompleteModel route, to the same values.
	if depth, _, _, _, ok := m.CompleteTrees(); !ok || depth != 3 {
		t.Fatalf("trees not complete of depth 3: %v %d", ok, depth)
	}
	pr, err := GBDTPredictor(m)
	if err != nil {
		t.Fatal(err)
	}
	for i, x := range d.X {
		if a, b := m.Predict(x), back.Predict(x); a != b {
			t.Fatalf("row %d: %v, read back %v", i, a, b)
		}
		if a, b := m.Predict(x), pr(x); math.Abs(a-b) > 1e-6*max(1, math.Abs(a)) {
			t.Fatalf("row %d: %v, obliviously %v", i, a, b)
		}
		e := m.Predict(x) - d.Y[i]
		se += e * e
		se0 += (mean - d.Y[i]) * (mean - d.Y[i])
	}
	if se >= se0 {
		t.Errorf("training error %v, the mean's %v: nothing learnt", se, se0)
	}
	// Bad labels and values are refused, without saying where.
	bad := d.Subset([]int{0, 1, 2})
	bad.X = [][]float64{bad.X[0], bad.X[1], append([]float64{1e300}, bad.X[2][1:]...)}
	if _, err := GBDT(bad, p); err == nil {
		t.Error("a value beyond float32 accepted")
	}
	deep := p
	deep.MaxDepth = MaxGBDTDepth + 1
	if _, err := GBDT(d, deep); err == nil || !strings.Contains(err.Error(), "at most 10") {
		t.Errorf("depth %d: %v", deep.MaxDepth, err)
	}
	bad = d.Subset([]int{0, 1, 2})
	bad.Y = []float64{0, 2, 1}
	p.Objective = gbdt.BinaryLogistic
	if _, err := GBDT(bad, p); err == nil {
		t.Error("a label 2 accepted")
	}
}

// trainBoth trains by sorted columns and by histograms.
func trainBoth(t *testing.T, d *dataset.Dataset, p gbdt.Params) (columns, histograms *gbdt.Model) {
	x, y := load(d)
	mc, err := gbdtTrain(d.Features, x, y, p, true)
	if err != nil {
		t.Fatal(err)
	}
	mh, err := gbdtTrain(d.Features, x, y, p, false)
	if err != nil {
		t.Fatal(err)
	}
	return mc, mh
}

func seqN(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}
