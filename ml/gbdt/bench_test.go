package gbdt

import (
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"

	"github.com/confide/confide/ml/dataset"
)

// synthetic is a binary classification problem shaped like HIGGS: cols
// standard normal features, a label that depends on a few of them
// non-linearly, with noise. It is the same for the same arguments.
func synthetic(rows, cols int, seed uint64) *dataset.Dataset {
	return syntheticData(rows, cols, seed, true)
}

// syntheticData is synthetic, or with binary false the regression problem
// whose thresholded score synthetic's label is.
func syntheticData(rows, cols int, seed uint64, binary bool) *dataset.Dataset {
	r := rand.New(rand.NewPCG(seed, 1))
	d := &dataset.Dataset{Label: "y", X: make([][]float64, rows), Y: make([]float64, rows)}
	for j := range cols {
		d.Features = append(d.Features, "x"+strconv.Itoa(j))
	}
	flat := make([]float64, rows*cols)
	for i := range d.X {
		x := flat[i*cols : (i+1)*cols : (i+1)*cols]
		for j := range x {
			x[j] = r.NormFloat64()
		}
		d.X[i] = x
		s := math.Sin(x[2%cols]) + 0.5*x[3%cols]*x[3%cols] + 0.5*r.NormFloat64()
		if cols > 1 {
			s += x[0] * x[1]
		}
		switch {
		case !binary:
			d.Y[i] = s
		case s > 0.5:
			d.Y[i] = 1
		}
	}
	return d
}

func envInt(tb testing.TB, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 1 {
		tb.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return v
}

// BenchmarkTrain trains binary:logistic with XGBoost's defaults (depth 6,
// 256 bins) on synthetic data: GBDT_BENCH_ROWS rows (default 100000) of
// GBDT_BENCH_COLS features (28), GBDT_BENCH_ROUNDS rounds (20). With
// GBDT_BENCH_XGBOOST=1 it then times XGBoost's hist method on the same
// data and parameters (nthread = GOMAXPROCS) and reports both and their
// ratio:
//
//	GBDT_BENCH_ROWS=200000 GBDT_BENCH_ROUNDS=100 GBDT_BENCH_XGBOOST=1 \
//	  go test -run '^$' -bench Train -benchtime 1x -cpu 2 ./ml/gbdt/
func BenchmarkTrain(b *testing.B) {
	rows := envInt(b, "GBDT_BENCH_ROWS", 100_000)
	cols := envInt(b, "GBDT_BENCH_COLS", 28)
	rounds := envInt(b, "GBDT_BENCH_ROUNDS", 20)
	d := synthetic(rows, cols, 1)
	p := Defaults()
	p.Objective = BinaryLogistic
	p.Rounds = rounds
	for b.Loop() {
		if _, err := Train(d, p); err != nil {
			b.Fatal(err)
		}
	}
	ours := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(ours, "s/train")
	if os.Getenv("GBDT_BENCH_XGBOOST") == "" {
		return
	}
	needXGBoost(b)
	params := xgbParams(p)
	params["nthread"] = p.threads()
	var ans struct {
		DMatrixSeconds float64 `json:"dmatrix_seconds"`
		TrainSeconds   float64 `json:"train_seconds"`
	}
	runRef(b, "bench", struct {
		refData
		Params map[string]any `json:"params"`
		Rounds int            `json:"rounds"`
	}{writeRefData(b, d), params, rounds}, &ans)
	b.ReportMetric(ans.TrainSeconds, "xgboost-s/train")
	b.ReportMetric(ans.DMatrixSeconds, "xgboost-dmatrix-s")
	b.ReportMetric(ours/ans.TrainSeconds, "ratio")
}

// BenchmarkPredict scores 20,000 rows with a 100-tree, depth-6 model (a
// trainer's held-out share at 200,000 rows).
func BenchmarkPredict(b *testing.B) {
	d := synthetic(20_000, 28, 1)
	p := Defaults()
	p.Objective, p.Rounds = BinaryLogistic, 100
	m, err := Train(d, p)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("row", func(b *testing.B) {
		for b.Loop() {
			for _, x := range d.X {
				m.Predict(x)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(d.X)), "ns/row")
	})
	b.Run("all", func(b *testing.B) {
		for b.Loop() {
			m.PredictAll(d.X)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(d.X)), "ns/row")
	})
}
