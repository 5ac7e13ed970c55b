package oblivious

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"math/rand/v2"
	"runtime/debug"
	"slices"
	"testing"
	"unsafe"

	"github.com/confide/confide/oblivious/trace"
)

// Record types the ORAM tests run on: one word, an odd size (padded to
// two words in a slot), and the 64-byte block of the benchmarks.
type (
	oramOdd struct {
		A uint32
		B [3]byte
	}
	oramBlock64 [8]uint64
)

// oramReader returns a deterministic random source.
func oramReader(seed uint64) io.Reader {
	var s [32]byte
	s[0], s[1] = byte(seed), byte(seed>>8)
	return rand.NewChaCha8(s)
}

// oramLevel is one ORAM of a recursion, seen from the tests.
type oramLevel struct {
	height int
	tree   unsafe.Pointer // the tree array, for the trace
	leaf   func() uint64  // the path of the last access
	stash  func() int     // the stash occupancy
	check  func() (stash int, err error)
}

// oramLevels lists the ORAMs of o's recursion, data ORAM first.
func oramLevels[R any](o *ORAM[R]) []oramLevel {
	ls := []oramLevel{oramLevelOf(o.data)}
	for p := o.pos; ; {
		rp, ok := p.(*oramRecursivePositions)
		if !ok {
			return ls
		}
		ls = append(ls, oramLevelOf(rp.tree))
		p = rp.next
	}
}

func oramLevelOf[R any](t *oramTree[R]) oramLevel {
	return oramLevel{
		height: t.height,
		tree:   unsafe.Pointer(unsafe.SliceData(t.tree)),
		leaf:   func() uint64 { return t.leaf },
		stash: func() int {
			n := 0
			for _, s := range t.work[oramZ*(t.height+1):] {
				if s.meta&oramIDMask != 0 {
					n++
				}
			}
			return n
		},
		check: func() (int, error) { return oramCheckTree(t) },
	}
}

// oramCheckTree checks the invariants between accesses (non-obliviously):
// every block is on the path to its leaf or in the stash, no block is
// twice, the incoming slot is empty. It returns the stash occupancy.
func oramCheckTree[R any](t *oramTree[R]) (int, error) {
	seen := map[uint64]bool{}
	see := func(meta uint64, where string) error {
		id := meta & oramIDMask
		if id == 0 {
			return nil
		}
		if seen[id] {
			return fmt.Errorf("block %d twice (%s)", id>>oramLeafBits-1, where)
		}
		seen[id] = true
		if leaf := meta & oramLeafMask; leaf>>t.height != 0 {
			return fmt.Errorf("block %d: leaf %d out of range", id>>oramLeafBits-1, leaf)
		}
		return nil
	}
	for i, s := range t.tree {
		if err := see(s.meta, "tree"); err != nil {
			return 0, err
		}
		if s.meta&oramIDMask == 0 {
			continue
		}
		b := i / oramZ
		l := bits.Len(uint(b+1)) - 1
		if want := t.bucket(s.meta&oramLeafMask, l); b != want {
			return 0, fmt.Errorf("block %d in bucket %d, not on the path to leaf %d", s.meta&oramIDMask>>oramLeafBits-1, b, s.meta&oramLeafMask)
		}
	}
	p := oramZ * (t.height + 1)
	stash := 0
	for _, s := range t.work[p : len(t.work)-1] {
		if err := see(s.meta, "stash"); err != nil {
			return 0, err
		}
		if s.meta&oramIDMask != 0 {
			stash++
		}
	}
	if t.work[len(t.work)-1].meta&oramIDMask != 0 {
		return 0, errors.New("incoming slot not empty")
	}
	return stash, nil
}

// TestORAMStashCapacity checks the stash size against the bound it is
// derived from: the least R with 14·0.6002^R ≤ 2^−64.
func TestORAMStashCapacity(t *testing.T) {
	fail := func(r int) float64 { return math.Log2(14) + float64(r)*math.Log2(0.6002) }
	if fail(oramStashCapacity) > -64 || fail(oramStashCapacity-1) <= -64 {
		t.Fatalf("C = %d: log2 failure %.2f, C−1: %.2f", oramStashCapacity, fail(oramStashCapacity), fail(oramStashCapacity-1))
	}
	t.Logf("C = %d: overflow probability ≤ 2^%.2f per access", oramStashCapacity, fail(oramStashCapacity))
}

// TestORAMNetwork sorts random keys, with ties, with the pruned networks
// and checks the positions the eviction relies on.
func TestORAMNetwork(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, c := range []struct{ m, p int }{{5, 4}, {6, 4}, {98, 4}, {106, 12}, {138, 44}, {178, 84}, {210, 116}} {
		net := oramNetwork(c.m, c.p)
		for trial := range 300 {
			keys := make([]uint64, c.m)
			for i := range keys {
				if trial%2 == 0 {
					keys[i] = uint64(i)
				} else {
					keys[i] = r.Uint64N(uint64(c.m / 3))
				}
			}
			r.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
			in := slices.Clone(keys)
			for k := 0; k < len(net); k += 2 {
				i, j := net[k], net[k+1]
				if keys[j] < keys[i] {
					keys[i], keys[j] = keys[j], keys[i]
				}
			}
			want := slices.Sorted(slices.Values(in))
			if !slices.Equal(keys[:c.p], want[:c.p]) || keys[c.m-1] != want[c.m-1] {
				t.Fatalf("m=%d p=%d: %v sorts to %v", c.m, c.p, in, keys)
			}
			slices.Sort(keys)
			if !slices.Equal(keys, want) {
				t.Fatalf("m=%d p=%d: not a permutation", c.m, c.p)
			}
		}
		t.Logf("m=%d p=%d: %d comparators (full sort: %d)", c.m, c.p, len(net)/2, len(oramNetwork(c.m, c.m))/2)
	}
}

// oramDifferential runs random accesses on an ORAM and on a plain slice
// and requires the same results.
func oramDifferential[R comparable](t *testing.T, n int, p oramParams, ops int, seed uint64, gen func(*rand.Rand) R) {
	t.Helper()
	o, err := newORAM[R](n, oramReader(seed), p)
	if err != nil {
		t.Fatal(err)
	}
	ref := make([]R, n)
	r := rand.New(rand.NewPCG(seed, 7))
	index := func() uint64 {
		switch r.IntN(20) {
		case 0:
			return uint64(n) + r.Uint64N(3) // just out of range
		case 1:
			return r.Uint64() | 1<<63 // far out of range
		case 2, 3, 4, 5:
			return r.Uint64N(min(uint64(n), 4)) // a few hot blocks
		}
		return r.Uint64N(uint64(n))
	}
	for step := range ops {
		i := index()
		v := gen(r)
		write := r.IntN(2) == 0
		var got R
		returned := true
		switch r.IntN(3) {
		case 0:
			if write {
				o.Write(i, v)
				returned = false
			} else {
				got = o.Read(i)
			}
		default:
			m := False
			if write {
				m = True
			}
			if got, err = o.Access(m, i, v); err != nil {
				t.Fatal(err)
			}
		}
		var want R // the zero record out of range
		if i < uint64(n) {
			want = ref[i]
			if write {
				ref[i] = v
			}
		}
		if returned && got != want {
			t.Fatalf("step %d: access (write %v) to %d returned %v, want %v", step, write, i, got, want)
		}
	}
	for i := range ref {
		if got := o.Read(uint64(i)); got != ref[i] {
			t.Fatalf("final Read(%d) = %v, want %v", i, got, ref[i])
		}
	}
	for k, l := range oramLevels(o) {
		if _, err := l.check(); err != nil {
			t.Fatalf("level %d: %v", k, err)
		}
	}
}

// TestORAMDifferential checks reads, writes, masked accesses and
// accesses out of range against a slice, for several record types,
// sizes and recursion depths.
func TestORAMDifferential(t *testing.T) {
	small := oramParams{stash: oramStashCapacity, linearWords: 2} // recursion from n = 9
	for _, c := range []struct {
		n   int
		p   oramParams
		ops int
	}{
		{1, oramDefaults, 200},
		{2, oramDefaults, 300},
		{3, small, 300},
		{17, small, 1000},
		{64, oramDefaults, 1000},
		{1000, small, 4000},
		{4099, oramDefaults, 3000},
		{20000, oramDefaults, 3000},
	} {
		levels := func() int {
			o, _ := newORAM[uint64](c.n, oramReader(1), c.p)
			return len(oramLevels(o))
		}()
		name := fmt.Sprintf("n=%d/levels=%d", c.n, levels)
		t.Run(name+"/uint64", func(t *testing.T) {
			oramDifferential(t, c.n, c.p, c.ops, 1, func(r *rand.Rand) uint64 { return r.Uint64() })
		})
		t.Run(name+"/odd", func(t *testing.T) {
			oramDifferential(t, c.n, c.p, c.ops, 2, func(r *rand.Rand) oramOdd {
				return oramOdd{A: r.Uint32(), B: [3]byte{byte(r.Uint32()), 1, 2}}
			})
		})
		t.Run(name+"/64B", func(t *testing.T) {
			oramDifferential(t, c.n, c.p, c.ops/2, 3, func(r *rand.Rand) (b oramBlock64) {
				for i := range b {
					b[i] = r.Uint64()
				}
				return b
			})
		})
	}
}

// TestORAMOutOfRange checks that accesses out of range read the zero
// record, write nothing, and leave every block in place.
func TestORAMOutOfRange(t *testing.T) {
	const n = 100
	o, err := NewORAM[uint64](n, oramReader(4))
	if err != nil {
		t.Fatal(err)
	}
	for i := range uint64(n) {
		o.Write(i, i+1)
	}
	for _, i := range []uint64{n, n + 1, 1 << 32, 1<<64 - 1} {
		o.Write(i, 999)
		if v := o.Read(i); v != 0 {
			t.Errorf("Read(%d) = %d, want 0", i, v)
		}
		if v, err := o.Access(True, i, 999); v != 0 || err != nil {
			t.Errorf("Access(True, %d) = %d, %v; want 0, nil", i, v, err)
		}
	}
	for i := range uint64(n) {
		if v := o.Read(i); v != i+1 {
			t.Errorf("Read(%d) = %d, want %d", i, v, i+1)
		}
	}
}

// TestORAMStash runs long access sequences, checks the stash occupancy
// of every ORAM of the recursion after every access and the invariants
// every so often, and reports the largest occupancy seen and the
// distribution at the data ORAM. (The paper's bound for Z = 5, which sets
// C, is 14·0.6002^R; with Z = 4 the observed tail falls faster, by about
// half per block.)
func TestORAMStash(t *testing.T) {
	steps := 50000
	if testing.Short() {
		steps = 5000
	}
	for _, c := range []struct {
		name    string
		n       int
		pattern func(r *rand.Rand, step int) uint64
	}{
		{"random", 1 << 12, func(r *rand.Rand, _ int) uint64 { return r.Uint64N(1 << 12) }},
		{"sequential", 1 << 12, func(_ *rand.Rand, step int) uint64 { return uint64(step % (1 << 12)) }},
		{"random-5000", 5000, func(r *rand.Rand, _ int) uint64 { return r.Uint64N(5000) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			o, err := newORAM[uint64](c.n, oramReader(5), oramParams{stash: oramStashCapacity, linearWords: 16})
			if err != nil {
				t.Fatal(err)
			}
			levels := oramLevels(o)
			worst := make([]int, len(levels))
			hist := make([]int, oramStashCapacity+1)
			r := rand.New(rand.NewPCG(5, 5))
			for step := range steps {
				if _, err := o.Access(True, c.pattern(r, step), uint64(step)); err != nil {
					t.Fatalf("step %d: %v", step, err)
				}
				for k, l := range levels {
					s := l.stash()
					worst[k] = max(worst[k], s)
					if k == 0 {
						hist[s]++
					}
					if step%1000 != 999 {
						continue
					}
					if _, err := l.check(); err != nil {
						t.Fatalf("step %d, level %d: %v", step, k, err)
					}
				}
			}
			for k, l := range levels {
				t.Logf("level %d (L=%d): largest stash %d of %d", k, l.height, worst[k], oramStashCapacity)
			}
			var tail []string
			for s := len(hist) - 1; s > 0; s-- {
				hist[s-1] += hist[s]
			}
			for s, n := range hist[1 : worst[0]+1] {
				tail = append(tail, fmt.Sprintf("P(≥%d)=%.2g", s+1, float64(n)/float64(steps)))
			}
			t.Logf("data ORAM stash: %v", tail)
		})
	}
}

// oramChi2 returns Pearson's statistic of counts against the uniform
// distribution.
func oramChi2(counts []int) float64 {
	total := 0
	for _, c := range counts {
		total += c
	}
	e := float64(total) / float64(len(counts))
	var x float64
	for _, c := range counts {
		x += (float64(c) - e) * (float64(c) - e) / e
	}
	return x
}

// oramChi2Homogeneity returns the statistic of a 2×k contingency table.
func oramChi2Homogeneity(a, b []int) float64 {
	var ta, tb int
	for i := range a {
		ta += a[i]
		tb += b[i]
	}
	var x float64
	for i := range a {
		col := float64(a[i] + b[i])
		if col == 0 {
			continue
		}
		ea := col * float64(ta) / float64(ta+tb)
		eb := col * float64(tb) / float64(ta+tb)
		x += (float64(a[i])-ea)*(float64(a[i])-ea)/ea + (float64(b[i])-eb)*(float64(b[i])-eb)/eb
	}
	return x
}

// oramCritical holds the critical values of χ² at p = 0.001 by degrees
// of freedom.
var oramCritical = map[int]float64{1: 10.83, 3: 16.27, 7: 24.32, 15: 37.70}

// TestORAMLeaves checks that the leaves an access reveals (the paths it
// reads, at every level of the recursion) are uniform, and distributed
// alike whatever the access pattern: one block over and over, a
// sequential sweep, random blocks. Counts go in 16 bins (a leaf's top
// four bits) and are compared with χ² tests at p = 0.001. The random
// source is seeded, so the test is deterministic.
func TestORAMLeaves(t *testing.T) {
	const (
		n     = 1 << 14
		steps = 8000
	)
	patterns := []struct {
		name string
		at   func(r *rand.Rand, step int) uint64
	}{
		{"same", func(*rand.Rand, int) uint64 { return 7 }},
		{"sequential", func(_ *rand.Rand, step int) uint64 { return uint64(step % n) }},
		{"random", func(r *rand.Rand, _ int) uint64 { return r.Uint64N(n) }},
	}
	var counts [][][]int // pattern, level, bin
	var levels []oramLevel
	for pi, pat := range patterns {
		o, err := newORAM[uint64](n, oramReader(uint64(10+pi)), oramParams{stash: oramStashCapacity, linearWords: 16})
		if err != nil {
			t.Fatal(err)
		}
		levels = oramLevels(o)
		if len(levels) < 3 {
			t.Fatalf("%d levels, want a recursion", len(levels))
		}
		c := make([][]int, len(levels))
		for k, l := range levels {
			c[k] = make([]int, 1<<min(4, l.height))
		}
		r := rand.New(rand.NewPCG(uint64(pi), 1))
		for step := range steps {
			o.Read(pat.at(r, step))
			for k, l := range levels {
				c[k][l.leaf()>>max(0, l.height-4)]++
			}
		}
		for k, l := range levels {
			x, crit := oramChi2(c[k]), oramCritical[len(c[k])-1]
			t.Logf("%s, level %d (L=%d): χ² = %.1f (%d bins)", pat.name, k, l.height, x, len(c[k]))
			if x > crit {
				t.Errorf("%s, level %d: leaves not uniform: χ² = %.1f > %.2f; counts %v", pat.name, k, x, crit, c[k])
			}
		}
		counts = append(counts, c)
	}
	for a := range patterns {
		for b := a + 1; b < len(patterns); b++ {
			for k := range levels {
				x, crit := oramChi2Homogeneity(counts[a][k], counts[b][k]), oramCritical[len(counts[a][k])-1]
				if x > crit {
					t.Errorf("level %d: leaves of %s and %s differ: χ² = %.1f > %.2f", k, patterns[a].name, patterns[b].name, x, crit)
				}
			}
		}
	}
}

// oramTrace records the accesses of f on o, with the trees of o's
// recursion numbered 0, 1, … (touched first, in order, so that the
// recorder numbers them so). The garbage collector is off while
// recording: the recorder numbers objects by address.
func oramTrace[R any](o *ORAM[R], f func()) []trace.Event {
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	r := trace.Start()
	defer trace.Stop()
	levels := oramLevels(o)
	for _, l := range levels {
		trace.Access(trace.OpRead, l.tree, 0)
	}
	f()
	return r.Events[len(levels):]
}

// oramNormalize checks that every access to tree k of the trace reads the
// L+1 buckets of one path from the root down, then writes the same path
// back, and replaces each bucket index by its level; it returns the
// normalized trace and the leaves of the paths, tree by tree.
func oramNormalize(events []trace.Event, heights []int) ([]trace.Event, [][]uint64, error) {
	out := slices.Clone(events)
	leaves := make([][]uint64, len(heights))
	type state struct {
		op    trace.Op
		level int
		node  uint64
	}
	st := make([]state, len(heights))
	for i := range st {
		st[i].level = -1
	}
	for i, e := range events {
		if e.Object >= len(heights) {
			continue
		}
		k, h, s := e.Object, heights[e.Object], &st[e.Object]
		b := uint64(e.Index)
		l := bits.Len64(b+1) - 1
		node := b - (1<<l - 1)
		if l != s.level+1 || (l > 0 && (e.Op != s.op || node>>1 != s.node)) {
			return nil, nil, fmt.Errorf("event %d: %v breaks the path of tree %d at level %d", i, e, k, s.level)
		}
		if l == 0 && e.Op == trace.OpWrite && s.op != trace.OpRead {
			return nil, nil, fmt.Errorf("event %d: write-back of tree %d without a read", i, k)
		}
		s.op, s.level, s.node = e.Op, l, node
		out[i].Index = l
		if l < h {
			continue
		}
		s.level = -1
		if e.Op == trace.OpRead {
			leaves[k] = append(leaves[k], node)
		} else if ls := leaves[k]; len(ls) == 0 || ls[len(ls)-1] != node {
			return nil, nil, fmt.Errorf("event %d: tree %d written back along another path", i, k)
		}
	}
	return out, leaves, nil
}

// TestORAMTrace records the traces of access sequences that differ in
// every secret — which blocks, reads or writes, the values, indexes out
// of range — and requires them to be identical once the revealed leaves
// are factored out: every access reads and writes back one whole path
// per tree, and all the rest (stash, buffer, position map, the order of
// everything) matches event for event. Run with -tags obltrace.
func TestORAMTrace(t *testing.T) {
	if !trace.Enabled {
		t.Skip("built without -tags obltrace")
	}
	const (
		n     = 1000
		steps = 24
	)
	type op struct {
		write Mask
		i     uint64
		v     uint64
	}
	r := rand.New(rand.NewPCG(3, 3))
	sequences := map[string][]op{}
	for s := range steps {
		sequences["sequential reads"] = append(sequences["sequential reads"], op{False, uint64(s), 0})
		sequences["one block written"] = append(sequences["one block written"], op{True, 5, uint64(s)})
		sequences["out of range"] = append(sequences["out of range"], op{Mask(-(r.Uint64() & 1)), n + r.Uint64N(1<<40), r.Uint64()})
		sequences["random"] = append(sequences["random"], op{Mask(-(r.Uint64() & 1)), r.Uint64N(n), r.Uint64()})
	}
	var names []string
	for name := range sequences {
		names = append(names, name)
	}
	slices.Sort(names)

	var ref []trace.Event
	var refLeaves [][]uint64
	for k, name := range names {
		o, err := newORAM[uint64](n, oramReader(uint64(20+k)), oramParams{stash: oramStashCapacity, linearWords: 2})
		if err != nil {
			t.Fatal(err)
		}
		levels := oramLevels(o)
		if len(levels) != 3 {
			t.Fatalf("%d levels, want 3", len(levels))
		}
		heights := make([]int, len(levels))
		for i, l := range levels {
			heights[i] = l.height
		}
		events := oramTrace(o, func() {
			for _, a := range sequences[name] {
				if _, err := o.Access(a.write, a.i, a.v); err != nil {
					t.Fatal(err)
				}
			}
		})
		norm, leaves, err := oramNormalize(events, heights)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for i := range leaves {
			if len(leaves[i]) != steps {
				t.Fatalf("%s: tree %d: %d paths for %d accesses", name, i, len(leaves[i]), steps)
			}
		}
		t.Logf("%s: %d events, %d trees, data leaves %v…", name, len(events), len(levels), leaves[0][:6])
		if ref == nil {
			ref, refLeaves = norm, leaves
			continue
		}
		if d := trace.Diff(ref, norm); d != "" {
			t.Errorf("%s vs %s: %s", names[0], name, d)
		}
		if slices.Equal(leaves[0], refLeaves[0]) {
			t.Errorf("%s: same leaves as %s: the normalization is not exercised", name, names[0])
		}
	}
}

// oramFlaky is a random source that fails when told to.
type oramFlaky struct {
	r    io.Reader
	fail bool
}

var errORAMFlaky = errors.New("source failed")

func (f *oramFlaky) Read(p []byte) (int, error) {
	if f.fail {
		return 0, errORAMFlaky
	}
	return f.r.Read(p)
}

// TestORAMErrors checks the errors of NewORAM and of a failing random
// source.
func TestORAMErrors(t *testing.T) {
	for _, n := range []int{-1, 0, oramMaxBlocks + 1} {
		if _, err := NewORAM[uint64](n, nil); err == nil {
			t.Errorf("NewORAM(%d) succeeded", n)
		}
	}
	if _, err := NewORAM[*int](10, nil); err == nil {
		t.Error("NewORAM of pointers succeeded")
	}
	if _, err := NewORAM[uint64](10, &oramFlaky{fail: true}); !errors.Is(err, errORAMFlaky) {
		t.Errorf("NewORAM with a failing source: %v", err)
	}

	src := &oramFlaky{r: oramReader(6)}
	o, err := NewORAM[uint64](50, src)
	if err != nil {
		t.Fatal(err)
	}
	for i := range uint64(50) {
		o.Write(i, i*i)
	}
	src.fail = true
	var err2 error
	for i := range uint64(5000) { // enough to drain the buffer
		if _, err2 = o.Access(True, i%50, (i%50)*(i%50)); err2 != nil {
			break
		}
	}
	if !errors.Is(err2, errORAMFlaky) {
		t.Fatalf("Access with a failing source: %v", err2)
	}
	src.fail = false
	for i := range uint64(50) {
		if v := o.Read(i); v != i*i {
			t.Errorf("after the failure, Read(%d) = %d, want %d", i, v, i*i)
		}
	}
	if !func() (panicked bool) {
		defer func() { panicked = recover() != nil }()
		src.fail = true
		for range 5000 {
			o.Read(0)
		}
		return false
	}() {
		t.Error("Read did not panic on a failing source")
	}
}

// TestORAMOverflow forces stash overflows with a tiny stash and checks
// that they are reported, stick, and make Read and Write panic.
func TestORAMOverflow(t *testing.T) {
	o, err := newORAM[uint64](1000, oramReader(7), oramParams{stash: 0, linearWords: 16})
	if err != nil {
		t.Fatal(err)
	}
	var step int
	for step = range 100000 {
		if _, err = o.Access(True, uint64(step%1000), 1); err != nil {
			break
		}
	}
	if !errors.Is(err, ErrStashOverflow) {
		t.Fatalf("after %d accesses: %v, want ErrStashOverflow", step, err)
	}
	t.Logf("overflow with C = 0 after %d accesses", step+1)
	if _, err := o.Access(False, 0, 0); !errors.Is(err, ErrStashOverflow) {
		t.Errorf("next Access: %v", err)
	}
	func() {
		defer func() {
			if e, _ := recover().(error); !errors.Is(e, ErrStashOverflow) {
				t.Errorf("Write after overflow: panic %v", e)
			}
		}()
		o.Write(1, 1)
	}()
}

func ExampleORAM() {
	type account struct {
		ID      uint64
		Balance int64
	}
	o, err := NewORAM[account](1<<10, nil)
	if err != nil {
		panic(err)
	}
	o.Write(42, account{ID: 42, Balance: 100})
	a := o.Read(42)
	a.Balance -= 30
	o.Write(42, a)
	fmt.Println(o.Read(42).Balance, o.Read(43).Balance, o.Read(1<<20).Balance)
	// Output: 70 0 0
}
