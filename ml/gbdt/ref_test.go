package gbdt

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/confide/confide/ml/data"
	"github.com/confide/confide/ml/dataset"
)

// Helpers shared by the tests: the breast-cancer data and the bridge to
// the reference XGBoost (testdata/xgbref.py, run by Debian's python3).

const python = "/usr/bin/python3"

var xgboostCheck = sync.OnceValue(func() error {
	out, err := exec.Command(python, "-c", "import xgboost; assert xgboost.__version__.startswith('1.7.'), xgboost.__version__").CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %s", err, lastLine(out))
	}
	return nil
})

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

// needXGBoost skips the test when XGBoost 1.7 is not importable (fails,
// under CONFIDE_ML_CHECK=1, as package ml/internal/sktest does).
func needXGBoost(t testing.TB) {
	t.Helper()
	if err := xgboostCheck(); err != nil {
		if os.Getenv("CONFIDE_ML_CHECK") == "1" {
			t.Fatalf("the reference XGBoost 1.7 is not available: %v", err)
		}
		t.Skipf("skipping: the reference XGBoost 1.7 is not available (%s -c 'import xgboost': %v); on Debian: apt-get install python3-xgboost python3-sklearn", python, err)
	}
}

// runRef runs one xgbref.py command on job and decodes its answer.
func runRef(t testing.TB, command string, job, answer any) {
	t.Helper()
	dir := t.TempDir()
	jobPath, outPath := filepath.Join(dir, "job.json"), filepath.Join(dir, "out.json")
	b, err := json.Marshal(job)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(jobPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(python, filepath.Join("testdata", "xgbref.py"), command, jobPath, outPath)
	cmd.Env = append(os.Environ(), "OMP_NUM_THREADS=2")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("xgbref.py %s: %v\n%s", command, err, out)
	}
	b, err = os.ReadFile(outPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, answer); err != nil {
		t.Fatalf("xgbref.py %s answer: %v", command, err)
	}
}

// refData is how a job names a data set: raw float64 files.
type refData struct {
	X            string   `json:"x"`
	Y            string   `json:"y,omitempty"`
	Rows         int      `json:"rows"`
	Cols         int      `json:"cols"`
	FeatureNames []string `json:"feature_names,omitempty"`
}

// writeRefData writes d where xgbref.py can read it.
func writeRefData(t testing.TB, d *dataset.Dataset) refData {
	t.Helper()
	dir := t.TempDir()
	r := refData{X: filepath.Join(dir, "x.f64"), Rows: len(d.X), Cols: len(d.Features), FeatureNames: d.Features}
	xb := make([]byte, 0, 8*r.Rows*r.Cols)
	for _, row := range d.X {
		for _, v := range row {
			xb = binary.LittleEndian.AppendUint64(xb, math.Float64bits(v))
		}
	}
	if err := os.WriteFile(r.X, xb, 0o600); err != nil {
		t.Fatal(err)
	}
	if d.Y != nil {
		r.Y = filepath.Join(dir, "y.f64")
		yb := make([]byte, 0, 8*r.Rows)
		for _, v := range d.Y {
			yb = binary.LittleEndian.AppendUint64(yb, math.Float64bits(v))
		}
		if err := os.WriteFile(r.Y, yb, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

// xgbParams are p as XGBoost's training parameters.
func xgbParams(p Params) map[string]any {
	return map[string]any{
		"objective":        p.Objective,
		"tree_method":      "hist",
		"max_depth":        p.MaxDepth,
		"eta":              p.LearningRate,
		"lambda":           p.Lambda,
		"alpha":            p.Alpha,
		"min_child_weight": p.MinChildWeight,
		"gamma":            p.Gamma,
		"max_bin":          p.MaxBins,
		"base_score":       p.BaseScore,
		"nthread":          2,
	}
}

// breastCancer is the WDBC data (package ml/data) as scikit-learn's
// load_breast_cancer gives it, which the golden files were made from:
// features f0…f29 and the label "benign" (1 benign, 0 malignant).
func breastCancer(t testing.TB) *dataset.Dataset {
	t.Helper()
	d, err := dataset.ReadCSV(bytes.NewReader(data.BreastCancerCSV), "breast_cancer.csv", "malignant")
	if err != nil {
		t.Fatal(err)
	}
	if d.Rows() != 569 || len(d.Features) != 30 {
		t.Fatalf("breast_cancer.csv: %d rows × %d features, want 569 × 30", d.Rows(), len(d.Features))
	}
	d.Label = "benign"
	d.Features = nil
	for i := range 30 {
		d.Features = append(d.Features, "f"+strconv.Itoa(i))
	}
	for i, y := range d.Y {
		d.Y[i] = 1 - y
	}
	return d
}
