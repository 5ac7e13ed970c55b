package oblivious

import (
	"unsafe"

	"github.com/confide/confide/oblivious/trace"
)

// Read returns rs[i] by reading every element: the trace is a scan of the
// whole slice whatever i. Public: len(rs). Granularity: element. An i out
// of range returns the zero record (it is secret, so it cannot panic).
//
//confide:oblivious
//confide:secret rs i
func Read[R any](rs []R, i uint64) R {
	mustRecord[R]()
	var out R
	base := unsafe.Pointer(unsafe.SliceData(rs))
	for j := range rs {
		trace.Access(trace.OpRead, base, j)
		CondMove(Eq(uint64(j), i), &out, &rs[j])
	}
	return out
}

// Write sets rs[i] = v by reading and rewriting every element. Public:
// len(rs). Granularity: element. An i out of range writes nothing.
//
//confide:oblivious
//confide:secret rs i v
func Write[R any](rs []R, i uint64, v R) {
	mustRecord[R]()
	base := unsafe.Pointer(unsafe.SliceData(rs))
	for j := range rs {
		trace.Access(trace.OpWrite, base, j)
		CondMove(Eq(uint64(j), i), &rs[j], &v)
	}
}
