package oblivious

import (
	"math/rand/v2"
	"testing"
)

// fullTree returns a complete tree of the given depth (2^(depth+1)−1
// nodes, breadth-first), the worst case for a given depth: gradient
// boosting's depth-6 trees are often close to it.
func fullTree(rng *rand.Rand, depth, features int) Tree {
	n := 1<<(depth+1) - 1
	t := make(Tree, n)
	for i := range t {
		if l := 2*i + 1; l < n {
			t[i] = Node{Feature: uint32(rng.IntN(features)), Threshold: rng.NormFloat64(), Left: uint32(l), Right: uint32(l + 1)}
		} else {
			t[i] = Node{Leaf: true, Left: uint32(i), Right: uint32(i), Value: rng.NormFloat64()}
		}
	}
	return t
}

// BenchmarkTreePredict compares, in one run, the naive walk with both
// oblivious modes, on one depth-6 tree and on an ensemble of 100 such
// trees over 30 features (the size of a small gradient-boosted model).
// Each reports ns/prediction and its ratio to the naive walk.
func BenchmarkTreePredict(b *testing.B) {
	const depth, features = 6, 30
	rng := rand.New(rand.NewPCG(11, 12))
	inputs := make([][]float64, 64)
	for i := range inputs {
		inputs[i] = make([]float64, features)
		for j := range inputs[i] {
			inputs[i][j] = rng.NormFloat64()
		}
	}
	for _, size := range []struct {
		name  string
		trees int
	}{{"tree", 1}, {"ensemble100", 100}} {
		e := &Ensemble{}
		for range size.trees {
			e.Trees = append(e.Trees, fullTree(rng, depth, features))
		}
		pub := mustPublic(b, e, features)
		s := ShapeOf(e, features)
		sec, err := NewSecretModel(e, s)
		if err != nil {
			b.Fatal(err)
		}
		var naiveNs float64
		for _, mode := range []struct {
			name    string
			predict func([]float64) float64
		}{{"naive", e.Predict}, {"public", pub.Predict}, {"secret", sec.Predict}} {
			b.Run(size.name+"/"+mode.name, func(b *testing.B) {
				var sink float64
				i := 0
				for b.Loop() {
					sink += mode.predict(inputs[i%len(inputs)])
					i++
				}
				ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
				b.ReportMetric(ns, "ns/prediction")
				if mode.name == "naive" {
					naiveNs = ns
				} else if naiveNs > 0 {
					b.ReportMetric(ns/naiveNs, "x-naive")
				}
				_ = sink
			})
		}
	}
}
