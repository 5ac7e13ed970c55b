//go:build obltrace

package oblivious

// Trace tests: each primitive runs on many pairs of different secret
// inputs with the same public parameters, under the access recorder of
// package trace, and the two traces must be identical, non-empty and of
// the length the primitive's structure implies. Run with
//
//	go test -tags obltrace ./oblivious/

import (
	"math"
	"math/rand/v2"
	"runtime/debug"
	"testing"
	"unsafe"

	"github.com/confide/confide/oblivious/trace"
)

const tracePairs = 200

// traceOf returns the accesses f makes. The recorder numbers objects by
// address, which is only stable if nothing moves or is reused while
// recording, so:
//   - the garbage collector is off: an address freed and reused within
//     one run, depending on when the GC happens to run, would change the
//     numbering (and GC also shrinks stacks);
//   - the goroutine's stack is grown first: the compiler places small
//     make([]T, n) backing arrays (32 bytes or less) on the stack, and a
//     stack that grows during the run moves them, so that one array
//     shows as two objects in one run and as one in the other.
func traceOf(f func()) []trace.Event {
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	growStack(256)
	r := trace.Start()
	defer trace.Stop()
	f()
	return r.Events
}

// growStack uses at least depth KiB of stack.
//
//go:noinline
func growStack(depth int) byte {
	var buf [1024]byte
	buf[depth%len(buf)] = byte(depth)
	if depth == 0 {
		return buf[0]
	}
	return growStack(depth-1) + buf[(depth*7)%len(buf)]
}

// traceLength picks the public length of pair i: every length up to 40,
// then larger ones.
func traceLength(r *rand.Rand, i int) int {
	if i <= 40 {
		return i
	}
	return 41 + r.IntN(300)
}

// secretKeys returns keys of one of several distributions, so that the
// two inputs of a pair differ in kind and not only in value.
func secretKeys(r *rand.Rand, n int) []uint64 {
	k := make([]uint64, n)
	kind := r.IntN(5)
	for i := range k {
		switch kind {
		case 0:
			k[i] = r.Uint64()
		case 1:
			k[i] = r.Uint64N(3)
		case 2:
			k[i] = uint64(i)
		case 3:
			k[i] = uint64(n - i)
		case 4:
			k[i] = 42
		}
	}
	return k
}

func secretMasks(r *rand.Rand, n int) []Mask {
	m := make([]Mask, n)
	p := []float64{0, 0.3, 1}[r.IntN(3)]
	for i := range m {
		if r.Float64() < p {
			m[i] = True
		}
	}
	return m
}

// secretIndex returns an index in range or, a quarter of the time, out
// of range.
func secretIndex(r *rand.Rand, n int) uint64 {
	if n == 0 || r.IntN(4) == 0 {
		return []uint64{uint64(n), math.MaxUint64, 1 << 32}[r.IntN(3)]
	}
	return r.Uint64N(uint64(n))
}

// checkTraces calls gen twice for each of tracePairs public lengths n,
// for two runs on different secrets, and requires identical traces of
// length wantLen(n).
func checkTraces(t *testing.T, name string, wantLen func(n int) int, gen func(r *rand.Rand, n int) func()) {
	t.Helper()
	if !trace.Enabled {
		t.Fatal("trace.Enabled is false under the obltrace tag")
	}
	r := newRand(t)
	for i := range tracePairs {
		n := traceLength(r, i)
		a, b := gen(r, n), gen(r, n)
		ta, tb := traceOf(a), traceOf(b)
		if d := trace.Diff(ta, tb); d != "" {
			t.Fatalf("%s n=%d: traces differ between two secrets: %s", name, n, d)
		}
		if want := wantLen(n); len(ta) != want {
			t.Fatalf("%s n=%d: %d events recorded, want %d", name, n, len(ta), want)
		}
		if n >= 2 && len(ta) == 0 {
			t.Fatalf("%s n=%d: empty trace: is the recorder on?", name, n)
		}
	}
}

func TestTraceSort(t *testing.T) {
	// Each compare-exchange records both positions.
	network := func(n int) int { return 2 * NetworkSize(n) }
	checkTraces(t, "Sort", network, func(r *rand.Rand, n int) func() {
		keys := secretKeys(r, n)
		rs := make([]sortRec, n)
		for i := range rs {
			rs[i] = sortRec{K: keys[i], V: r.Uint64()}
		}
		return func() { Sort(rs) }
	})
	checkTraces(t, "Sort of 7-byte records", network, func(r *rand.Rand, n int) func() {
		keys := secretKeys(r, n)
		rs := make([]sortRec7, n)
		for i := range rs {
			rs[i] = sortRec7{K: uint32(keys[i])}
		}
		return func() { Sort(rs) }
	})
	checkTraces(t, "SortUint64", network, func(r *rand.Rand, n int) func() {
		keys := secretKeys(r, n)
		return func() { SortUint64(keys) }
	})
}

func TestTraceCompact(t *testing.T) {
	// The sort of the (kept, position) keys, then one write per record.
	want := func(n int) int { return 2*NetworkSize(n) + n }
	checkTraces(t, "Compact", want, func(r *rand.Rand, n int) func() {
		rs := make([]sortRec, n)
		fillRandom(r, rs)
		keep := secretMasks(r, n)
		return func() { Compact(rs, keep) }
	})
	checkTraces(t, "Compact of 3-byte records", want, func(r *rand.Rand, n int) func() {
		rs := make([]rec3a1, n)
		fillRandom(r, rs)
		keep := secretMasks(r, n)
		return func() { Compact(rs, keep) }
	})
}

func TestTraceAggregate(t *testing.T) {
	// Sort by group, the running-totals scan (a read and a write per
	// step), then Compact.
	want := func(n int) int { return 2*NetworkSize(n) + 2*max(n-1, 0) + 2*NetworkSize(n) + n }
	checkTraces(t, "Aggregate", want, func(r *rand.Rand, n int) func() {
		groups := secretKeys(r, n)
		rs := make([]groupRec, n)
		for i := range rs {
			rs[i] = groupRec{G: groups[i], V: r.Uint64()}
		}
		return func() { Aggregate(rs) }
	})
}

func TestTraceReadWrite(t *testing.T) {
	scan := func(n int) int { return n }
	checkTraces(t, "Read", scan, func(r *rand.Rand, n int) func() {
		rs := make([]sortRec, n)
		fillRandom(r, rs)
		i := secretIndex(r, n)
		return func() { Read(rs, i) }
	})
	checkTraces(t, "Read of 12-byte records", scan, func(r *rand.Rand, n int) func() {
		rs := make([]rec12a4, n)
		fillRandom(r, rs)
		i := secretIndex(r, n)
		return func() { Read(rs, i) }
	})
	checkTraces(t, "Write", scan, func(r *rand.Rand, n int) func() {
		rs := make([]sortRec, n)
		fillRandom(r, rs)
		i, v := secretIndex(r, n), sortRec{r.Uint64(), r.Uint64()}
		return func() { Write(rs, i, v) }
	})
	checkTraces(t, "Write of 3-byte records", scan, func(r *rand.Rand, n int) func() {
		rs := make([]rec3a1, n)
		fillRandom(r, rs)
		i, v := secretIndex(r, n), rec3a1{byte(r.Uint32())}
		return func() { Write(rs, i, v) }
	})
}

func TestTraceAddPairLines(t *testing.T) {
	checkTraces(t, "AddPairLines", func(n int) int { return (n + 7) / 8 }, func(r *rand.Rand, n int) func() {
		dst := AlignedFloats(n)
		i := secretIndex(r, len(dst)) &^ 1
		a, b := r.NormFloat64(), r.Float64()
		return func() { AddPairLines(dst, i, a, b) }
	})
}

func TestTraceAddPairLines32(t *testing.T) {
	checkTraces(t, "AddPairLines32", func(n int) int { return (n + 15) / 16 }, func(r *rand.Rand, n int) func() {
		dst := AlignedFloat32s(n)
		i := secretIndex(r, len(dst)) &^ 1
		a, b := float32(r.NormFloat64()), r.Float32()
		return func() { AddPairLines32(dst, i, a, b) }
	})
}

func TestTraceReadLine64(t *testing.T) {
	checkTraces(t, "ReadLine64", func(n int) int { return (n + 7) / 8 }, func(r *rand.Rand, n int) func() {
		xs := AlignedUint64s(n)
		i := secretIndex(r, len(xs))
		return func() { ReadLine64(xs, i) }
	})
}

// TestTraceControl shows that the comparison can fail: a plain indexed
// read, which touches the secret position, gives different traces for
// different indexes.
func TestTraceControl(t *testing.T) {
	rs := make([]sortRec, 16)
	leakyRead := func(i int) func() {
		return func() {
			trace.Access(trace.OpRead, unsafe.Pointer(unsafe.SliceData(rs)), i)
			_ = rs[i]
		}
	}
	a, b := traceOf(leakyRead(3)), traceOf(leakyRead(9))
	if len(a) != 1 {
		t.Fatalf("the recorder captured %d events of one access", len(a))
	}
	if d := trace.Diff(a, b); d == "" {
		t.Fatal("traces of reads at different indexes compare equal")
	} else {
		t.Logf("control: %s", d)
	}
	// And two runs on different secrets of a length-dependent loop give
	// different traces when the public length differs.
	ra, rb := make([]sortRec, 3), make([]sortRec, 4)
	if trace.Diff(traceOf(func() { Read(ra, 0) }), traceOf(func() { Read(rb, 0) })) == "" {
		t.Fatal("Read traces over lengths 3 and 4 compare equal")
	}
}

func TestTraceLineTable(t *testing.T) {
	lines := func(n int) int { return (n + 7) / 8 }
	checkTraces(t, "LineTable.Read", func(n int) int { return 3 * lines(n) }, func(r *rand.Rand, n int) func() {
		tb := NewLineTable(4, n)
		i := secretIndex(r, n)
		out := make([]uint64, 3)
		return func() { tb.Read(i, 1, out) }
	})
	checkTraces(t, "LineTable.Write", func(n int) int { return 2 * lines(n) }, func(r *rand.Rand, n int) func() {
		tb := NewLineTable(4, n)
		i := secretIndex(r, n)
		vals, masks := []uint64{r.Uint64(), r.Uint64()}, secretMasks(r, 2)
		return func() { tb.Write(i, 2, vals, masks) }
	})
}

func TestTraceSortRows(t *testing.T) {
	checkTraces(t, "SortRows", func(n int) int { return 2 * NetworkSize(n) }, func(r *rand.Rand, n int) func() {
		keys := secretKeys(r, n)
		rows := make([]uint64, 3*n)
		return func() { SortRows(keys, rows, 3) }
	})
}
