package spec_test

import (
	"errors"
	"strconv"
	"testing"

	"github.com/confide/confide/sql/decimal"
)

type decimalFile struct {
	fileHeader
	Vectors []struct {
		Op     string   `json:"op"`
		A      string   `json:"a"`
		AT     [2]int   `json:"at"`
		B      string   `json:"b"`
		BT     [2]int   `json:"bt"`
		Type   [2]int   `json:"type"`
		Values []string `json:"values"`
		Result string   `json:"result"`
		Error  string   `json:"error"`
		Source string   `json:"source"`
	} `json:"vectors"`
}

// TestAvgIsSumOverCount checks AVG's documented return type: SQL Server
// 2008's AVG page gives it as DECIMAL(38, s) divided by DECIMAL(10, 0),
// later ones as DECIMAL(38, max(s, 6)); the division rules make the two
// agree for every scale.
func TestAvgIsSumOverCount(t *testing.T) {
	for s := 0; s <= decimal.MaxPrecision; s++ {
		in := decimal.Type{Precision: decimal.MaxPrecision, Scale: s}
		if got, want := decimal.AvgType(in), decimal.DivType(decimal.SumType(in), decimal.Type{Precision: 10}); got != want {
			t.Errorf("AVG of DECIMAL(38,%d): %v, and SUM / COUNT is %v", s, got, want)
		}
	}
}

func runDecimal(t *testing.T, b []byte) int {
	var f decimalFile
	decodeStrict(t, b, &f)
	f.fileHeader.check(t)
	parse := func(s string, tt [2]int) (decimal.Dec, decimal.Type) {
		d, lt, err := decimal.Parse(s)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		typ := decimal.Type{Precision: tt[0], Scale: tt[1]}
		if d, err = decimal.Cast(d, lt, typ); err != nil {
			t.Fatalf("%q as %v: %v", s, typ, err)
		}
		return d, typ
	}
	for _, v := range f.Vectors {
		a, at := decimal.Dec{}, decimal.Type{Precision: v.AT[0], Scale: v.AT[1]}
		if v.A != "" {
			a, at = parse(v.A, v.AT)
		}
		want := decimal.Type{Precision: v.Type[0], Scale: v.Type[1]}
		var got decimal.Dec
		var gt decimal.Type
		var err error
		switch v.Op {
		case "+", "-", "*", "/":
			b, bt := parse(v.B, v.BT)
			op := map[string]func(decimal.Dec, decimal.Type, decimal.Dec, decimal.Type) (decimal.Dec, decimal.Type, error){
				"+": decimal.Add, "-": decimal.Sub, "*": decimal.Mul, "/": decimal.Div}[v.Op]
			got, gt, err = op(a, at, b, bt)
		case "round", "round-truncate":
			n, _ := strconv.Atoi(v.B)
			got, err = decimal.Round(a, at, n, v.Op == "round-truncate")
			gt = at
		case "cast":
			got, err = decimal.Cast(a, at, want)
			gt = want
		case "sum", "avg":
			var vals []decimal.Dec
			for _, s := range v.Values {
				d, _ := parse(s, v.AT)
				vals = append(vals, d)
			}
			f := decimal.Sum
			if v.Op == "avg" {
				f = decimal.Avg
			}
			got, gt, err = f(vals, at)
		default:
			t.Fatalf("unknown op %q", v.Op)
		}
		name := v.A + " " + v.Op + " " + v.B
		if gt != want {
			t.Errorf("%s: type %v, want %v", name, gt, want)
		}
		switch v.Error {
		case "overflow":
			if !errors.Is(err, decimal.ErrOverflow) {
				t.Errorf("%s: %v, want overflow", name, err)
			}
			continue
		case "divide-by-zero":
			if !errors.Is(err, decimal.ErrDivideByZero) {
				t.Errorf("%s: %v, want divide by zero", name, err)
			}
			continue
		}
		if err != nil || got.String(gt) != v.Result {
			t.Errorf("%s: %s %v, want %s", name, got.String(gt), err, v.Result)
		}
	}
	return len(f.Vectors)
}
