package oblivious

// A dudect-style timing test (O. Reparaz, J. Balasch, I. Verbauwhede,
// "Dude, is my code constant time?", DATE 2017) of the building blocks
// and of a few primitives.
//
// For each target, samples of two classes are interleaved in random
// order: class 0 calls the function on one fixed input, class 1 on fresh
// random inputs. A sample times a batch of calls with the monotonic clock.
// The inputs of a chunk of samples are prepared before any of them is
// timed, so that preparing random inputs does not run between a sample's
// clock readings. Then, as dudect does, the samples are cropped at several
// percentiles (keeping those below the p-th percentile, for p from 6.7%
// to 99.9%, plus no cropping) and Welch's t statistic between the classes
// is computed for each; the test fails when any |t| exceeds 10, dudect's
// "definitely not constant time" level (4.5 is its "probably"; on a
// shared two-core machine 10 keeps false alarms away). A positive
// control — bytes.Equal of 4 KiB, equal (fixed) or differing at the first
// byte (random) — must exceed the threshold, so the test can fail.
//
// Each target runs for a time budget rather than a fixed number of
// samples (extended up to four times when too few samples fit), and a
// sample's batch shrinks when one batch takes too long, so the test stays
// short under -race or coverage, where every call is slower, at the cost
// of fewer samples.

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"
)

const (
	dudectThreshold  = 10
	dudectBudget     = 120 * time.Millisecond // per target
	dudectChunk      = 32                     // samples prepared, then timed
	dudectMinSample  = 500                    // per class, or the test fails
	dudectSampleTime = 10 * time.Microsecond  // median time of a sample, at most
)

// dudectTarget is a function under test. Its inputs are width words per
// call; run makes calls calls on in (calls·width words) and returns a
// value that depends on every result, so that the calls cannot be
// optimized away.
type dudectTarget struct {
	name   string
	width  int
	calls  int
	fixed  []uint64                        // class 0's input for each call
	random func(r *rand.Rand, in []uint64) // class 1's input for one call
	run    func(in []uint64, calls int) uint64
}

var dudectSink uint64

// u64Pair is a target over two words, each call given (a, b).
func u64Pair(name string, fixedA, fixedB uint64, f func(a, b uint64) uint64) dudectTarget {
	return dudectTarget{
		name: name, width: 2, calls: 256,
		fixed:  []uint64{fixedA, fixedB},
		random: func(r *rand.Rand, in []uint64) { in[0], in[1] = r.Uint64(), r.Uint64() },
		run: func(in []uint64, calls int) uint64 {
			var acc uint64
			for i := range calls {
				acc ^= f(in[2*i], in[2*i+1])
			}
			return acc
		},
	}
}

// maskTarget is a target over a secret mask (the low bit of one word).
func maskTarget(name string, calls int, f func(m Mask) uint64) dudectTarget {
	return dudectTarget{
		name: name, width: 1, calls: calls,
		fixed:  []uint64{0},
		random: func(r *rand.Rand, in []uint64) { in[0] = r.Uint64() },
		run: func(in []uint64, calls int) uint64 {
			var acc uint64
			for i := range calls {
				acc ^= f(FromBit(in[i]))
			}
			return acc
		},
	}
}

func f64(x uint64) float64 { return math.Float64frombits(x) }

func dudectTargets() []dudectTarget {
	var x, y rec40a4
	var p, q rec24a8
	x.A[0], y.A[8] = 1, 2
	buf := make([]byte, 2*64)
	table := make([]sortRec, 64)
	for i := range table {
		table[i] = sortRec{uint64(i), uint64(i) * 3}
	}
	recs := make([]sortRec, 16)
	return []dudectTarget{
		u64Pair("Lt", 0, 0, func(a, b uint64) uint64 { return uint64(Lt(a, b)) }),
		u64Pair("Le", 0, 0, func(a, b uint64) uint64 { return uint64(Le(a, b)) }),
		u64Pair("Gt", 0, 0, func(a, b uint64) uint64 { return uint64(Gt(a, b)) }),
		u64Pair("Ge", 0, 0, func(a, b uint64) uint64 { return uint64(Ge(a, b)) }),
		u64Pair("Eq", 7, 7, func(a, b uint64) uint64 { return uint64(Eq(a, b)) }),
		u64Pair("IsZero", 0, 0, func(a, _ uint64) uint64 { return uint64(IsZero(a)) }),
		u64Pair("LtInt", 1<<63, 1<<63, func(a, b uint64) uint64 { return uint64(LtInt(int64(a), int64(b))) }),
		u64Pair("EqInt", 0, 0, func(a, b uint64) uint64 { return uint64(EqInt(int64(a), int64(b))) }),
		u64Pair("FloatKey", 0, 0, func(a, _ uint64) uint64 { return FloatKey(f64(a)) }),
		u64Pair("LtFloat", 0x7FF8000000000001, 0, func(a, b uint64) uint64 { return uint64(LtFloat(f64(a), f64(b))) }),
		u64Pair("Select", 0, 0, func(a, b uint64) uint64 { return Select(FromBit(a), a, b) }),
		u64Pair("SelectInt", 0, 0, func(a, b uint64) uint64 { return uint64(SelectInt(FromBit(a), int64(a), int64(b))) }),
		u64Pair("SelectFloat", 0, 0, func(a, b uint64) uint64 {
			return math.Float64bits(SelectFloat(FromBit(a), f64(a), f64(b)))
		}),
		u64Pair("CondSwap64", 0, 0, func(a, b uint64) uint64 {
			CondSwap64(FromBit(a>>1), &a, &b)
			return a - b
		}),
		u64Pair("Mask methods", 0, 0, func(a, b uint64) uint64 {
			m, n := FromBit(a), FromBit(b)
			return uint64(m.Not().And(n).Or(m.AndNot(n))) + m.Bit()
		}),
		maskTarget("CondSwap 40-byte record", 64, func(m Mask) uint64 {
			CondSwap(m, &x, &y)
			return uint64(x.A[0])
		}),
		maskTarget("CondMove 24-byte record", 64, func(m Mask) uint64 {
			CondMove(m, &p, &q)
			p.A++
			return uint64(p.A)
		}),
		maskTarget("SelectRecord 40-byte record", 64, func(m Mask) uint64 {
			return uint64(SelectRecord(m, x, y).A[8])
		}),
		maskTarget("CondCopyBytes 64 bytes", 16, func(m Mask) uint64 {
			CondCopyBytes(m, buf[:64], buf[64:])
			buf[64]++
			return uint64(buf[0])
		}),
		{
			// Equal (fixed: zeros) or random 64-byte slices.
			name: "EqBytes 64 bytes", width: 16, calls: 16,
			fixed: make([]uint64, 16),
			random: func(r *rand.Rand, in []uint64) {
				for i := range in {
					in[i] = r.Uint64()
				}
			},
			run: func(in []uint64, calls int) uint64 {
				var acc uint64
				for i := range calls {
					b := unsafe.Slice((*byte)(unsafe.Pointer(&in[16*i])), 128)
					acc += uint64(EqBytes(b[:64], b[64:]))
				}
				return acc
			},
		},
		{
			// A secret index into 64 records: fixed 0, or random, in
			// range or not.
			name: "Read of 64 records", width: 1, calls: 4,
			fixed:  []uint64{0},
			random: func(r *rand.Rand, in []uint64) { in[0] = r.Uint64N(80) },
			run: func(in []uint64, calls int) uint64 {
				var acc uint64
				for i := range calls {
					acc += Read(table, in[i]).V
				}
				return acc
			},
		},
		{
			name: "Write of 64 records", width: 1, calls: 4,
			fixed:  []uint64{0},
			random: func(r *rand.Rand, in []uint64) { in[0] = r.Uint64N(80) },
			run: func(in []uint64, calls int) uint64 {
				for i := range calls {
					Write(table, in[i], sortRec{in[i], in[i] * 3})
				}
				return table[0].V
			},
		},
		{
			// 16 secret keys: all equal (fixed) or random.
			name: "Sort of 16 records", width: 16, calls: 1,
			fixed: make([]uint64, 16),
			random: func(r *rand.Rand, in []uint64) {
				for i := range in {
					in[i] = r.Uint64()
				}
			},
			run: func(in []uint64, calls int) uint64 {
				for i := range recs {
					recs[i] = sortRec{K: in[i], V: uint64(i)}
				}
				Sort(recs)
				return recs[0].V
			},
		},
	}
}

// dudectControl leaks by construction: bytes.Equal stops at the first
// difference.
func dudectControl() dudectTarget {
	const n = 4096
	a := bytes.Repeat([]byte{0x5a}, n)
	equal := bytes.Clone(a)
	differ := bytes.Clone(a)
	differ[0] ^= 1
	bs := [2][]byte{equal, differ}
	return dudectTarget{
		name: "control: bytes.Equal 4 KiB", width: 1, calls: 8,
		fixed:  []uint64{0},
		random: func(r *rand.Rand, in []uint64) { in[0] = 1 },
		run: func(in []uint64, calls int) uint64 {
			var acc uint64
			for i := range calls {
				if bytes.Equal(a, bs[in[i]&1]) {
					acc++
				}
			}
			return acc
		},
	}
}

// welch accumulates one class's mean and variance (Welford).
type welch struct {
	n       float64
	mean, m float64
}

func (w *welch) add(x float64) {
	w.n++
	d := x - w.mean
	w.mean += d / w.n
	w.m += d * (x - w.mean)
}

func welchT(a, b welch) float64 {
	if a.n < 2 || b.n < 2 {
		return 0
	}
	va, vb := a.m/(a.n-1), b.m/(b.n-1)
	den := math.Sqrt(va/a.n + vb/b.n)
	if den == 0 {
		return 0
	}
	return (a.mean - b.mean) / den
}

// dudectResult is the largest |t| over the cropped tests.
type dudectResult struct {
	calls      int     // calls per sample
	t          float64 // signed, largest in magnitude
	crop       string  // the crop that gave it
	n0, n1     int     // samples per class
	med0, med1 float64 // median ns per sample per class
}

func measure(r *rand.Rand, tg dudectTarget) dudectResult {
	var (
		times   []float64
		classes []uint8
		in      = make([][]uint64, dudectChunk)
		cls     = make([]uint8, dudectChunk)
		scratch = make([]uint64, tg.width)
		calls   = tg.calls
	)
	for i := range in {
		in[i] = make([]uint64, tg.calls*tg.width)
	}
	deadline := time.Now().Add(dudectBudget)
	for warm := true; ; warm = false {
		for s := range dudectChunk {
			cls[s] = uint8(r.IntN(2))
			for c := range calls {
				// Both classes draw random inputs and store them word by
				// word, so that preparing them leaves the same state
				// behind (under -race, the detector's shadow memory
				// records how each word was written).
				tg.random(r, scratch)
				src := scratch
				if cls[s] == 0 {
					src = tg.fixed
				}
				call := in[s][c*tg.width : (c+1)*tg.width]
				for j := range call {
					call[j] = src[j]
				}
			}
		}
		var chunk [dudectChunk]time.Duration
		for s := range dudectChunk {
			start := time.Now()
			dudectSink ^= tg.run(in[s], calls)
			d := time.Since(start)
			chunk[s] = d
			if !warm {
				times = append(times, float64(d))
				classes = append(classes, cls[s])
			}
		}
		if slices.Sort(chunk[:]); warm && chunk[dudectChunk/2] > dudectSampleTime {
			// A slow build (-race, coverage): fewer calls per sample, so
			// that the budget still holds enough samples.
			calls = max(1, int(int64(calls)*int64(dudectSampleTime)/int64(chunk[dudectChunk/2])))
		}
		// Stop after the budget, once each class likely has its minimum
		// number of samples — or at four times the budget.
		if now := time.Now(); !warm && (now.After(deadline) && len(times) >= 3*dudectMinSample ||
			now.After(deadline.Add(3*dudectBudget))) {
			break
		}
	}
	res := dudectResult{calls: calls}

	// dudect's crops: keep samples below the p-th percentile, for
	// p = 1 − 0.5^(10·(k+1)/100), k = 0, 9, 19, …, 99; and no crop.
	sorted := slices.Clone(times)
	slices.Sort(sorted)
	type crop struct {
		name  string
		limit float64
	}
	crops := []crop{{"none", math.Inf(1)}}
	for _, k := range []int{0, 9, 19, 29, 39, 49, 59, 69, 79, 89, 99} {
		p := 1 - math.Pow(0.5, 10*float64(k+1)/100)
		crops = append(crops, crop{fmt.Sprintf("p%.1f", 100*p), sorted[int(p*float64(len(sorted)-1))]})
	}
	for _, c := range crops {
		var w [2]welch
		for i, d := range times {
			if d < c.limit || math.IsInf(c.limit, 1) {
				w[classes[i]].add(d)
			}
		}
		if t := welchT(w[0], w[1]); math.Abs(t) >= math.Abs(res.t) {
			res.t, res.crop = t, c.name
		}
	}
	var byClass [2][]float64
	for i, d := range times {
		byClass[classes[i]] = append(byClass[classes[i]], d)
	}
	res.n0, res.n1 = len(byClass[0]), len(byClass[1])
	median := func(xs []float64) float64 {
		if len(xs) == 0 {
			return 0
		}
		slices.Sort(xs)
		return xs[len(xs)/2]
	}
	res.med0, res.med1 = median(byClass[0]), median(byClass[1])
	return res
}

func TestDudect(t *testing.T) {
	r := newRand(t)
	var report strings.Builder
	fmt.Fprintf(&report, "%-30s %5s %8s %8s %9s %9s %8s  %s\n", "target", "calls", "fixed", "random", "ns fixed", "ns random", "max |t|", "crop")
	row := func(name string, res dudectResult) {
		fmt.Fprintf(&report, "%-30s %5d %8d %8d %9.0f %9.0f %8.2f  %s\n", name, res.calls, res.n0, res.n1, res.med0, res.med1, math.Abs(res.t), res.crop)
	}
	defer func() { t.Logf("dudect (threshold |t| > %d):\n%s", dudectThreshold, report.String()) }()

	control := measure(r, dudectControl())
	row("control: bytes.Equal 4 KiB", control)
	if math.Abs(control.t) <= dudectThreshold {
		t.Errorf("the leaky control reached only |t| = %.2f ≤ %d: the test cannot detect a leak", math.Abs(control.t), dudectThreshold)
	}
	for _, tg := range dudectTargets() {
		res := measure(r, tg)
		row(tg.name, res)
		if res.n0 < dudectMinSample || res.n1 < dudectMinSample {
			t.Errorf("%s: only %d and %d samples in the time budget", tg.name, res.n0, res.n1)
		}
		if math.Abs(res.t) > dudectThreshold {
			t.Errorf("%s: timing depends on the secret input: |t| = %.2f > %d (crop %s)", tg.name, math.Abs(res.t), dudectThreshold, res.crop)
		}
	}
}
