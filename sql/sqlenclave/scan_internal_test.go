package sqlenclave

import (
	"math/rand/v2"
	"testing"

	"github.com/confide/confide/sql/decimal"
	"github.com/confide/confide/sql/types"
)

// TestFastArith checks the normal mode's int64 path against package
// decimal: for every case the fast path takes, the same value and type;
// where it declines, the slow path decides (an overflow included).
func TestFastArith(t *testing.T) {
	r := rand.New(rand.NewPCG(25, 2))
	taken := 0
	for range 200_000 {
		lt := decimal.Type{Precision: 1 + r.IntN(38)}
		lt.Scale = r.IntN(lt.Precision + 1)
		rt := decimal.Type{Precision: 1 + r.IntN(38)}
		rt.Scale = r.IntN(rt.Precision + 1)
		val := func(t decimal.Type) number {
			digits := 1 + r.IntN(min(t.Precision, 18))
			v := r.Int64N(pow10s[digits])
			if r.IntN(2) == 0 {
				v = -v
			}
			return withSmall(fromSmall(v, t))
		}
		l, rv := val(lt), val(rt)
		op := "+-*"[r.IntN(3)]
		at, err := decimal.ResultType(op, types.Type{Kind: types.Decimal, Precision: lt.Precision, Scale: lt.Scale},
			types.Type{Kind: types.Decimal, Precision: rt.Precision, Scale: rt.Scale})
		if err != nil {
			t.Fatal(err)
		}
		res, _ := decimal.Of(at)
		fast := false
		switch op {
		case '+', '-':
			fast = res.Scale == max(lt.Scale, rt.Scale) && res.Scale-min(lt.Scale, rt.Scale) < len(pow10s)
		case '*':
			fast = res.Scale == lt.Scale+rt.Scale
		}
		if !fast {
			continue
		}
		got, ok := arith(op, l, rv, res)
		var want decimal.Dec
		var wt decimal.Type
		switch op {
		case '+':
			want, wt, err = decimal.Add(l.d, lt, rv.d, rt)
		case '-':
			want, wt, err = decimal.Sub(l.d, lt, rv.d, rt)
		case '*':
			want, wt, err = decimal.Mul(l.d, lt, rv.d, rt)
		}
		if err == nil {
			want, err = decimal.Cast(want, wt, res)
		}
		if !ok {
			continue // the slow path decides
		}
		taken++
		if err != nil {
			t.Fatalf("%v %c %v (%v, %v): fast %v, slow error %v", l.d, op, rv.d, lt, rt, got.d, err)
		}
		if got.d != want || got.t != res || !got.small {
			t.Fatalf("%v %c %v (%v, %v) as %v: fast %v %v, slow %v", l.d, op, rv.d, lt, rt, res, got.d, got.t, want)
		}
	}
	if taken < 10_000 {
		t.Fatalf("the fast path took %d cases", taken)
	}
}

// TestSmallSums checks the running sum's int64 part across its flushes:
// values near the fast path's limit, both signs, against decimal.Sum.
func TestSmallSums(t *testing.T) {
	vt := decimal.Type{Precision: 38, Scale: 2}
	r := rand.New(rand.NewPCG(25, 3))
	var vals []decimal.Dec
	var acc scanAcc
	agg := ScanAgg{Fn: "sum"}
	for i := range 5000 {
		v := smallLimit - 1 - r.Int64N(1000)
		if i%3 == 0 {
			v = -v
		}
		n := withSmall(fromSmall(v, vt))
		if i%7 == 0 {
			n.small = false // a value the fast path does not hold
		}
		vals = append(vals, n.d)
		if err := acc.step(agg, []number{n}); err != nil {
			t.Fatal(err)
		}
	}
	want, wt, err := decimal.Sum(vals, vt)
	if err != nil {
		t.Fatal(err)
	}
	got, err := acc.result(ScanAgg{Fn: "sum", Type: types.Type{Kind: types.Decimal, Precision: 38, Scale: 2}})
	if err != nil {
		t.Fatal(err)
	}
	if got.d != want || got.t != wt {
		t.Fatalf("sum %v %v, want %v %v", got.d, got.t, want, wt)
	}
}
