package oblivious

import (
	"math"
	"unsafe"

	"github.com/confide/confide/oblivious/trace"
)

// Compact moves the records whose keep mask is True to the front, in
// their original order, zeroes the rest, and returns how many were kept.
// Keep masks must be exactly True or False (as comparisons return them).
// The count is secret: callers must not branch on it or slice by it
// inside oblivious code; the output keeps the public length len(rs).
// It sorts by (not kept, original position) with Sort's network, so its
// trace depends only on len(rs). Public: len(rs), which must equal
// len(keep) and be below 2^63.
//
//confide:oblivious
//confide:secret rs keep
func Compact[R any](rs []R, keep []Mask) uint64 {
	mustRecord[R]()
	if len(rs) != len(keep) {
		panic("oblivious: Compact with mismatched lengths")
	}
	keys := make([]uint64, len(rs))
	var count uint64
	for i := range rs {
		keys[i] = (uint64(^keep[i]) & (1 << 63)) | uint64(i)
		count += keep[i].Bit()
	}
	sortBy(keys, rs)
	var zero R
	for i := range rs {
		trace.Access(trace.OpWrite, unsafe.Pointer(unsafe.SliceData(rs)), i)
		CondMove(Ge(uint64(i), count), &rs[i], &zero)
	}
	return count
}

// Grouped is a record aggregated by group: Group is its group key, Value
// what is summed.
type Grouped interface {
	// Group and Value return secrets without branching on the record.
	//
	//confide:oblivious
	//confide:secret
	Group() uint64
	//confide:oblivious
	//confide:secret
	Value() uint64
}

// Group is one result of Aggregate. Sum wraps modulo 2^64, so int64
// values (two's complement) sum correctly while no overflow occurs; Min
// and Max compare as unsigned (map signed and float values with
// flipSign/FloatKey first).
type Group struct {
	Key   uint64
	Sum   uint64
	Count uint64
	Min   uint64
	Max   uint64
}

// Aggregate groups records by Group and returns one Group per distinct
// key, ascending by key, in the first n entries of a slice of the public
// length len(rs) (the rest zero). n, the number of groups, is secret.
// Sort-based (as in Opaque and ObliDB): sort by group, a linear scan that
// carries running totals across equal keys, then Compact of each group's
// last row. Public: len(rs).
//
//confide:oblivious
//confide:secret rs
func Aggregate[R Grouped](rs []R) (groups []Group, n uint64) {
	g := make([]Group, len(rs))
	keys := make([]uint64, len(rs))
	for i := range rs {
		v := rs[i].Value()
		g[i] = Group{Key: rs[i].Group(), Sum: v, Count: 1, Min: v, Max: v}
		keys[i] = g[i].Key
	}
	sortBy(keys, g)
	base := unsafe.Pointer(unsafe.SliceData(g))
	for i := 1; i < len(g); i++ {
		trace.Access(trace.OpRead, base, i-1)
		trace.Access(trace.OpWrite, base, i)
		same := Eq(g[i].Key, g[i-1].Key)
		prev := &g[i-1]
		g[i].Sum += Select(same, prev.Sum, 0)
		g[i].Count += Select(same, prev.Count, 0)
		g[i].Min = Select(same.And(Lt(prev.Min, g[i].Min)), prev.Min, g[i].Min)
		g[i].Max = Select(same.And(Gt(prev.Max, g[i].Max)), prev.Max, g[i].Max)
	}
	last := make([]Mask, len(g))
	for i := range g {
		next := uint64(math.MaxUint64)
		isLast := True
		if i+1 < len(g) { // public: position only
			next = g[i+1].Key
			isLast = Eq(g[i].Key, next).Not()
		}
		last[i] = isLast
	}
	n = Compact(g, last)
	return g, n
}
