package decimal_test

import (
	"errors"
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/confide/confide/oblivious"
	"github.com/confide/confide/sql/decimal"
	"github.com/confide/confide/sql/types"
)

// ref computes with math/big what the spec says: the exact value, scaled
// to the result type with the spec's rounding, or an error.
func pow10(n int) *big.Int { return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil) }

// scaleTo moves x (at scale from) to scale to: exactly up, down rounding
// half away from zero, or truncating.
func scaleTo(x *big.Int, from, to int, round bool) *big.Int {
	if to >= from {
		return new(big.Int).Mul(x, pow10(to-from))
	}
	d := pow10(from - to)
	q, r := new(big.Int).QuoRem(x, d, new(big.Int))
	if round && new(big.Int).Mul(new(big.Int).Abs(r), big.NewInt(2)).Cmp(d) >= 0 {
		q.Add(q, big.NewInt(int64(x.Sign())))
	}
	return q
}

func fitsRef(x *big.Int, p int) bool { return new(big.Int).Abs(x).Cmp(pow10(p)) < 0 }

func randType(r *rand.Rand) decimal.Type {
	p := 1 + r.IntN(38)
	return decimal.Type{Precision: p, Scale: r.IntN(p + 1)}
}

func randValue(r *rand.Rand, t decimal.Type) *big.Int {
	// Mostly full-width values, some small ones and zero.
	digits := t.Precision
	switch r.IntN(4) {
	case 0:
		digits = 1 + r.IntN(t.Precision)
	case 1:
		digits = 0
	}
	v := new(big.Int)
	for range digits {
		v.Mul(v, big.NewInt(10)).Add(v, big.NewInt(int64(r.IntN(10))))
	}
	if r.IntN(2) == 0 {
		v.Neg(v)
	}
	return v
}

func toDec(t *testing.T, v *big.Int, typ decimal.Type) decimal.Dec {
	d, err := decimal.FromTypes(types.Dec{Unscaled: v, Scale: typ.Scale})
	if err != nil {
		t.Fatalf("%v: %v", v, err)
	}
	return d
}

func TestAgainstBig(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for i := 0; i < 20000; i++ {
		at, bt := randType(r), randType(r)
		a, b := randValue(r, at), randValue(r, bt)
		da, db := toDec(t, a, at), toDec(t, b, bt)
		check := func(op string, got decimal.Dec, gt decimal.Type, err error, want *big.Int, wantErr error) {
			t.Helper()
			if wantErr != nil || err != nil {
				if !errors.Is(err, wantErr) {
					t.Fatalf("%v %v %s %v %v: error %v, want %v", a, at, op, b, bt, err, wantErr)
				}
				return
			}
			if got.ToTypes(gt).Unscaled.Cmp(want) != 0 {
				t.Fatalf("%v %v %s %v %v = %s %v, want %v", a, at, op, b, bt, got.String(gt), gt, want)
			}
		}
		// + and −
		for _, sub := range []bool{false, true} {
			rt := decimal.AddType(at, bt)
			s := max(at.Scale, bt.Scale)
			bb := new(big.Int).Set(b)
			if sub {
				bb.Neg(bb)
			}
			exact := new(big.Int).Add(scaleTo(a, at.Scale, s, false), scaleTo(bb, bt.Scale, s, false))
			want := scaleTo(exact, s, rt.Scale, true)
			var wantErr error
			if !fitsRef(want, rt.Precision) {
				wantErr = decimal.ErrOverflow
			}
			op, f := "+", decimal.Add
			if sub {
				op, f = "-", decimal.Sub
			}
			got, gt, err := f(da, at, db, bt)
			if gt != rt {
				t.Fatalf("type %v, want %v", gt, rt)
			}
			check(op, got, gt, err, want, wantErr)
		}
		// ×
		{
			rt := decimal.MulType(at, bt)
			want := scaleTo(new(big.Int).Mul(a, b), at.Scale+bt.Scale, rt.Scale, true)
			var wantErr error
			if !fitsRef(want, rt.Precision) {
				wantErr = decimal.ErrOverflow
			}
			got, gt, err := decimal.Mul(da, at, db, bt)
			check("*", got, gt, err, want, wantErr)
		}
		// /
		{
			rt := decimal.DivType(at, bt)
			var want *big.Int
			var wantErr error
			if b.Sign() == 0 {
				wantErr = decimal.ErrDivideByZero
			} else {
				// a/10^as ÷ b/10^bs × 10^rs, truncated.
				num := new(big.Int).Mul(a, pow10(bt.Scale+rt.Scale))
				den := new(big.Int).Mul(b, pow10(at.Scale))
				want = new(big.Int).Quo(num, den)
				if !fitsRef(want, rt.Precision) {
					wantErr = decimal.ErrOverflow
				}
			}
			got, gt, err := decimal.Div(da, at, db, bt)
			check("/", got, gt, err, want, wantErr)
		}
		// ROUND and CAST
		{
			n := r.IntN(at.Scale+3) - 3
			for _, trunc := range []bool{false, true} {
				want := scaleTo(scaleTo(a, at.Scale, n, !trunc), n, at.Scale, false)
				if n >= at.Scale {
					want = a
				}
				var wantErr error
				if !fitsRef(want, at.Precision) {
					wantErr = decimal.ErrOverflow
				}
				got, err := decimal.Round(da, at, n, trunc)
				check("round", got, at, err, want, wantErr)
			}
			to := randType(r)
			want := scaleTo(a, at.Scale, to.Scale, true)
			var wantErr error
			if !fitsRef(want, to.Precision) {
				wantErr = decimal.ErrOverflow
			}
			got, err := decimal.Cast(da, at, to)
			check("cast", got, to, err, want, wantErr)
		}
		// Compare
		if c := decimal.Compare(da, at, db, bt); c != types.CompareDec(types.Dec{Unscaled: a, Scale: at.Scale}, types.Dec{Unscaled: b, Scale: bt.Scale}) {
			t.Fatalf("compare %v %v: %d", a, b, c)
		}
	}
}

func TestSumAvg(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for i := 0; i < 500; i++ {
		typ := randType(r)
		n := 1 + r.IntN(50)
		var vals []decimal.Dec
		sum := new(big.Int)
		for range n {
			v := randValue(r, typ)
			sum.Add(sum, v)
			vals = append(vals, toDec(t, v, typ))
		}
		got, st, err := decimal.Sum(vals, typ)
		if !fitsRef(sum, 38) {
			if !errors.Is(err, decimal.ErrOverflow) {
				t.Fatalf("sum overflow: %v", err)
			}
			continue
		}
		if err != nil || got.ToTypes(st).Unscaled.Cmp(sum) != 0 || st != decimal.SumType(typ) {
			t.Fatalf("sum %v: %s %v", sum, got.String(st), err)
		}
		avg, at, err := decimal.Avg(vals, typ)
		want := new(big.Int).Quo(scaleTo(sum, typ.Scale, at.Scale, false), big.NewInt(int64(n)))
		if !fitsRef(want, 38) {
			if !errors.Is(err, decimal.ErrOverflow) {
				t.Fatalf("avg overflow: %v", err)
			}
			continue
		}
		if err != nil || avg.ToTypes(at).Unscaled.Cmp(want) != 0 {
			t.Fatalf("avg: %s %v, want %v", avg.String(at), err, want)
		}
	}
}

func TestParse(t *testing.T) {
	for _, c := range []struct {
		in   string
		typ  decimal.Type
		text string
	}{
		{"123.45", decimal.Type{Precision: 5, Scale: 2}, "123.45"},
		{"-0.0001", decimal.Type{Precision: 4, Scale: 4}, "-0.0001"},
		{"007", decimal.Type{Precision: 1, Scale: 0}, "7"},
		{"-0", decimal.Type{Precision: 1, Scale: 0}, "0"},
	} {
		d, typ, err := decimal.Parse(c.in)
		if err != nil || typ != c.typ || d.String(typ) != c.text {
			t.Errorf("%q: %s %v %v", c.in, d.String(typ), typ, err)
		}
	}
	for _, bad := range []string{"", "-", "1.2.3", "12a", "--1", "1e5", "123456789012345678901234567890123456789"} {
		if _, _, err := decimal.Parse(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"1", "-12.50", "0.000", "99999999999999999999999999999999999999", ".5", "5."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, typ, err := decimal.Parse(s)
		if err != nil {
			return
		}
		if !typ.Valid() {
			t.Fatalf("%q: type %v", s, typ)
		}
		d2, typ2, err := decimal.Parse(d.String(typ))
		if err != nil || typ2.Scale != typ.Scale || decimal.Compare(d, typ, d2, typ2) != 0 {
			t.Fatalf("%q → %s does not parse back: %v", s, d.String(typ), err)
		}
	})
}

func BenchmarkOps(b *testing.B) {
	t := decimal.Type{Precision: 18, Scale: 4}
	x, _ := decimal.FromTypes(types.Dec{Unscaled: big.NewInt(123456789012345), Scale: 4})
	y, _ := decimal.FromTypes(types.Dec{Unscaled: big.NewInt(-98765432101), Scale: 4})
	b.Run("add", func(b *testing.B) {
		for b.Loop() {
			decimal.Add(x, t, y, t)
		}
	})
	b.Run("mul", func(b *testing.B) {
		for b.Loop() {
			decimal.Mul(x, t, y, t)
		}
	})
	b.Run("div", func(b *testing.B) {
		for b.Loop() {
			decimal.Div(x, t, y, t)
		}
	})
}

func TestConstantTimeHelpers(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	typ := decimal.Type{Precision: 38, Scale: 6}
	for range 5000 {
		a, b := randValue(r, typ), randValue(r, typ)
		da, db := toDec(t, a, typ), toDec(t, b, typ)
		if got, want := decimal.LessCT(da, db) == oblivious.True, a.Cmp(b) < 0; got != want {
			t.Fatalf("%v < %v: %v", a, b, got)
		}
		sum, over := decimal.AddCT(da, db)
		exact := new(big.Int).Add(a, b)
		if (over == oblivious.True) != !fitsRef(exact, 38) {
			t.Fatalf("%v + %v: overflow %v", a, b, over)
		}
		if over == oblivious.False && sum.ToTypes(typ).Unscaled.Cmp(exact) != 0 {
			t.Fatalf("%v + %v = %s", a, b, sum.String(typ))
		}
		if got := decimal.SelectDec(oblivious.True, da, db); got != da {
			t.Fatal("SelectDec")
		}
	}
}
