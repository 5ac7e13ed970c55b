// Command oblbench times the oblivious trainers (package ml/obl) against
// the ordinary ones on the same generated data (bench/mldata), both with
// the same fixed iteration counts, alternating the two in each round,
// and prints the medians, their ratio and the models' quality on
// held-out rows — beside the ratios Ohrimenko et al. (2016) and Secure
// XGBoost published for their oblivious trainers.
//
//	go run ./bench/oblbench [-rows 1000000] [-rounds 3] [-algos logreg,kmeans,gbdt,predict] [-gbdt-rows 100000]
package main

import (
	"flag"
	"fmt"
	"log"
	"math"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/confide/confide/bench/mldata"
	"github.com/confide/confide/ml/dataset"
	"github.com/confide/confide/ml/gbdt"
	"github.com/confide/confide/ml/kmeans"
	"github.com/confide/confide/ml/logreg"
	"github.com/confide/confide/ml/obl"
	"github.com/confide/confide/oblivious"
)

func main() {
	rows := flag.Int("rows", 1_000_000, "rows (a tenth more are generated and held out)")
	cols := flag.Int("cols", 28, "features")
	rounds := flag.Int("rounds", 3, "alternating rounds; medians are reported")
	algos := flag.String("algos", "logreg,kmeans,gbdt,predict", "what to time")
	iters := flag.Int("logreg-iters", 10, "logreg: iterations on both sides")
	convIters := flag.Int("logreg-conv-iters", 100, "logreg: the oblivious solver's iterations against the ordinary one run to its tolerance")
	k := flag.Int("k", 8, "kmeans: clusters")
	kIters := flag.Int("kmeans-iters", 20, "kmeans: Lloyd iterations on both sides")
	gbdtRows := flag.Int("gbdt-rows", 100000, "gbdt: training rows")
	gbdtRounds := flag.Int("gbdt-rounds", 10, "gbdt: rounds")
	gbdtDepth := flag.Int("gbdt-depth", 6, "gbdt: max depth")
	gbdtBins := flag.Int("gbdt-bins", 256, "gbdt: bins")
	predictRows := flag.Int("predict-rows", 10000, "prediction: held-out rows scored")
	flag.Parse()
	log.SetFlags(0)
	all := mldata.Generate(*rows+*rows/10, *cols, 42)
	train, test := split(all, *rows)
	fmt.Printf("# %s, %d CPUs (GOMAXPROCS %d), %d training rows × %d features, %d held out, %s\n",
		time.Now().UTC().Format(time.RFC3339), runtime.NumCPU(), runtime.GOMAXPROCS(0), train.Rows(), *cols, test.Rows(), runtime.Version())
	fmt.Println("| trainer | ordinary s | oblivious s | oblivious / ordinary | goal | published | quality (ordinary; oblivious) |")
	fmt.Println("|---|---:|---:|---:|---|---|---|")
	for _, a := range strings.Split(*algos, ",") {
		switch a {
		case "logreg":
			// Equal iteration counts (below where the ordinary solver
			// stops by itself), then each solver as it is used: the
			// ordinary one to its tolerance, the oblivious one for the
			// fixed count a manifest would name.
			for _, c := range []struct {
				what  string
				plain logreg.Params
				obl   logreg.Params
			}{
				{fmt.Sprintf("%d iterations each", *iters),
					logreg.Params{C: 1, MaxIter: *iters, Tol: 1e-300, Standardize: true},
					logreg.Params{C: 1, MaxIter: *iters, Standardize: true}},
				{fmt.Sprintf("ordinary to tol 1e-6, oblivious %d iterations", *convIters),
					logreg.Params{C: 1, Standardize: true},
					logreg.Params{C: 1, MaxIter: *convIters, Standardize: true}},
			} {
				var mo, mp *logreg.Model
				tp, to := alternate(*rounds,
					func() { mp = must(logreg.Train(train, c.plain)) },
					func() { mo = must(obl.LogReg(train, c.obl)) })
				row(fmt.Sprintf("logreg (C = 1, standardised; %s; the ordinary ran %d)", c.what, mp.Iterations), tp, to, "≤ 1.3x", "SVM 1.08x (Ohrimenko)",
					fmt.Sprintf("held-out accuracy %.4f; %.4f", accuracy(test, mp.Predict), accuracy(test, mo.Predict)))
			}
		case "kmeans":
			p := kmeans.Params{K: *k, NInit: 1, MaxIter: *kIters, Tol: 0, Seed: 1}
			var mo, mp *kmeans.Model
			tp, to := alternate(*rounds,
				func() { mp = must(kmeans.Train(train, p)) },
				func() { mo = must(obl.KMeans(train, p)) })
			row(fmt.Sprintf("kmeans (k = %d, one seeding, %d Lloyd iterations)", *k, *kIters), tp, to, "≤ 2x", "2.99x (Ohrimenko)",
				fmt.Sprintf("inertia %.6g; %.6g", mp.Inertia, mo.Inertia))
		case "gbdt":
			// On fewer rows: the oblivious trainer's cost is the
			// histogram updates, each touching every cache line of a
			// feature's histograms (bins × nodes of the level).
			gtrain, gtest := split(mldata.Generate(*gbdtRows+*gbdtRows/10, *cols, 43), *gbdtRows)
			p := gbdt.Defaults()
			p.Objective, p.Rounds, p.MaxDepth, p.MaxBins = gbdt.BinaryLogistic, *gbdtRounds, *gbdtDepth, *gbdtBins
			var mo, mp *gbdt.Model
			tp, to := alternate(*rounds,
				func() { mp = must(gbdt.Train(gtrain, p)) },
				func() { mo = must(obl.GBDT(gtrain, p)) })
			row(fmt.Sprintf("gbdt (%d rows, %d rounds, depth %d, %d bins)", gtrain.Rows(), p.Rounds, p.MaxDepth, p.MaxBins), tp, to, "≤ 50x", "Secure XGBoost 100–1000x",
				fmt.Sprintf("held-out accuracy %.4f; %.4f", accuracy(gtest, mp.Predict), accuracy(gtest, mo.Predict)))
		case "predict":
			// Tree-ensemble prediction: 100 trees of depth 6 trained on
			// the training rows, scoring the held-out rows.
			p := gbdt.Defaults()
			p.Objective, p.Rounds, p.MaxDepth = gbdt.BinaryLogistic, 100, 6
			m := must(gbdt.Train(train, p))
			pub := must(oblivious.NewPublicModel(m.Ensemble(), *cols))
			sec := must(obl.GBDTPredictor(m))
			X := test.X[:min(len(test.X), *predictRows)]
			score := func(f func([]float64) float64) func() {
				return func() {
					for _, x := range X {
						f(x)
					}
				}
			}
			tp, to := alternate(*rounds, score(m.Predict), score(func(x []float64) float64 { return pub.Predict(round32(x)) }))
			row(fmt.Sprintf("prediction, 100 trees of depth 6, %d rows, model public (PublicModel)", len(X)), tp, to, "≤ 10x", "31.1x (Ohrimenko, decision trees)", "")
			for i, x := range X[:100] {
				if a, b := m.Predict(x), sec(x); math.Abs(a-b) > 1e-5*math.Max(1, math.Abs(a)) {
					log.Fatalf("row %d: the oblivious predictor does not predict what the model predicts", i)
				}
			}
			tp, to = alternate(*rounds, score(m.Predict), score(sec))
			row(fmt.Sprintf("prediction, the same, model secret too (obl.GBDTPredictor: trees expanded to complete ones, CompleteModel), %d rows", len(X)), tp, to, "≤ 10x", "31.1x (Ohrimenko, decision trees)", "")
			// SecretModel, the route beyond oblivious.MaxCompleteDepth:
			// every node and feature scanned at every level.
			shape := oblivious.ShapeOf(m.Ensemble(), *cols)
			sm := must(oblivious.NewSecretModel(must(oblivious.Pad(m.Ensemble(), shape)), shape))
			tp, to = alternate(*rounds, score(m.Predict), score(func(x []float64) float64 { return sm.Predict(round32(x)) }))
			row(fmt.Sprintf("prediction, the same, model secret (SecretModel: any depth), %d rows", len(X)), tp, to, "(beyond depth 10 only)", "31.1x (Ohrimenko, decision trees)", "")
		default:
			log.Fatalf("unknown algorithm %q", a)
		}
	}
}

// round32 rounds a row to float32, as the trees compare it (XGBoost's
// rule): the oblivious models compare float64.
func round32(x []float64) []float64 {
	r := make([]float64, len(x))
	for j, v := range x {
		r[j] = float64(float32(v))
	}
	return r
}

func must[T any](v T, err error) T {
	if err != nil {
		log.Fatal(err)
	}
	return v
}

// alternate runs each function rounds times, in turn, and returns their
// median times.
func alternate(rounds int, plain, obl func()) (tp, to time.Duration) {
	var ps, os []time.Duration
	for range rounds {
		t0 := time.Now()
		plain()
		t1 := time.Now()
		obl()
		ps, os = append(ps, t1.Sub(t0)), append(os, time.Since(t1))
	}
	slices.Sort(ps)
	slices.Sort(os)
	return ps[len(ps)/2], os[len(os)/2]
}

func row(name string, tp, to time.Duration, goal, published, quality string) {
	r := to.Seconds() / tp.Seconds()
	fmt.Printf("| %s | %.2f | %.2f | %.2fx | %s | %s | %s |\n", name, tp.Seconds(), to.Seconds(), r, goal, published, quality)
}

func split(d *dataset.Dataset, n int) (train, test *dataset.Dataset) {
	idx := make([]int, d.Rows())
	for i := range idx {
		idx[i] = i
	}
	return d.Subset(idx[:n]), d.Subset(idx[n:])
}

func accuracy(d *dataset.Dataset, predict func([]float64) float64) float64 {
	ok := 0
	for i, x := range d.X {
		if (predict(x) >= 0.5) == (d.Y[i] == 1) {
			ok++
		}
	}
	return float64(ok) / math.Max(1, float64(d.Rows()))
}
