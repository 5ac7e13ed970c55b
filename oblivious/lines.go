package oblivious

import (
	"math"
	"unsafe"

	"github.com/confide/confide/oblivious/trace"
)

// Cache-line granularity. Under a threat model that sees which 64-byte
// lines are touched but not where within a line (caches, the memory bus
// and page tables all work in lines or coarser), an update at a secret
// index need not touch every element: touching every line once, and the
// right offset within each, is enough. This is part of the audited core:
// the offset within the line is computed from the secret through unsafe,
// which the leak checker cannot follow, and is the one thing that
// varies.

// LineFloats is how many float64 values a 64-byte cache line holds;
// LineFloat32s how many float32.
const (
	LineFloats   = 8
	LineFloat32s = 16
)

// AlignedFloat32s is AlignedFloats for float32.
func AlignedFloat32s(n int) []float32 { return aligned[float32](n) }

// AddPairLines32 is AddPairLines for float32: sixteen values, eight
// pairs, a line, so half the lines for the same number of pairs. Public:
// len(dst), a whole number of lines (AlignedFloat32s). Granularity:
// 64-byte cache line.
//
//confide:oblivious
//confide:secret i a b
func AddPairLines32(dst []float32, i uint64, a, b float32) {
	if len(dst)%LineFloat32s != 0 {
		panic("oblivious: AddPairLines32: not whole lines")
	}
	base := unsafe.Pointer(unsafe.SliceData(dst))
	off := uintptr(i&(LineFloat32s-2)) * 4
	target := i / LineFloat32s
	ab, bb := math.Float32bits(a), math.Float32bits(b)
	lines := len(dst) / LineFloat32s
	p := unsafe.Add(base, off)
	// Four lines a step: the loop's own work is a good part of a line's.
	l := 0
	for ; l+4 <= lines; l += 4 {
		trace.LineAccess(trace.OpWrite, base, l)
		trace.LineAccess(trace.OpWrite, base, l+1)
		trace.LineAccess(trace.OpWrite, base, l+2)
		trace.LineAccess(trace.OpWrite, base, l+3)
		m0, m1 := uint32(lineMask(uint64(l), target)), uint32(lineMask(uint64(l+1), target))
		m2, m3 := uint32(lineMask(uint64(l+2), target)), uint32(lineMask(uint64(l+3), target))
		q := (*[50]float32)(p) // lines l … l+3 from the pair's offset
		q[0] += math.Float32frombits(ab & m0)
		q[1] += math.Float32frombits(bb & m0)
		q[16] += math.Float32frombits(ab & m1)
		q[17] += math.Float32frombits(bb & m1)
		q[32] += math.Float32frombits(ab & m2)
		q[33] += math.Float32frombits(bb & m2)
		q[48] += math.Float32frombits(ab & m3)
		q[49] += math.Float32frombits(bb & m3)
		p = unsafe.Add(p, 256)
	}
	for ; l < lines; l++ {
		trace.LineAccess(trace.OpWrite, base, l)
		m := uint32(lineMask(uint64(l), target))
		p0 := (*[2]float32)(p)
		p0[0] += math.Float32frombits(ab & m)
		p0[1] += math.Float32frombits(bb & m)
		p = unsafe.Add(p, 64)
	}
}

// aligned returns n zeros (n rounded up to whole lines) starting on a
// 64-byte boundary.
func aligned[T float32 | float64 | uint64](n int) []T {
	per := int(64 / unsafe.Sizeof(T(0)))
	n = (n + per - 1) / per * per
	buf := make([]T, n+per)
	off := 0
	if r := uintptr(unsafe.Pointer(unsafe.SliceData(buf))) % 64; r != 0 {
		off = int((64 - r) / unsafe.Sizeof(T(0)))
	}
	return buf[off : off+n : off+n]
}

// lineMask is all ones when line l is the target line, else zero,
// without a branch.
func lineMask(l, target uint64) uint64 {
	d := l ^ target
	return ((d | -d) >> 63) - 1
}

// AlignedFloats returns n zeros (n rounded up to whole lines) starting on
// a 64-byte boundary, so that every group of LineFloats elements is one
// hardware cache line.
func AlignedFloats(n int) []float64 { return aligned[float64](n) }

// AddPairLines adds a to dst[i] and b to dst[i+1], for an even i, and
// adds zero at the same offset of every other line: every line of dst is
// read and written once, in order, whatever i. Public: len(dst), which
// must be a whole number of lines (AlignedFloats). Granularity: 64-byte
// cache line — the offset within each line is i mod 8. An i out of range
// changes nothing.
//
//confide:oblivious
//confide:secret i a b
func AddPairLines(dst []float64, i uint64, a, b float64) {
	if len(dst)%LineFloats != 0 {
		panic("oblivious: AddPairLines: not whole lines")
	}
	base := unsafe.Pointer(unsafe.SliceData(dst))
	off := uintptr(i&(LineFloats-2)) * 8 // even: a pair stays in its line
	target := i / LineFloats
	ab, bb := math.Float64bits(a), math.Float64bits(b)
	for l := range len(dst) / LineFloats {
		trace.LineAccess(trace.OpWrite, base, l)
		// All ones on the target line, else zero: the addends become
		// +0 (bits cleared, so an infinite addend cannot make NaN).
		m := lineMask(uint64(l), target)
		p := (*[2]float64)(unsafe.Add(base, uintptr(l)*64+off))
		p[0] += math.Float64frombits(ab & m)
		p[1] += math.Float64frombits(bb & m)
	}
}

// AlignedUint64s is AlignedFloats for uint64.
func AlignedUint64s(n int) []uint64 { return aligned[uint64](n) }

// ReadLine64 returns xs[i], reading every line of xs once, in order, at
// the offset i mod 8. Public: len(xs), a whole number of lines
// (AlignedUint64s). Granularity: 64-byte cache line. An i out of range
// returns 0.
//
//confide:oblivious
//confide:secret xs i
func ReadLine64(xs []uint64, i uint64) uint64 {
	if len(xs)%LineFloats != 0 {
		panic("oblivious: ReadLine64: not whole lines")
	}
	base := unsafe.Pointer(unsafe.SliceData(xs))
	off := uintptr(i%LineFloats) * 8
	target := i / LineFloats
	lines := len(xs) / LineFloats
	p := unsafe.Add(base, off)
	var out uint64
	// Four lines a step, as AddPairLines32.
	l := 0
	for ; l+4 <= lines; l += 4 {
		trace.LineAccess(trace.OpRead, base, l)
		trace.LineAccess(trace.OpRead, base, l+1)
		trace.LineAccess(trace.OpRead, base, l+2)
		trace.LineAccess(trace.OpRead, base, l+3)
		q := (*[25]uint64)(p) // lines l … l+3 at the offset
		out |= q[0]&lineMask(uint64(l), target) | q[8]&lineMask(uint64(l+1), target) |
			q[16]&lineMask(uint64(l+2), target) | q[24]&lineMask(uint64(l+3), target)
		p = unsafe.Add(p, 256)
	}
	for ; l < lines; l++ {
		trace.LineAccess(trace.OpRead, base, l)
		out |= *(*uint64)(p) & lineMask(uint64(l), target)
		p = unsafe.Add(p, 64)
	}
	return out
}

// ReadLineFloat is ReadLine64 for float64: xs[i], every line read once
// at the offset i mod 8. Public: len(xs), a whole number of lines
// (AlignedFloats). Granularity: 64-byte cache line.
//
//confide:oblivious
//confide:secret xs i
func ReadLineFloat(xs []float64, i uint64) float64 {
	ws := unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(xs))), len(xs))
	return math.Float64frombits(ReadLine64(ws, i))
}

// LineTable is a table of fields × n words, field-major, each field's n
// words on whole cache lines, so that eight rows share a line: a secret
// row's fields are read and written at cache-line granularity, a run of
// fields in one call. (What a trainer keeps per tree node, say.)
type LineTable struct {
	words  []uint64 //confide:secret
	stride int      // public: n rounded up to whole lines
}

// NewLineTable makes a table of zeros. Public: fields and n.
func NewLineTable(fields, n int) LineTable {
	stride := (n + LineFloats - 1) / LineFloats * LineFloats
	return LineTable{words: aligned[uint64](fields * stride), stride: stride}
}

// Set sets field f of row i, a public row.
func (t LineTable) Set(f, i int, v uint64) { t.words[f*t.stride+i] = v }

// Get returns field f of row i, a public row.
func (t LineTable) Get(f, i int) uint64 { return t.words[f*t.stride+i] }

// Read sets out[k] to field first+k of row i for every k, reading every
// line of those fields once, in order, at the offset i mod 8. Public:
// first and len(out). Granularity: 64-byte cache line. An i out of range
// reads zeros.
//
//confide:oblivious
//confide:secret i out
func (t LineTable) Read(i uint64, first int, out []uint64) {
	if (first+len(out))*t.stride > len(t.words) {
		panic("oblivious: LineTable.Read: no such field")
	}
	clear(out)
	base, p, lines, target := t.at(i, first)
	// Line by line, each field's word on it: one mask per line.
	for l := range lines {
		m := lineMask(uint64(l), target)
		q := p
		for k := range out {
			trace.LineAccess(trace.OpRead, base, (first+k)*lines+l)
			out[k] |= *(*uint64)(q) & m
			q = unsafe.Add(q, t.stride*8)
		}
		p = unsafe.Add(p, 64)
	}
}

// at returns where Read and Write start: the table, row i's offset in
// field first's first line, the lines per field and row i's line.
//
//confide:oblivious
//confide:secret i
func (t LineTable) at(i uint64, first int) (base, p unsafe.Pointer, lines int, target uint64) {
	base = unsafe.Pointer(unsafe.SliceData(t.words))
	return base, unsafe.Add(base, uintptr(first*t.stride)*8+uintptr(i%LineFloats)*8), t.stride / LineFloats, i / LineFloats
}

// Write sets field first+k of row i to vals[k] where masks[k] is True,
// reading and writing every line of those fields once, in order, at the
// offset i mod 8 (everything else keeps its value). Public: first and
// len(vals) (= len(masks)). Granularity: 64-byte cache line. An i out of
// range changes nothing.
//
//confide:oblivious
//confide:secret i vals masks
func (t LineTable) Write(i uint64, first int, vals []uint64, masks []Mask) {
	if (first+len(vals))*t.stride > len(t.words) || len(masks) != len(vals) {
		panic("oblivious: LineTable.Write: no such field")
	}
	masks = masks[:len(vals)]
	base, p, lines, target := t.at(i, first)
	for l := range lines {
		lm := lineMask(uint64(l), target)
		q := p
		for k, v := range vals {
			trace.LineAccess(trace.OpWrite, base, (first+k)*lines+l)
			w := (*uint64)(q)
			*w ^= lm & uint64(masks[k]) & (*w ^ v)
			q = unsafe.Add(q, t.stride*8)
		}
		p = unsafe.Add(p, 64)
	}
}
