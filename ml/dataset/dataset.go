// Package dataset holds the numeric tables the ML algorithms train on
// and reads them from CSV: a header row, then numeric cells only. A bad
// cell — empty, not a number, NaN or infinite — is an error naming its
// row and column, never a silent zero.
package dataset

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
)

// Dataset is a table of features and, for supervised learning, a label.
// X is row-major: X[i] is row i, len(Features) values.
type Dataset struct {
	Features []string
	Label    string // "" when there is none
	X        [][]float64
	Y        []float64 // nil when there is no label
}

// Rows is the number of rows.
func (d *Dataset) Rows() int { return len(d.X) }

// ErrFormat wraps every error about a table's contents.
var ErrFormat = errors.New("dataset")

// ReadCSV reads a table: the header names the columns; label, if not
// "", names the label column. name is what errors call the input.
func ReadCSV(r io.Reader, name, label string) (*Dataset, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err == io.EOF {
		return nil, fmt.Errorf("%w: %s: empty: a header row is needed", ErrFormat, name)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrFormat, name, err)
	}
	head = slices.Clone(head)
	li := -1
	seen := map[string]bool{}
	d := &Dataset{Label: label}
	for i, h := range head {
		h = strings.TrimSpace(h)
		if h == "" {
			return nil, fmt.Errorf("%w: %s: column %d has no name", ErrFormat, name, i+1)
		}
		if strings.ContainsRune(h, 0) {
			// NUL starts a binary table (TableMagic): never a name.
			return nil, fmt.Errorf("%w: %s: column %d's name holds a NUL byte", ErrFormat, name, i+1)
		}
		if seen[h] {
			return nil, fmt.Errorf("%w: %s: column %q appears twice", ErrFormat, name, h)
		}
		seen[h] = true
		if h == label {
			li = i
			continue
		}
		d.Features = append(d.Features, h)
	}
	if label != "" && li < 0 {
		return nil, fmt.Errorf("%w: %s: no label column %q (columns: %s)", ErrFormat, name, label, strings.Join(head, ", "))
	}
	if len(d.Features) == 0 {
		return nil, fmt.Errorf("%w: %s: no feature columns", ErrFormat, name)
	}
	for row := 2; ; row++ {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %s: row %d: %v", ErrFormat, name, row, err)
		}
		x := make([]float64, 0, len(d.Features))
		for i, cell := range rec {
			v, err := parseCell(cell)
			if err != nil {
				return nil, fmt.Errorf("%w: %s: row %d, column %q: %v", ErrFormat, name, row, head[i], err)
			}
			if i == li {
				d.Y = append(d.Y, v)
				continue
			}
			x = append(x, v)
		}
		d.X = append(d.X, x)
	}
	if len(d.X) == 0 {
		return nil, fmt.Errorf("%w: %s: no rows", ErrFormat, name)
	}
	return d, nil
}

func parseCell(s string) (float64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errors.New("empty cell")
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%q is not a finite number", s)
	}
	return v, nil
}

// Open reads a table file, CSV or binary (Read).
func Open(path, label string) (*Dataset, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Read(b, path, label)
}

// CheckBinary checks that the label holds only 0 and 1.
func (d *Dataset) CheckBinary() error {
	for i, y := range d.Y {
		if y != 0 && y != 1 {
			return fmt.Errorf("%w: row %d: label %s is %v; a binary model needs 0 or 1", ErrFormat, i+2, d.Label, y)
		}
	}
	return nil
}

// Subset is the rows idx of d (sharing the rows).
func (d *Dataset) Subset(idx []int) *Dataset {
	s := &Dataset{Features: d.Features, Label: d.Label, X: make([][]float64, len(idx))}
	if d.Y != nil {
		s.Y = make([]float64, len(idx))
	}
	for j, i := range idx {
		s.X[j] = d.X[i]
		if d.Y != nil {
			s.Y[j] = d.Y[i]
		}
	}
	return s
}

// CSV writes the table as ReadCSV reads it: the header (features, then
// the label if any), then each row, numbers in their shortest exact form.
func (d *Dataset) CSV() []byte {
	var b bytes.Buffer
	head := slices.Clone(d.Features)
	if d.Y != nil {
		head = append(head, d.Label)
	}
	b.WriteString(strings.Join(head, ",") + "\n")
	for i, x := range d.X {
		for j, v := range x {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
		}
		if d.Y != nil {
			b.WriteString("," + strconv.FormatFloat(d.Y[i], 'g', -1, 64))
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}
