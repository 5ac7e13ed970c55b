// Package demo shows, on a real decision tree and real patients, what
// oblivious inference hides: it trains a small CART tree on the
// Wisconsin breast-cancer data set, predicts two patients with the
// ordinary walk and with package oblivious, records the memory accesses
// of each prediction with package oblivious/trace, reports whether the
// two patients' traces differ, and draws them ("Accesses from 2
// predictions", accesses.svg).
//
// The issue that asked for this spoke of heart-disease prediction; no
// heart-disease data set is packaged anywhere this project can reach, so
// the demo uses breast cancer (scikit-learn's copy of UCI WDBC, embedded:
// see data/README.md).
//
// Recording needs a binary built with the obltrace tag, which compiles
// the trace hooks in:
//
//	go run -tags obltrace ./cmd/confide demo oblivious --out /tmp
//
// Without the tag the hooks are empty and Run returns ErrTracingDisabled
// rather than report traces it could not see.
package demo

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/confide/confide/oblivious"
	"github.com/confide/confide/oblivious/trace"
)

// ErrTracingDisabled is returned by Run in a build without the obltrace
// tag.
var ErrTracingDisabled = errors.New("tracing needs a build with -tags obltrace (go run -tags obltrace ./cmd/confide demo oblivious)")

// Options configures Run.
type Options struct {
	// Dir is where accesses.svg is written; "" is the current directory.
	Dir string
	// Secret hides the model as well as the input (oblivious.SecretModel);
	// by default the model is public (oblivious.PublicModel).
	Secret bool
}

// Depth is the demo tree's maximum depth: small enough to draw.
const Depth = 4

// SVGName is the file Run writes into Options.Dir.
const SVGName = "accesses.svg"

// Model is the demo's trained tree and what is known about it.
type Model struct {
	Data     *Dataset
	Tree     oblivious.Tree
	Train    []int   // rows the tree was trained on
	Test     []int   // held-out rows
	Accuracy float64 // on Test
}

// Train trains the demo tree (CART, Gini, depth Depth, at least 5 rows a
// leaf) on 70% of the breast-cancer data.
func Train() (*Model, error) {
	d, err := BreastCancer()
	if err != nil {
		return nil, err
	}
	train, test := d.Split()
	t, err := CART{MaxDepth: Depth, MinLeaf: 5}.Train(d, train)
	if err != nil {
		return nil, err
	}
	if err := t.Validate(len(d.Features)); err != nil {
		return nil, fmt.Errorf("demo: trained tree: %w", err)
	}
	return &Model{Data: d, Tree: t, Train: train, Test: test, Accuracy: Accuracy(t, d, test)}, nil
}

// Comparison is the result of predicting two inputs both ways under the
// trace recorder. Naive[k] and Oblivious[k] are the traces of input k.
type Comparison struct {
	Mode        string    // "public model" or "secret model"
	Labels      [2]string // names of the inputs in the figure
	Predictions [2]float64
	Naive       [2][]trace.Event
	Oblivious   [2][]trace.Event
}

// NaiveDiffer and ObliviousDiffer report whether the two inputs' traces
// differ: what an observer of memory accesses could tell them apart by.
func (c *Comparison) NaiveDiffer() bool     { return trace.Diff(c.Naive[0], c.Naive[1]) != "" }
func (c *Comparison) ObliviousDiffer() bool { return trace.Diff(c.Oblivious[0], c.Oblivious[1]) != "" }

// Compare predicts a and b with the naive walk and obliviously, each
// prediction in its own recording. It fails if the two ways disagree.
// Recording is process-wide: do not call it concurrently.
func Compare(t oblivious.Tree, features int, secret bool, a, b []float64) (*Comparison, error) {
	if !trace.Enabled {
		return nil, ErrTracingDisabled
	}
	e := &oblivious.Ensemble{Trees: []oblivious.Tree{t}}
	c := &Comparison{Mode: "public model"}
	var predict func([]float64) float64
	if secret {
		c.Mode = "secret model"
		s := oblivious.ShapeOf(e, features)
		p, err := oblivious.Pad(e, s)
		if err != nil {
			return nil, err
		}
		m, err := oblivious.NewSecretModel(p, s)
		if err != nil {
			return nil, err
		}
		predict = m.Predict
	} else {
		m, err := oblivious.NewPublicModel(e, features)
		if err != nil {
			return nil, err
		}
		predict = m.Predict
	}
	for k, x := range [2][]float64{a, b} {
		var naive, obl float64
		c.Naive[k] = record(func() { naive = t.Predict(x) })
		c.Oblivious[k] = record(func() { obl = predict(x) })
		if naive != obl {
			return nil, fmt.Errorf("demo: input %d: naive prediction %v, oblivious %v", k, naive, obl)
		}
		c.Predictions[k] = naive
	}
	return c, nil
}

func record(f func()) []trace.Event {
	r := trace.Start()
	defer trace.Stop()
	f()
	return r.Events
}

// Patients picks two held-out patients the tree classifies differently
// (so their paths differ): the first predicted as class 0 and the first
// predicted as class 1.
func (m *Model) Patients() (a, b int, err error) {
	a, b = -1, -1
	for _, r := range m.Test {
		switch int(m.Tree.Predict(m.Data.X[r])) {
		case 0:
			if a < 0 {
				a = r
			}
		case 1:
			if b < 0 {
				b = r
			}
		}
	}
	if a < 0 || b < 0 {
		return 0, 0, errors.New("demo: the tree predicts a single class on every test patient")
	}
	return a, b, nil
}

// Run trains the tree, compares two patients' predictions, prints the
// report to w — including the lines "naive: traces differ|identical" and
// "oblivious: traces identical|differ", as measured — and writes
// accesses.svg into opt.Dir.
func Run(w io.Writer, opt Options) error {
	if !trace.Enabled {
		return ErrTracingDisabled
	}
	m, err := Train()
	if err != nil {
		return err
	}
	pa, pb, err := m.Patients()
	if err != nil {
		return err
	}
	d := m.Data
	c, err := Compare(m.Tree, len(d.Features), opt.Secret, d.X[pa], d.X[pb])
	if err != nil {
		return err
	}
	class := func(v float64) string { return d.Classes[int(v)] }
	for k, r := range [2]int{pa, pb} {
		c.Labels[k] = fmt.Sprintf("patient %c (row %d), predicted %s", 'A'+k, r, class(c.Predictions[k]))
	}
	fmt.Fprintf(w, "data: Wisconsin breast cancer (UCI WDBC, %d patients, %d features; no heart-disease data set is packaged here)\n",
		len(d.X), len(d.Features))
	fmt.Fprintf(w, "model: CART tree, depth %d, %d nodes, trained on %d patients, test accuracy %.3f on %d; %s\n",
		m.Tree.Depth(), len(m.Tree), len(m.Train), m.Accuracy, len(m.Test), c.Mode)
	for k, r := range [2]int{pa, pb} {
		fmt.Fprintf(w, "patient %c (row %d): predicted %s (diagnosis %s)\n", 'A'+k, r, class(c.Predictions[k]), class(float64(d.Y[r])))
	}
	fmt.Fprintf(w, "naive: traces %s\n", verdict(c.NaiveDiffer()))
	fmt.Fprintf(w, "oblivious: traces %s\n", verdict(c.ObliviousDiffer()))

	path := filepath.Join(opt.Dir, SVGName)
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if err := WriteSVG(f, c); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	fmt.Fprintf(w, "wrote %s\n", path)
	return nil
}

func verdict(differ bool) string {
	if differ {
		return "differ"
	}
	return "identical"
}
