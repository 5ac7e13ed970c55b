package decimal_test

import (
	"context"
	"fmt"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/confide/confide/internal/pgtest"
	"github.com/confide/confide/sql/decimal"
	"github.com/confide/confide/sql/types"
)

// TestAgainstPostgreSQL keeps the engine honest with an independent
// implementation: PostgreSQL's NUMERIC computes +, −, ×, ROUND, SUM, COUNT,
// MIN and MAX exactly, and round(x, s) rounds half away from zero, so for
// each random case PostgreSQL's round(exact result, result scale) must be
// our value (or, past 38 digits, our overflow error).
func TestAgainstPostgreSQL(t *testing.T) {
	c := pgtest.Start(t)
	conn := c.Connect(t, "postgres")
	ctx := context.Background()
	defer conn.Close(ctx)
	r := rand.New(rand.NewPCG(11, 12))
	lit := func(v *big.Int, typ decimal.Type) string {
		return types.Dec{Unscaled: v, Scale: typ.Scale}.String()
	}
	const n = 400
	type tc struct {
		sql  string
		typ  decimal.Type // the result's type
		want func() (string, error)
	}
	var cases []tc
	for range n {
		at, bt := randType(r), randType(r)
		a, b := randValue(r, at), randValue(r, bt)
		da, db := toDec(t, a, at), toDec(t, b, bt)
		for _, op := range []string{"+", "-", "*"} {
			f := map[string]func(decimal.Dec, decimal.Type, decimal.Dec, decimal.Type) (decimal.Dec, decimal.Type, error){
				"+": decimal.Add, "-": decimal.Sub, "*": decimal.Mul}[op]
			got, gt, err := f(da, at, db, bt)
			cases = append(cases, tc{
				sql: fmt.Sprintf("round((%s::numeric) %s (%s::numeric), %d)::text", lit(a, at), op, lit(b, bt), gt.Scale), typ: gt,
				want: func() (string, error) {
					if err != nil {
						return "", err
					}
					return got.String(gt), nil
				},
			})
		}
		k := r.IntN(at.Scale+3) - 3
		got, err := decimal.Round(da, at, k, false)
		cases = append(cases, tc{
			sql: fmt.Sprintf("round(round(%s::numeric, %d), %d)::text", lit(a, at), k, at.Scale), typ: at,
			want: func() (string, error) {
				if err != nil {
					return "", err
				}
				return got.String(at), nil
			},
		})
	}
	// PostgreSQL answers all cases in one round trip.
	var sel []string
	for _, c := range cases {
		sel = append(sel, c.sql)
	}
	row := conn.QueryRow(ctx, "SELECT "+strings.Join(sel, ", "))
	vals := make([]string, len(cases))
	ptrs := make([]any, len(cases))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := row.Scan(ptrs...); err != nil {
		t.Fatal(err)
	}
	checked, overflows := 0, 0
	for i, c := range cases {
		want, err := c.want()
		if err != nil {
			// Our overflow: PostgreSQL's exact value must not fit the
			// result type.
			pv, perr := types.ParseDec(vals[i], c.typ.Scale)
			if perr == nil && fitsRef(pv.Unscaled, c.typ.Precision) {
				t.Errorf("%s: we overflowed %v, PostgreSQL has %s", c.sql, c.typ, vals[i])
			}
			overflows++
			continue
		}
		if vals[i] != want {
			t.Errorf("%s: PostgreSQL %s, we %s", c.sql, vals[i], want)
		}
		checked++
	}
	// Aggregates over one column of random values of one type.
	typ := decimal.Type{Precision: 18, Scale: 4}
	if _, err := conn.Exec(ctx, "CREATE TEMP TABLE v (x numeric(18,4))"); err != nil {
		t.Fatal(err)
	}
	var ds []decimal.Dec
	var rows []string
	for range 300 {
		v := randValue(r, typ)
		ds = append(ds, toDec(t, v, typ))
		rows = append(rows, "("+lit(v, typ)+")")
	}
	if _, err := conn.Exec(ctx, "INSERT INTO v VALUES "+strings.Join(rows, ", ")); err != nil {
		t.Fatal(err)
	}
	var sum, mn, mx string
	var count int
	if err := conn.QueryRow(ctx, "SELECT sum(x)::text, count(x), min(x)::text, max(x)::text FROM v").Scan(&sum, &count, &mn, &mx); err != nil {
		t.Fatal(err)
	}
	gotSum, st, err := decimal.Sum(ds, typ)
	if err != nil || gotSum.String(st) != sum || count != len(ds) {
		t.Errorf("SUM: PostgreSQL %s, we %s %v", sum, gotSum.String(st), err)
	}
	lo, hi := ds[0], ds[0]
	for _, d := range ds[1:] {
		if decimal.Compare(d, typ, lo, typ) < 0 {
			lo = d
		}
		if decimal.Compare(d, typ, hi, typ) > 0 {
			hi = d
		}
	}
	if lo.String(typ) != mn || hi.String(typ) != mx {
		t.Errorf("MIN/MAX: PostgreSQL %s %s, we %s %s", mn, mx, lo.String(typ), hi.String(typ))
	}
	t.Logf("%d values equal to PostgreSQL's, %d overflows of the result type (PostgreSQL's value does not fit it either)", checked, overflows)
	if checked < n {
		t.Errorf("only %d cases compared", checked)
	}
}
