package gbdt

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/confide/confide/ml/dataset"
)

// Differential tests against the reference XGBoost 1.7 (skipped when it
// is not installed; see needXGBoost).

// withMissing is d's rows followed by copies of some with NaN values.
func withMissing(d *dataset.Dataset) *dataset.Dataset {
	out := &dataset.Dataset{Features: d.Features, X: slices.Clone(d.X)}
	for i := range 20 {
		x := slices.Clone(d.X[i])
		for j := i % 3; j < len(x); j += 3 {
			x[j] = math.NaN()
		}
		out.X = append(out.X, x)
	}
	return out
}

// TestXGBoostPredictsOurModels: XGBoost loads the JSON we write and
// predicts what we predict, missing values included.
func TestXGBoostPredictsOurModels(t *testing.T) {
	needXGBoost(t)
	for _, tc := range []struct {
		name string
		d    *dataset.Dataset
		p    Params
	}{
		{"binary", breastCancer(t), func() Params {
			p := Defaults()
			p.Objective, p.Rounds = BinaryLogistic, 100
			return p
		}()},
		{"regression", syntheticData(3000, 6, 31, false), Params{Objective: RegSquaredError, Rounds: 30,
			MaxDepth: 5, LearningRate: 0.2, Lambda: 0.5, Alpha: 0.1, MinChildWeight: 3, Gamma: 0.05, MaxBins: 64, BaseScore: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := mustTrain(t, tc.d, tc.p)
			js, err := m.MarshalXGBoostJSON()
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "model.json")
			if err := os.WriteFile(path, js, 0o600); err != nil {
				t.Fatal(err)
			}
			rows := withMissing(tc.d)
			var ans struct{ Margin, Prob []float64 }
			runRef(t, "predict", struct {
				refData
				Model string `json:"model"`
			}{writeRefData(t, rows), path}, &ans)
			if len(ans.Margin) != len(rows.X) {
				t.Fatalf("XGBoost predicted %d rows of %d", len(ans.Margin), len(rows.X))
			}
			worst := 0.0
			for i, x := range rows.X {
				dm := math.Abs(m.PredictMargin(x) - ans.Margin[i])
				dp := math.Abs(m.Predict(x) - ans.Prob[i])
				worst = max(worst, dm, dp)
				if dm > 1e-5 || dp > 1e-5 {
					t.Fatalf("row %d: we predict %v (margin %v), XGBoost %v (margin %v)",
						i, m.Predict(x), m.PredictMargin(x), ans.Prob[i], ans.Margin[i])
				}
			}
			t.Logf("%d rows, largest difference %.3g", len(rows.X), worst)
		})
	}
}

// TestXGBoostCrossValidation trains both on the same 5 folds of the
// breast-cancer data with the same hyperparameters: mean accuracy must
// agree within a percentage point. It then reads XGBoost's fold models:
// they must predict what XGBoost predicts and be written back byte for
// byte.
func TestXGBoostCrossValidation(t *testing.T) {
	needXGBoost(t)
	d := breastCancer(t)
	folds := foldsOf(len(d.X), 5)
	p := Defaults()
	p.Objective, p.Rounds, p.MaxDepth, p.LearningRate, p.MaxBins = BinaryLogistic, 100, 6, 0.3, 256
	p.Lambda, p.MinChildWeight, p.BaseScore = 1, 1, 0.5
	var ref struct {
		Accuracy []float64
		Models   []string
		Margins  [][]float64
	}
	runRef(t, "cv", struct {
		refData
		Params      map[string]any `json:"params"`
		Rounds      int            `json:"rounds"`
		Folds       []int          `json:"folds"`
		ModelPrefix string         `json:"model_prefix"`
	}{writeRefData(t, d), xgbParams(p), p.Rounds, folds, filepath.Join(t.TempDir(), "fold")}, &ref)

	ours := crossValidate(t, d, folds, p)
	mean := func(a []float64) float64 {
		s := 0.0
		for _, v := range a {
			s += v
		}
		return s / float64(len(a))
	}
	t.Logf("accuracy per fold: ours %.4f, XGBoost %.4f", ours, ref.Accuracy)
	t.Logf("mean accuracy: ours %.4f, XGBoost %.4f", mean(ours), mean(ref.Accuracy))
	if diff := math.Abs(mean(ours) - mean(ref.Accuracy)); diff > 0.01 {
		t.Errorf("mean accuracies differ by %.4f > 0.01", diff)
	}

	for k, path := range ref.Models {
		file, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		m, err := ReadXGBoostJSON(file)
		if err != nil {
			t.Fatalf("fold %d: reading XGBoost's model: %v", k, err)
		}
		for i, x := range d.X {
			if got := m.PredictMargin(x); math.Abs(got-ref.Margins[k][i]) > 1e-5 {
				t.Fatalf("fold %d, row %d: XGBoost's model predicts %v here, %v in XGBoost", k, i, got, ref.Margins[k][i])
			}
		}
		if out, err := m.MarshalXGBoostJSON(); err != nil || !bytes.Equal(out, file) {
			t.Errorf("fold %d: XGBoost's model is not written back as it was (%v)", k, err)
		}
		// Not required, but worth knowing: are the trees the same?
		var tr []int
		for i, f := range folds {
			if f != k {
				tr = append(tr, i)
			}
		}
		if diffs := compareTrees(mustTrain(t, d.Subset(tr), p), m); len(diffs) > 0 {
			t.Logf("fold %d: our trees differ from XGBoost's: %v", k, diffs)
		}
	}
}
