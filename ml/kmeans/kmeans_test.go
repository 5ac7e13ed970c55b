package kmeans

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/confide/confide/ml/data"
	"github.com/confide/confide/ml/dataset"
	"github.com/confide/confide/ml/internal/sktest"
)

// standardized is the breast-cancer features, each column scaled to
// mean 0 and variance 1 (k-means on raw columns would be the area
// columns' alone).
func standardized(t *testing.T) *dataset.Dataset {
	t.Helper()
	d, err := dataset.ReadCSV(bytes.NewReader(data.BreastCancerCSV), "breast_cancer.csv", "malignant")
	if err != nil {
		t.Fatal(err)
	}
	n := float64(d.Rows())
	for j := range d.Features {
		mean, v := 0.0, 0.0
		for _, r := range d.X {
			mean += r[j]
		}
		mean /= n
		for _, r := range d.X {
			v += (r[j] - mean) * (r[j] - mean)
		}
		sd := math.Sqrt(v / n)
		for _, r := range d.X {
			r[j] = (r[j] - mean) / sd
		}
	}
	return d
}

// TestAgainstScikitLearn: inertia within 1% of scikit-learn's KMeans
// (k-means++, 10 seedings) for several k.
func TestAgainstScikitLearn(t *testing.T) {
	sktest.Need(t, "sklearn")
	d := standardized(t)
	ks := []int{2, 3, 5, 8}
	var sk struct {
		Inertia []float64 `json:"inertia"`
	}
	sktest.Run(t, `
import json, sys
import numpy as np
from sklearn.cluster import KMeans
d = json.load(open(sys.argv[1]))
X = np.array(d["x"])
print(json.dumps({"inertia": [KMeans(n_clusters=k, n_init=10, random_state=0).fit(X).inertia_ for k in d["ks"]]}))
`, map[string]any{"x": d.X, "ks": ks}, &sk)
	for i, k := range ks {
		m, err := Train(d, Params{K: k, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("k=%d: inertia %.3f, scikit-learn %.3f", k, m.Inertia, sk.Inertia[i])
		if math.Abs(m.Inertia-sk.Inertia[i]) > 0.01*sk.Inertia[i] {
			t.Errorf("k=%d: inertia %.3f against scikit-learn's %.3f", k, m.Inertia, sk.Inertia[i])
		}
		// Every row's cluster is its nearest centre, and the inertia is
		// their squared distances.
		sum := 0.0
		for _, r := range d.X {
			sum += dist2(r, m.Centers[m.Predict(r)])
		}
		if math.Abs(sum-m.Inertia) > 1e-6*sum {
			t.Errorf("k=%d: inertia %v, distances sum to %v", k, m.Inertia, sum)
		}
	}
}

func TestSeeded(t *testing.T) {
	d := standardized(t)
	a, _ := Train(d, Params{K: 4, Seed: 9, NInit: 2})
	b, _ := Train(d, Params{K: 4, Seed: 9, NInit: 2})
	if a.Inertia != b.Inertia {
		t.Fatal("the same seed gave different models")
	}
	for _, p := range []Params{{K: 0}, {K: 1000}, {K: 2, Tol: -1}} {
		if _, err := Train(d, p); err == nil {
			t.Errorf("%+v accepted", p)
		}
	}
}

func FuzzRead(f *testing.F) {
	f.Add([]byte(`{"format":"confide-kmeans","version":1,"features":["a","b"],"centers":[[0,1],[2,3]]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Read(b)
		if err != nil {
			return
		}
		if j := m.Predict(make([]float64, len(m.Features))); j < 0 || j >= len(m.Centers) {
			t.Fatalf("cluster %d of %d", j, len(m.Centers))
		}
	})
}

// TestBoundsAreLloyd: Hamerly's bounds only skip comparisons, so the
// centres after each number of iterations are plain Lloyd's.
func TestBoundsAreLloyd(t *testing.T) {
	d := standardized(t)
	for _, k := range []int{1, 3, 7} {
		for _, iters := range []int{1, 2, 5, 40} {
			rng := rand.New(rand.NewPCG(uint64(k), 3))
			start := seed(d.X, k, rng)
			ref := make([][]float64, k)
			for j := range start {
				ref[j] = append([]float64(nil), start[j]...)
			}
			for range iters {
				sums := make([][]float64, k)
				counts := make([]int, k)
				for j := range sums {
					sums[j] = make([]float64, len(d.Features))
				}
				for _, r := range d.X {
					j, _ := nearest(ref, r)
					counts[j]++
					for f, v := range r {
						sums[j][f] += v
					}
				}
				for j := range ref {
					if counts[j] > 0 {
						for f := range ref[j] {
							ref[j][f] = sums[j][f] / float64(counts[j])
						}
					}
				}
			}
			got, _ := lloyd(d.X, start, iters, -1)
			for j := range ref {
				for f := range ref[j] {
					if math.Abs(got[j][f]-ref[j][f]) > 1e-9 {
						t.Fatalf("k=%d after %d iterations: centre %d differs", k, iters, j)
					}
				}
			}
		}
	}
}
