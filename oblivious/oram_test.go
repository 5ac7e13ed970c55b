package oblivious

import (
	"errors"
	"flag"
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
			for _, s := range t.stash[:len(t.stash)-2] {
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
// twice, the incoming and held slots are empty. It returns the stash
// occupancy.
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
	c := len(t.stash) - 2
	stash := 0
	for _, s := range t.stash[:c] {
		if err := see(s.meta, "stash"); err != nil {
			return 0, err
		}
		if s.meta&oramIDMask != 0 {
			stash++
		}
	}
	if t.stash[c].meta&oramIDMask != 0 {
		return 0, errors.New("incoming slot not empty")
	}
	if t.stash[c+1].meta&oramIDMask != 0 {
		return 0, errors.New("held slot not empty")
	}
	return stash, nil
}

// TestORAMStashCapacity checks C against the extrapolation it rests on
// (see ORAM): from the deepest point TestORAMStashTail measured more than
// once at n = 2^20, P(stash ≥ 11) = 2^−21.67, a tail falling at 0.8 bit
// per block (about half the measured 1.45) keeps an overflow, a stash of
// C+1 blocks, below 2^−64 per access.
func TestORAMStashCapacity(t *testing.T) {
	const (
		at, logP = 11, -21.67 // measured
		measured = 1.45       // bits per block
		assumed  = 0.8        // bits per block, beyond the measured range
	)
	fail := func(c int, slope float64) float64 { return logP - slope*float64(c+1-at) }
	if fail(oramStashCapacity, assumed) > -64 {
		t.Fatalf("C = %d: log2 overflow probability %.2f", oramStashCapacity, fail(oramStashCapacity, assumed))
	}
	t.Logf("C = %d: overflow probability 2^%.1f per access at the measured rate, ≤ 2^%.1f at %.1f bit per block", oramStashCapacity, fail(oramStashCapacity, measured), fail(oramStashCapacity, assumed), assumed)
}

// oramEvictReference is Circuit ORAM's eviction along path written
// plainly, with branches and lists, from the paper's pseudo-code
// (PrepareDeepest, PrepareTarget, EvictOnceFast): it returns the
// metadata of the blocks each level holds afterwards, the stash (with
// the incoming block) first, then the buckets from the root down, each
// sorted.
func oramEvictReference[R any](t *oramTree[R], path uint64) ([][]uint64, error) {
	h, c := t.height, len(t.stash)-2
	const none = -1
	levels := make([][]uint64, h+2)
	for _, s := range t.stash[:c+1] {
		if s.meta&oramIDMask != 0 {
			levels[0] = append(levels[0], s.meta)
		}
	}
	for l := 0; l <= h; l++ {
		b := t.bucket(path, l)
		for _, s := range t.tree[b*oramZ : b*oramZ+oramZ] {
			if s.meta&oramIDMask != 0 {
				levels[l+1] = append(levels[l+1], s.meta)
			}
		}
	}
	depth := func(meta uint64) int { return h - bits.Len64(meta&oramLeafMask^path) }
	deepestOf := func(lv int) (at, d int) { // the first deepest block
		at, d = none, none
		for i, m := range levels[lv] {
			if depth(m) > d {
				at, d = i, depth(m)
			}
		}
		return at, d
	}

	// PrepareDeepest: deepest[lv] is the level above lv whose deepest
	// block may go deepest, if it may go to lv.
	deepest := make([]int, h+2)
	goal, src := none, none
	for lv := range h + 2 {
		deepest[lv] = none
		if lv > 0 && goal >= lv-1 {
			deepest[lv] = src
		}
		if _, d := deepestOf(lv); d > goal {
			goal, src = d, lv
		}
	}

	// PrepareTarget.
	target := make([]int, h+2)
	for i := range target {
		target[i] = none
	}
	dest, src := none, none
	for lv := h + 1; lv >= 1; lv-- {
		if lv == src {
			target[lv] = dest
			dest, src = none, none
		}
		if ((dest == none && len(levels[lv]) < oramZ) || target[lv] != none) && deepest[lv] != none {
			src, dest = deepest[lv], lv
		}
	}
	if src == 0 {
		target[0] = dest
	}

	// EvictOnceFast.
	var hold uint64
	dest = none
	for lv := range h + 2 {
		var towrite uint64
		if hold != 0 && dest == lv {
			towrite, hold, dest = hold, 0, none
		}
		if target[lv] != none {
			at, _ := deepestOf(lv)
			hold = levels[lv][at]
			levels[lv] = slices.Delete(levels[lv], at, at+1)
			dest = target[lv]
		}
		if towrite != 0 {
			if lv > 0 && len(levels[lv]) == oramZ {
				return nil, fmt.Errorf("level %d full", lv)
			}
			levels[lv] = append(levels[lv], towrite)
		}
	}
	if hold != 0 {
		return nil, errors.New("a block held past the leaf")
	}
	for _, l := range levels {
		slices.Sort(l)
	}
	return levels, nil
}

// oramRandomTree returns a tree of height h with a stash of c blocks,
// holding blocks at random places on their paths, in the stash and in
// the incoming slot, each block's value its id.
func oramRandomTree(r *rand.Rand, h, c int) *oramTree[uint64] {
	t := newORAMTree[uint64](1<<h, c)
	if h == 0 {
		t = newORAMTree[uint64](1, c)
	}
	n := r.IntN(oramZ*(1<<(h+1)) + c + 2)
	full := r.IntN(4) == 0 // as full as the random placement gets
	for id := range uint64(n) {
		leaf := r.Uint64N(1 << h)
		meta := (id+1)<<oramLeafBits | leaf
		put := func(s *oramSlot[uint64]) bool {
			if s.meta != 0 {
				return false
			}
			s.meta, s.val = meta, id
			return true
		}
		l := r.IntN(h + 2) // h+1: the stash
		if full {
			l = r.IntN(h+1) + 1
		}
		placed := false
		if l <= h {
			b := t.bucket(leaf, l)
			for s := range oramZ {
				if placed = put(&t.tree[b*oramZ+s]); placed {
					break
				}
			}
		}
		for k := 0; k <= c && !placed; k++ {
			placed = put(&t.stash[k])
		}
	}
	// Stale values in some empty slots, as accesses leave them.
	for i := range t.tree {
		if t.tree[i].meta == 0 && r.IntN(2) == 0 {
			t.tree[i].val = r.Uint64()
		}
	}
	return t
}

// TestORAMEvict runs the eviction on random trees and stashes along
// random paths and compares the result with oramEvictReference's: the
// same blocks on every level, each with its value, the held slot empty,
// the incoming block stored whenever the stash has room, and nothing off
// the path touched.
func TestORAMEvict(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	moved := 0
	for trial := range 20000 {
		h := []int{0, 1, 2, 3, 4, 6, 9}[trial%7]
		c := []int{0, 1, 2, 5, 20}[r.IntN(5)]
		tr := oramRandomTree(r, h, c)
		path := r.Uint64N(1 << h)
		want, err := oramEvictReference(tr, path)
		if err != nil {
			t.Fatalf("trial %d: reference: %v", trial, err)
		}
		before := slices.Clone(tr.tree)
		tr.evictPath(path, h)
		got, err := oramEvictReference(tr, path) // the levels, read back
		if err != nil {
			t.Fatal(err)
		}
		for i := range got {
			got[i] = got[i][:0]
		}
		for _, s := range tr.stash[:c+1] {
			if s.meta != 0 {
				got[0] = append(got[0], s.meta)
			}
		}
		onPath := map[int]bool{}
		for l := 0; l <= h; l++ {
			b := tr.bucket(path, l)
			onPath[b] = true
			for _, s := range tr.tree[b*oramZ : b*oramZ+oramZ] {
				if s.meta != 0 {
					got[l+1] = append(got[l+1], s.meta)
				}
			}
		}
		for _, l := range got {
			slices.Sort(l)
		}
		if !slices.EqualFunc(got, want, slices.Equal) {
			t.Fatalf("trial %d (h=%d, c=%d, path %d): levels %v, want %v", trial, h, c, path, got, want)
		}
		if !slices.Equal(got[1], oramMetas(before, tr.bucket(path, 0))) {
			moved++
		}
		for i, s := range tr.tree {
			if !onPath[i/oramZ] && s != before[i] {
				t.Fatalf("trial %d: slot %d off the path changed", trial, i)
			}
			if s.meta != 0 && s.val != s.meta>>oramLeafBits-1 {
				t.Fatalf("trial %d: slot %d holds block %d with the value of %d", trial, i, s.meta>>oramLeafBits-1, s.val)
			}
		}
		for k, s := range tr.stash {
			if s.meta != 0 && s.val != s.meta>>oramLeafBits-1 {
				t.Fatalf("trial %d: stash slot %d holds block %d with the value of %d", trial, k, s.meta>>oramLeafBits-1, s.val)
			}
		}
		if tr.stash[c+1].meta != 0 {
			t.Fatalf("trial %d: held slot not empty", trial)
		}
		if len(got[0]) <= c && tr.stash[c].meta != 0 {
			t.Fatalf("trial %d: incoming block left with %d blocks in a stash of %d", trial, len(got[0]), c)
		}
		if _, err := oramCheckTree(tr); err != nil && len(got[0]) <= c {
			t.Fatalf("trial %d: %v", trial, err)
		}
	}
	t.Logf("%d of 20000 evictions changed the root", moved)
}

// oramMetas returns the sorted metadata of bucket b's blocks.
func oramMetas(tree []oramSlot[uint64], b int) []uint64 {
	var m []uint64
	for _, s := range tree[b*oramZ : b*oramZ+oramZ] {
		if s.meta != 0 {
			m = append(m, s.meta)
		}
	}
	slices.Sort(m)
	return m
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
// distribution at the data ORAM. The occupancy must stay far below C
// (at most 12 blocks) and the stash of the data ORAM must be empty after
// all but a 64th of the accesses: TestORAMStashTail measured 2^−7.9 at
// n = 2^20 and a tail falling by 1.45 bits per block, and an eviction
// that evicts less (one path per access, a block not taken) fails this.
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
				if worst[k] > 12 {
					t.Errorf("level %d: a stash of %d blocks", k, worst[k])
				}
			}
			if nonEmpty := steps - hist[0]; nonEmpty > steps/64 {
				t.Errorf("data ORAM: stash not empty after %d of %d accesses", nonEmpty, steps)
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

var (
	oramTailAccesses = flag.Int64("oram.tail", 0, "accesses `count` of TestORAMStashTail (0: skip it)")
	oramTailBits     = flag.Int("oram.tailbits", 16, "log2 of the number of blocks of TestORAMStashTail")
)

// TestORAMStashTail measures the tail of the stash occupancy after an
// access, on which the stash size C rests (see ORAM): one tree of the
// package's bucket size and 2^k blocks of a zero-size record, without a
// position map (the test keeps the positions in a slice), every block
// written once in order, then random accesses, with a stash of 4C that
// never overflows. It is opt-in, for its length:
//
//	go test -run TestORAMStashTail -oram.tail 1e8 -v ./oblivious/
//
// reports P(stash ≥ R) after an access for every R seen.
func TestORAMStashTail(t *testing.T) {
	if *oramTailAccesses <= 0 {
		t.Skip("opt-in: -oram.tail accesses")
	}
	h := *oramTailBits
	n := uint64(1) << h
	tr := newORAMTree[struct{}](n, 4*oramStashCapacity)
	c := len(tr.stash) - 2
	pos := make([]uint64, n)
	r := rand.New(rand.NewPCG(uint64(h), 11))
	var zero struct{}
	hist := make([]int64, c+1)
	var g uint64
	for step := range n + uint64(*oramTailAccesses) {
		id := step
		if step >= n {
			id = r.Uint64N(n)
		}
		leaf := r.Uint64N(n)
		tr.fetch(id, pos[id], leaf, &zero, h)
		pos[id] = leaf
		if tr.evict(g, h) != False {
			t.Fatalf("access %d: more than %d blocks in the stash", step, c)
		}
		g += oramEvictionsPerAccess
		if step < n {
			continue
		}
		k := 0
		for _, s := range tr.stash[:c] {
			if s.meta != 0 {
				k++
			}
		}
		hist[k]++
	}
	total := *oramTailAccesses
	for k := len(hist) - 2; k >= 0; k-- {
		hist[k] += hist[k+1]
	}
	for k := 1; k < len(hist) && hist[k] > 0; k++ {
		t.Logf("Z=%d, n=2^%d: P(stash ≥ %d) = %d/%d = 2^%.2f", oramZ, h, k, hist[k], total, math.Log2(float64(hist[k])/float64(total)))
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

// oramNormalize checks the accesses to the trees of the recursion (tree
// k is object k of the trace, of height heights[k]): each access makes
// five passes over a path of tree k, slot by slot from the root down,
// each the Z slots of one bucket in order: the read path (swaps: blocks
// move to the incoming slot), then, for each of the two evictions, the
// metadata scan (reads) and the pass (swaps) along the eviction path,
// which must be the next leaf in reverse-lexicographic order. It replaces
// the slot indexes of the read paths, whose leaves are revealed, by their
// positions on the path, and returns the normalized trace and the read
// leaves, tree by tree.
func oramNormalize(events []trace.Event, heights []int) ([]trace.Event, [][]uint64, error) {
	out := slices.Clone(events)
	leaves := make([][]uint64, len(heights))
	count := make([]int, len(heights)) // events seen, by tree
	node := make([]uint64, len(heights))
	for i, e := range events {
		if e.Object >= len(heights) {
			continue
		}
		k, h := e.Object, heights[e.Object]
		per := (h + 1) * oramZ // events of one pass
		n := count[k]
		count[k]++
		access, pass, at := n/(5*per), n/per%5, n%per
		l, s := at/oramZ, at%oramZ
		op := trace.OpSwap
		if pass == 1 || pass == 3 {
			op = trace.OpRead
		}
		b := e.Index / oramZ
		if e.Op != op || e.Index%oramZ != s || bits.Len(uint(b+1))-1 != l {
			return nil, nil, fmt.Errorf("event %d: %v is not slot %d of level %d of pass %d over tree %d", i, e, s, l, pass, k)
		}
		nd := uint64(b + 1 - 1<<l) // b's position on its level
		if pass > 0 {
			g := uint64(2*access + (pass-1)/2)
			if want := bucketAt(oramEvictionLeaf(g, h), l, h); b != want {
				return nil, nil, fmt.Errorf("event %d: %v: eviction %d of tree %d is not along leaf %d", i, e, g, k, oramEvictionLeaf(g, h))
			}
			continue
		}
		if l > 0 && (s == 0 && nd>>1 != node[k] || s > 0 && nd != node[k]) {
			return nil, nil, fmt.Errorf("event %d: %v breaks the read path of tree %d at level %d", i, e, k, l)
		}
		node[k] = nd
		out[i].Index = at
		if at == per-1 {
			leaves[k] = append(leaves[k], nd)
		}
	}
	for k, n := range count {
		if per := (heights[k] + 1) * oramZ; n%(5*per) != 0 {
			return nil, nil, fmt.Errorf("tree %d: %d events, not whole accesses of %d", k, n, 5*per)
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

// oramFill fills every slot of t's tree with a block no access asks for
// (ids from first up), on a path through its bucket, so that no eviction
// can store anything.
func oramFill[R any](t *oramTree[R], first uint64) {
	id := first
	for i := range t.tree {
		b := i / oramZ
		l := bits.Len(uint(b+1)) - 1
		leaf := uint64(b+1-1<<l)<<(t.height-l) | uint64(i)&(1<<(t.height-l)-1)
		t.tree[i].meta = (id+1)<<oramLeafBits | leaf
		id++
	}
}

// TestORAMOverflow fills a tree of the recursion, the data ORAM's or a
// position ORAM's, so that nothing can be evicted: blocks accessed then
// stay in the stash, and the access that would leave C+1 there must
// report ErrStashOverflow, which sticks and makes Read and Write panic.
// Until then accesses work, blocks already in the stash included.
func TestORAMOverflow(t *testing.T) {
	const (
		n = 1000
		c = 3
	)
	for _, level := range []int{0, 1} {
		t.Run(fmt.Sprint("level=", level), func(t *testing.T) {
			o, err := newORAM[uint64](n, oramReader(7), oramParams{stash: c, linearWords: 2})
			if err != nil {
				t.Fatal(err)
			}
			var at uint64 = 1 // blocks of that level's tree per data block (data: 1)
			if level == 0 {
				oramFill(o.data, n)
			} else {
				rp := o.pos.(*oramRecursivePositions)
				oramFill(rp.tree, 1<<20)
				at = 64 / uint64(rp.width) * oramPosWords
			}
			for k := range uint64(c) {
				o.Write(k*at, k+10)
				if v := o.Read(k * at); v != k+10 {
					t.Fatalf("Read(%d) = %d, want %d", k*at, v, k+10)
				}
			}
			if _, err := o.Access(True, c*at, 1); !errors.Is(err, ErrStashOverflow) {
				t.Fatalf("access to a block %d with a full stash: %v, want ErrStashOverflow", c*at, err)
			}
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
		})
	}
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
