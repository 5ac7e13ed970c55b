package obl

import (
	"math"
	"testing"

	"github.com/confide/confide/ml/kmeans"
)

// The oblivious trainer's clusterings are as good as kmeans.Train's on
// the breast-cancer data: inertia within 1% (the same seeding, Lloyd's
// iterations run to a fixed count instead of to convergence).
func TestKMeansQuality(t *testing.T) {
	d := breastCancer(t)
	for _, k := range []int{2, 3, 5} {
		p := kmeans.Params{K: k, NInit: 3, MaxIter: 50, Seed: 1}
		mo, err := KMeans(d, p)
		if err != nil {
			t.Fatal(err)
		}
		mp, err := kmeans.Train(d, p)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("k=%d: inertia oblivious %.6g, kmeans.Train %.6g", k, mo.Inertia, mp.Inertia)
		if math.Abs(mo.Inertia-mp.Inertia) > 0.01*mp.Inertia {
			t.Errorf("k=%d: inertia oblivious %v, kmeans.Train %v", k, mo.Inertia, mp.Inertia)
		}
		if len(mo.Centers) != k {
			t.Fatalf("%d centres", len(mo.Centers))
		}
		// The reported inertia is the centres' own.
		in := 0.0
		for _, x := range d.X {
			best := math.Inf(1)
			for _, c := range mo.Centers {
				best = math.Min(best, sqDist(x, c))
			}
			in += best
		}
		if math.Abs(in-mo.Inertia) > 1e-9*in {
			t.Errorf("k=%d: inertia %v, the centres' %v", k, mo.Inertia, in)
		}
	}
	if _, err := KMeans(d.Subset([]int{1, 2}), kmeans.Params{K: 3}); err == nil {
		t.Error("3 clusters from 2 rows")
	}
}
