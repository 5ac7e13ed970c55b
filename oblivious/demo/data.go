package demo

import (
	"bufio"
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// breastCancerCSV is scikit-learn's copy of the UCI Wisconsin Diagnostic
// Breast Cancer data (WDBC), as Debian's python3-sklearn 1.2.1 ships it
// (see data/README.md): embedded so that neither the demo nor its tests
// need Python.
//
//go:embed data/breast_cancer.csv
var breastCancerCSV []byte

// breastCancerFeatures names the 30 columns, as scikit-learn's
// load_breast_cancer does: mean, standard error and worst (mean of the
// three largest) of ten measurements of a fine-needle aspirate's nuclei.
var breastCancerFeatures = []string{
	"mean radius", "mean texture", "mean perimeter", "mean area", "mean smoothness",
	"mean compactness", "mean concavity", "mean concave points", "mean symmetry", "mean fractal dimension",
	"radius error", "texture error", "perimeter error", "area error", "smoothness error",
	"compactness error", "concavity error", "concave points error", "symmetry error", "fractal dimension error",
	"worst radius", "worst texture", "worst perimeter", "worst area", "worst smoothness",
	"worst compactness", "worst concavity", "worst concave points", "worst symmetry", "worst fractal dimension",
}

// Dataset is a labelled classification data set: row i has features X[i]
// and class Y[i], an index into Classes.
type Dataset struct {
	Features []string
	Classes  []string
	X        [][]float64
	Y        []int
}

// ErrFormat is wrapped by every error about a data file's contents.
var ErrFormat = errors.New("malformed data set")

// BreastCancer returns the Wisconsin breast-cancer data set: 569
// patients, 30 features, classes malignant (0) and benign (1).
func BreastCancer() (*Dataset, error) {
	d, err := ParseSklearnCSV(bytes.NewReader(breastCancerCSV))
	if err != nil {
		return nil, fmt.Errorf("demo: embedded breast-cancer data: %w", err)
	}
	if len(d.Features) != len(breastCancerFeatures) {
		return nil, fmt.Errorf("demo: embedded breast-cancer data has %d features: %w", len(d.Features), ErrFormat)
	}
	d.Features = breastCancerFeatures
	return d, nil
}

// maxRows and maxColumns bound what ParseSklearnCSV accepts: these are
// small bundled data sets, and the header's counts come from the file.
const (
	maxRows    = 1 << 20
	maxColumns = 1 << 12
)

// ParseSklearnCSV reads the format of the CSV files that scikit-learn
// bundles (breast_cancer.csv, iris.csv, wine_data.csv): a header line
// "rows,features,class name,…", then one line per row of the features and
// an integer class index last. It fails closed: a count that does not
// match, a non-finite value, a class out of range or any extra line is
// an error. Features are named "x0", "x1", ….
func ParseSklearnCSV(r io.Reader) (*Dataset, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	if !sc.Scan() {
		return nil, fmt.Errorf("no header: %w", errors.Join(ErrFormat, sc.Err()))
	}
	head := strings.Split(strings.TrimSpace(sc.Text()), ",")
	if len(head) < 3 {
		return nil, fmt.Errorf("header %q: %w", sc.Text(), ErrFormat)
	}
	rows, err1 := strconv.Atoi(head[0])
	cols, err2 := strconv.Atoi(head[1])
	if err1 != nil || err2 != nil || rows < 1 || rows > maxRows || cols < 1 || cols > maxColumns {
		return nil, fmt.Errorf("header counts %q, %q: %w", head[0], head[1], ErrFormat)
	}
	d := &Dataset{Classes: head[2:], X: make([][]float64, 0, rows), Y: make([]int, 0, rows)}
	for i := range cols {
		d.Features = append(d.Features, "x"+strconv.Itoa(i))
	}
	for line := 2; sc.Scan(); line++ {
		if len(d.X) == rows {
			return nil, fmt.Errorf("line %d: more than the %d rows announced: %w", line, rows, ErrFormat)
		}
		f := strings.Split(strings.TrimSpace(sc.Text()), ",")
		if len(f) != cols+1 {
			return nil, fmt.Errorf("line %d: %d fields, want %d: %w", line, len(f), cols+1, ErrFormat)
		}
		x := make([]float64, cols)
		for j := range x {
			v, err := strconv.ParseFloat(f[j], 64)
			if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
				return nil, fmt.Errorf("line %d field %d: %q: %w", line, j+1, f[j], ErrFormat)
			}
			x[j] = v
		}
		y, err := strconv.Atoi(f[cols])
		if err != nil || y < 0 || y >= len(d.Classes) {
			return nil, fmt.Errorf("line %d: class %q of %d: %w", line, f[cols], len(d.Classes), ErrFormat)
		}
		d.X = append(d.X, x)
		d.Y = append(d.Y, y)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	if len(d.X) != rows {
		return nil, fmt.Errorf("%d rows, header announces %d: %w", len(d.X), rows, ErrFormat)
	}
	return d, nil
}

// Split divides the rows into a training set and a test set of about
// 30%: rows whose index ends in 0, 1 or 2 are for testing. A fixed rule
// rather than a seeded shuffle keeps the model identical on every
// machine and Go version; the file is not sorted by class, so both sets
// hold both classes.
func (d *Dataset) Split() (train, test []int) {
	for i := range d.X {
		if i%10 < 3 {
			test = append(test, i)
		} else {
			train = append(train, i)
		}
	}
	return train, test
}
