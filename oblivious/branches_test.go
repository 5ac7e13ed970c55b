package oblivious

// TestBranches counts executed basic blocks through coverage counters.
// Two runs of a primitive on different secrets with the same public
// parameters must run every basic block of package oblivious the same
// number of times, so the counter snapshots around the two runs must be
// byte-identical.
//
// runtime/coverage's ClearCounters and WriteCounters cannot do this
// inside a test binary: there (cfile.InitHook with istest) the coverage
// meta-data is only prepared at exit, and until then both calls fail
// with "invoked for program built with -covermode=<invalid>", even under
// go test -covermode=atomic. So the test builds a small program with
//
//	go build -cover -covermode=atomic -coverpkg=github.com/confide/confide/oblivious,probe
//
// (see buildProbe), which runs each primitive on pairs of secrets between
// ClearCounters and WriteCounters and prints one line per pair; the test
// reads the lines. It needs no special flags on the go test command line
// and runs in every pass. Controls show that the snapshots do differ when
// the block counts do.

import (
	"bufio"
	"bytes"
	"maps"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// branchProbe runs the primitives on pairs of secrets and prints, per
// pair, "<name> <n> moved|idle same|differ…"; then "control <name>
// same|differ…" lines, and "done <lines>".
const branchProbe = `package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"runtime/coverage"
	"slices"

	o "github.com/confide/confide/oblivious"
)

type (
	rec  struct{ K, V uint64 }
	rec7 struct {
		K   uint32
		Tag [3]byte
	}
	rec12 struct{ A, B, C uint32 }
	rec40 struct {
		A [9]int32
		B bool
	}
	grp struct{ G, V uint64 }
)

func (r rec) Key() uint64    { return r.K }
func (r rec7) Key() uint64   { return uint64(r.K) }
func (g grp) Group() uint64 { return g.G }
func (g grp) Value() uint64 { return g.V }

var r = rand.New(rand.NewPCG(1, 2))

func fatal(v ...any) {
	fmt.Fprintln(os.Stderr, v...)
	os.Exit(2)
}

// counters returns the counts of each function's basic blocks in one run
// of f, keyed by "package/function" index.
func counters(f func()) map[string][]uint32 {
	if err := coverage.ClearCounters(); err != nil {
		fatal(err)
	}
	f()
	var b bytes.Buffer
	if err := coverage.WriteCounters(&b); err != nil {
		fatal(err)
	}
	return decode(b.Bytes())
}

// decode reads counter data in the format of internal/coverage (defs.go,
// encodecounter): a 32-byte file header (magic, version, meta hash,
// counter flavor), one segment — a 16-byte header (function entries,
// string table and args lengths), the string table and args, then per
// function its counter count, package and function index and counters —
// and a 16-byte footer. The bytes cannot be compared directly: the
// string table is filled from a map, in random order.
func decode(b []byte) map[string][]uint32 {
	le := binary.LittleEndian
	const magic = "\x00cwm"
	if len(b) < 64 || string(b[:4]) != magic || string(b[len(b)-16:len(b)-12]) != magic || le.Uint32(b[len(b)-8:]) != 1 {
		fatal("unexpected counter data format")
	}
	flavor := b[24]
	entries, strtab, args := le.Uint64(b[32:]), le.Uint32(b[40:]), le.Uint32(b[44:])
	p := b[48+int(strtab)+int(args) : len(b)-16]
	next := func() uint32 {
		switch flavor {
		case 1: // raw little-endian uint32
			v := le.Uint32(p)
			p = p[4:]
			return v
		case 2: // ULEB128
			v, n := binary.Uvarint(p)
			if n <= 0 {
				fatal("bad ULEB128 in counter data")
			}
			p = p[n:]
			return uint32(v)
		}
		fatal("unknown counter flavor", flavor)
		return 0
	}
	m := map[string][]uint32{}
	for range entries {
		n, pkg, fn := next(), next(), next()
		c := make([]uint32, n)
		for i := range c {
			c[i] = next()
		}
		m[fmt.Sprint(pkg, "/", fn)] = c
	}
	if len(p) != 0 {
		fatal("trailing counter data")
	}
	return m
}

// diff returns "same", or "differ" and the first function whose counts
// differ.
func diff(a, b map[string][]uint32) string {
	keys := slices.Sorted(maps.Keys(a))
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		if !slices.Equal(a[k], b[k]) {
			return fmt.Sprintf("differ func=%s:%v/%v", k, a[k], b[k])
		}
	}
	return "same"
}

// keys returns secret keys of one of several distributions.
func keys(n int) []uint64 {
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

func masks(n int) []o.Mask {
	m := make([]o.Mask, n)
	p := []float64{0, 0.3, 1}[r.IntN(3)]
	for i := range m {
		if r.Float64() < p {
			m[i] = o.True
		}
	}
	return m
}

func index(n int) uint64 {
	if n == 0 || r.IntN(4) == 0 {
		return []uint64{uint64(n), math.MaxUint64, 1 << 32}[r.IntN(3)]
	}
	return r.Uint64N(uint64(n))
}

func mask() o.Mask {
	if r.IntN(2) == 0 {
		return o.True
	}
	return o.False
}

var primitives = map[string]func(n int) func(){
	"Sort": func(n int) func() {
		k := keys(n)
		rs := make([]rec, n)
		for i := range rs {
			rs[i] = rec{k[i], r.Uint64()}
		}
		return func() { o.Sort(rs) }
	},
	"Sort7": func(n int) func() {
		k := keys(n)
		rs := make([]rec7, n)
		for i := range rs {
			rs[i] = rec7{K: uint32(k[i])}
		}
		return func() { o.Sort(rs) }
	},
	"SortUint64": func(n int) func() {
		k := keys(n)
		return func() { o.SortUint64(k) }
	},
	"Compact": func(n int) func() {
		k := keys(n)
		rs := make([]rec, n)
		for i := range rs {
			rs[i] = rec{k[i], r.Uint64()}
		}
		keep := masks(n)
		return func() { o.Compact(rs, keep) }
	},
	"Aggregate": func(n int) func() {
		k := keys(n)
		rs := make([]grp, n)
		for i := range rs {
			rs[i] = grp{k[i], r.Uint64()}
		}
		return func() { o.Aggregate(rs) }
	},
	"Read": func(n int) func() {
		rs := make([]rec12, n)
		for i := range rs {
			rs[i] = rec12{r.Uint32(), r.Uint32(), r.Uint32()}
		}
		i := index(n)
		return func() { o.Read(rs, i) }
	},
	"Write": func(n int) func() {
		rs := make([]rec, n)
		i, v := index(n), rec{r.Uint64(), r.Uint64()}
		return func() { o.Write(rs, i, v) }
	},
	// Eight accesses to an ORAM of 1+n² blocks (a recursive position map
	// from n = 91) after 100 others, from the same random source: secret
	// indexes (some out of range), reads or writes, values.
	"ORAM": func(n int) func() {
		size := 1 + n*n
		m, err := o.NewORAM[rec](size, rand.NewChaCha8([32]byte{byte(n)}))
		if err != nil {
			fatal(err)
		}
		// Half the accesses go to a few blocks, so that blocks are found
		// in the trees and stashes, in one run and not the other.
		idx := func() uint64 {
			if r.IntN(2) == 0 {
				return r.Uint64N(uint64(min(size, 4)))
			}
			return index(size)
		}
		for range 100 { // as many accesses (which draw randomness) either way
			if _, err := m.Access(mask(), idx(), rec{r.Uint64(), 1}); err != nil {
				fatal(err)
			}
		}
		var is []uint64
		var ws []o.Mask
		var vs []rec
		for range 8 {
			is, ws, vs = append(is, idx()), append(ws, mask()), append(vs, rec{r.Uint64(), r.Uint64()})
		}
		return func() {
			for k := range is {
				if _, err := m.Access(ws[k], is[k], vs[k]); err != nil {
					fatal(err)
				}
			}
		}
	},
	// The building blocks, called n times (public) on secret values.
	"blocks": func(n int) func() {
		vs := make([]uint64, 2*n)
		for i := range vs {
			vs[i] = []uint64{0, 1, 1 << 63, math.MaxUint64, r.Uint64()}[r.IntN(5)]
		}
		bs, cs := make([]byte, n), make([]byte, n)
		for i := range bs {
			bs[i], cs[i] = byte(vs[i]), byte(vs[n+i])
		}
		m := mask()
		x, y := rec40{B: true}, rec40{A: [9]int32{int32(r.Uint32())}}
		return func() {
			for i := range n {
				a, b := vs[i], vs[n+i]
				f, g := math.Float64frombits(a), math.Float64frombits(b)
				_ = o.Lt(a, b) | o.Le(a, b) | o.Gt(a, b) | o.Ge(a, b) | o.Eq(a, b) | o.IsZero(a) |
					o.LtInt(int64(a), int64(b)) | o.EqInt(int64(a), int64(b)) | o.LtFloat(f, g)
				_ = o.Select(m, a, b) + uint64(o.SelectInt(m, int64(a), int64(b))) + o.FloatKey(o.SelectFloat(m, f, g))
				_ = m.Not().Or(m).AndNot(m).Bit() + o.FromBit(a).Bit()
				o.CondSwap64(m, &vs[i], &vs[n+i])
				o.CondSwap(m, &x, &y)
				o.CondMove(m, &x, &y)
				x = o.SelectRecord(m, x, y)
			}
			o.CondCopyBytes(m, bs, cs)
			o.CondSwapBytes(m, bs, cs)
			_ = o.EqBytes(bs, cs)
		}
	},
}

const pairs = %d

func main() {
	lines := 0
	idle := counters(func() {})
	names := make([]string, 0, len(primitives))
	for name := range primitives {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		for i := range pairs {
			n := i
			if i > 40 {
				n = 41 + r.IntN(200)
			}
			a, b := primitives[name](n), primitives[name](n)
			ca, cb := counters(a), counters(b)
			moved := "moved"
			if diff(ca, idle) == "same" {
				moved = "idle"
			}
			fmt.Println(name, n, moved, diff(ca, cb))
			lines++
		}
	}
	control := func(name string, a, b func()) {
		fmt.Println("control", name, diff(counters(a), counters(b)))
		lines++
	}
	rs := make([]rec, 4)
	control("length", func() { o.Read(rs[:3], 0) }, func() { o.Read(rs, 0) })
	control("type", func() { _ = o.CheckRecord[uint64]() }, func() { _ = o.CheckRecord[[2]rec12]() })
	control("panic", func() { o.EqBytes(nil, nil) }, func() {
		defer func() { recover() }()
		o.EqBytes(nil, []byte{1})
	})
	fmt.Println("done", lines)
}
`

const branchPairs = 60

var branchPrimitives = []string{"Aggregate", "Compact", "ORAM", "Read", "Sort", "Sort7", "SortUint64", "Write", "blocks"}

func TestBranches(t *testing.T) {
	src := strings.Replace(branchProbe, "%d", strconv.Itoa(branchPairs), 1)
	// The probe's own package (probe) is instrumented too: only an
	// instrumented main package calls the hook that sets the coverage
	// runtime up. Its code between the snapshots is a closure calling the
	// primitive, with loops over public counts only.
	bin := buildProbe(t, src, nil, "-cover", "-covermode=atomic", "-coverpkg="+obliviousPkg+",probe")
	cmd := exec.Command(bin)
	cmd.Env = append(cmd.Environ(), "GOCOVERDIR="+t.TempDir())
	out, err := cmd.Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("branch probe: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("branch probe: %v", err)
	}
	pairs := map[string]int{}
	controls := map[string]bool{}
	lines := 0
	done := false
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 2 && f[0] == "done":
			done = true
			if f[1] != strconv.Itoa(lines) {
				t.Errorf("probe says it printed %s lines, read %d", f[1], lines)
			}
			continue
		case len(f) >= 3 && f[0] == "control":
			controls[f[1]] = true
			if f[2] != "differ" {
				t.Errorf("control %s: the counters compare equal although the block counts differ", f[1])
			} else {
				t.Logf("control %s: %s", f[1], strings.Join(f[2:], " "))
			}
		case len(f) >= 4:
			pairs[f[0]]++
			if f[2] != "moved" {
				t.Errorf("%s n=%s: no coverage counter moved: is package oblivious instrumented?", f[0], f[1])
			}
			if f[3] != "same" {
				t.Errorf("%s n=%s: basic-block counts differ between two secrets (%s)", f[0], f[1], strings.Join(f[3:], " "))
			}
		default:
			t.Fatalf("unexpected probe output %q", sc.Text())
		}
		lines++
	}
	if !done {
		t.Fatalf("probe output ends early:\n%s", out)
	}
	for _, name := range branchPrimitives {
		if pairs[name] != branchPairs {
			t.Errorf("%s: %d pairs checked, want %d", name, pairs[name], branchPairs)
		}
	}
	if len(pairs) != len(branchPrimitives) {
		t.Errorf("probe checked %v, want %v", slices.Sorted(maps.Keys(pairs)), branchPrimitives)
	}
	for _, c := range []string{"length", "type", "panic"} {
		if !controls[c] {
			t.Errorf("control %s did not run", c)
		}
	}
	t.Logf("%d primitives × %d pairs of secrets: identical basic-block counts; %d controls differ", len(pairs), branchPairs, len(controls))
}
