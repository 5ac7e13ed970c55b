package oblivious

// TestObjdump disassembles the building blocks as the compiler emits them
// for production and checks them for branches.
//
// It builds a small program (a throwaway module in a temporary directory,
// joined to this module by a go.work file) that references every building
// block and instantiates CondSwap, CondMove and SelectRecord on records of
// several shapes. The program is built for linux/amd64, the enclave
// target, at the default GOAMD64=v1, without -race, -cover or tags
// whatever this test binary was built with, and disassembled with
// `go tool objdump`. (Not at v3: there the compiler emits BMI instructions
// such as ANDN, which objdump's decoder does not know; it prints "?" and
// decodes the next bytes out of step. An undecodable instruction in a
// checked function fails the test.) The checks:
//
//   - Branch-free functions (Lt, Le, Gt, Ge, Eq, IsZero, LtInt, EqInt,
//     FloatKey, LtFloat, LtFinite, Select, SelectInt, SelectFloat, CondSwap64,
//     FromBit and the Mask methods): no jump of any kind (conditional,
//     unconditional, LOOP*, J*CXZ), no CALL, no DIV/IDIV (variable
//     latency), and a final RET. They are small leaves, so the compiler
//     emits no stack check either.
//   - Looped functions (every CondSwap, CondMove and SelectRecord
//     instance; CondCopyBytes, CondSwapBytes, EqBytes) loop over the
//     record's words or bytes or over a slice, so they contain
//     conditional jumps. Each must be either (a) a slow-path exit: a
//     forward jump whose target runs straight into a call of
//     runtime.morestack* (the stack-growth check, whose condition is the
//     stack pointer) or runtime.panic*/gopanic (the checks of unsafe.Slice
//     and of equal lengths, taken only when the program panics); or (b) a
//     loop back edge: a backward jump whose flags are set by the
//     instruction just before it, a CMP or TEST of an induction register
//     against a constant, another induction register or — for the
//     byte-slice functions only — the register carrying a slice length
//     argument under ABIInternal, not written before the jump. An
//     induction register is one whose last write before the loop (in
//     address order, outside slow paths) sets it to a constant (XOR r,r or
//     MOV $c), whose writes inside the loop add or set a constant (INC,
//     ADD $c, MOV $c), and no jump enters the loop from below. So loops run
//     a number of times fixed by the record's size or a slice's length,
//     both public. Each shape instance and byte-slice function has exactly
//     one back edge (none for a zero-size record); calls are allowed only
//     to the runtime slow paths and to other checked functions (an
//     instantiation wrapper calls its shape's body). Anything else — a
//     forward conditional jump that does not leave for a slow path, a loop
//     bounded by the mask's register, an indirect jump — fails.
//   - Access width: no CondSwap or CondMove instance reads or writes data
//     in units wider than the record's alignment (a *uint64 view of a
//     4-aligned record is misaligned, and checkptr does not flag it for
//     pointer-free types).
//
// Controls in the probe — a branch on a secret, a loop bounded by a
// secret, an early-exit comparison, an 8-byte load from a 1-aligned array
// — must fail the checks, and every expected function must be in the
// disassembly, so a function that was inlined away or renamed fails the
// test rather than passing unchecked.

import (
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const obliviousPkg = "github.com/confide/confide/oblivious"

// objdumpProbe is the program whose disassembly is checked.
const objdumpProbe = `package main

import (
	"fmt"
	"unsafe"

	o "github.com/confide/confide/oblivious"
)

type (
	rec0  struct{}
	rec1  [1]byte
	rec3  [3]byte
	rec8  struct{ A uint64 }
	rec8b [2]uint32
	rec12 struct{ A, B, C uint32 }
	rec24 struct{ A, B, C uint64 }
	rec40 struct {
		A [4]uint64
		B uint8
	}
)

var keep = []any{
	o.Lt, o.Le, o.Gt, o.Ge, o.Eq, o.IsZero, o.LtInt, o.EqInt, o.FloatKey, o.LtFloat, o.LtFinite,
	o.Select, o.SelectInt, o.SelectFloat, o.CondSwap64, o.FromBit,
	o.Mask.Not, o.Mask.And, o.Mask.Or, o.Mask.AndNot, o.Mask.Bit,
	o.CondCopyBytes, o.CondSwapBytes, o.EqBytes,
	o.CondSwap[rec0], o.CondSwap[rec1], o.CondSwap[rec3], o.CondSwap[rec8], o.CondSwap[rec8b],
	o.CondSwap[rec12], o.CondSwap[rec24], o.CondSwap[rec40],
	o.CondMove[rec0], o.CondMove[rec1], o.CondMove[rec3], o.CondMove[rec8], o.CondMove[rec8b],
	o.CondMove[rec12], o.CondMove[rec24], o.CondMove[rec40],
	o.SelectRecord[rec3], o.SelectRecord[rec12], o.SelectRecord[rec40],
	controlBranch, controlSecretLoop, controlEarlyExit, controlWide,
}

func main() { fmt.Println(len(keep)) }

// Controls: code that the checks must reject.

//go:noinline
func work(x uint64) uint64 { return x*x + 1 }

func controlBranch(a, b uint64) uint64 {
	if a < b {
		return work(a)
	}
	return b
}

func controlSecretLoop(m uint64, p *[8]uint64) {
	for i := uint64(0); i < m; i++ {
		p[i&7] ^= i
	}
}

func controlWide(p *[16]byte) uint64 { return *(*uint64)(unsafe.Pointer(&p[3])) }

func controlEarlyExit(a, b []byte) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
`

// branchFree are the functions that must contain no jump at all.
var branchFree = []string{
	"Lt", "Le", "Gt", "Ge", "Eq", "IsZero", "LtInt", "EqInt", "FloatKey", "LtFloat", "LtFinite",
	"Select", "SelectInt", "SelectFloat", "CondSwap64", "FromBit",
	"Mask.Not", "Mask.And", "Mask.Or", "Mask.AndNot", "Mask.Bit",
}

// lengthRegs are, for the byte-slice functions, the registers that carry
// the slices' lengths under ABIInternal on amd64 (arguments are assigned
// AX, BX, CX, DI, SI, R8, R9, … in order; a slice takes three).
var lengthRegs = map[string][]string{
	"CondCopyBytes": {"CX", "R8"}, // (m, dst, src): m=AX dst=BX,CX,DI src=SI,R8,R9
	"CondSwapBytes": {"CX", "R8"},
	"EqBytes":       {"BX", "SI"}, // (a, b): a=AX,BX,CX b=DI,SI,R8
}

// shapeAlign returns the CondSwap and CondMove instances of the probe,
// with their record's alignment. All must be present, and every instance
// in the binary must be listed: the test checks that none accesses memory
// in units wider than the record's alignment. (checkptr, which -race
// turns on, does not catch a misaligned *uint64: it only checks the
// alignment of pointers to types that contain pointers; see
// golang.org/issue/37298.)
func shapeAlign() map[string]int {
	m := map[string]int{}
	for shape, align := range map[string]int{
		"struct {}": 1,
		"[1]uint8":  1,
		"[3]uint8":  1,
		"[2]uint32": 4,
		"struct { A uint32; B uint32; C uint32 }": 4,
		"struct { A uint64 }":                     8,
		"struct { A uint64; B uint64; C uint64 }": 8,
		"struct { A [4]uint64; B uint8 }":         8,
	} {
		for _, f := range []string{"CondSwap", "CondMove"} {
			m[f+"[go.shape."+shape+"]"] = align
		}
	}
	return m
}

func TestObjdump(t *testing.T) {
	funcs := disassembleProbe(t)
	aligns := shapeAlign()
	checked := map[string]bool{}
	for name := range funcs {
		if isLooped(name) || isBranchFreeName(name) {
			checked[name] = true
		}
	}
	report := func(name string, fn []asmInst, problems []string) {
		t.Helper()
		if len(problems) > 0 {
			t.Errorf("%s:\n\t%s\n%s", name, strings.Join(problems, "\n\t"), asmListing(fn))
		}
	}
	for _, name := range branchFree {
		fn, ok := funcs[name]
		if !ok {
			t.Errorf("%s is not in the disassembly", name)
			continue
		}
		report(name, fn, checkBranchFree(fn))
	}
	for _, name := range slices.Concat(slices.Sorted(maps.Keys(aligns)), []string{"CondCopyBytes", "CondSwapBytes", "EqBytes"}) {
		if _, ok := funcs[name]; !ok {
			t.Errorf("%s is not in the disassembly", name)
		}
	}
	for name, fn := range funcs {
		if !strings.Contains(name, "[go.shape.") || !isLooped(name) {
			continue
		}
		align, ok := aligns[name]
		if !ok {
			t.Errorf("%s: shape not in shapeAlign, so its accesses are not checked", name)
			continue
		}
		report(name, fn, checkAccessWidth(fn, align))
	}
	var looped []string
	for name, fn := range funcs {
		if isLooped(name) {
			report(name, fn, checkLooped(name, fn, checked))
			looped = append(looped, name)
		}
	}
	// The controls show that the checks can fail.
	for name, check := range map[string]func([]asmInst) []string{
		"main.controlBranch":     checkBranchFree,
		"main.controlSecretLoop": func(fn []asmInst) []string { return checkLooped("main.controlSecretLoop", fn, checked) },
		"main.controlEarlyExit":  func(fn []asmInst) []string { return checkLooped("main.controlEarlyExit", fn, checked) },
		"main.controlWide":       func(fn []asmInst) []string { return checkAccessWidth(fn, 1) },
	} {
		fn, ok := funcs[name]
		if !ok {
			t.Errorf("control %s is not in the disassembly", name)
			continue
		}
		if problems := check(fn); len(problems) == 0 {
			t.Errorf("control %s passed the check:\n%s", name, asmListing(fn))
		} else {
			t.Logf("control %s rejected: %s", name, strings.Join(problems, "; "))
		}
	}
	slices.Sort(looped)
	t.Logf("checked %d branch-free functions: %s", len(branchFree), strings.Join(branchFree, ", "))
	t.Logf("checked %d looped functions: %s", len(looped), strings.Join(looped, ", "))
}

func isBranchFreeName(name string) bool { return slices.Contains(branchFree, name) }

func isLooped(name string) bool {
	if _, ok := lengthRegs[name]; ok {
		return true
	}
	for _, p := range []string{"CondSwap[", "CondMove[", "SelectRecord["} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// asmInst is one disassembled instruction.
type asmInst struct {
	addr uint64
	enc  string   // encoding, hex
	op   string   // mnemonic, e.g. "JBE"
	args []string // Go assembler order: sources first, destination last
	text string
}

// disassembleProbe builds the probe and returns the package's functions
// (and the controls), keyed by name without this package's path.
func disassembleProbe(t *testing.T) map[string][]asmInst {
	t.Helper()
	bin := buildProbe(t, objdumpProbe, []string{"GOOS=linux", "GOARCH=amd64", "GOAMD64=v1"})
	out, err := exec.Command(goCommand(t), "tool", "objdump", "-s", "^("+regexp.QuoteMeta(obliviousPkg+".")+`|main\.control)`, bin).CombinedOutput()
	if err != nil {
		t.Fatalf("go tool objdump: %v\n%s", err, out)
	}
	funcs := parseObjdump(t, string(out))
	if len(funcs) == 0 {
		t.Fatalf("objdump matched no function of %s", obliviousPkg)
	}
	return funcs
}

// buildProbe builds the program src, which imports this module, and
// returns the binary's path. The program is a throwaway module in a
// temporary directory joined to this one by a go.work file, so it builds
// offline with this module's go.sum. Build flags come only from the
// arguments: GOFLAGS from the environment (-race, -cover, tags) is
// dropped.
func buildProbe(t *testing.T, src string, env []string, flags ...string) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\S+)`).FindSubmatch(gomod)
	if m == nil {
		t.Fatal("no go directive in go.mod")
	}
	dir := t.TempDir()
	files := map[string]string{
		"go.work":       fmt.Sprintf("go %s\n\nuse (\n\t%s\n\t./probe\n)\n", m[1], strconv.Quote(root)),
		"probe/go.mod":  fmt.Sprintf("module probe\n\ngo %s\n", m[1]),
		"probe/main.go": src,
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "probe.bin")
	build := exec.Command(goCommand(t), slices.Concat([]string{"build", "-o", bin}, flags, []string{"."})...)
	build.Dir = filepath.Join(dir, "probe")
	build.Env = slices.Concat(os.Environ(), []string{
		"GOWORK=" + filepath.Join(dir, "go.work"),
		"GOFLAGS=-buildvcs=false",
		"CGO_ENABLED=0",
	}, env)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building a probe program: %v\n%s", err, out)
	}
	return bin
}

// goCommand finds the go command: go test puts $GOROOT/bin first in the
// PATH of the test binary.
func goCommand(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build and disassemble the probe: %v", err)
	}
	return p
}

var textLine = regexp.MustCompile(`^TEXT (\S.*)\(SB\)`)

func parseObjdump(t *testing.T, out string) map[string][]asmInst {
	t.Helper()
	funcs := map[string][]asmInst{}
	var cur string
	for line := range strings.Lines(out) {
		line = strings.TrimRight(line, "\r\n")
		if m := textLine.FindStringSubmatch(line); m != nil {
			cur = strings.TrimPrefix(m[1], obliviousPkg+".")
			funcs[cur] = nil
			continue
		}
		if cur == "" || strings.TrimSpace(line) == "" {
			continue
		}
		var fields []string
		for f := range strings.SplitSeq(line, "\t") {
			if f = strings.TrimSpace(f); f != "" {
				fields = append(fields, f)
			}
		}
		// file:line, address, encoding, instruction.
		if len(fields) < 4 {
			t.Fatalf("unexpected objdump line %q", line)
		}
		addr, err := strconv.ParseUint(strings.TrimPrefix(fields[1], "0x"), 16, 64)
		if err != nil {
			t.Fatalf("objdump line %q: %v", line, err)
		}
		text := strings.Join(fields[3:], " ")
		op, rest, _ := strings.Cut(text, " ")
		var args []string
		if rest = strings.TrimSpace(rest); rest != "" {
			args = strings.Split(rest, ", ")
		}
		funcs[cur] = append(funcs[cur], asmInst{addr: addr, enc: fields[2], op: op, args: args, text: text})
	}
	return funcs
}

func isJump(op string) bool     { return strings.HasPrefix(op, "J") || strings.HasPrefix(op, "LOOP") }
func isCondJump(op string) bool { return isJump(op) && op != "JMP" }
func isVariableTime(op string) bool {
	return strings.HasPrefix(op, "DIV") || strings.HasPrefix(op, "IDIV")
}

// checkBranchFree returns what makes fn not branch-free.
func checkBranchFree(fn []asmInst) (problems []string) {
	if len(fn) == 0 || fn[len(fn)-1].op != "RET" {
		problems = append(problems, "does not end in RET")
	}
	for _, in := range fn {
		if isJump(in.op) || in.op == "CALL" || isVariableTime(in.op) || in.op == "?" {
			problems = append(problems, fmt.Sprintf("%#x: %s is not allowed in a branch-free function", in.addr, in.text))
		}
	}
	return problems
}

var (
	asmReg       = regexp.MustCompile(`^(AX|BX|CX|DX|SI|DI|BP|SP|R[0-9]+)$`)
	asmImmediate = regexp.MustCompile(`^\$-?(0x[0-9a-f]+|[0-9]+)$`)
	slowPath     = regexp.MustCompile(`^runtime\.(morestack|panic|gopanic)`)
)

// writesDest reports whether op writes its last operand.
func writesDest(op string) bool {
	for _, p := range []string{"CMP", "TEST", "UCOMIS", "COMIS", "PUSH", "J", "CALL", "RET", "NOP", "UD", "PREFETCH"} {
		if strings.HasPrefix(op, p) {
			return false
		}
	}
	return op != "BTQ" && op != "BTL"
}

// unmodelled are instructions that write registers other than their last
// operand; the analysis below does not handle them.
var unmodelled = regexp.MustCompile(`^(MUL|IMUL[BWLQ]?$|DIV|IDIV|CQO|CDQ|CWD|CPUID|RDTSC|XCHG|XADD|CMPXCHG|REP|MOVS[BWLQ]$|STOS|LODS|SCAS|CMPS[BWLQ]$)`)

// checkLooped returns the conditional jumps and calls of fn that are not
// loop control or slow-path exits (see the top of the file).
func checkLooped(name string, fn []asmInst, checked map[string]bool) (problems []string) {
	fail := func(format string, args ...any) {
		problems = append(problems, fmt.Sprintf(format, args...))
	}
	index := map[uint64]int{}
	for i, in := range fn {
		index[in.addr] = i
	}
	// The stack-growth path reloads the argument registers and restarts
	// the function from its entry; writes there do not reach a loop.
	slow := slowPathInsts(fn, index)
	writes := func(i int, r string) bool {
		in := fn[i]
		return !slow[i] && len(in.args) > 0 && writesDest(in.op) && in.args[len(in.args)-1] == r
	}
	for _, in := range fn {
		if unmodelled.MatchString(in.op) {
			fail("unmodelled instruction %s", in.text)
			return problems
		}
	}
	// induction reports whether r counts the iterations of the loop
	// fn[head..edge]: the last write before the loop sets it to a
	// constant (XOR r,r or MOV $c,r), every write inside adds a constant
	// (INC r or ADD $c,r) or sets one (MOV $c,r: the compiler's form of a
	// one-iteration loop), and no jump enters the loop from below.
	induction := func(r string, head, edge int) bool {
		if !asmReg.MatchString(r) {
			return false
		}
		init := false
		for i := range head {
			if writes(i, r) {
				in := fn[i]
				init = (strings.HasPrefix(in.op, "XOR") && len(in.args) == 2 && in.args[0] == r) ||
					(strings.HasPrefix(in.op, "MOV") && len(in.args) == 2 && asmImmediate.MatchString(in.args[0]))
			}
		}
		if !init {
			return false
		}
		for i := head; i <= edge; i++ {
			if writes(i, r) {
				in := fn[i]
				if !(strings.HasPrefix(in.op, "INC") && len(in.args) == 1) &&
					!(strings.HasPrefix(in.op, "ADD") && len(in.args) == 2 && asmImmediate.MatchString(in.args[0])) &&
					!(strings.HasPrefix(in.op, "MOV") && len(in.args) == 2 && asmImmediate.MatchString(in.args[0])) {
					return false
				}
			}
		}
		for i := edge + 1; i < len(fn); i++ {
			if a, ok := jumpTarget(fn[i]); ok && a >= fn[head].addr && a <= fn[edge].addr {
				return false
			}
		}
		return true
	}
	writtenBefore := func(r string, end int) bool {
		for i := range end {
			if writes(i, r) {
				return true
			}
		}
		return false
	}
	backEdges := 0
	for i, in := range fn {
		switch {
		case in.op == "CALL":
			callee := ""
			if len(in.args) == 1 {
				callee = strings.TrimSuffix(in.args[0], "(SB)")
			}
			if !slowPath.MatchString(callee) && !checked[strings.TrimPrefix(callee, obliviousPkg+".")] {
				fail("%#x: call of %s, which this test does not check", in.addr, callee)
			}
			continue
		case in.op == "JMP":
			if _, ok := jumpTarget(in); !ok && !strings.HasPrefix(in.args[0], obliviousPkg+".") {
				fail("%#x: indirect or external jump %s", in.addr, in.text)
			}
			continue
		case isVariableTime(in.op) || in.op == "?":
			fail("%#x: %s", in.addr, in.text)
			continue
		case !isCondJump(in.op):
			continue
		}
		target, ok := jumpTarget(in)
		if !ok {
			fail("%#x: conditional jump with a computed target: %s", in.addr, in.text)
			continue
		}
		ti, ok := index[target]
		if !ok {
			fail("%#x: conditional jump out of the function: %s", in.addr, in.text)
			continue
		}
		if target > in.addr {
			if _, ok := toSlowPath(fn, index, ti); !ok {
				fail("%#x: forward conditional jump %s does not lead to a runtime slow path", in.addr, in.text)
			}
			continue
		}
		// A back edge: the flags must come from the previous instruction,
		// comparing an induction register with a public bound.
		backEdges++
		if i == 0 {
			fail("%#x: back edge at the function's start", in.addr)
			continue
		}
		cmp := fn[i-1]
		if !(strings.HasPrefix(cmp.op, "CMP") || strings.HasPrefix(cmp.op, "TEST")) || len(cmp.args) != 2 {
			fail("%#x: back edge %s: flags set by %s, not a comparison", in.addr, in.text, cmp.text)
			continue
		}
		a, b := cmp.args[0], cmp.args[1]
		public := func(x string) bool {
			if asmImmediate.MatchString(x) || induction(x, ti, i) {
				return true
			}
			for _, r := range lengthRegs[name] {
				if x == r && !writtenBefore(r, i) {
					return true
				}
			}
			return false
		}
		if !((induction(a, ti, i) && public(b)) || (induction(b, ti, i) && public(a))) {
			fail("%#x: back edge %s on %s: not an induction register against a public bound", in.addr, in.text, cmp.text)
		}
	}
	want := 1
	if strings.Contains(name, "[go.shape.struct {}]") {
		want = 0
	}
	if strings.Contains(name, "[go.shape.") || lengthRegs[name] != nil {
		if backEdges != want {
			fail("%d loop back edges, want %d", backEdges, want)
		}
	} else if backEdges > 1 {
		// An instantiation wrapper: it calls its shape's body.
		fail("%d loop back edges in a wrapper", backEdges)
	}
	return problems
}

// toSlowPath follows the straight-line code from fn[i] (falling through
// conditional jumps, following unconditional ones) and reports whether it
// reaches a call of a runtime slow path before returning, and the indexes
// of the instructions on the way.
func toSlowPath(fn []asmInst, index map[uint64]int, i int) (path []int, ok bool) {
	for steps := 0; steps < 64 && i < len(fn); steps++ {
		in := fn[i]
		path = append(path, i)
		switch {
		case in.op == "RET":
			return nil, false
		case in.op == "CALL":
			return path, len(in.args) == 1 && slowPath.MatchString(in.args[0])
		case in.op == "JMP":
			a, ok := jumpTarget(in)
			if !ok {
				return nil, false
			}
			if i, ok = index[a]; !ok {
				return nil, false
			}
			continue
		}
		i++
	}
	return nil, false
}

// slowPathInsts marks the instructions of the slow paths that forward
// conditional jumps lead to, including, after a call of runtime.morestack,
// the reloads of the arguments and the jump back to the function's entry.
func slowPathInsts(fn []asmInst, index map[uint64]int) map[int]bool {
	slow := map[int]bool{}
	for _, in := range fn {
		target, ok := jumpTarget(in)
		if !isCondJump(in.op) || !ok || target <= in.addr {
			continue
		}
		ti, ok := index[target]
		if !ok {
			continue
		}
		path, ok := toSlowPath(fn, index, ti)
		if !ok {
			continue
		}
		for _, i := range path {
			slow[i] = true
		}
		last := path[len(path)-1]
		if !strings.HasPrefix(fn[last].args[0], "runtime.morestack") {
			continue
		}
		for i := last + 1; i < len(fn); i++ {
			slow[i] = true
			if fn[i].op == "JMP" {
				break
			}
		}
	}
	return slow
}

// dataOperand is a memory operand based on a general register: not the
// stack frame (SP), the goroutine (R14), code or static data (SB, IP).
var dataOperand = regexp.MustCompile(`\((AX|BX|CX|DX|SI|DI|BP|R8|R9|R10|R11|R12|R13|R15)\)`)

// checkAccessWidth returns fn's accesses to data memory wider than align
// bytes.
func checkAccessWidth(fn []asmInst, align int) (problems []string) {
	for _, in := range fn {
		if strings.HasPrefix(in.op, "LEA") || strings.HasPrefix(in.op, "NOP") || in.op == "CALL" || isJump(in.op) {
			continue // no data access
		}
		mem := false
		for _, a := range in.args {
			mem = mem || dataOperand.MatchString(a)
		}
		if !mem {
			continue
		}
		width := 0
		switch {
		case in.op == "MOVZX" || in.op == "MOVSX":
			// 0F B6/BE load a byte, 0F B7/BF a word.
			switch {
			case strings.Contains(in.enc, "0fb6") || strings.Contains(in.enc, "0fbe"):
				width = 1
			case strings.Contains(in.enc, "0fb7") || strings.Contains(in.enc, "0fbf"):
				width = 2
			}
		case strings.HasSuffix(in.op, "B"):
			width = 1
		case strings.HasSuffix(in.op, "W"):
			width = 2
		case strings.HasSuffix(in.op, "L"):
			width = 4
		case strings.HasSuffix(in.op, "Q"):
			width = 8
		}
		switch {
		case width == 0:
			problems = append(problems, fmt.Sprintf("%#x: %s: memory access of unknown width", in.addr, in.text))
		case width > align:
			problems = append(problems, fmt.Sprintf("%#x: %s: %d-byte access to a record aligned to %d", in.addr, in.text, width, align))
		}
	}
	return problems
}

// jumpTarget returns a direct jump's target address within the binary.
func jumpTarget(in asmInst) (uint64, bool) {
	if len(in.args) != 1 || !strings.HasPrefix(in.args[0], "0x") {
		return 0, false
	}
	a, err := strconv.ParseUint(in.args[0][2:], 16, 64)
	return a, err == nil
}

func asmListing(fn []asmInst) string {
	var b strings.Builder
	for _, in := range fn {
		fmt.Fprintf(&b, "\t%#x\t%s\n", in.addr, in.text)
	}
	return b.String()
}
