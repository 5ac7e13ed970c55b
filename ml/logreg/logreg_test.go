package logreg

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/confide/confide/ml/data"
	"github.com/confide/confide/ml/dataset"
	"github.com/confide/confide/ml/internal/sktest"
)

func breastCancer(t *testing.T) *dataset.Dataset {
	t.Helper()
	d, err := dataset.ReadCSV(bytes.NewReader(data.BreastCancerCSV), "breast_cancer.csv", "malignant")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestAgainstScikitLearn: the same 5 folds of the breast-cancer data,
// standardised on each training fold, C = 1, solvers run to convergence:
// the mean accuracy is within 1 percentage point of scikit-learn's
// LogisticRegression and each test row's probability within 1e-3 (the
// same objective has one optimum; the breast-cancer features are nearly
// collinear, so the objective is flat in some directions and scipy's
// L-BFGS-B stops on its relative-reduction test within about 1e-4).
func TestAgainstScikitLearn(t *testing.T) {
	sktest.Need(t, "sklearn")
	d := breastCancer(t)
	folds := sktest.Folds(d.Rows(), 5, 7)
	var ours []float64
	for k := range 5 {
		var tr, te []int
		for i, f := range folds {
			if f == k {
				te = append(te, i)
			} else {
				tr = append(tr, i)
			}
		}
		m, err := Train(d.Subset(tr), Params{C: 1, Standardize: true})
		if err != nil {
			t.Fatal(err)
		}
		if !m.Converged {
			t.Errorf("fold %d: not converged after %d iterations", k, m.Iterations)
		}
		for _, i := range te {
			ours = append(ours, m.Predict(d.X[i]))
		}
	}
	var sk struct {
		Proba    []float64 `json:"proba"`
		Accuracy float64   `json:"accuracy"`
	}
	sktest.Run(t, `
import json, sys
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
d = json.load(open(sys.argv[1]))
X, y, folds = np.array(d["x"]), np.array(d["y"]), np.array(d["folds"])
proba, correct = [], 0
for k in range(5):
    tr, te = folds != k, folds == k
    s = StandardScaler().fit(X[tr])
    m = LogisticRegression(C=1.0, max_iter=10000, tol=1e-10).fit(s.transform(X[tr]), y[tr])
    p = m.predict_proba(s.transform(X[te]))[:, 1]
    proba += list(p)
    correct += int(((p >= 0.5) == (y[te] == 1)).sum())
print(json.dumps({"proba": proba, "accuracy": correct / len(y)}))
`, map[string]any{"x": d.X, "y": d.Y, "folds": folds}, &sk)
	// Both lists run fold by fold, test rows in row order.
	correct, worst := 0, 0.0
	j := 0
	for k := range 5 {
		for i, f := range folds {
			if f != k {
				continue
			}
			if (ours[j] >= 0.5) == (d.Y[i] == 1) {
				correct++
			}
			worst = math.Max(worst, math.Abs(ours[j]-sk.Proba[j]))
			j++
		}
	}
	acc := float64(correct) / float64(d.Rows())
	t.Logf("5-fold accuracy: confide %.4f, scikit-learn %.4f; largest probability difference %.2g", acc, sk.Accuracy, worst)
	if math.Abs(acc-sk.Accuracy) > 0.01 {
		t.Errorf("accuracy %.4f against scikit-learn's %.4f", acc, sk.Accuracy)
	}
	if worst > 1e-3 {
		t.Errorf("a probability differs from scikit-learn's by %g", worst)
	}
}

func TestBadInput(t *testing.T) {
	d := breastCancer(t)
	for _, p := range []Params{{C: -1}, {C: math.Inf(1)}, {MaxIter: -1}} {
		if _, err := Train(d, p); err == nil {
			t.Errorf("%+v accepted", p)
		}
	}
	three := d.Subset([]int{0, 1, 2})
	three.Y = []float64{0, 1, 2}
	if _, err := Train(three, Params{}); err == nil || !strings.Contains(err.Error(), "0 or 1") {
		t.Errorf("a label 2: %v", err)
	}
	for name, doc := range map[string]string{
		"format":     `{"format":"x","version":1}`,
		"lengths":    `{"format":"confide-logreg","version":1,"features":["a","b"],"coef":[1]}`,
		"no scale":   `{"format":"confide-logreg","version":1,"features":["a"],"coef":[1],"mean":[0]}`,
		"zero scale": `{"format":"confide-logreg","version":1,"features":["a"],"coef":[1],"mean":[0],"scale":[0]}`,
		"garbage":    `{`,
	} {
		if _, err := Read([]byte(doc)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func FuzzRead(f *testing.F) {
	f.Add([]byte(`{"format":"confide-logreg","version":1,"features":["a"],"coef":[1],"intercept":0.5,"mean":[1],"scale":[2]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Read(b)
		if err != nil {
			return
		}
		// A model that reads predicts a probability for any finite row.
		row := make([]float64, len(m.Features))
		if p := m.Predict(row); !(p >= 0 && p <= 1) {
			t.Fatalf("probability %v", p)
		}
	})
}
