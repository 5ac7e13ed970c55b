//go:build obltrace

package oblivq_test

import (
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/confide/confide/oblivious"
	"github.com/confide/confide/oblivious/trace"
	"github.com/confide/confide/sql/oblivq"
)

func record(f func()) []trace.Event {
	r := trace.Start()
	f()
	trace.Stop()
	return r.Events
}

// naiveTraced is the plaintext plan with its accesses recorded: it reads
// the rows the filter keeps and touches its map's entries per group.
func naiveTraced(rows []oblivq.Row) {
	base := unsafe.Pointer(unsafe.SliceData(rows))
	groups := map[uint64]int{}
	for i := range rows {
		trace.Access(trace.OpRead, base, i)
		if rows[i].Keep == oblivious.False {
			continue
		}
		g, ok := groups[rows[i].Group]
		if !ok {
			g = len(groups)
			groups[rows[i].Group] = g
		}
		trace.Access(trace.OpWrite, unsafe.Pointer(&groups), g)
	}
}

// TestTraces: two tables of the same size with different values (keys,
// amounts, filter outcomes, NULLs) give the oblivious plan identical
// access traces; the plaintext plan's traces differ.
func TestTraces(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 18))
	naiveDiffers := 0
	for _, n := range []int{1, 5, 33, 200} {
		for range 5 {
			a, b := randRows(r, n, 1+r.IntN(20)), randRows(r, n, 1+r.IntN(20))
			ta := record(func() { oblivq.GroupBy(a) })
			tb := record(func() { oblivq.GroupBy(b) })
			if len(ta) == 0 {
				t.Fatal("nothing recorded")
			}
			if d := trace.Diff(ta, tb); d != "" {
				t.Fatalf("n=%d: oblivious traces differ: %s", n, d)
			}
			if trace.Diff(record(func() { naiveTraced(a) }), record(func() { naiveTraced(b) })) != "" {
				naiveDiffers++
			}
		}
	}
	if naiveDiffers == 0 {
		t.Error("the plaintext plan's traces never differed: the test cannot tell")
	}
}
