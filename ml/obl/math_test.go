package obl

import (
	"math"
	"math/rand/v2"
	"testing"
)

func relErr(got, want float64) float64 {
	if want == 0 {
		return math.Abs(got)
	}
	return math.Abs(got-want) / math.Abs(want)
}

func TestExp(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	xs := []float64{0, 1, -1, 0.5, ExpMin, ExpMax, 1e-300, -1e-300, 0.34657359, -0.34657359, 700, -700, 88.7, -745.1, 800, -800}
	for range 200000 {
		xs = append(xs, (rng.Float64()*2-1)*709)
	}
	for range 100000 {
		xs = append(xs, (rng.Float64()*2-1)*3)
	}
	worst := 0.0
	for _, x := range xs {
		want := math.Exp(clampRef(x, ExpMin, ExpMax))
		if e := relErr(Exp(x), want); e > worst {
			worst = e
		}
	}
	if worst > 1e-15 {
		t.Errorf("Exp: worst relative error %g", worst)
	}
	t.Logf("Exp: worst relative error %.3g", worst)
}

func clampRef(x, lo, hi float64) float64 { return math.Min(math.Max(x, lo), hi) }

func TestLog(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	xs := []float64{1, 2, 0.5, math.E, sqrt2, sqrt2 * (1 + 1e-16), sqrt2 * (1 - 1e-16), 0x1p-1022, math.MaxFloat64, 1 + 1e-15, 1 - 1e-16}
	for range 200000 {
		xs = append(xs, math.Exp((rng.Float64()*2-1)*700))
	}
	for range 100000 {
		xs = append(xs, 1+rng.Float64())
	}
	worst := 0.0
	for _, x := range xs {
		want := math.Log(x)
		if e := math.Abs(Log(x)-want) / math.Max(1, math.Abs(want)); e > worst {
			worst = e
		}
	}
	if worst > 1e-15 {
		t.Errorf("Log: worst error %g", worst)
	}
	t.Logf("Log: worst scaled error %.3g", worst)
}

func TestSigmoidSoftplus(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	worstS, worstP := 0.0, 0.0
	for i := range 200000 {
		z := (rng.Float64()*2 - 1) * 50
		if i%10 == 0 {
			z *= 20
		}
		s := 1 / (1 + math.Exp(-clampRef(z, -700, 700)))
		if e := relErr(Sigmoid(z), s); e > worstS {
			worstS = e
		}
		p := math.Max(z, 0) + math.Log1p(math.Exp(-math.Abs(z)))
		if e := math.Abs(Softplus(z)-p) / math.Max(1, z); e > worstP {
			worstP = e
		}
	}
	if worstS > 2e-15 || worstP > 2e-15 {
		t.Errorf("Sigmoid worst relative error %g, Softplus worst %g", worstS, worstP)
	}
	t.Logf("Sigmoid %.3g, Softplus %.3g", worstS, worstP)
}

func BenchmarkExp(b *testing.B) {
	x := 0.0
	for i := 0; b.Loop(); i++ {
		x += Exp(float64(i%1000) * 0.01)
	}
	_ = x
}

func BenchmarkMathExp(b *testing.B) {
	x := 0.0
	for i := 0; b.Loop(); i++ {
		x += math.Exp(float64(i%1000) * 0.01)
	}
	_ = x
}
