package demo

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"math"

	"github.com/confide/confide/oblivious/trace"
)

// The figure: two panels, naive above oblivious, each plotting every
// access to the tree's nodes (circles) and to the feature vector
// (squares) of both predictions: x is the access's position in its
// prediction's trace, y the element's index. Prediction 1 is drawn as
// large hollow red marks and prediction 2 as small filled blue ones, so
// that where the traces coincide each mark sits inside the other.
//
// In every trace the tree's node array is object 0 and the feature
// vector object 1: both walks read the root before any feature. Other
// objects (the oblivious walks' scratch masks and vote counters) are
// not drawn.

const (
	svgWidth    = 960
	panelHeight = 300
	marginLeft  = 70
	marginRight = 20
	marginTop   = 60 // room for the title and legend
	plotTop     = 34 // within a panel, room for its title
	plotBottom  = 50 // within a panel, room for the x axis
)

var colours = [2]string{"#d62728", "#1f77b4"}

// WriteSVG draws c's traces ("Accesses from 2 predictions").
func WriteSVG(w io.Writer, c *Comparison) error {
	var b bytes.Buffer
	height := marginTop + 2*panelHeight
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">
<rect width="100%%" height="100%%" fill="white"/>
`, svgWidth, height, svgWidth, height)
	text(&b, svgWidth/2, 22, "middle", 16, "Accesses from 2 predictions")
	for k := range 2 {
		x := marginLeft + 10 + k*260
		fmt.Fprintf(&b, `<circle cx="%d" cy="42" r="%g" fill="%s" stroke="%s" stroke-width="1.5"/>`+"\n",
			x, radius(k), fill(k), colours[k])
		text(&b, x+10, 46, "start", 12, c.label(k))
	}
	text(&b, svgWidth-marginRight, 46, "end", 12, "○ tree node   □ feature   (scratch not drawn)")
	panels := []struct {
		id, title string
		traces    [2][]trace.Event
		differ    bool
	}{
		{"naive", "naive walk", c.Naive, c.NaiveDiffer()},
		{"oblivious", "oblivious, " + c.Mode, c.Oblivious, c.ObliviousDiffer()},
	}
	for i, p := range panels {
		title := fmt.Sprintf("%s: traces %s", p.title, verdict(p.differ))
		panel(&b, p.id, title, marginTop+i*panelHeight, p.traces)
	}
	b.WriteString("</svg>\n")
	_, err := w.Write(b.Bytes())
	return err
}

func (c *Comparison) label(k int) string {
	if c.Labels[k] != "" {
		return c.Labels[k]
	}
	return fmt.Sprintf("prediction %d", k+1)
}

func radius(k int) float64 { return [2]float64{5, 2.5}[k] }

func fill(k int) string {
	if k == 0 {
		return "none"
	}
	return colours[k]
}

func panel(b *bytes.Buffer, id, title string, top int, traces [2][]trace.Event) {
	fmt.Fprintf(b, `<g class="panel" id="%s" transform="translate(0,%d)">`+"\n", id, top)
	text(b, marginLeft, 20, "start", 14, title)
	n, maxIndex := 1, 1
	for _, tr := range traces {
		n = max(n, len(tr))
		for _, e := range tr {
			if e.Object <= 1 {
				maxIndex = max(maxIndex, e.Index)
			}
		}
	}
	x0, x1 := float64(marginLeft), float64(svgWidth-marginRight)
	y0, y1 := float64(panelHeight-plotBottom), float64(plotTop)
	sx := func(v float64) float64 { return x0 + (x1-x0)*(v+0.5)/float64(n) }
	sy := func(v float64) float64 { return y0 - (y0-y1)*(v+0.5)/float64(maxIndex+1) }
	fmt.Fprintf(b, `<rect x="%g" y="%g" width="%g" height="%g" fill="none" stroke="#888"/>`+"\n", x0, y1, x1-x0, y0-y1)
	for _, t := range ticks(n - 1) {
		fmt.Fprintf(b, `<line x1="%.1f" y1="%g" x2="%.1f" y2="%g" stroke="#888"/>`+"\n", sx(t), y0, sx(t), y0+4)
		text(b, int(sx(t)), int(y0)+17, "middle", 11, fmt.Sprint(t))
	}
	for _, t := range ticks(maxIndex) {
		fmt.Fprintf(b, `<line x1="%g" y1="%.1f" x2="%g" y2="%.1f" stroke="#888"/>`+"\n", x0-4, sy(t), x0, sy(t))
		text(b, int(x0)-7, int(sy(t))+4, "end", 11, fmt.Sprint(t))
	}
	text(b, int(x0+x1)/2, int(y0)+36, "middle", 12, "access sequence number")
	fmt.Fprintf(b, `<text x="18" y="%g" text-anchor="middle" transform="rotate(-90 18 %g)">element index</text>`+"\n", (y0+y1)/2, (y0+y1)/2)
	for k, tr := range traces {
		fmt.Fprintf(b, `<g class="prediction" fill="%s" stroke="%s" stroke-width="1.5">`+"\n", fill(k), colours[k])
		r := radius(k)
		for i, e := range tr {
			x, y := sx(float64(i)), sy(float64(e.Index))
			switch e.Object {
			case 0:
				fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="%g"/>`+"\n", x, y, r)
			case 1:
				fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%g" height="%g"/>`+"\n", x-r, y-r, 2*r, 2*r)
			}
		}
		b.WriteString("</g>\n")
	}
	b.WriteString("</g>\n")
}

// ticks returns about six round values from 0 to hi.
func ticks(hi int) []float64 {
	if hi < 1 {
		return []float64{0}
	}
	step := math.Pow(10, math.Floor(math.Log10(float64(hi)/5)))
	for _, m := range []float64{1, 2, 5, 10} {
		if float64(hi)/(step*m) <= 7 {
			step *= m
			break
		}
	}
	step = max(step, 1)
	var out []float64
	for v := 0.0; v <= float64(hi); v += step {
		out = append(out, v)
	}
	return out
}

func text(b *bytes.Buffer, x, y int, anchor string, size int, s string) {
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="%s" font-size="%d">`, x, y, anchor, size)
	xml.EscapeText(b, []byte(s))
	b.WriteString("</text>\n")
}
