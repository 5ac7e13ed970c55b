package demo

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/confide/confide/oblivious/trace"
)

func TestBreastCancer(t *testing.T) {
	d, err := BreastCancer()
	if err != nil {
		t.Fatal(err)
	}
	if len(d.X) != 569 || len(d.Features) != 30 {
		t.Fatalf("%d rows of %d features, want 569 of 30", len(d.X), len(d.Features))
	}
	if strings.Join(d.Classes, ",") != "malignant,benign" {
		t.Fatalf("classes %q", d.Classes)
	}
	var n [2]int
	for _, y := range d.Y {
		n[y]++
	}
	if n != [2]int{212, 357} {
		t.Fatalf("class counts %v, want [212 357]", n)
	}
	// First row of WDBC: patient 842302, malignant.
	if d.X[0][0] != 17.99 || d.X[0][29] != 0.1189 || d.Y[0] != 0 {
		t.Fatalf("first row %v class %d", d.X[0], d.Y[0])
	}
}

func TestParseSklearnCSV(t *testing.T) {
	for _, c := range []struct {
		name, in string
		ok       bool
	}{
		{"ok", "2,2,a,b\n1,2,0\n3.5,-4,1\n", true},
		{"no final newline", "2,2,a,b\n1,2,0\n3.5,-4,1", true},
		{"empty", "", false},
		{"no classes", "1,2\n1,2,0\n", false},
		{"bad count", "x,2,a,b\n1,2,0\n", false},
		{"zero rows", "0,2,a,b\n", false},
		{"huge rows", "99999999999,2,a,b\n", false},
		{"too few rows", "3,2,a,b\n1,2,0\n3.5,-4,1\n", false},
		{"too many rows", "1,2,a,b\n1,2,0\n3.5,-4,1\n", false},
		{"trailing blank line", "1,2,a,b\n1,2,0\n\n", false},
		{"short row", "1,2,a,b\n1,0\n", false},
		{"long row", "1,2,a,b\n1,2,3,0\n", false},
		{"not a number", "1,2,a,b\n1,x,0\n", false},
		{"NaN", "1,2,a,b\n1,NaN,0\n", false},
		{"infinity", "1,2,a,b\n1,Inf,0\n", false},
		{"class out of range", "1,2,a,b\n1,2,2\n", false},
		{"negative class", "1,2,a,b\n1,2,-1\n", false},
		{"fractional class", "1,2,a,b\n1,2,0.5\n", false},
	} {
		d, err := ParseSklearnCSV(strings.NewReader(c.in))
		if (err == nil) != c.ok {
			t.Errorf("%s: err = %v, want ok %v", c.name, err, c.ok)
			continue
		}
		if err != nil && !errors.Is(err, ErrFormat) {
			t.Errorf("%s: %v does not wrap ErrFormat", c.name, err)
		}
		if err == nil && (len(d.X) != 2 || d.X[1][1] != -4 || d.Y[1] != 1) {
			t.Errorf("%s: parsed %+v", c.name, d)
		}
	}
}

func FuzzParseSklearnCSV(f *testing.F) {
	f.Add([]byte("2,2,a,b\n1,2,0\n3.5,-4,1\n"))
	f.Add(breastCancerCSV[:2000])
	f.Add([]byte("1,1,a\n1e308,0\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		d, err := ParseSklearnCSV(bytes.NewReader(in))
		if err != nil {
			return
		}
		if len(d.X) != len(d.Y) || len(d.X) == 0 {
			t.Fatalf("%d rows, %d labels", len(d.X), len(d.Y))
		}
		for i, x := range d.X {
			if len(x) != len(d.Features) || d.Y[i] < 0 || d.Y[i] >= len(d.Classes) {
				t.Fatalf("row %d: %d features of %d, class %d of %d", i, len(x), len(d.Features), d.Y[i], len(d.Classes))
			}
		}
	})
}

func TestTrain(t *testing.T) {
	m, err := Train()
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Tree.Validate(len(m.Data.Features)); err != nil {
		t.Fatal(err)
	}
	if d := m.Tree.Depth(); d < 2 || d > Depth {
		t.Errorf("depth %d, want 2 to %d", d, Depth)
	}
	// A depth-4 CART tree on WDBC: scikit-learn's reaches 0.93–0.95.
	if m.Accuracy < 0.9 {
		t.Errorf("test accuracy %.3f", m.Accuracy)
	}
	if train := Accuracy(m.Tree, m.Data, m.Train); train < m.Accuracy-0.05 {
		t.Errorf("training accuracy %.3f below test accuracy %.3f", train, m.Accuracy)
	}
	a, b, err := m.Patients()
	if err != nil {
		t.Fatal(err)
	}
	if int(m.Tree.Predict(m.Data.X[a])) != 0 || int(m.Tree.Predict(m.Data.X[b])) != 1 {
		t.Errorf("patients %d and %d are not predicted 0 and 1", a, b)
	}
}

func TestCARTSeparates(t *testing.T) {
	// One feature separates the classes at 5; the other is noise.
	d := &Dataset{Features: []string{"noise", "signal"}, Classes: []string{"lo", "hi"}}
	for i := range 40 {
		d.X = append(d.X, []float64{float64(i * 7 % 13), float64(i % 10)})
		d.Y = append(d.Y, i%10/5)
	}
	rows := make([]int, len(d.X))
	for i := range rows {
		rows[i] = i
	}
	tr, err := CART{MaxDepth: 3, MinLeaf: 1}.Train(d, rows)
	if err != nil {
		t.Fatal(err)
	}
	if len(tr) != 3 || tr[0].Feature != 1 || tr[0].Threshold != 4.5 {
		t.Fatalf("tree %+v, want one split on feature 1 at 4.5", tr)
	}
	if acc := Accuracy(tr, d, rows); acc != 1 {
		t.Fatalf("accuracy %v", acc)
	}
	if _, err := (CART{MaxDepth: 3, MinLeaf: 1}).Train(d, nil); !errors.Is(err, ErrNoData) {
		t.Fatalf("no rows: %v", err)
	}
}

// svgPanels parses an SVG and returns the ids of its panels and, for
// each, the number of prediction groups and marks it holds.
func svgPanels(t *testing.T, svg []byte) (ids []string, groups, marks []int) {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(svg))
	var root bool
	depthInPanel := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG does not parse: %v", err)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			if !root {
				if e.Name.Local != "svg" || e.Name.Space != "http://www.w3.org/2000/svg" {
					t.Fatalf("root element %v", e.Name)
				}
				root = true
			}
			if depthInPanel > 0 {
				depthInPanel++
				if e.Name.Local == "g" && attr(e, "class") == "prediction" {
					groups[len(groups)-1]++
				}
				if e.Name.Local == "circle" || (e.Name.Local == "rect" && depthInPanel == 3) {
					marks[len(marks)-1]++
				}
			} else if e.Name.Local == "g" && attr(e, "class") == "panel" {
				ids = append(ids, attr(e, "id"))
				groups, marks = append(groups, 0), append(marks, 0)
				depthInPanel = 1
			}
		case xml.EndElement:
			if depthInPanel > 0 {
				depthInPanel--
			}
		}
	}
	return ids, groups, marks
}

func attr(e xml.StartElement, name string) string {
	for _, a := range e.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func TestWriteSVG(t *testing.T) {
	ev := func(obj, idx int) trace.Event { return trace.Event{Op: trace.OpRead, Object: obj, Index: idx} }
	c := &Comparison{
		Mode:      "public model",
		Labels:    [2]string{"a <&> b", ""},
		Naive:     [2][]trace.Event{{ev(0, 0), ev(1, 3), ev(0, 1)}, {ev(0, 0), ev(1, 3), ev(0, 2)}},
		Oblivious: [2][]trace.Event{{ev(0, 0), ev(2, 9), ev(0, 1)}, {ev(0, 0), ev(2, 9), ev(0, 1)}},
	}
	var b bytes.Buffer
	if err := WriteSVG(&b, c); err != nil {
		t.Fatal(err)
	}
	ids, groups, marks := svgPanels(t, b.Bytes())
	if strings.Join(ids, ",") != "naive,oblivious" {
		t.Fatalf("panels %q, want naive,oblivious", ids)
	}
	// Scratch (object 2) is not drawn.
	if groups[0] != 2 || groups[1] != 2 || marks[0] != 6 || marks[1] != 4 {
		t.Fatalf("prediction groups %v, marks %v", groups, marks)
	}
	for _, want := range []string{"Accesses from 2 predictions", "naive walk: traces differ", "oblivious, public model: traces identical", "a &lt;&amp;&gt; b", "prediction 2"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("SVG lacks %q", want)
		}
	}
}

func TestRunNeedsTracing(t *testing.T) {
	if trace.Enabled {
		t.Skip("built with obltrace: the traced test runs the demo")
	}
	var out bytes.Buffer
	err := Run(&out, Options{Dir: t.TempDir()})
	if !errors.Is(err, ErrTracingDisabled) || !strings.Contains(err.Error(), "-tags obltrace") {
		t.Fatalf("Run = %v, want ErrTracingDisabled", err)
	}
	if out.Len() != 0 {
		t.Fatalf("Run printed %q without tracing", out.String())
	}
}
