package model

import (
	"math"
	"strings"
	"testing"

	"github.com/confide/confide/ml/dataset"
)

func TestRead(t *testing.T) {
	m, err := Read([]byte(`{"format":"confide-kmeans","version":1,"features":["a","b"],"centers":[[0,0],[10,10]]}`))
	if err != nil {
		t.Fatal(err)
	}
	d, _ := dataset.ReadCSV(strings.NewReader("b,x,a\n9,0,9\n1,5,0\n"), "t.csv", "")
	ps, err := m.Predict(d)
	if err != nil || ps[0] != 1 || ps[1] != 0 {
		t.Fatalf("%v %v", ps, err)
	}
	if po, err := m.PredictOblivious(d); err != nil || po[0] != 1 || po[1] != 0 {
		t.Fatalf("oblivious: %v %v", po, err)
	}
	d, _ = dataset.ReadCSV(strings.NewReader("a\n1\n"), "t.csv", "")
	if _, err := m.Predict(d); err == nil || !strings.Contains(err.Error(), `no column "b"`) {
		t.Fatalf("a missing column: %v", err)
	}
	for _, doc := range []string{`{"format":"nope"}`, `[1]`, `{"learner":{}}`} {
		if _, err := Read([]byte(doc)); err == nil {
			t.Errorf("%s read", doc)
		}
	}
}

func FuzzRead(f *testing.F) {
	f.Add([]byte(`{"format":"confide-logreg","version":1,"features":["a"],"coef":[1],"intercept":0}`))
	f.Add([]byte(`{"format":"confide-kmeans","version":1,"features":["a"],"centers":[[1]]}`))
	f.Add([]byte(`{"learner":{"gradient_booster":{}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Read(b)
		if err != nil {
			return
		}
		// Any model that reads predicts over a table with its columns.
		d := &dataset.Dataset{Features: m.Features, X: [][]float64{make([]float64, len(m.Features))}}
		p, err := m.Predict(d)
		if err != nil {
			t.Fatal(err)
		}
		// Obliviously too, to the same answer (boosted trees: to float32
		// rounding of the margin's sum).
		po, err := m.PredictOblivious(d)
		if err != nil {
			t.Fatal(err)
		}
		if d := math.Abs(p[0] - po[0]); !(d <= 1e-5*max(1, math.Abs(p[0]))) && !(math.IsNaN(p[0]) && math.IsNaN(po[0])) && !(math.IsInf(p[0], 0) && p[0] == po[0]) {
			t.Fatalf("%s: predicts %v, obliviously %v", m.Kind, p[0], po[0])
		}
	})
}
