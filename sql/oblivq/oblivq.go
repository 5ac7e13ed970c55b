package oblivq

import (
	"errors"
	"unsafe"

	"github.com/confide/confide/oblivious"
	"github.com/confide/confide/oblivious/trace"
	"github.com/confide/confide/sql/decimal"
)

// Row is one decoded row: its group key, its aggregate input (Null set
// when the value is NULL) and the filter's verdict.
type Row struct {
	Group uint64
	Value decimal.Dec
	Null  uint64 // 1: NULL, which SUM, AVG, MIN, MAX and COUNT(x) skip
	Keep  oblivious.Mask
}

// Group is one result group: the key and the aggregates of the kept,
// non-NULL values. Rows counts every kept row (COUNT(*)).
type Group struct {
	Key      uint64
	Sum      decimal.Dec
	Count    uint64 // non-NULL values
	Rows     uint64 // COUNT(*)
	Min, Max decimal.Dec
	overflow oblivious.Mask
}

// keyed adapts Group to oblivious.Keyed.
type keyed struct{ Group }

//confide:oblivious
func (k keyed) Key() uint64 { return k.Group.Key }

// ErrOverflow reports a sum past 38 digits in some group.
var ErrOverflow = errors.New("oblivq: a sum exceeds 38 digits")

// GroupBy aggregates rows by group. It returns a slice of len(rows)
// groups whose first n are the result, ascending by key, the rest zero.
// Public: len(rows). Secret: everything else, n included (the caller
// reveals n, or pads).
func GroupBy(rows []Row) ([]Group, uint64, error) {
	out, n, overflow := groupBy(rows)
	// One error for the whole query, after all the work is done: it
	// reveals only that some sum overflowed.
	if overflow == oblivious.True {
		return nil, 0, ErrOverflow
	}
	return out, n, nil
}

//confide:oblivious
//confide:secret rows
func groupBy(rows []Row) ([]Group, uint64, oblivious.Mask) {
	g := make([]keyed, len(rows))
	for i := range rows {
		r := &rows[i]
		use := r.Keep.And(oblivious.FromBit(r.Null).Not()) // counts for the value aggregates
		v := decimal.SelectDec(use, r.Value, decimal.Dec{})
		// A row that takes no part has Count 0, so it never wins MIN or
		// MAX in the scan below.
		g[i] = keyed{Group{Key: r.Group, Sum: v, Count: use.Bit(), Rows: r.Keep.Bit(), Min: v, Max: v}}
	}
	oblivious.Sort(g)
	base := unsafe.Pointer(unsafe.SliceData(g))
	for i := 1; i < len(g); i++ {
		trace.Access(trace.OpRead, base, i-1)
		trace.Access(trace.OpWrite, base, i)
		prev, cur := &g[i-1].Group, &g[i].Group
		same := oblivious.Eq(cur.Key, prev.Key)
		sum, over := decimal.AddCT(prev.Sum, cur.Sum)
		cur.Sum = decimal.SelectDec(same, sum, cur.Sum)
		cur.overflow = same.And(prev.overflow.Or(over))
		// MIN/MAX over the values that count: a side without values
		// (Count 0) never wins.
		prevHas := oblivious.IsZero(prev.Count).Not()
		curHas := oblivious.IsZero(cur.Count).Not()
		takeMin := same.And(prevHas).And(curHas.Not().Or(decimal.LessCT(prev.Min, cur.Min)))
		takeMax := same.And(prevHas).And(curHas.Not().Or(decimal.LessCT(cur.Max, prev.Max)))
		cur.Min = decimal.SelectDec(takeMin, prev.Min, cur.Min)
		cur.Max = decimal.SelectDec(takeMax, prev.Max, cur.Max)
		cur.Count += oblivious.Select(same, prev.Count, 0)
		cur.Rows += oblivious.Select(same, prev.Rows, 0)
	}
	// Keep each group's last row if the group kept any row.
	keep := make([]oblivious.Mask, len(g))
	var overflow oblivious.Mask
	for i := range g {
		last := oblivious.True
		if i+1 < len(g) { // public: the position only
			last = oblivious.Eq(g[i].Key(), g[i+1].Key()).Not()
		}
		keep[i] = last.And(oblivious.IsZero(g[i].Rows).Not())
		overflow = overflow.Or(keep[i].And(g[i].overflow.Or(decimal.FitsCT(g[i].Sum, decimal.MaxPrecision).Not())))
	}
	n := oblivious.Compact(g, keep)
	out := make([]Group, len(g))
	for i := range g {
		out[i] = g[i].Group
	}
	return out, n, overflow
}
