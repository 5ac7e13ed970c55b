package oblivq_test

import (
	"math/big"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/confide/confide/oblivious"
	"github.com/confide/confide/sql/decimal"
	"github.com/confide/confide/sql/oblivq"
	"github.com/confide/confide/sql/types"
)

var typ = decimal.Type{Precision: 18, Scale: 2}

func randRows(r *rand.Rand, n, groups int) []oblivq.Row {
	rows := make([]oblivq.Row, n)
	for i := range rows {
		v := big.NewInt(r.Int64N(2_000_000) - 1_000_000)
		d, _ := decimal.FromTypes(types.Dec{Unscaled: v, Scale: typ.Scale})
		rows[i] = oblivq.Row{Group: uint64(r.IntN(groups)) * 1_000_003, Value: d, Keep: oblivious.FromBit(uint64(r.IntN(3)&1 ^ 1))}
		if r.IntN(10) == 0 {
			rows[i].Null = 1
		}
	}
	return rows
}

// naive is the plaintext way: skip dropped rows, a map per group. It is
// the reference for the results.
func naive(rows []oblivq.Row) map[uint64]oblivq.Group {
	out := map[uint64]oblivq.Group{}
	for _, r := range rows {
		if r.Keep == oblivious.False {
			continue
		}
		g, seen := out[r.Group]
		g.Key = r.Group
		g.Rows++
		if r.Null == 0 {
			if g.Count == 0 || decimal.Compare(r.Value, typ, g.Min, typ) < 0 {
				g.Min = r.Value
			}
			if g.Count == 0 || decimal.Compare(r.Value, typ, g.Max, typ) > 0 {
				g.Max = r.Value
			}
			g.Sum, _, _ = decimal.Add(g.Sum, typ, r.Value, typ)
			g.Count++
		}
		_ = seen
		out[r.Group] = g
	}
	return out
}

func TestGroupBy(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	for _, n := range []int{0, 1, 2, 7, 64, 1000} {
		for _, groups := range []int{1, 3, 50} {
			rows := randRows(r, n, groups)
			got, k, err := oblivq.GroupBy(slices.Clone(rows))
			if err != nil {
				t.Fatal(err)
			}
			want := naive(rows)
			if int(k) != len(want) {
				t.Fatalf("n=%d groups=%d: %d groups, want %d", n, groups, k, len(want))
			}
			for i := range int(k) {
				g := got[i]
				w := want[g.Key]
				if i > 0 && got[i-1].Key >= g.Key {
					t.Fatalf("groups not ascending: %d after %d", g.Key, got[i-1].Key)
				}
				if g.Rows != w.Rows || g.Count != w.Count || decimal.Compare(g.Sum, typ, w.Sum, typ) != 0 ||
					w.Count > 0 && (decimal.Compare(g.Min, typ, w.Min, typ) != 0 || decimal.Compare(g.Max, typ, w.Max, typ) != 0) {
					t.Fatalf("group %d: got rows %d count %d sum %s min %s max %s, want %d %d %s %s %s", g.Key,
						g.Rows, g.Count, g.Sum.String(typ), g.Min.String(typ), g.Max.String(typ),
						w.Rows, w.Count, w.Sum.String(typ), w.Min.String(typ), w.Max.String(typ))
				}
			}
			for _, g := range got[k:] {
				if g != (oblivq.Group{}) {
					t.Fatal("the padding is not zero")
				}
			}
		}
	}
}

func TestGroupByOverflow(t *testing.T) {
	big38 := new(big.Int).Sub(new(big.Int).Exp(big.NewInt(10), big.NewInt(38), nil), big.NewInt(1))
	d, _ := decimal.FromTypes(types.Dec{Unscaled: big38})
	rows := []oblivq.Row{{Group: 1, Value: d, Keep: oblivious.True}, {Group: 1, Value: d, Keep: oblivious.True}}
	if _, _, err := oblivq.GroupBy(rows); err != oblivq.ErrOverflow {
		t.Errorf("overflow: %v", err)
	}
	// A dropped row does not overflow anything.
	rows[1].Keep = oblivious.False
	if _, n, err := oblivq.GroupBy(rows); err != nil || n != 1 {
		t.Errorf("dropped row: %d %v", n, err)
	}
}
