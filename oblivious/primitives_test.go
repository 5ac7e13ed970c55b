package oblivious

// Unit and differential tests of the primitives: every mask function
// against Go's operators over edge values, record swaps over sizes and
// alignments, and Sort, Compact, Aggregate, Read and Write against naive
// references. This is an internal test so that it can count the sorting
// network's compare-exchanges (sortBy returns the count).

import (
	"bytes"
	"cmp"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unsafe"
)

// newRand returns a generator seeded from the test's name: runs are
// reproducible, and different tests draw different inputs.
func newRand(t testing.TB) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(t.Name()))
	return rand.New(rand.NewPCG(h.Sum64(), 0x0b11710))
}

func maskOf(b bool) Mask {
	if b {
		return True
	}
	return False
}

// edgeU64 are the unsigned values where a comparison built from narrower
// arithmetic (or crypto/subtle's 31-bit one) goes wrong.
var edgeU64 = []uint64{
	0, 1, 2, 3,
	1<<31 - 1, 1 << 31, 1<<31 + 1,
	1<<32 - 1, 1 << 32, 1<<32 + 1,
	1<<63 - 2, 1<<63 - 1, 1 << 63, 1<<63 + 1,
	math.MaxUint64 - 1, math.MaxUint64,
}

// valuesU64 is edgeU64, their neighbours' random companions, and random
// values of every magnitude.
func valuesU64(r *rand.Rand) []uint64 {
	vs := slices.Clone(edgeU64)
	for range 48 {
		vs = append(vs, r.Uint64()>>r.UintN(64))
	}
	return vs
}

var edgeI64 = []int64{
	math.MinInt64, math.MinInt64 + 1, -1 << 32, -1<<31 - 1, -1 << 31, -2, -1,
	0, 1, 2, 1<<31 - 1, 1 << 31, 1 << 32, math.MaxInt64 - 1, math.MaxInt64,
}

func TestMaskComparisons(t *testing.T) {
	r := newRand(t)
	vs := valuesU64(r)
	for _, a := range vs {
		for _, b := range vs {
			for _, c := range []struct {
				name string
				got  Mask
				want bool
			}{
				{"Lt", Lt(a, b), a < b},
				{"Le", Le(a, b), a <= b},
				{"Gt", Gt(a, b), a > b},
				{"Ge", Ge(a, b), a >= b},
				{"Eq", Eq(a, b), a == b},
			} {
				if c.got != maskOf(c.want) {
					t.Errorf("%s(%#x, %#x) = %#x, want %v", c.name, a, b, uint64(c.got), c.want)
				}
			}
		}
		if got := IsZero(a); got != maskOf(a == 0) {
			t.Errorf("IsZero(%#x) = %#x", a, uint64(got))
		}
	}
}

func TestMaskSigned(t *testing.T) {
	r := newRand(t)
	vs := slices.Clone(edgeI64)
	for range 32 {
		vs = append(vs, int64(r.Uint64())>>r.UintN(64))
	}
	for _, a := range vs {
		for _, b := range vs {
			if got := LtInt(a, b); got != maskOf(a < b) {
				t.Errorf("LtInt(%d, %d) = %#x", a, b, uint64(got))
			}
			if got := EqInt(a, b); got != maskOf(a == b) {
				t.Errorf("EqInt(%d, %d) = %#x", a, b, uint64(got))
			}
			for _, m := range []Mask{True, False} {
				want := b
				if m == True {
					want = a
				}
				if got := SelectInt(m, a, b); got != want {
					t.Errorf("SelectInt(%#x, %d, %d) = %d", uint64(m), a, b, got)
				}
			}
		}
	}
}

func TestMaskAlgebra(t *testing.T) {
	for _, a := range []bool{false, true} {
		ma := maskOf(a)
		if ma.Not() != maskOf(!a) {
			t.Errorf("Not(%v) wrong", a)
		}
		if ma.Bit() != map[bool]uint64{false: 0, true: 1}[a] {
			t.Errorf("Bit(%v) = %d", a, ma.Bit())
		}
		if FromBit(ma.Bit()) != ma {
			t.Errorf("FromBit(Bit(%v)) wrong", a)
		}
		for _, b := range []bool{false, true} {
			mb := maskOf(b)
			if ma.And(mb) != maskOf(a && b) || ma.Or(mb) != maskOf(a || b) || ma.AndNot(mb) != maskOf(a && !b) {
				t.Errorf("And/Or/AndNot(%v, %v) wrong", a, b)
			}
		}
	}
	if True != Mask(math.MaxUint64) || False != 0 {
		t.Error("True or False is not all ones or all zeros")
	}
}

func TestSelect(t *testing.T) {
	r := newRand(t)
	vs := valuesU64(r)
	for _, a := range vs {
		for _, b := range vs {
			if Select(True, a, b) != a || Select(False, a, b) != b {
				t.Errorf("Select(·, %#x, %#x) wrong", a, b)
			}
			x, y := a, b
			CondSwap64(False, &x, &y)
			if x != a || y != b {
				t.Errorf("CondSwap64(False, %#x, %#x) changed them", a, b)
			}
			CondSwap64(True, &x, &y)
			if x != b || y != a {
				t.Errorf("CondSwap64(True, %#x, %#x) = %#x, %#x", a, b, x, y)
			}
		}
	}
	// The same variable on both sides.
	x := uint64(42)
	CondSwap64(True, &x, &x)
	if x != 42 {
		t.Errorf("CondSwap64 of a value with itself gave %d", x)
	}
	// SelectFloat moves bits: NaN payloads and the sign of zero survive.
	for _, f := range floatValues() {
		for _, g := range []float64{math.Copysign(0, -1), math.NaN(), 1.5} {
			if math.Float64bits(SelectFloat(True, f, g)) != math.Float64bits(f) ||
				math.Float64bits(SelectFloat(False, g, f)) != math.Float64bits(f) {
				t.Errorf("SelectFloat lost the bits of %v (%#x)", f, math.Float64bits(f))
			}
		}
	}
}

// floatValues are floats in IEEE 754 totalOrder, from the least to the
// greatest, with no two having the same bits.
func floatValues() []float64 {
	bits := math.Float64frombits
	return []float64{
		bits(0xFFF8_0000_0000_0001), // −NaN with a larger payload
		bits(0xFFF8_0000_0000_0000), // −NaN (quiet)
		bits(0xFFF0_0000_0000_0001), // −NaN (signalling)
		math.Inf(-1),
		-math.MaxFloat64,
		-1 << 53,
		-1.5,
		-1,
		-math.SmallestNonzeroFloat64 * 2,
		-math.SmallestNonzeroFloat64,
		math.Copysign(0, -1),
		0,
		math.SmallestNonzeroFloat64,
		math.SmallestNonzeroFloat64 * 2,
		0x1p-1022, // smallest normal
		1,
		1.5,
		1 << 53,
		math.MaxFloat64,
		math.Inf(1),
		bits(0x7FF0_0000_0000_0001), // +NaN (signalling)
		bits(0x7FF8_0000_0000_0000), // +NaN (quiet)
		bits(0x7FF8_0000_0000_0001), // math.NaN()
	}
}

func TestFloatOrder(t *testing.T) {
	fs := floatValues()
	for i, a := range fs {
		for j, b := range fs {
			// floatValues is in total order: indexes are the reference.
			if got := LtFloat(a, b); got != maskOf(i < j) {
				t.Errorf("LtFloat(%v [%#x], %v [%#x]) = %#x, want %v",
					a, math.Float64bits(a), b, math.Float64bits(b), uint64(got), i < j)
			}
			if got := Lt(FloatKey(a), FloatKey(b)); got != maskOf(i < j) {
				t.Errorf("FloatKey order wrong for %v, %v", a, b)
			}
			// Against Go's < where it is defined and agrees: no NaN, and
			// not −0 against +0 (equal for <, ordered by FloatKey).
			if math.IsNaN(a) || math.IsNaN(b) || (a == 0 && b == 0) {
				continue
			}
			if got := LtFloat(a, b); got != maskOf(a < b) {
				t.Errorf("LtFloat(%v, %v) disagrees with <", a, b)
			}
		}
	}
	if LtFloat(math.Copysign(0, -1), 0) != True || LtFloat(0, math.Copysign(0, -1)) != False {
		t.Error("−0 is not below +0")
	}
	// Random floats against the bit-level definition of totalOrder.
	r := newRand(t)
	ref := func(a, b float64) bool {
		sa, sb := math.Signbit(a), math.Signbit(b)
		if sa != sb {
			return sa
		}
		ma, mb := math.Float64bits(a)&^(1<<63), math.Float64bits(b)&^(1<<63)
		if sa {
			return ma > mb
		}
		return ma < mb
	}
	for range 100000 {
		a, b := math.Float64frombits(r.Uint64()), math.Float64frombits(r.Uint64())
		if r.IntN(4) == 0 {
			b = math.Float64frombits(math.Float64bits(a) ^ 1<<r.UintN(64))
		}
		if got := LtFloat(a, b); got != maskOf(ref(a, b)) {
			t.Fatalf("LtFloat(%#x, %#x) = %#x", math.Float64bits(a), math.Float64bits(b), uint64(got))
		}
	}
}

func TestBytes(t *testing.T) {
	r := newRand(t)
	for n := range 70 {
		a, b := make([]byte, n), make([]byte, n)
		for i := range a {
			a[i], b[i] = byte(r.Uint32()), byte(r.Uint32())
		}
		a0, b0 := slices.Clone(a), slices.Clone(b)

		CondSwapBytes(False, a, b)
		if !bytes.Equal(a, a0) || !bytes.Equal(b, b0) {
			t.Fatalf("n=%d: CondSwapBytes(False) changed its arguments", n)
		}
		CondSwapBytes(True, a, b)
		if !bytes.Equal(a, b0) || !bytes.Equal(b, a0) {
			t.Fatalf("n=%d: CondSwapBytes(True) did not swap", n)
		}
		CondCopyBytes(False, a, b)
		if !bytes.Equal(a, b0) || !bytes.Equal(b, a0) {
			t.Fatalf("n=%d: CondCopyBytes(False) changed its arguments", n)
		}
		CondCopyBytes(True, a, b)
		if !bytes.Equal(a, a0) || !bytes.Equal(b, a0) {
			t.Fatalf("n=%d: CondCopyBytes(True) did not copy", n)
		}

		// EqBytes with every single-byte and random differences.
		if EqBytes(a, b) != True {
			t.Fatalf("n=%d: EqBytes of equal slices is not True", n)
		}
		for i := range n {
			c := slices.Clone(a)
			c[i] ^= 1 << r.UintN(8)
			if EqBytes(a, c) != False {
				t.Fatalf("n=%d: EqBytes misses a difference at %d", n, i)
			}
		}
		if got := EqBytes(a0, b0); got != maskOf(bytes.Equal(a0, b0)) {
			t.Fatalf("n=%d: EqBytes(random) = %#x", n, uint64(got))
		}
	}
	for name, f := range map[string]func(){
		"CondCopyBytes": func() { CondCopyBytes(True, make([]byte, 3), make([]byte, 4)) },
		"CondSwapBytes": func() { CondSwapBytes(True, make([]byte, 4), make([]byte, 3)) },
		"EqBytes":       func() { EqBytes(nil, []byte{0}) },
	} {
		mustPanic(t, name+" with unequal lengths", "", f)
	}
}

// mustPanic requires f to panic with a message containing want.
func mustPanic(t *testing.T, what, want string, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		v := recover()
		if v == nil {
			t.Errorf("%s did not panic", what)
			return
		}
		var msg string
		switch v := v.(type) {
		case error:
			msg = v.Error()
		case string:
			msg = v
		}
		if !strings.Contains(msg, want) {
			t.Errorf("%s panicked with %q, want it to mention %q", what, msg, want)
		}
	}()
	f()
}

// Record types of the sizes and alignments the swaps must handle. Those
// with alignment below 8 sit at addresses that are not multiples of 8 in
// a slice, where a *uint64 view would be misaligned (checkptr, on under
// -race, rejects the conversion).
type (
	rec1a1  [1]byte
	rec3a1  [3]byte
	rec8a1  [8]byte
	rec8a4  [2]uint32
	rec8a8  struct{ A uint64 }
	rec12a1 [12]byte
	rec12a4 struct{ A, B, C uint32 }
	rec24a1 [24]byte
	rec24a4 [6]float32
	rec24a8 struct {
		A int64
		B float64
		C uint64
	}
	rec40a1 [40]byte
	rec40a4 struct {
		A [9]int32
		B bool
	}
	rec40a8 struct {
		A [4]uint64
		B uint8 // 7 bytes of padding follow; they are swapped too.
	}
	rec0 struct{}
)

// bytesOf views the memory of the n records at p.
func bytesOf[R any](p *R, n int) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(p)), n*int(unsafe.Sizeof(*p)))
}

func fillRandom[R any](r *rand.Rand, rs []R) {
	if len(rs) == 0 {
		return
	}
	b := bytesOf(&rs[0], len(rs))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
}

func testRecordSwaps[R any](t *testing.T, size, align uintptr) {
	t.Helper()
	var x R
	if unsafe.Sizeof(x) != size || unsafe.Alignof(x) != align {
		t.Fatalf("%T: size %d align %d, the table says %d, %d",
			x, unsafe.Sizeof(x), unsafe.Alignof(x), size, align)
	}
	if err := CheckRecord[R](); err != nil {
		t.Fatalf("CheckRecord: %v", err)
	}
	r := newRand(t)
	const n = 9
	rs := make([]R, n)
	misaligned := false
	for i := range rs {
		misaligned = misaligned || uintptr(unsafe.Pointer(&rs[i]))%8 != 0
	}
	if size > 0 && size%8 != 0 && !misaligned {
		t.Fatalf("%T: no record of the slice is misaligned for uint64; the test would not exercise checkptr", x)
	}
	rec := func(i int) []byte { return bytesOf(&rs[i], 1) }
	for i := range n {
		for j := range n {
			for _, m := range []Mask{False, True} {
				fillRandom(r, rs)
				before := slices.Clone(bytesOf(&rs[0], n))
				old := func(k int) []byte { return before[k*int(size) : (k+1)*int(size)] }
				check := func(op string, want func(k int) []byte) {
					t.Helper()
					for k := range n {
						if !bytes.Equal(rec(k), want(k)) {
							t.Fatalf("%T %s(%#x, &rs[%d], &rs[%d]): rs[%d] = %x, want %x",
								x, op, uint64(m), i, j, k, rec(k), want(k))
						}
					}
				}

				CondSwap(m, &rs[i], &rs[j])
				check("CondSwap", func(k int) []byte {
					switch {
					case m == True && k == i:
						return old(j)
					case m == True && k == j:
						return old(i)
					}
					return old(k)
				})

				copy(bytesOf(&rs[0], n), before)
				CondMove(m, &rs[i], &rs[j])
				check("CondMove", func(k int) []byte {
					if m == True && k == i {
						return old(j)
					}
					return old(k)
				})

				copy(bytesOf(&rs[0], n), before)
				got := SelectRecord(m, rs[i], rs[j])
				want := old(j)
				if m == True {
					want = old(i)
				}
				if !bytes.Equal(bytesOf(&got, 1), want) {
					t.Fatalf("%T SelectRecord(%#x, rs[%d], rs[%d]) = %x, want %x", x, uint64(m), i, j, bytesOf(&got, 1), want)
				}
				check("SelectRecord", old)
			}
		}
	}
}

func TestRecordSwaps(t *testing.T) {
	t.Run("1a1", func(t *testing.T) { testRecordSwaps[rec1a1](t, 1, 1) })
	t.Run("3a1", func(t *testing.T) { testRecordSwaps[rec3a1](t, 3, 1) })
	t.Run("8a1", func(t *testing.T) { testRecordSwaps[rec8a1](t, 8, 1) })
	t.Run("8a4", func(t *testing.T) { testRecordSwaps[rec8a4](t, 8, 4) })
	t.Run("8a8", func(t *testing.T) { testRecordSwaps[rec8a8](t, 8, 8) })
	t.Run("12a1", func(t *testing.T) { testRecordSwaps[rec12a1](t, 12, 1) })
	t.Run("12a4", func(t *testing.T) { testRecordSwaps[rec12a4](t, 12, 4) })
	t.Run("24a1", func(t *testing.T) { testRecordSwaps[rec24a1](t, 24, 1) })
	t.Run("24a4", func(t *testing.T) { testRecordSwaps[rec24a4](t, 24, 4) })
	t.Run("24a8", func(t *testing.T) { testRecordSwaps[rec24a8](t, 24, 8) })
	t.Run("40a1", func(t *testing.T) { testRecordSwaps[rec40a1](t, 40, 1) })
	t.Run("40a4", func(t *testing.T) { testRecordSwaps[rec40a4](t, 40, 4) })
	t.Run("40a8", func(t *testing.T) { testRecordSwaps[rec40a8](t, 40, 8) })
	t.Run("0", func(t *testing.T) { testRecordSwaps[rec0](t, 0, 1) })
}

// badRec is keyed, grouped and otherwise usable, but holds a string.
type badRec struct {
	K    uint64
	Name string
}

func (b badRec) Key() uint64   { return b.K }
func (b badRec) Group() uint64 { return b.K }
func (b badRec) Value() uint64 { return b.K }

func TestCheckRecord(t *testing.T) {
	type inner struct {
		A [2]struct{ X, Y int32 }
		B complex128
	}
	for name, err := range map[string]error{
		"uint64":            CheckRecord[uint64](),
		"bool":              CheckRecord[bool](),
		"uintptr":           CheckRecord[uintptr](),
		"complex64":         CheckRecord[complex64](),
		"[0]byte":           CheckRecord[[0]byte](),
		"[4][3]float32":     CheckRecord[[4][3]float32](),
		"struct{}":          CheckRecord[struct{}](),
		"nested struct":     CheckRecord[struct{ I [3]inner }](),
		"named array":       CheckRecord[rec40a1](),
		"struct with blank": CheckRecord[struct{ _ [3]byte }](),
	} {
		if err != nil {
			t.Errorf("%s rejected: %v", name, err)
		}
	}
	for name, err := range map[string]error{
		"pointer":           CheckRecord[*uint64](),
		"unsafe.Pointer":    CheckRecord[unsafe.Pointer](),
		"slice":             CheckRecord[[]byte](),
		"string":            CheckRecord[string](),
		"map":               CheckRecord[map[int]int](),
		"interface":         CheckRecord[any](),
		"error":             CheckRecord[error](),
		"Keyed":             CheckRecord[Keyed](),
		"chan":              CheckRecord[chan int](),
		"func":              CheckRecord[func()](),
		"array of pointers": CheckRecord[[2]*int](),
		"array of strings":  CheckRecord[[0]string](), // no element, still a pointer type
		"struct field":      CheckRecord[badRec](),
		"deep field": CheckRecord[struct {
			A [1]struct{ B struct{ C []int } }
		}](),
	} {
		if err == nil {
			t.Errorf("%s accepted", name)
		} else if !strings.HasPrefix(err.Error(), "oblivious: ") {
			t.Errorf("%s: error %q lacks the package prefix", name, err)
		}
	}
	// Every entry point that takes records checks them.
	bad := []badRec{{K: 2}, {K: 1}}
	mustPanic(t, "Sort of a record with a string", "not a valid record", func() { Sort(bad) })
	mustPanic(t, "Compact of a record with a string", "not a valid record", func() { Compact(bad, []Mask{True, False}) })
	mustPanic(t, "Read of a record with a string", "not a valid record", func() { Read(bad, 0) })
	mustPanic(t, "Write of a record with a string", "not a valid record", func() { Write(bad, 0, badRec{}) })
}

// sortRec is a sort record whose value records where it came from, so that a
// sort that moved keys without their records is caught.
type sortRec struct{ K, V uint64 }

func (r sortRec) Key() uint64 { return r.K }

// sortRec7 is a 7-byte-plus-padding record with alignment 4: Sort moves it
// through the byte path of CondSwap.
type sortRec7 struct {
	K   uint32
	Tag [3]byte
}

func (r sortRec7) Key() uint64 { return uint64(r.K) }

// keyPatterns are the key distributions of the differential tests.
var keyPatterns = []struct {
	name string
	gen  func(r *rand.Rand, n int) []uint64
}{
	{"random", func(r *rand.Rand, n int) []uint64 {
		k := make([]uint64, n)
		for i := range k {
			k[i] = r.Uint64()
		}
		return k
	}},
	{"duplicates", func(r *rand.Rand, n int) []uint64 {
		k := make([]uint64, n)
		for i := range k {
			k[i] = r.Uint64N(4)
		}
		return k
	}},
	{"edges", func(r *rand.Rand, n int) []uint64 {
		k := make([]uint64, n)
		for i := range k {
			k[i] = edgeU64[r.IntN(len(edgeU64))]
		}
		return k
	}},
	{"sorted", func(r *rand.Rand, n int) []uint64 {
		k := make([]uint64, n)
		for i := range k {
			k[i] = uint64(i) * 3
		}
		return k
	}},
	{"reversed", func(r *rand.Rand, n int) []uint64 {
		k := make([]uint64, n)
		for i := range k {
			k[i] = uint64(n-i) << 40
		}
		return k
	}},
	{"equal", func(r *rand.Rand, n int) []uint64 { return make([]uint64, n) }},
}

// sortLengths are 0..70 and larger lengths around powers of two.
func sortLengths() []int {
	var ns []int
	for n := range 71 {
		ns = append(ns, n)
	}
	return append(ns, 127, 128, 129, 1000, 1023, 1024, 1025, 3001, 4096)
}

func TestSortDifferential(t *testing.T) {
	r := newRand(t)
	for _, p := range keyPatterns {
		for _, n := range sortLengths() {
			keys := p.gen(r, n)
			want := slices.Clone(keys)
			slices.Sort(want)

			// SortUint64.
			got := slices.Clone(keys)
			SortUint64(got)
			if !slices.Equal(got, want) {
				t.Fatalf("%s n=%d: SortUint64 = %v, want %v", p.name, n, got, want)
			}

			// Sort of 16-byte records: keys ascending, records whole and
			// a permutation of the input.
			rs := make([]sortRec, n)
			for i := range rs {
				rs[i] = sortRec{K: keys[i], V: keys[i]*0x9E3779B97F4A7C15 ^ uint64(i)}
			}
			Sort(rs)
			seen := make([]bool, n)
			for i, x := range rs {
				if x.K != want[i] {
					t.Fatalf("%s n=%d: Sort key %d is %#x, want %#x", p.name, n, i, x.K, want[i])
				}
				from := x.V ^ x.K*0x9E3779B97F4A7C15
				if from >= uint64(n) || seen[from] || keys[from] != x.K {
					t.Fatalf("%s n=%d: Sort record %d = %+v was not moved whole", p.name, n, i, x)
				}
				seen[from] = true
			}

			// Sort of 8-byte, 4-aligned records (byte-wise swaps).
			r7 := make([]sortRec7, n)
			for i := range r7 {
				r7[i] = sortRec7{K: uint32(keys[i] >> 32), Tag: [3]byte{byte(i), byte(i >> 8), byte(keys[i] >> 32)}}
			}
			Sort(r7)
			if !slices.IsSortedFunc(r7, func(a, b sortRec7) int { return cmp.Compare(a.K, b.K) }) {
				t.Fatalf("%s n=%d: Sort of sortRec7 is not sorted", p.name, n)
			}
			seen = make([]bool, n)
			for _, x := range r7 {
				from := int(x.Tag[0]) | int(x.Tag[1])<<8
				if from >= n || seen[from] || x.Tag[2] != byte(x.K) || uint32(keys[from]>>32) != x.K {
					t.Fatalf("%s n=%d: sortRec7 record %+v was not moved whole", p.name, n, x)
				}
				seen[from] = true
			}
		}
	}
}

// TestSortingNetwork checks by the 0-1 principle that the network sorts
// every input for n ≤ 16: a comparator network sorts all inputs if and
// only if it sorts all 2^n sequences of zeros and ones.
func TestSortingNetwork(t *testing.T) {
	for n := range 17 {
		keys := make([]uint64, n)
		for bitsIn := range uint64(1) << n {
			ones := 0
			for i := range keys {
				keys[i] = bitsIn >> i & 1
				ones += int(keys[i])
			}
			SortUint64(keys)
			for i, k := range keys {
				want := uint64(0)
				if i >= n-ones {
					want = 1
				}
				if k != want {
					t.Fatalf("n=%d: input %0*b sorts to %v", n, n, bitsIn, keys)
				}
			}
		}
	}
}

// TestNetworkSize checks the compare-exchange count of the network that
// actually runs against NetworkSize, and NetworkSize against the closed
// form for powers of two.
func TestNetworkSize(t *testing.T) {
	ns := []int{}
	for n := range 600 {
		ns = append(ns, n)
	}
	for k := 10; k <= 15; k++ {
		ns = append(ns, 1<<k-1, 1<<k, 1<<k+1)
	}
	ns = append(ns, 20011)
	for _, n := range ns {
		keys := make([]uint64, n)
		if got, want := sortBy[struct{}](keys, nil), NetworkSize(n); got != want {
			t.Errorf("n=%d: the network did %d compare-exchanges, NetworkSize says %d", n, got, want)
		}
	}
	for k := range 31 {
		n := 1 << k
		if got, want := NetworkSize(n), n*k*(k+1)/4; got != want {
			t.Errorf("NetworkSize(2^%d) = %d, want n·k·(k+1)/4 = %d", k, got, want)
		}
	}
	// With records, the count is the same: records ride along.
	rs := make([]sortRec, 777)
	keys := make([]uint64, len(rs))
	if got := sortBy(keys, rs); got != NetworkSize(len(rs)) {
		t.Errorf("sortBy with records: %d compare-exchanges, want %d", got, NetworkSize(len(rs)))
	}
}

func TestCompactDifferential(t *testing.T) {
	r := newRand(t)
	for _, prob := range []float64{0, 0.1, 0.5, 0.9, 1} {
		for _, n := range sortLengths() {
			rs := make([]sortRec, n)
			keep := make([]Mask, n)
			var want []sortRec
			for i := range rs {
				rs[i] = sortRec{K: r.Uint64(), V: uint64(i)}
				if r.Float64() < prob {
					keep[i] = True
					want = append(want, rs[i])
				}
			}
			keep0 := slices.Clone(keep)
			got := Compact(rs, keep)
			if got != uint64(len(want)) {
				t.Fatalf("p=%v n=%d: Compact kept %d, want %d", prob, n, got, len(want))
			}
			if !slices.Equal(rs[:len(want)], want) {
				t.Fatalf("p=%v n=%d: Compact front = %v, want %v", prob, n, rs[:len(want)], want)
			}
			for i, x := range rs[len(want):] {
				if x != (sortRec{}) {
					t.Fatalf("p=%v n=%d: Compact left %+v at %d, want zero", prob, n, x, len(want)+i)
				}
			}
			if !slices.Equal(keep, keep0) {
				t.Fatalf("p=%v n=%d: Compact changed keep", prob, n)
			}
		}
	}
	// Small records take the byte path.
	b := []rec3a1{{1}, {2}, {3}, {4}, {5}}
	if n := Compact(b, []Mask{False, True, False, True, True}); n != 3 ||
		!slices.Equal(b, []rec3a1{{2}, {4}, {5}, {}, {}}) {
		t.Errorf("Compact of 3-byte records: %d, %v", n, b)
	}
	mustPanic(t, "Compact with mismatched lengths", "mismatched", func() { Compact(make([]sortRec, 3), make([]Mask, 2)) })
}

// groupRec is an Aggregate input row.
type groupRec struct{ G, V uint64 }

func (r groupRec) Group() uint64 { return r.G }
func (r groupRec) Value() uint64 { return r.V }

// aggregateLengths are fewer than sortLengths: 20 input distributions
// run at each.
var aggregateLengths = []int{0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33, 64, 65, 100, 1025}

func aggregateRef(rs []groupRec) []Group {
	m := map[uint64]*Group{}
	for _, r := range rs {
		g, ok := m[r.G]
		if !ok {
			g = &Group{Key: r.G, Min: r.V, Max: r.V}
			m[r.G] = g
		}
		g.Sum += r.V
		g.Count++
		g.Min = min(g.Min, r.V)
		g.Max = max(g.Max, r.V)
	}
	var out []Group
	for _, g := range m {
		out = append(out, *g)
	}
	slices.SortFunc(out, func(a, b Group) int { return cmp.Compare(a.Key, b.Key) })
	return out
}

func TestAggregateDifferential(t *testing.T) {
	r := newRand(t)
	groupGens := map[string]func(n int) uint64{
		"one":      func(int) uint64 { return 7 },
		"few":      func(int) uint64 { return r.Uint64N(5) },
		"many":     func(n int) uint64 { return r.Uint64N(uint64(n/2 + 1)) },
		"distinct": func(int) uint64 { return r.Uint64() },
		"edges":    func(int) uint64 { return edgeU64[r.IntN(len(edgeU64))] },
	}
	valueGens := map[string]func() uint64{
		"small":  func() uint64 { return r.Uint64N(1000) },
		"large":  func() uint64 { return r.Uint64() }, // sums wrap
		"signed": func() uint64 { return uint64(r.Int64N(2001) - 1000) },
		"edges":  func() uint64 { return edgeU64[r.IntN(len(edgeU64))] },
	}
	for gname, ggen := range groupGens {
		for vname, vgen := range valueGens {
			for _, n := range aggregateLengths {
				rs := make([]groupRec, n)
				for i := range rs {
					rs[i] = groupRec{G: ggen(n), V: vgen()}
				}
				in := slices.Clone(rs)
				want := aggregateRef(rs)
				groups, got := Aggregate(rs)
				if !slices.Equal(rs, in) {
					t.Fatalf("%s/%s n=%d: Aggregate changed its input", gname, vname, n)
				}
				if len(groups) != n {
					t.Fatalf("%s/%s n=%d: Aggregate returned %d groups, want the public length %d", gname, vname, n, len(groups), n)
				}
				if got != uint64(len(want)) {
					t.Fatalf("%s/%s n=%d: Aggregate found %d groups, want %d", gname, vname, n, got, len(want))
				}
				if !slices.Equal(groups[:got], want) {
					t.Fatalf("%s/%s n=%d: Aggregate = %+v, want %+v", gname, vname, n, groups[:got], want)
				}
				for i, g := range groups[got:] {
					if g != (Group{}) {
						t.Fatalf("%s/%s n=%d: Aggregate left %+v at %d, want zero", gname, vname, n, g, int(got)+i)
					}
				}
			}
		}
	}
	// Signed sums in two's complement.
	groups, n := Aggregate([]groupRec{{1, uint64(-5 & math.MaxUint64)}, {1, 3}, {0, 1}})
	if n != 2 || int64(groups[1].Sum) != -2 || groups[0] != (Group{Key: 0, Sum: 1, Count: 1, Min: 1, Max: 1}) {
		t.Errorf("Aggregate with negative values: %+v, %d", groups, n)
	}
}

// outOfRange are secret indexes that Read must answer with the zero
// record and Write must ignore, including ones whose low 32 bits are in
// range (a comparison on a truncated index would take them).
func outOfRange(n int) []uint64 {
	return []uint64{
		uint64(n), uint64(n) + 1, 1 << 31, 1 << 32, 1<<32 + 1, 1<<32 + uint64(n) - 1,
		1 << 63, 1<<63 + 1, math.MaxUint64 - 1, math.MaxUint64,
	}
}

func testReadWrite[R any](t *testing.T) {
	r := newRand(t)
	var zero R
	for _, n := range []int{0, 1, 2, 3, 7, 16, 33} {
		rs := make([]R, n)
		fillRandom(r, rs)
		idx := []uint64{}
		for i := range n {
			idx = append(idx, uint64(i))
		}
		idx = append(idx, outOfRange(n)...)
		for _, i := range idx {
			want := zero
			if i < uint64(n) {
				want = rs[i]
			}
			if got := Read(rs, i); !bytes.Equal(bytesOf(&got, 1), bytesOf(&want, 1)) {
				t.Fatalf("n=%d: Read(%#x) = %x, want %x", n, i, bytesOf(&got, 1), bytesOf(&want, 1))
			}

			var v [1]R
			fillRandom(r, v[:])
			wantAll := slices.Clone(rs)
			if i < uint64(n) {
				wantAll[i] = v[0]
			}
			Write(rs, i, v[0])
			if n > 0 && !bytes.Equal(bytesOf(&rs[0], n), bytesOf(&wantAll[0], n)) {
				t.Fatalf("n=%d: Write(%#x) gave %x, want %x", n, i, bytesOf(&rs[0], n), bytesOf(&wantAll[0], n))
			}
		}
	}
}

func TestReadWrite(t *testing.T) {
	t.Run("sortRec", testReadWrite[sortRec])
	t.Run("3a1", testReadWrite[rec3a1])
	t.Run("12a4", testReadWrite[rec12a4])
	t.Run("40a8", testReadWrite[rec40a8])
	t.Run("0", testReadWrite[rec0])
}

// LtFinite agrees with LtFloat on every pair of finite values (−0 < +0
// included), random ones too.
func TestLtFinite(t *testing.T) {
	fs := []float64{}
	for _, f := range floatValues() {
		if !math.IsNaN(f) && !math.IsInf(f, 0) {
			fs = append(fs, f)
		}
	}
	r := newRand(t)
	for range 2000 {
		fs = append(fs, math.Float64frombits(r.Uint64()&^(0x7ff<<52)|uint64(r.IntN(0x7ff))<<52))
	}
	for _, a := range fs {
		for _, b := range fs {
			if got, want := LtFinite(a, b), LtFloat(a, b); got != want {
				t.Fatalf("LtFinite(%v, %v) = %#x, LtFloat %#x", a, b, uint64(got), uint64(want))
			}
		}
	}
}

func TestByteAt(t *testing.T) {
	ws := []uint64{0x0706050403020100, 0x0f0e0d0c0b0a0908, 0x17161514131211ff}
	for i := range uint64(24) {
		want := i
		if i == 16 {
			want = 0xff
		}
		if got := ByteAt(ws, i); got != want {
			t.Fatalf("ByteAt(%d) = %#x, want %#x", i, got, want)
		}
	}
	if got := ByteAt(ws, 24); got != 0 {
		t.Fatalf("out of range: %#x", got)
	}
}

func TestSortRows(t *testing.T) {
	r := newRand(t)
	for _, n := range []int{0, 1, 2, 7, 100, 1000} {
		keys := make([]uint64, n)
		rows := make([]uint64, 3*n)
		for i := range keys {
			keys[i] = r.Uint64N(50)
			rows[3*i], rows[3*i+1], rows[3*i+2] = keys[i], uint64(i), ^keys[i]
		}
		SortRows(keys, rows, 3)
		seen := make([]bool, n)
		for i := range n {
			if i > 0 && keys[i-1] > keys[i] {
				t.Fatalf("n=%d: keys not sorted at %d", n, i)
			}
			if rows[3*i] != keys[i] || rows[3*i+2] != ^keys[i] || seen[rows[3*i+1]] {
				t.Fatalf("n=%d: row %d does not travel with its key", n, i)
			}
			seen[rows[3*i+1]] = true
		}
	}
}
