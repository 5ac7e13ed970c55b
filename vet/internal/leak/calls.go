package leak

import (
	"fmt"
	"go/token"
	"go/types"
	"strings"

	"golang.org/x/tools/go/ssa"

	"github.com/confide/confide/vet/internal/summary"
)

// target is a resolved callee.
type target struct {
	name    string        // for messages: "fmt.Println", "helper"
	sum     *summary.Func // summary, if known
	sp      *special      // built-in behaviour, if any
	actuals []ssa.Value   // in summary order: receiver, arguments, closure bindings
	obj     *types.Func
	sig     *types.Signature
	// allowed: an unknown callee that is nevertheless constant-time.
	dynamic bool
	extra   ssa.Value // the function value of a dynamic call
	via     string    // for unknown callees: how to name them in paths
}

// call applies a call's effects and, in the final pass, checks it.
func (s *fnState) call(instr ssa.CallInstruction, c *ssa.CallCommon, res ssa.Value) {
	if b, ok := c.Value.(*ssa.Builtin); ok {
		s.builtin(instr, b, c.Args, res)
		return
	}
	t := s.resolve(c)
	if t.sp != nil && t.sp.kind == spUnanalysed {
		s.applyDefault(instr, t, res)
		return
	}
	if t.sp != nil {
		s.applySpecial(instr, t, res)
		return
	}
	if t.sum == nil {
		s.applyDefault(instr, t, res)
		return
	}
	s.applySummary(instr, t, res)
}

// resolve finds what a call calls.
func (s *fnState) resolve(c *ssa.CallCommon) target {
	if c.IsInvoke() {
		actuals := append([]ssa.Value{c.Value}, c.Args...)
		return s.p.methodTarget(c.Method, actuals)
	}
	var fn *ssa.Function
	actuals := c.Args
	switch v := c.Value.(type) {
	case *ssa.MakeClosure:
		fn = v.Fn.(*ssa.Function)
		if obj := boundMethod(fn); obj != nil {
			return s.p.funcTarget(obj, append([]ssa.Value{v.Bindings[0]}, c.Args...))
		}
		actuals = append(append([]ssa.Value(nil), c.Args...), v.Bindings...)
	case *ssa.Function:
		fn = v
	}
	if fn == nil {
		return target{name: "a function value", dynamic: true, actuals: actuals, extra: c.Value, sig: c.Signature()}
	}
	return s.p.ssaTarget(fn, actuals)
}

// boundMethod returns the method of a bound method wrapper.
func boundMethod(fn *ssa.Function) *types.Func {
	if fn.Synthetic == "" || !strings.HasPrefix(fn.Synthetic, "bound method wrapper") {
		return nil
	}
	obj, _ := fn.Object().(*types.Func)
	return obj
}

// ssaTarget resolves a static callee.
func (p *pkgState) ssaTarget(fn *ssa.Function, actuals []ssa.Value) target {
	origin := fn
	if o := fn.Origin(); o != nil {
		origin = o
	}
	if sum, ok := p.sums[origin]; ok {
		if obj, ok := origin.Object().(*types.Func); ok {
			if sp, ok := lookupSpecial(obj.FullName(), pkgPath(obj), obj.Name()); ok {
				return target{name: p.name(origin), sp: &sp, actuals: actuals, obj: obj, sig: origin.Signature, sum: sum}
			}
		}
		return target{name: p.name(origin), sum: sum, actuals: actuals, sig: origin.Signature}
	}
	if obj, ok := fn.Object().(*types.Func); ok {
		return p.funcTarget(obj, actuals)
	}
	return target{name: fn.String(), dynamic: true, actuals: actuals, sig: fn.Signature}
}

func pkgPath(obj types.Object) string {
	if obj.Pkg() == nil {
		return ""
	}
	return obj.Pkg().Path()
}

// funcTarget resolves a function or method object.
func (p *pkgState) funcTarget(obj *types.Func, actuals []ssa.Value) target {
	obj = obj.Origin()
	t := target{name: p.qualName(obj), obj: obj, actuals: actuals, sig: obj.Type().(*types.Signature)}
	if sp, ok := lookupSpecial(obj.FullName(), pkgPath(obj), obj.Name()); ok {
		t.sp = &sp
		return t
	}
	if obj.Pkg() == p.pass.Pkg {
		if fn := p.ssa.Prog.FuncValue(obj); fn != nil {
			if sum, ok := p.sums[fn]; ok {
				t.sum = sum
				return t
			}
		}
	}
	t.sum = p.factOf(obj)
	return t
}

// methodTarget resolves an interface method call.
func (p *pkgState) methodTarget(m *types.Func, actuals []ssa.Value) target {
	m = m.Origin()
	t := target{name: p.qualName(m), obj: m, actuals: actuals, sig: m.Type().(*types.Signature)}
	if sp, ok := lookupSpecial(m.FullName(), pkgPath(m), m.Name()); ok {
		t.sp = &sp
		return t
	}
	if sum := p.ifaceSums[m]; sum != nil {
		t.sum = sum
		return t
	}
	t.sum = p.factOf(m)
	if t.sum == nil {
		t.via = "interface method " + t.name + " (not annotated oblivious)"
	}
	return t
}

// resultCount is the number of results of a call.
func resultCount(res ssa.Value) int {
	if res == nil {
		return 0
	}
	if tup, ok := res.Type().(*types.Tuple); ok {
		return tup.Len()
	}
	return 1
}

// setResults records the results of a call: taints ts, and objects
// aliased with alias (nil entries: a fresh object per result).
func (s *fnState) setResults(instr ssa.Instruction, res ssa.Value, ts []taint, alias []*object) {
	if res == nil {
		return
	}
	n := resultCount(res)
	if n == 0 {
		return
	}
	tup, isTuple := res.Type().(*types.Tuple)
	objs := make([]*object, n)
	for r := range n {
		rt := res.Type()
		if isTuple {
			rt = tup.At(r).Type()
		}
		if mayPoint(rt) {
			if alias != nil && alias[r] != nil {
				// The result points into an argument: share its
				// object. What the result carries besides stays in
				// its value's taint, not in the argument's object.
				objs[r] = alias[r]
			} else {
				objs[r] = s.callObj(instr, r, ts[r])
			}
		}
	}
	if isTuple {
		s.set(res, vinfo{tup: ts, tobj: objs})
	} else {
		s.set(res, vinfo{t: ts[0], obj: objs[0]})
	}
}

// argFlow is one flow of a callee's parameter with the taint of the part
// of the argument it concerns.
type argFlow struct {
	fl   *summary.Flow
	d    taint
	obj  *object
	hop  string // "f(p)" or "f(p.field)"
	path string
}

// argFlows pairs a parameter's flows with the argument a. In a precise
// summary the parameter's own flow concerns the argument's value, and
// each field flow the part of what it points to that it names; otherwise
// every flow concerns the value and all it reaches.
func (s *fnState) argFlows(name string, sum *summary.Func, pf *summary.Param, a ssa.Value) []argFlow {
	vi := s.info(a)
	root := argFlow{fl: &pf.Flow, d: s.deepInfo(vi), obj: vi.obj, hop: name + "(" + pf.Name + ")"}
	if sum.Precise {
		root.d = vi.t
	}
	out := []argFlow{root}
	for k := range pf.Fields {
		f := &pf.Fields[k]
		af := argFlow{fl: &f.Flow, path: f.Path}
		if f.Path == "*" {
			af.hop = name + "(*" + pf.Name + ")"
		} else {
			af.hop = name + "(" + pf.Name + fieldNames(a.Type(), f.Path) + ")"
		}
		if vi.obj != nil {
			af.obj = vi.obj // "*": what the argument points to
			if f.Path != "*" {
				af.obj = s.subPath(vi.obj, f.Path)
			}
			af.d = taint{src: vi.t.src}.join(s.deepObj(af.obj))
		} else {
			af.d = s.deepInfo(vi)
		}
		out = append(out, af)
	}
	return out
}

// fieldNames renders a field path of type t's (pointee's) fields as
// ".a.b".
func fieldNames(t types.Type, path string) string {
	out := ""
	for _, part := range strings.Split(path, ".") {
		if p, ok := t.Underlying().(*types.Pointer); ok {
			t = p.Elem()
		}
		if part == "*" {
			out = "*" + out
			t = elemType(t)
			continue
		}
		st, ok := t.Underlying().(*types.Struct)
		i := 0
		for _, c := range part {
			i = i*10 + int(c-'0')
		}
		if !ok || i >= st.NumFields() {
			return out + "." + part
		}
		out += "." + st.Field(i).Name()
		t = st.Field(i).Type()
	}
	return out
}

// applySummary applies a callee's summary.
func (s *fnState) applySummary(instr ssa.CallInstruction, t target, res ssa.Value) {
	sum := t.sum
	n := min(len(t.actuals), len(sum.Params))
	flows := make([][]argFlow, n)
	for i := range n {
		flows[i] = s.argFlows(t.name, sum, &sum.Params[i], t.actuals[i])
	}
	nres := resultCount(res)
	rt := make([]taint, nres)
	alias := make([]*object, nres)
	for r := range nres {
		if r < len(sum.Results) && sum.Results[r].Secret != "" && !sum.Declassify {
			rt[r] = secretTaint(s.src(sum.Results[r].Secret))
		}
		if sum.Declassify {
			continue
		}
		aliasOK := !sum.Interface && !isErrorResult(res, r) && isPointerLike(resultType(res, r))
		for i := range n {
			for _, af := range flows[i] {
				if summary.Has(af.fl.ToResults, r) {
					rt[r] = rt[r].join(af.d)
					if aliasOK && af.path == "" && af.obj != nil && isPointerLike(t.actuals[i].Type()) {
						alias[r] = s.unify(alias[r], af.obj)
					}
				}
			}
		}
	}
	s.setResults(instr, res, rt, alias)
	s.applyStores(sum, t.actuals, flows)
	if s.final {
		s.checkCall(instr.Pos(), t, flows)
	}
}

// applyStores applies what a summary says the callee writes into memory
// its parameters point to, and into package variables.
func (s *fnState) applyStores(sum *summary.Func, actuals []ssa.Value, flows [][]argFlow) {
	objOf := func(i int) *object {
		if i < len(flows) && len(flows[i]) > 0 {
			return flows[i][0].obj
		}
		return nil
	}
	for i := range flows {
		pf := &sum.Params[i]
		for _, af := range flows[i] {
			for _, st := range af.fl.Stores {
				dst := objOf(st.Param)
				if dst == nil {
					continue
				}
				dst = s.subPath(dst, st.Path)
				if st.Deep {
					s.storeDeep(dst, af.d)
				} else {
					s.store(dst, af.d)
				}
				if af.obj != nil && af.path == "" && st.Path != "" && actuals[i] != nil && isPointerLike(actuals[i].Type()) {
					s.unifyInto(&dst.pointee, af.obj)
				}
			}
			for _, g := range af.fl.Globals {
				s.p.taintGlobal(g, af.d)
			}
		}
		if o := objOf(i); o != nil {
			for _, g := range pf.Gets {
				if g.Deep {
					s.storeDeep(s.subPath(o, g.Path), secretTaint(s.src(g.Origin)))
				} else {
					s.store(s.subPath(o, g.Path), secretTaint(s.src(g.Origin)))
				}
			}
		}
	}
}

func resultType(res ssa.Value, r int) types.Type {
	if tup, ok := res.Type().(*types.Tuple); ok {
		return tup.At(r).Type()
	}
	return res.Type()
}

// checkCall reports leaks through a call's arguments and records, for
// the summary, which parameters reach the callee's sinks and uses.
func (s *fnState) checkCall(pos token.Pos, t target, flows [][]argFlow) {
	sum := t.sum
	for i := range min(len(flows), len(sum.Params)) {
		s.checkFlows(pos, &sum.Params[i], flows[i], s.oblivious, s.name, s.floatDiv)
	}
	if sum.Oblivious {
		s.checkFuncArgs(pos, t)
	}
}

// checkFlows checks the flows of one argument (or captured variable):
// a secret reaching a sink is a direct leak; reaching a use, an indirect
// leak if the use is in an oblivious function or obl holds (the caller
// is oblivious, where names it) — except a floating-point divisor when
// that caller accepts them (floatDiv).
func (s *fnState) checkFlows(pos token.Pos, pf *summary.Param, flows []argFlow, obl bool, where0 string, floatDiv bool) {
	reportedSink, reportedUse := false, false
	for _, af := range flows {
		d := af.d
		if sk := af.fl.Sink; sk != nil {
			via := summary.Via(af.hop, sk.Via)
			if d.src != nil && !pf.Secret && !reportedSink {
				s.report(pos, "direct leak: secret %s reaches %s via %s", d.src.what, sk.Sink, via)
				reportedSink = true
			}
			s.addSinks(d.deps, sk.Sink, via)
		}
		for _, u := range af.fl.Uses {
			if u.Where == "" && u.Kind == summary.FloatDivisor && floatDiv {
				continue // accepted where it is attributed
			}
			applicable := u.Where != "" || obl
			where := u.Where
			if where == "" {
				where = where0
			}
			via := func() string { return summary.Via(af.hop, u.Via) }
			if applicable && d.src != nil && !reportedUse && !(pf.Secret && u.Where != "") {
				s.report(pos, "indirect leak: secret %s used as %s in oblivious function %s via %s", d.src.what, u.Kind, where, via())
				reportedUse = true
			}
			if !applicable {
				where = ""
			}
			s.addUses(d.deps, u.Kind, where, via)
		}
	}
}

// applyDefault applies the conservative summary of a function without
// one: every argument flows to every result and into what the arguments
// it may write point to (writesArg); no sink; not known to be oblivious.
func (s *fnState) applyDefault(instr ssa.CallInstruction, t target, res ssa.Value) {
	var all taint
	D := make([]taint, len(t.actuals))
	for i, a := range t.actuals {
		D[i] = s.deep(a)
		all = all.join(D[i])
	}
	if t.extra != nil {
		all = all.join(s.deep(t.extra))
	}
	for i, a := range t.actuals {
		if writesArg(t, i, a) {
			s.storeDeep(s.objOfValue(a), all)
		}
	}
	n := resultCount(res)
	rt := make([]taint, n)
	for r := range n {
		rt[r] = all
	}
	s.setResults(instr, res, rt, nil)
	if s.final {
		via := t.name
		if t.via != "" {
			via = t.via
		}
		if t.dynamic {
			via = "a call of a function value"
		}
		s.checkUnknown(instr.Pos(), D, via)
	}
}

// checkUnknown handles arguments passed to a function not known to be
// oblivious.
func (s *fnState) checkUnknown(pos token.Pos, D []taint, via string) {
	where := ""
	if s.oblivious {
		where = s.name
	}
	reported := false
	for _, d := range D {
		if s.oblivious && d.src != nil && !reported {
			s.report(pos, "indirect leak: secret %s used as %s in oblivious function %s via %s", d.src.what, summary.Call, s.name, via)
			reported = true
		}
		s.addUses(d.deps, summary.Call, where, func() string { return via })
	}
}

// applySpecial applies a built-in summary.
func (s *fnState) applySpecial(instr ssa.CallInstruction, t target, res ssa.Value) {
	sp := t.sp
	n := resultCount(res)
	switch sp.kind {
	case spSink:
		s.setResults(instr, res, make([]taint, n), nil)
		if s.final {
			for i, a := range t.actuals {
				if sp.args != nil && !contains(sp.args, i) {
					continue
				}
				s.sinkValue(instr.Pos(), s.deep(a), sp.sink+" ("+t.name+")", "")
			}
		}
	case spWriter:
		s.writeCall(instr, t, res)
	case spDeclassify:
		s.setResults(instr, res, make([]taint, n), nil)
	case spDeclassifyArg:
		rt, alias := make([]taint, n), make([]*object, n)
		if sp.k < len(t.actuals) && n > 0 {
			vi := s.info(t.actuals[sp.k])
			rt[0], alias[0] = s.deepInfo(vi), vi.obj
		}
		s.setResults(instr, res, rt, alias)
	case spAllowed, spSecretResult:
		var all taint
		for _, a := range t.actuals {
			all = all.join(s.deep(a))
		}
		for i, a := range t.actuals {
			if writesArg(t, i, a) {
				s.storeDeep(s.objOfValue(a), all)
			}
		}
		rt := make([]taint, n)
		for r := range n {
			rt[r] = all
			if sp.kind == spSecretResult && !isErrorResult(res, r) {
				rt[r] = rt[r].join(secretTaint(s.src("result of " + t.name)))
			}
		}
		s.setResults(instr, res, rt, nil)
		if s.final && sp.kind == spSecretResult {
			D := make([]taint, len(t.actuals))
			for i, a := range t.actuals {
				D[i] = s.deep(a)
			}
			s.checkUnknown(instr.Pos(), D, t.name)
		}
	}
}

// writesArg decides whether a function without a summary may write its
// arguments into actual i. A method writes its receiver; a function its
// pointer, map and channel arguments; either writes arguments of type any
// (decoders' destinations) and slices named as destinations (dst, buf,
// out, dest) or passed to a reading, encoding or encrypting function
// (Read…, Put…, Encode…, Decode…, Encrypt…, Decrypt…, Fill…,
// XORKeyStream, CryptBlocks). Other arguments — slices, non-empty
// interfaces, a method's pointer arguments not named as destinations —
// are taken to be read only.
func writesArg(t target, i int, a ssa.Value) bool {
	if !mayPoint(a.Type()) {
		return false
	}
	if t.sig == nil {
		return isPointerLike(a.Type())
	}
	method := t.sig.Recv() != nil || t.obj != nil && t.obj.Type().(*types.Signature).Recv() != nil && len(t.actuals) > t.sig.Params().Len()
	j := i
	if method {
		if i == 0 {
			return true
		}
		j = i - 1
	}
	var name string
	pt := a.Type()
	if j < t.sig.Params().Len() {
		name = t.sig.Params().At(j).Name()
		pt = t.sig.Params().At(j).Type()
	}
	fname := ""
	if t.obj != nil {
		fname = t.obj.Name()
	}
	switch name {
	case "dst", "dest", "buf", "out", "v", "target":
		return true
	}
	switch u := pt.Underlying().(type) {
	case *types.Slice:
		for _, prefix := range []string{"Read", "Put", "Encode", "Decode", "Encrypt", "Decrypt", "Fill", "XORKeyStream", "CryptBlocks"} {
			if strings.HasPrefix(fname, prefix) {
				return true
			}
		}
		return false
	case *types.Interface:
		return u.Empty()
	case *types.Pointer, *types.Map, *types.Chan:
		return !method
	case *types.Signature:
		return false
	}
	return false
}

func isErrorResult(res ssa.Value, r int) bool {
	t := res.Type()
	if tup, ok := t.(*types.Tuple); ok {
		t = tup.At(r).Type()
	}
	return types.Identical(t, types.Universe.Lookup("error").Type())
}

func contains(xs []int, x int) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// builtin handles calls of Go's built-in functions.
func (s *fnState) builtin(instr ssa.CallInstruction, b *ssa.Builtin, args []ssa.Value, res ssa.Value) {
	switch b.Name() {
	case "len", "cap":
		if res != nil && len(args) == 1 {
			s.set(res, vinfo{t: s.info(args[0]).lenT})
		}
		return
	case "append":
		if res == nil || len(args) != 2 {
			return
		}
		si, xi := s.info(args[0]), s.info(args[1])
		obj := s.unify(s.callObj(instr, 0, taint{}), si.obj)
		add := xi.t.join(s.contents(xi.obj))
		s.storeValue(obj, elemType(args[1].Type()), add, s.loaded(xi.obj, elemType(args[1].Type())))
		s.set(res, vinfo{t: si.t, obj: obj, lenT: si.lenT.join(xi.lenT)})
		return
	case "copy":
		if len(args) == 2 {
			src, dst := s.info(args[1]), s.info(args[0])
			if dst.obj != nil {
				et := elemType(args[1].Type())
				s.storeValue(dst.obj, et, src.t.join(s.contents(src.obj)), s.loaded(src.obj, et))
			}
		}
		return
	case "print", "println":
		if s.final {
			for _, a := range args {
				s.sinkValue(instr.Pos(), s.deep(a), "standard error (builtin "+b.Name()+")", "")
			}
		}
		return
	case "recover", "delete", "clear", "close":
		return
	case "Sizeof", "Alignof", "Offsetof":
		// unsafe's, on a type parameter: they depend on the type only.
		if res != nil {
			s.set(res, vinfo{})
		}
		return
	}
	if res == nil {
		return
	}
	var vi vinfo
	for _, a := range args {
		ai := s.info(a)
		vi.t = vi.t.join(ai.t)
		vi.obj = s.unify(vi.obj, ai.obj)
		vi.lenT = vi.lenT.join(ai.lenT)
	}
	if b.Name() == "ssa:wrapnilchk" && len(args) > 0 {
		vi = s.info(args[0])
	}
	s.set(res, vi)
}

// ---- writers ----

type wkind int

const (
	wMemory   wkind = iota // an in-memory buffer: the data stays in the enclave
	wHash                  // a hash or MAC: its output is declassified
	wAttested              // an attested TLS connection: encrypted to an attested peer
	wSink                  // leaves the enclave
	wMethod                // a Write method with a summary
)

type wtarget struct {
	kind   wkind
	sink   string
	method *types.Func
	recv   ssa.Value
}

// writeCall applies a call that writes data to a writer.
func (s *fnState) writeCall(instr ssa.CallInstruction, t target, res ssa.Value) {
	sp := t.sp
	n := resultCount(res)
	s.setResults(instr, res, make([]taint, n), nil)
	if sp.w >= len(t.actuals) {
		return
	}
	w := t.actuals[sp.w]
	var data taint
	for i, a := range t.actuals {
		if i == sp.w || sp.args != nil && !contains(sp.args, i) {
			continue
		}
		data = data.join(s.deep(a))
	}
	for _, wt := range s.writerTargets(w, 0) {
		switch wt.kind {
		case wMemory:
			s.storeDeep(s.objOfValue(w), data)
		case wSink:
			if s.final {
				s.sinkValue(instr.Pos(), data, wt.sink+" ("+t.name+")", "")
			}
		case wMethod:
			mt := s.p.funcTarget(wt.method, nil)
			if mt.sum == nil || len(mt.sum.Params) < 2 {
				if s.final {
					s.sinkValue(instr.Pos(), data, "a write to "+mt.name+" (no summary)", "")
				}
				continue
			}
			flows := [][]argFlow{
				s.argFlows(mt.name, mt.sum, &mt.sum.Params[0], wt.recv),
				{{fl: &mt.sum.Params[1].Flow, d: data, hop: mt.name + "(" + mt.sum.Params[1].Name + ")"}},
			}
			recv := s.info(wt.recv)
			for _, st := range mt.sum.Params[1].Stores {
				if st.Param == 0 && recv.obj != nil {
					s.store(s.subPath(recv.obj, st.Path), data)
				}
			}
			if s.final {
				s.checkCall(instr.Pos(), mt, flows)
			}
		}
	}
}

// writerTargets finds where writes to w go, by following w's definition
// within the function to a constructor or a concrete type.
func (s *fnState) writerTargets(w ssa.Value, depth int) []wtarget {
	if depth > 10 {
		return s.typeTargets(w)
	}
	switch x := w.(type) {
	case *ssa.MakeInterface:
		return s.writerTargets(x.X, depth+1)
	case *ssa.ChangeInterface:
		return s.writerTargets(x.X, depth+1)
	case *ssa.ChangeType:
		return s.writerTargets(x.X, depth+1)
	case *ssa.TypeAssert:
		if !x.CommaOk {
			if r := s.writerTargets(x.X, depth+1); !onlyUnknown(r) {
				return r
			}
		}
	case *ssa.Phi:
		var r []wtarget
		for _, e := range x.Edges {
			if c, ok := e.(*ssa.Const); ok && c.IsNil() {
				continue
			}
			r = append(r, s.writerTargets(e, depth+1)...)
		}
		if len(r) > 0 {
			return r
		}
	case *ssa.Extract:
		if call, ok := x.Tuple.(*ssa.Call); ok && x.Index == 0 {
			if r := s.ctorTargets(call, depth); r != nil {
				return r
			}
		}
	case *ssa.Call:
		if r := s.ctorTargets(x, depth); r != nil {
			return r
		}
	case *ssa.UnOp:
		if g, ok := x.X.(*ssa.Global); ok && x.Op == token.MUL && g.Pkg != nil && g.Pkg.Pkg.Path() == "os" {
			switch g.Name() {
			case "Stdout":
				return []wtarget{{kind: wSink, sink: sinkStdout}}
			case "Stderr":
				return []wtarget{{kind: wSink, sink: "standard error"}}
			}
		}
	}
	return s.typeTargets(w)
}

func onlyUnknown(ts []wtarget) bool {
	for _, t := range ts {
		if t.kind != wSink {
			return false
		}
	}
	return true
}

// ctorTargets recognizes writers made by known constructors.
func (s *fnState) ctorTargets(call *ssa.Call, depth int) []wtarget {
	obj := calleeObj(call.Common())
	if obj == nil {
		return nil
	}
	name := obj.FullName()
	args := call.Common().Args
	if call.Common().IsInvoke() {
		args = append([]ssa.Value{call.Common().Value}, args...)
	}
	switch {
	case memoryCtors[name]:
		return []wtarget{{kind: wMemory}}
	case hashCtors[name]:
		return []wtarget{{kind: wHash}}
	case fileCtors[name]:
		return []wtarget{{kind: wSink, sink: sinkFile}}
	case netCtors[name]:
		return []wtarget{{kind: wSink, sink: sinkNet}}
	}
	if i, ok := wrapCtors[name]; ok && i < len(args) {
		return s.writerTargets(args[i], depth+1)
	}
	if i, ok := tlsCtors[name]; ok && i < len(args) {
		if s.attestedConfig(args[i], 0) {
			return []wtarget{{kind: wAttested}}
		}
		return []wtarget{{kind: wSink, sink: "a TLS connection not known to be attested"}}
	}
	return nil
}

// attestedConfig reports whether a *tls.Config comes from confide's
// attested TLS (atls.Config's ServerConfig or ClientConfig).
func (s *fnState) attestedConfig(v ssa.Value, depth int) bool {
	if depth > 10 {
		return false
	}
	switch x := v.(type) {
	case *ssa.Extract:
		if call, ok := x.Tuple.(*ssa.Call); ok {
			if obj := calleeObj(call.Common()); obj != nil && atlsConfigs[obj.FullName()] {
				return true
			}
		}
	case *ssa.Phi:
		for _, e := range x.Edges {
			if !s.attestedConfig(e, depth+1) {
				return false
			}
		}
		return len(x.Edges) > 0
	case *ssa.ChangeType:
		return s.attestedConfig(x.X, depth+1)
	}
	return false
}

func calleeObj(c *ssa.CallCommon) *types.Func {
	if c.IsInvoke() {
		return c.Method.Origin()
	}
	if fn := c.StaticCallee(); fn != nil {
		if obj, ok := fn.Object().(*types.Func); ok {
			return obj.Origin()
		}
	}
	return nil
}

// typeTargets classifies a writer by its static type.
func (s *fnState) typeTargets(w ssa.Value) []wtarget {
	t := w.Type()
	ptr := false
	if p, ok := t.Underlying().(*types.Pointer); ok {
		t, ptr = p.Elem(), true
	}
	named, _ := types.Unalias(t).(*types.Named)
	if named == nil || named.Obj().Pkg() == nil {
		return []wtarget{{kind: wSink, sink: "an io.Writer of unknown dynamic type"}}
	}
	full := named.Obj().Pkg().Path() + "." + named.Obj().Name()
	switch full {
	case "bytes.Buffer", "strings.Builder":
		return []wtarget{{kind: wMemory}}
	case "os.File":
		return []wtarget{{kind: wSink, sink: sinkFile}}
	case "net.TCPConn", "net.UDPConn", "net.UnixConn", "net.IPConn", "net.Conn":
		return []wtarget{{kind: wSink, sink: sinkNet}}
	case "crypto/tls.Conn":
		return []wtarget{{kind: wSink, sink: "a TLS connection not known to be attested"}}
	case "hash.Hash", "hash.Hash32", "hash.Hash64":
		return []wtarget{{kind: wHash}}
	case "net/http.ResponseWriter":
		return []wtarget{{kind: wSink, sink: "an http.ResponseWriter write"}}
	case "bufio.Writer", "encoding/json.Encoder", "encoding/gob.Encoder", "encoding/xml.Encoder", "encoding/csv.Writer":
		return []wtarget{{kind: wSink, sink: article(named.Obj().Pkg().Name()+"."+named.Obj().Name()) + " of unknown destination"}}
	}
	if types.IsInterface(named) {
		return []wtarget{{kind: wSink, sink: article(named.Obj().Pkg().Name()+"."+named.Obj().Name()) + " of unknown dynamic type"}}
	}
	// A concrete type: its Write method's summary decides.
	var recvT types.Type = named
	if ptr {
		recvT = types.NewPointer(named)
	}
	for _, m := range []string{"Write", "WriteString"} {
		obj, _, _ := types.LookupFieldOrMethod(recvT, true, named.Obj().Pkg(), m)
		if fn, ok := obj.(*types.Func); ok {
			return []wtarget{{kind: wMethod, method: fn, recv: w}}
		}
	}
	return []wtarget{{kind: wSink, sink: "a write to " + full}}
}

// article prefixes a noun with "a" or "an".
func article(noun string) string {
	if noun != "" && strings.ContainsRune("aeiou", rune(noun[0])) {
		return "an " + noun
	}
	return "a " + noun
}

// ---- checks ----

type diag struct {
	pos token.Pos
	msg string
}

func (s *fnState) report(pos token.Pos, format string, args ...any) {
	if !s.final {
		return
	}
	if !pos.IsValid() {
		pos = s.fn.Pos()
	}
	if start, ok := s.p.callStart[pos]; ok {
		pos = start
	}
	s.diags = append(s.diags, diag{pos: pos, msg: fmt.Sprintf(format, args...)})
}

// sinkValue reports a secret reaching a sink, and records the
// parameters that reach it.
func (s *fnState) sinkValue(pos token.Pos, t taint, sink, via string) {
	if t.src != nil {
		if via != "" {
			s.report(pos, "direct leak: secret %s reaches %s via %s", t.src.what, sink, via)
		} else {
			s.report(pos, "direct leak: secret %s reaches %s", t.src.what, sink)
		}
	}
	if t.deps != 0 {
		here := sink + " at " + s.p.shortPos(pos)
		s.addSinks(t.deps, sink, here)
	}
}

// use reports a dependence of kind k on t at pos.
func (s *fnState) use(pos token.Pos, t taint, k summary.Kind) {
	if k == summary.FloatDivisor && s.floatDiv {
		return // accepted: the function's threat model is memory traces
	}
	if s.oblivious && t.src != nil {
		s.report(pos, "indirect leak: secret %s used as %s in oblivious function %s", t.src.what, k, s.name)
	}
	if t.deps != 0 {
		where := ""
		if s.oblivious {
			where = s.name
		}
		via := k.String() + " at " + s.p.shortPos(pos)
		s.addUses(t.deps, k, where, func() string { return via })
	}
}

// addSinks records that the labels in deps reach sink.
func (s *fnState) addSinks(deps uint64, sink, via string) {
	deps &^= s.sinkDone
	if deps == 0 {
		return
	}
	s.sinkDone |= deps
	bits(deps, func(b int) {
		s.eachFlow(b, func(fl *summary.Flow) {
			if fl.Sink == nil {
				fl.Sink = &summary.Leak{Sink: sink, Via: via}
			}
		})
	})
}

// addUses records that the labels in deps reach a use of kind k (in
// oblivious function where, if any).
func (s *fnState) addUses(deps uint64, k summary.Kind, where string, via func() string) {
	key := int(k) * 2
	if where != "" {
		key++
	}
	deps &^= s.useDone[key]
	if deps == 0 {
		return
	}
	s.useDone[key] |= deps
	v := via()
	bits(deps, func(b int) {
		s.eachFlow(b, func(fl *summary.Flow) {
			fl.Uses = append(fl.Uses, summary.Use{Kind: k, Via: v, Where: where})
		})
	})
}

// closure handles a closure or method value where it is made: what the
// closure writes into its captured variables happens there (it may be
// called anywhere later), and, in the final pass, its captured variables
// are checked against what the closure does with them, and, when it is
// passed to an oblivious function, its parameters as secrets.
func (s *fnState) closure(mc *ssa.MakeClosure) {
	fn := mc.Fn.(*ssa.Function)
	var sum *summary.Func
	var free []int // summary index of each binding
	hopName := ""
	if obj := boundMethod(fn); obj != nil {
		t := s.p.funcTarget(obj, nil)
		sum = t.sum
		free = []int{0}
		hopName = "method value " + t.name
	} else {
		sum = s.p.sums[fn]
		for k := range mc.Bindings {
			free = append(free, len(fn.Params)+k)
		}
	}
	if sum == nil {
		return
	}
	// Effects, with the bindings as the only arguments.
	hop := "the function literal"
	if hopName != "" {
		hop = hopName
	}
	actuals := make([]ssa.Value, len(sum.Params))
	flows := make([][]argFlow, len(sum.Params))
	for k, b := range mc.Bindings {
		if i := free[k]; i < len(actuals) {
			actuals[i] = b
			flows[i] = s.argFlows(hop, sum, &sum.Params[i], b)
		}
	}
	s.applyStores(sum, actuals, flows)
	if !s.final {
		return
	}
	recv := s.passedToOblivious(mc)
	where := s.name
	if recv != "" {
		where = recv
	}
	for k := range mc.Bindings {
		if i := free[k]; i < len(sum.Params) {
			s.checkFlows(mc.Pos(), &sum.Params[i], flows[i], s.oblivious || recv != "", where, s.floatDiv && recv == "")
		}
	}
}

// passedToOblivious names the oblivious function a closure is passed to.
func (s *fnState) passedToOblivious(v ssa.Value) string {
	refs := v.Referrers()
	if refs == nil {
		return ""
	}
	for _, r := range *refs {
		ci, ok := r.(ssa.CallInstruction)
		if !ok || ci.Common().Value == v {
			continue
		}
		t := s.resolve(ci.Common())
		if t.sum != nil && t.sum.Oblivious && t.sp == nil {
			return t.name
		}
	}
	return ""
}

// checkFuncArgs checks the function values passed to an oblivious
// callee: it calls them on its secrets, so their parameters are checked
// as secret.
func (s *fnState) checkFuncArgs(pos token.Pos, t target) {
	for _, a := range t.actuals {
		var sum *summary.Func
		np := 0
		switch f := a.(type) {
		case *ssa.MakeClosure:
			fn := f.Fn.(*ssa.Function)
			if obj := boundMethod(fn); obj != nil {
				ft := s.p.funcTarget(obj, nil)
				sum, np = ft.sum, len(fn.Params)
				if sum != nil && len(sum.Params) > 0 {
					// The bound method's receiver is not a parameter.
					s2 := *sum
					s2.Params = sum.Params[1:]
					sum = &s2
				}
			} else {
				sum, np = s.p.sums[fn], len(fn.Params)
			}
		case *ssa.Function:
			ft := s.p.ssaTarget(f, nil)
			sum, np = ft.sum, len(f.Params)
		}
		if sum == nil || sum.Oblivious {
			continue // an oblivious function checks itself
		}
		for i := 0; i < np && i < len(sum.Params); i++ {
			pf := &sum.Params[i]
			if pf.Secret {
				continue
			}
		flows:
			for _, fl := range pf.Flows() {
				for _, u := range fl.Uses {
					s.report(pos, "indirect leak: secret parameter %s of %s, which oblivious function %s calls on its data, used as %s via %s", pf.Name, sum.Name, t.name, u.Kind, u.Via)
					break flows
				}
			}
		}
	}
}
