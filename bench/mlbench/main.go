// Command mlbench times confide's trainers against the plaintext
// baselines users compare them with, in one run on one machine with the
// same thread count: gradient-boosted trees against XGBoost's hist
// method, logistic regression and k-means against scikit-learn (Debian's
// python3-xgboost 1.7.4 and python3-sklearn 1.2.1, run by
// /usr/bin/python3). The data is generated here (a seeded logistic
// model over Gaussian features, HIGGS-sized by default: 1,000,000 rows ×
// 28 features) and handed to Python as raw float64, so both sides train
// on the same numbers; loading is not timed, only training.
//
//	go run ./bench/mlbench [-rows 1000000] [-cols 28] [-algos gbdt,logreg,kmeans] [-threads 2]
package main

import (
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/confide/confide/bench/mldata"
	"github.com/confide/confide/ml/dataset"
	"github.com/confide/confide/ml/gbdt"
	"github.com/confide/confide/ml/kmeans"
	"github.com/confide/confide/ml/logreg"
)

func main() {
	rows := flag.Int("rows", 1_000_000, "rows")
	cols := flag.Int("cols", 28, "features")
	algos := flag.String("algos", "gbdt,logreg,kmeans", "what to time")
	threads := flag.Int("threads", runtime.NumCPU(), "threads for both sides")
	rounds := flag.Int("rounds", 100, "gbdt: rounds")
	depth := flag.Int("depth", 6, "gbdt: max depth")
	bins := flag.Int("bins", 256, "gbdt: max bins")
	k := flag.Int("k", 8, "kmeans: clusters")
	flag.Parse()
	log.SetFlags(0)
	runtime.GOMAXPROCS(*threads)

	d := mldata.Generate(*rows, *cols, 42)
	dir, err := os.MkdirTemp("", "mlbench")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	xPath, yPath := filepath.Join(dir, "x.f64"), filepath.Join(dir, "y.f64")
	writeRaw(xPath, d.X)
	writeRaw(yPath, [][]float64{d.Y})

	fmt.Printf("# %s, %d CPUs, %d threads each side, %d rows × %d features, %s\n",
		time.Now().UTC().Format(time.RFC3339), runtime.NumCPU(), *threads, *rows, *cols, runtime.Version())
	fmt.Println("| trainer | confide s | baseline | baseline s | confide / baseline | goal | quality (confide; baseline) |")
	fmt.Println("|---|---:|---|---:|---:|---|---|")
	for _, a := range strings.Split(*algos, ",") {
		var ours float64
		var quality string
		var py string
		var base string
		switch a {
		case "gbdt":
			p := gbdt.Defaults()
			p.Objective, p.Rounds, p.MaxDepth, p.MaxBins = gbdt.BinaryLogistic, *rounds, *depth, *bins
			t0 := time.Now()
			m, err := gbdt.Train(d, p)
			if err != nil {
				log.Fatal(err)
			}
			ours = time.Since(t0).Seconds()
			quality = fmt.Sprintf("train logloss %.5f", logloss(d, m.Predict))
			base = "xgboost hist"
			py = fmt.Sprintf(`
import xgboost as xgb
dt = xgb.DMatrix(X, label=y, nthread=%[1]d)
t0 = time.time()
b = xgb.train({"tree_method": "hist", "objective": "binary:logistic", "max_depth": %[2]d, "eta": 0.3, "max_bin": %[3]d, "nthread": %[1]d, "lambda": 1, "min_child_weight": 1, "base_score": 0.5}, dt, %[4]d)
t = time.time() - t0
p = b.predict(dt)
q = "train logloss %%.5f" %% float(-np.mean(y*np.log(np.clip(p,1e-15,1))+(1-y)*np.log(np.clip(1-p,1e-15,1))))
`, *threads, *depth, *bins, *rounds)
		case "logreg":
			t0 := time.Now()
			m, err := logreg.Train(d, logreg.Params{C: 1, Standardize: true, Tol: 1e-4}) // scikit-learn's default tol
			if err != nil {
				log.Fatal(err)
			}
			ours = time.Since(t0).Seconds()
			quality = fmt.Sprintf("train logloss %.5f, %d iterations", logloss(d, m.Predict), m.Iterations)
			base = "scikit-learn LogisticRegression (lbfgs, with StandardScaler)"
			py = `
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
t0 = time.time()
s = StandardScaler().fit(X)
m = LogisticRegression(C=1.0, max_iter=1000).fit(s.transform(X), y)
t = time.time() - t0
p = m.predict_proba(s.transform(X))[:, 1]
q = "train logloss %.5f, %d iterations" % (float(-np.mean(y*np.log(np.clip(p,1e-15,1))+(1-y)*np.log(np.clip(1-p,1e-15,1)))), int(m.n_iter_[0]))
`
		case "kmeans":
			t0 := time.Now()
			m, err := kmeans.Train(d, kmeans.Params{K: *k, NInit: 1, Seed: 1})
			if err != nil {
				log.Fatal(err)
			}
			ours = time.Since(t0).Seconds()
			quality = fmt.Sprintf("inertia %.6g", m.Inertia)
			base = "scikit-learn KMeans (k-means++, n_init=1, lloyd)"
			py = fmt.Sprintf(`
from sklearn.cluster import KMeans
t0 = time.time()
m = KMeans(n_clusters=%d, n_init=1, random_state=0, algorithm="lloyd").fit(X)
t = time.time() - t0
q = "inertia %%.6g" %% m.inertia_
`, *k)
		default:
			log.Fatalf("unknown trainer %q", a)
		}
		theirs, q := runPython(xPath, yPath, *rows, *cols, *threads, py)
		goal := "≤ 1.5x"
		verdict := "met"
		if ours/theirs > 1.5 {
			verdict = "MISSED"
		}
		fmt.Printf("| %s | %.2f | %s | %.2f | %.2fx | %s %s | %s; %s |\n", a, ours, base, theirs, ours/theirs, goal, verdict, quality, q)
	}
}

func writeRaw(path string, rows [][]float64) {
	f, err := os.Create(path)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 0, 1<<20)
	for _, r := range rows {
		for _, v := range r {
			buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(v))
			if len(buf) >= 1<<20 {
				f.Write(buf)
				buf = buf[:0]
			}
		}
	}
	f.Write(buf)
}

func logloss(d *dataset.Dataset, predict func([]float64) float64) float64 {
	s := 0.0
	for i, x := range d.X {
		p := math.Min(math.Max(predict(x), 1e-15), 1-1e-15)
		if d.Y[i] == 1 {
			s -= math.Log(p)
		} else {
			s -= math.Log(1 - p)
		}
	}
	return s / float64(len(d.X))
}

func runPython(xPath, yPath string, rows, cols, threads int, body string) (float64, string) {
	script := fmt.Sprintf(`
import json, time
import numpy as np
X = np.fromfile(%q, dtype="<f8").reshape(%d, %d)
y = np.fromfile(%q, dtype="<f8")
`, xPath, rows, cols, yPath) + body + `
print(json.dumps({"seconds": t, "quality": q}))
`
	cmd := exec.Command("/usr/bin/python3", "-c", script)
	n := strconv.Itoa(threads)
	cmd.Env = append(os.Environ(), "OMP_NUM_THREADS="+n, "OPENBLAS_NUM_THREADS="+n, "MKL_NUM_THREADS="+n)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		log.Fatalf("python: %v", err)
	}
	var r struct {
		Seconds float64 `json:"seconds"`
		Quality string  `json:"quality"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		log.Fatalf("python said %s: %v", out, err)
	}
	return r.Seconds, r.Quality
}
