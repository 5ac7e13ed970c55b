package leak

import (
	"fmt"
	"go/ast"
	"go/constant"
	"go/token"
	"go/types"
	"os"
	"strconv"
	"strings"

	"golang.org/x/tools/go/ssa"

	"github.com/confide/confide/vet/internal/annot"
	"github.com/confide/confide/vet/internal/summary"
)

// fnState is the analysis of one function: the taint of its SSA values
// and abstract objects, solved to a fixed point, then checked.
type fnState struct {
	p    *pkgState
	fn   *ssa.Function
	name string
	ann  *annot.Func
	// oblivious: the function must not depend on secrets (annotated,
	// inherited from an interface method or an enclosing function).
	oblivious bool
	floatDiv  bool // oblivious, accepting floating-point division by a secret
	// contract names the oblivious interface method the function is
	// checked against, whose receiver and parameters are all secret.
	contract string
	np       int // len(fn.Params); free variable k has index np+k
	// Dependence labels: 0..nlabels0-1 for parameters and free
	// variables, then one per field of what a parameter points to.
	nlabels0 int
	labels   []fieldLabel

	vals map[ssa.Value]*vinfo
	objs []*object
	gen  uint64
	// memos of contents and deepObj, valid while gen is unchanged
	contentsMemo map[*object]memoEntry
	deepMemo     map[*object]memoEntry
	objOf        map[any]*object // allocation site, parameter index, global, call result
	seeds        map[ssa.Value]taint
	exprVal      map[ast.Expr]ssa.Value
	consts       []secretConst
	srcs         map[string]*source

	changed bool
	final   bool

	sum   *summary.Func
	diags []diag
	// which labels already reach a sink, and each kind of use (in or
	// out of an oblivious function)
	sinkDone uint64
	useDone  [2 * summary.NumKinds]uint64
}

type secretConst struct {
	val constant.Value
	src *source
}

type callResKey struct {
	instr ssa.Instruction
	i     int
}

type paramKey int

func newFnState(p *pkgState, fn *ssa.Function) *fnState {
	s := &fnState{
		p:            p,
		fn:           fn,
		name:         p.name(fn),
		ann:          p.eff[fn],
		np:           len(fn.Params),
		nlabels0:     len(fn.Params) + len(fn.FreeVars),
		vals:         map[ssa.Value]*vinfo{},
		contentsMemo: map[*object]memoEntry{},
		deepMemo:     map[*object]memoEntry{},
		objOf:        map[any]*object{},
		seeds:        map[ssa.Value]taint{},
		exprVal:      map[ast.Expr]ssa.Value{},
		srcs:         map[string]*source{},
	}
	if s.ann == nil {
		s.ann = &annot.Func{}
	}
	s.oblivious = p.isOblivious(fn)
	s.floatDiv = p.acceptsFloatDivision(fn)
	s.contract = p.contract[fn]
	return s
}

// src interns a source description.
func (s *fnState) src(what string) *source {
	if x, ok := s.srcs[what]; ok {
		return x
	}
	x := &source{what: what}
	s.srcs[what] = x
	return x
}

// analyze solves the function and returns its summary and diagnostics.
func (s *fnState) analyze() {
	s.sum = s.p.skeleton(s.fn)
	if s.fn.Blocks == nil {
		s.sum = s.p.defaultFunc(s.name, s.fn.Signature, "function without a Go body "+s.name)
		return
	}
	s.prepare()
	for iter := 0; iter < 64; iter++ {
		s.changed = false
		s.pass()
		if !s.changed {
			break
		}
	}
	s.final = true
	s.pass()
	s.checkUses()
	s.summarize()
	if dbg := os.Getenv("CONFIDE_VET_DEBUG"); dbg != "" && strings.Contains(s.name, dbg) {
		s.dump()
	}
}

// dump prints the solved state, for debugging the checker.
func (s *fnState) dump() {
	fmt.Fprintf(os.Stderr, "== %s\n", s.name)
	for _, b := range s.fn.Blocks {
		for _, instr := range b.Instrs {
			v, ok := instr.(ssa.Value)
			if !ok {
				fmt.Fprintf(os.Stderr, "\t%s\n", instr)
				continue
			}
			vi := s.info(v)
			src := ""
			if vi.t.src != nil {
				src = " SECRET(" + vi.t.src.what + ")"
			}
			obj := ""
			if vi.obj != nil {
				o := s.find(vi.obj)
				obj = fmt.Sprintf(" obj#%d%v", o.id, o.paths)
				if o.base.src != nil || o.mem.src != nil {
					obj += " objsecret"
				}
			}
			fmt.Fprintf(os.Stderr, "\t%s = %s  deps=%x%s%s\n", v.Name(), instr, vi.t.deps, src, obj)
		}
	}
}

// pass runs every instruction's transfer function (and, in the final
// pass, its checks) once.
func (s *fnState) pass() {
	for _, b := range s.fn.Blocks {
		for _, instr := range b.Instrs {
			s.step(instr)
		}
	}
}

// prepare seeds the secrets the function starts with: annotated
// parameters, secret variables named in DebugRefs, secret constants.
func (s *fnState) prepare() {
	for _, b := range s.fn.Blocks {
		for _, instr := range b.Instrs {
			ref, ok := instr.(*ssa.DebugRef)
			if !ok {
				continue
			}
			if !ref.IsAddr {
				if _, seen := s.exprVal[ref.Expr]; !seen {
					s.exprVal[ref.Expr] = ref.X
				}
			}
			obj := ref.Object()
			if obj == nil {
				continue
			}
			what := s.p.secretObj(obj)
			if what == "" {
				continue
			}
			if _, isField := obj.(*types.Var); isField && obj.(*types.Var).IsField() {
				continue
			}
			if _, isGlobal := ref.X.(*ssa.Global); isGlobal {
				continue
			}
			if ref.IsAddr {
				if a, ok := ref.X.(*ssa.Alloc); ok {
					o := s.allocObj(a)
					o.base = o.base.join(secretTaint(s.src(what)))
				}
				continue
			}
			s.seeds[ref.X] = s.seeds[ref.X].join(secretTaint(s.src(what)))
		}
	}
	// Secret constants used in the body: constants have no identity in
	// SSA, so every constant operand with a secret constant's value is
	// secret (see the soundness statement).
	if syn := s.fn.Syntax(); syn != nil {
		seen := map[types.Object]bool{}
		ast.Inspect(syn, func(n ast.Node) bool {
			if lit, ok := n.(*ast.FuncLit); ok && ast.Node(lit) != syn {
				return false
			}
			id, ok := n.(*ast.Ident)
			if !ok {
				return true
			}
			c, ok := s.p.pass.TypesInfo.Uses[id].(*types.Const)
			if !ok || seen[c] {
				return true
			}
			seen[c] = true
			if what := s.p.secretObj(c); what != "" {
				s.consts = append(s.consts, secretConst{val: c.Val(), src: s.src(what)})
			}
			return true
		})
	}
}

// ---- objects ----

func (s *fnState) newObject(key any, base taint) *object {
	if len(s.objs) >= maxObjects {
		// A safety valve for huge functions: one object for the rest.
		o := s.find(s.objs[len(s.objs)-1])
		o.base = o.base.join(base)
		if key != nil {
			s.objOf[key] = o
		}
		return o
	}
	o := &object{id: len(s.objs), base: base, rootParam: -1}
	s.objs = append(s.objs, o)
	if key != nil {
		s.objOf[key] = o
	}
	return o
}

// find returns the representative of o's class.
func (s *fnState) find(o *object) *object {
	if o == nil {
		return nil
	}
	r := o
	for r.uf != nil {
		r = r.uf
	}
	for o.uf != nil {
		next := o.uf
		o.uf = r
		o = next
	}
	return r
}

// unify merges the classes of a and b.
func (s *fnState) unify(a, b *object) *object {
	a, b = s.find(a), s.find(b)
	if a == nil {
		return b
	}
	if b == nil || a == b {
		return a
	}
	if b.id < a.id {
		a, b = b, a
	}
	b.uf = a
	s.changed = true
	s.gen++
	a.base = a.base.join(b.base)
	a.mem = a.mem.join(b.mem)
	a.params |= b.params
	a.paths, a.pathsLost = unionPaths(a.paths, a.pathsLost, b.paths, b.pathsLost)
	if a.global == nil {
		a.global = b.global
	}
	if a.rootParam < 0 {
		a.rootParam = b.rootParam
	}
	a.ownBase = a.ownBase || b.ownBase
	if a.secretField == nil {
		a.secretField = b.secretField
	}
	if a.owner == nil {
		a.owner, a.field = b.owner, b.field
	}
	for f, bk := range b.kids {
		if a.kids == nil {
			a.kids = map[int]*object{}
		}
		if ak, ok := a.kids[f]; ok {
			s.unify(ak, bk)
		} else {
			a.kids[f] = bk
		}
	}
	b.kids = nil
	bp := b.pointee
	b.pointee = nil
	if bp != nil {
		a = s.find(a)
		a.pointee = s.unify(a.pointee, bp)
	}
	return s.find(a)
}

func (s *fnState) allocObj(v ssa.Value) *object {
	if o, ok := s.objOf[v]; ok {
		return s.find(o)
	}
	o := s.newObject(v, taint{})
	if a, ok := v.(*ssa.Alloc); ok {
		// Captured parameters and variables are spilled to an Alloc
		// at the variable's position.
		if src := s.p.secretAt(a.Pos()); src != nil && a.Comment != "" {
			o.base = secretTaint(s.src(src.what))
		}
	}
	return o
}

// fieldLabel returns the dependence label of field f of what parameter
// i points to; when labels run out, the parameter's own.
func (s *fnState) fieldLabel(i, f int) int {
	return s.label(i, strconv.Itoa(f))
}

// label returns the dependence label of path ("*": the pointee, or a
// field) of parameter i.
func (s *fnState) label(i int, path string) int {
	for k, l := range s.labels {
		if l.param == i && l.path == path {
			return s.nlabels0 + k
		}
	}
	idx := s.nlabels0 + len(s.labels)
	if idx >= summary.MaxBit {
		return i
	}
	s.labels = append(s.labels, fieldLabel{param: i, path: path})
	return idx
}

type fieldLabel struct {
	param int
	path  string
}

// flowsFor returns the summary flows that dependence label b stands for.
func (s *fnState) flowsFor(b int) []*summary.Flow {
	ps := s.sum.Params
	switch {
	case b < s.nlabels0 && b < summary.MaxBit:
		if b < len(ps) {
			return []*summary.Flow{&ps[b].Flow}
		}
	case b == summary.MaxBit && s.nlabels0 > summary.MaxBit:
		var out []*summary.Flow
		for i := summary.MaxBit; i < len(ps); i++ {
			out = append(out, &ps[i].Flow)
		}
		return out
	case b-s.nlabels0 < len(s.labels):
		l := s.labels[b-s.nlabels0]
		if l.param < len(ps) {
			return []*summary.Flow{ps[l.param].Field(l.path)}
		}
	}
	return nil
}

// eachFlow calls f for each summary flow label b stands for.
func (s *fnState) eachFlow(b int, f func(*summary.Flow)) {
	for _, fl := range s.flowsFor(b) {
		f(fl)
	}
}

// labelParam returns the parameter label b belongs to, or -1.
func (s *fnState) labelParam(b int) int {
	if b < s.nlabels0 {
		return b
	}
	if b-s.nlabels0 < len(s.labels) {
		return s.labels[b-s.nlabels0].param
	}
	return -1
}

func (s *fnState) paramTaint(i int) taint {
	t := depTaint(i)
	if what := s.paramSecret(i); what != "" {
		t = t.join(secretTaint(s.src(what)))
	}
	return t
}

// paramSecret describes parameter (or free variable) i if it is secret.
func (s *fnState) paramSecret(i int) string {
	if i < s.np {
		if i < len(s.ann.SecretParams) && s.ann.SecretParams[i] {
			return s.p.paramDesc(s.fn, i)
		}
		if s.contract != "" && !(i == 0 && s.fn.Signature.Recv() != nil) {
			return s.p.paramDesc(s.fn, i) + " (implements oblivious " + s.contract + ")"
		}
		return ""
	}
	k := i - s.np
	if k < len(s.fn.FreeVars) {
		if src := s.p.secretAt(s.fn.FreeVars[k].Pos()); src != nil {
			return src.what
		}
	}
	return ""
}

func (s *fnState) paramObj(i int) *object {
	if o, ok := s.objOf[paramKey(i)]; ok {
		return s.find(o)
	}
	// What the parameter points to has its own label, so that uses of
	// the pointer (p != nil) are told apart from uses of its contents.
	base := depTaint(s.label(i, "*"))
	if what := s.paramSecret(i); what != "" {
		base = base.join(secretTaint(s.src(what)))
	}
	o := s.newObject(paramKey(i), base)
	o.paths = []string{""}
	o.params = summary.Bit(i)
	o.rootParam = i
	return o
}

func (s *fnState) globalObj(g *ssa.Global) *object {
	if o, ok := s.objOf[g]; ok {
		return s.find(o)
	}
	gv := s.p.global(g)
	var base taint
	if gv.src != nil {
		base = secretTaint(s.src(gv.src.what))
	}
	o := s.newObject(g, base)
	o.global = gv
	return o
}

// globalBase is the base of o, updated for package variables made
// secret since o was made.
func (s *fnState) globalBase(o *object) taint {
	if o.global != nil && o.global.src != nil && o.base.src == nil {
		o.base = o.base.join(secretTaint(s.src(o.global.src.what)))
	}
	return o.base
}

func (s *fnState) callObj(instr ssa.Instruction, i int, base taint) *object {
	k := callResKey{instr, i}
	o, ok := s.objOf[k]
	if !ok {
		return s.newObject(k, base)
	}
	o = s.find(o)
	if !o.base.covers(base) {
		o.base = o.base.join(base)
		s.changed = true
		s.gen++
	}
	return o
}

// derive makes an object inside o (a field or a pointee) that inherits
// what o's contents stand for.
func (s *fnState) derive(o *object) *object {
	k := s.newObject(nil, taint{})
	k.params, k.global = o.params, o.global
	if o.params != 0 || o.global != nil {
		k.base = o.base
	} else if !o.base.zero() {
		k.base = o.base // call results
	}
	return k
}

// sub returns the sub-object for field f of o.
func (s *fnState) sub(o *object, f int, fieldSrc *source) *object {
	o = s.find(o)
	if o.depth >= maxDepth {
		if fieldSrc != nil && o.secretField == nil {
			o.secretField = fieldSrc
		}
		return o
	}
	if k, ok := o.kids[f]; ok {
		k = s.find(k)
		if fieldSrc != nil && k.secretField == nil {
			k.secretField = fieldSrc
			s.gen++
		}
		return k
	}
	k := s.newObject(nil, taint{})
	k.owner, k.field, k.depth = o, f, o.depth+1
	k.params, k.global = o.params, o.global
	if o.rootParam >= 0 && o.depth == 0 {
		// A field of what a parameter points to: its own label, so
		// that flows from it are told apart from the other fields'.
		k.base = depTaint(s.fieldLabel(o.rootParam, f))
		if o.base.src != nil {
			k.base.src = o.base.src
		}
		k.ownBase = true
	}
	k.paths, k.pathsLost = extendPaths(o.paths, o.pathsLost, strconv.Itoa(f))
	k.secretField = o.secretField
	if k.secretField == nil {
		k.secretField = fieldSrc
	}
	if o.kids == nil {
		o.kids = map[int]*object{}
	}
	o.kids[f] = k
	s.gen++
	return k
}

// pointee returns what pointers stored in o point to.
func (s *fnState) pointee(o *object) *object {
	o = s.find(o)
	if o == nil {
		return nil
	}
	if o.pointee == nil {
		p := s.derive(o)
		p.paths, p.pathsLost = extendPaths(o.paths, o.pathsLost, "*")
		if o.secretField != nil {
			p.secretField = o.secretField
		}
		o = s.find(o)
		o.pointee = p
		s.gen++
	}
	return s.find(o.pointee)
}

// subPath walks an access path ("1.*.0") from o.
func (s *fnState) subPath(o *object, path string) *object {
	if path == "" {
		return s.find(o)
	}
	for _, comp := range strings.Split(path, ".") {
		if comp == "*" {
			o = s.pointee(o)
			continue
		}
		n, err := strconv.Atoi(comp)
		if err != nil {
			return s.find(o)
		}
		o = s.sub(o, n, nil)
	}
	return s.find(o)
}

type memoEntry struct {
	gen uint64
	t   taint
}

// contents is the taint of what a load from o reads: what o and the
// objects it is a field of held or were given, what its fields were
// given, and the secret of an annotated field.
func (s *fnState) contents(o *object) taint {
	o = s.find(o)
	if o == nil {
		return taint{}
	}
	t := s.stored(o)
	if o.secretField != nil {
		t = t.join(secretTaint(o.secretField))
	}
	return t
}

// stored is contents without the secret of an annotated field: what
// passes to a callee that reads the field itself (and sees it is secret).
func (s *fnState) stored(o *object) taint {
	if e, ok := s.contentsMemo[o]; ok && e.gen == s.gen {
		return e.t
	}
	var t taint
	seen := map[*object]bool{}
	withBase := true
	for a := o; a != nil && !seen[a]; a = s.find(a.owner) {
		seen[a] = true
		if withBase {
			t = t.join(s.globalBase(a))
		}
		t = t.join(a.mem)
		if a.ownBase {
			withBase = false
		}
	}
	var down func(k *object)
	down = func(k *object) {
		for _, c := range k.kids {
			c = s.find(c)
			if seen[c] {
				continue
			}
			seen[c] = true
			t = t.join(c.mem).join(s.globalBase(c))
			down(c)
		}
	}
	down(o)
	s.contentsMemo[o] = memoEntry{s.gen, t}
	return t
}

// deepObj is the taint of everything reachable from o.
func (s *fnState) deepObj(o *object) taint {
	o = s.find(o)
	if o == nil {
		return taint{}
	}
	if e, ok := s.deepMemo[o]; ok && e.gen == s.gen {
		return e.t
	}
	var t taint
	seen := map[*object]bool{}
	var walk func(k *object)
	walk = func(k *object) {
		k = s.find(k)
		if k == nil || seen[k] {
			return
		}
		seen[k] = true
		if k.secretField != nil && k != o {
			// A secret field, and what it reaches, are secret by
			// annotation: whoever reads them knows.
			return
		}
		t = t.join(s.stored(k))
		var kids func(k *object)
		inKids := map[*object]bool{k: true}
		kids = func(k *object) {
			for _, c := range k.kids {
				c = s.find(c)
				if c.secretField != nil || inKids[c] {
					continue
				}
				inKids[c] = true
				if c.pointee != nil {
					walk(c.pointee)
				}
				kids(c)
			}
		}
		kids(k)
		if k.pointee != nil {
			walk(k.pointee)
		}
	}
	walk(o)
	s.deepMemo[o] = memoEntry{s.gen, t}
	return t
}

// reach lists the objects reachable from o.
func (s *fnState) reach(o *object) []*object {
	var out []*object
	seen := map[*object]bool{}
	var walk func(k *object)
	walk = func(k *object) {
		k = s.find(k)
		if k == nil || seen[k] {
			return
		}
		seen[k] = true
		out = append(out, k)
		for _, c := range k.kids {
			walk(c)
		}
		if k.pointee != nil {
			walk(k.pointee)
		}
	}
	walk(o)
	return out
}

// store records that t was written into o.
func (s *fnState) store(o *object, t taint) {
	o = s.find(o)
	if o == nil || o.secretField != nil {
		// Loads of a secret field are secret whatever it holds.
		return
	}
	if !o.mem.covers(t) {
		o.mem = o.mem.join(t)
		s.changed = true
		s.gen++
	}
}

// storeDeep writes into everything reachable from o (a callee without a
// summary may write anywhere it can reach).
func (s *fnState) storeDeep(o *object, t taint) {
	if t.zero() {
		return
	}
	for _, r := range s.reach(o) {
		s.store(r, t)
	}
}

// storeValue stores value v (taint t, object vo) at address object a.
func (s *fnState) storeValue(a *object, typ types.Type, t taint, vo *object) {
	a = s.find(a)
	if a == nil {
		return
	}
	s.store(a, t)
	if vo == nil {
		return
	}
	if isPointerLike(typ) {
		s.unifyInto(&a.pointee, vo)
	} else if mayPoint(typ) {
		s.unify(a, vo) // an aggregate copied in: share its storage
	}
}

// unifyInto unifies *slot with o.
func (s *fnState) unifyInto(slot **object, o *object) {
	if *slot == nil {
		*slot = s.find(o)
		s.changed = true
		s.gen++
		return
	}
	if s.find(*slot) != s.find(o) {
		*slot = s.unify(*slot, o)
	}
}

// loaded is the object of a value of type typ read from storage a.
func (s *fnState) loaded(a *object, typ types.Type) *object {
	if a == nil || !mayPoint(typ) {
		return nil
	}
	if isPointerLike(typ) {
		return s.pointee(a)
	}
	return s.find(a)
}

// isPointerLike: values of the type refer to other storage (rather than
// being storage, as structs and arrays are).
func isPointerLike(t types.Type) bool {
	switch u := types.Unalias(t).Underlying().(type) {
	case *types.Struct, *types.Array:
		return false
	case *types.Basic:
		return u.Kind() == types.UnsafePointer || u.Kind() == types.Uintptr
	case *types.Tuple:
		return false
	}
	return true
}

// ---- values ----

func (s *fnState) info(v ssa.Value) vinfo {
	switch v := v.(type) {
	case *ssa.Const:
		return vinfo{t: s.constTaint(v)}
	case *ssa.Global:
		return vinfo{obj: s.globalObj(v)}
	case *ssa.Parameter:
		for i, p := range s.fn.Params {
			if p == v {
				vi := vinfo{t: s.paramTaint(i).join(s.seeds[v])}
				if mayPoint(v.Type()) {
					vi.obj = s.paramObj(i)
				}
				return vi
			}
		}
		return vinfo{}
	case *ssa.FreeVar:
		for k, p := range s.fn.FreeVars {
			if p == v {
				vi := vinfo{t: s.paramTaint(s.np + k)}
				if mayPoint(v.Type()) {
					vi.obj = s.paramObj(s.np + k)
				}
				return vi
			}
		}
		return vinfo{}
	case *ssa.Function, *ssa.Builtin:
		return vinfo{}
	}
	if vi := s.vals[v]; vi != nil {
		r := *vi
		r.obj = s.find(r.obj)
		return r
	}
	return vinfo{}
}

func (s *fnState) taintOf(v ssa.Value) taint { return s.info(v).t }

func (s *fnState) objOfValue(v ssa.Value) *object { return s.info(v).obj }

func (s *fnState) constTaint(c *ssa.Const) taint {
	if c.Value == nil {
		return taint{}
	}
	for _, sc := range s.consts {
		if sameConst(sc.val, c.Value) {
			return secretTaint(sc.src)
		}
	}
	return taint{}
}

func sameConst(a, b constant.Value) bool {
	switch {
	case a.Kind() == constant.String && b.Kind() == constant.String:
		return constant.StringVal(a) == constant.StringVal(b)
	case a.Kind() == constant.Bool || b.Kind() == constant.Bool:
		return false // too common to mark
	case a.Kind() != constant.String && b.Kind() != constant.String && a.Kind() != constant.Unknown && b.Kind() != constant.Unknown:
		return constant.Compare(constant.ToComplex(a), token.EQL, constant.ToComplex(b))
	}
	return false
}

// deep is the taint of a value and of everything it points to.
func (s *fnState) deep(v ssa.Value) taint {
	return s.deepInfo(s.info(v))
}

func (s *fnState) deepInfo(vi vinfo) taint {
	return vi.t.join(s.deepObj(vi.obj))
}

// set joins vi into the information of v.
func (s *fnState) set(v ssa.Value, vi vinfo) {
	if seed, ok := s.seeds[v]; ok {
		vi.t = vi.t.join(seed)
	}
	old := s.vals[v]
	if old == nil {
		old = &vinfo{}
		s.vals[v] = old
	}
	if !old.t.covers(vi.t) {
		old.t = old.t.join(vi.t)
		s.changed = true
	}
	if !old.lenT.covers(vi.lenT) {
		old.lenT = old.lenT.join(vi.lenT)
		s.changed = true
	}
	if vi.obj != nil {
		if old.obj == nil {
			old.obj = s.find(vi.obj)
			s.changed = true
		} else if s.find(old.obj) != s.find(vi.obj) {
			old.obj = s.unify(old.obj, vi.obj)
		}
	}
	for len(old.tup) < len(vi.tup) {
		old.tup = append(old.tup, taint{})
		old.tobj = append(old.tobj, nil)
	}
	for i := range vi.tup {
		if !old.tup[i].covers(vi.tup[i]) {
			old.tup[i] = old.tup[i].join(vi.tup[i])
			s.changed = true
		}
		if i < len(vi.tobj) && vi.tobj[i] != nil {
			if old.tobj[i] == nil {
				old.tobj[i] = s.find(vi.tobj[i])
				s.changed = true
			} else if s.find(old.tobj[i]) != s.find(vi.tobj[i]) {
				old.tobj[i] = s.unify(old.tobj[i], vi.tobj[i])
			}
		}
	}
}

// mayPoint reports whether values of type t may hold pointers.
func mayPoint(t types.Type) bool {
	return mayPointSeen(t, 0)
}

func mayPointSeen(t types.Type, depth int) bool {
	if depth > 8 {
		return true
	}
	switch u := types.Unalias(t).Underlying().(type) {
	case *types.Basic:
		return u.Kind() == types.UnsafePointer || u.Kind() == types.Uintptr
	case *types.Array:
		return mayPointSeen(u.Elem(), depth+1)
	case *types.Struct:
		for i := range u.NumFields() {
			if mayPointSeen(u.Field(i).Type(), depth+1) {
				return true
			}
		}
		return false
	case *types.Tuple:
		for i := range u.Len() {
			if mayPointSeen(u.At(i).Type(), depth+1) {
				return true
			}
		}
		return false
	}
	return true
}

// elemType is the type of what a container value holds.
func elemType(t types.Type) types.Type {
	switch u := t.Underlying().(type) {
	case *types.Pointer:
		if a, ok := u.Elem().Underlying().(*types.Array); ok {
			return a.Elem()
		}
		return u.Elem()
	case *types.Slice:
		return u.Elem()
	case *types.Array:
		return u.Elem()
	case *types.Map:
		return u.Elem()
	case *types.Chan:
		return u.Elem()
	}
	return types.Typ[types.Invalid]
}

// ---- transfer functions ----

func (s *fnState) step(instr ssa.Instruction) {
	switch x := instr.(type) {
	case *ssa.Alloc:
		s.set(x, vinfo{obj: s.allocObj(x)})
	case *ssa.Phi:
		var vi vinfo
		for _, e := range x.Edges {
			ei := s.info(e)
			vi.t = vi.t.join(ei.t)
			vi.lenT = vi.lenT.join(ei.lenT)
			vi.obj = s.unify(vi.obj, ei.obj)
		}
		s.set(x, vi)
	case *ssa.BinOp:
		a, b := s.info(x.X), s.info(x.Y)
		vi := vinfo{t: a.t.join(b.t)}
		if isUintptrOrPointer(x.Type()) {
			vi.obj = s.unify(a.obj, b.obj)
		}
		s.set(x, vi)
	case *ssa.UnOp:
		s.unop(x)
	case *ssa.ChangeType:
		s.set(x, s.info(x.X))
	case *ssa.ChangeInterface:
		s.set(x, s.info(x.X))
	case *ssa.SliceToArrayPointer:
		s.set(x, s.info(x.X))
	case *ssa.MultiConvert:
		s.set(x, s.info(x.X))
	case *ssa.Convert:
		vi := s.info(x.X)
		if b, isBasic := x.Type().Underlying().(*types.Basic); isBasic && b.Info()&types.IsString != 0 && isSliceType(x.X.Type()) {
			vi.t = s.deepInfo(vi)
		}
		s.set(x, vi)
	case *ssa.MakeInterface:
		vi := s.info(x.X)
		if src := s.p.typeSecret(x.X.Type()); src != nil {
			vi.t = vi.t.join(secretTaint(s.src(src.what)))
		}
		s.set(x, vi)
	case *ssa.MakeClosure:
		var vi vinfo
		for _, b := range x.Bindings {
			vi.t = vi.t.join(s.deep(b))
		}
		s.set(x, vi)
		s.closure(x)
	case *ssa.MakeSlice:
		s.set(x, vinfo{obj: s.allocObj(x), lenT: s.taintOf(x.Len).join(s.taintOf(x.Cap))})
	case *ssa.MakeMap:
		s.set(x, vinfo{obj: s.allocObj(x)})
	case *ssa.MakeChan:
		s.set(x, vinfo{obj: s.allocObj(x)})
	case *ssa.Slice:
		vi := s.info(x.X)
		for _, b := range []ssa.Value{x.Low, x.High, x.Max} {
			if b != nil {
				vi.lenT = vi.lenT.join(s.taintOf(b))
			}
		}
		s.set(x, vi)
	case *ssa.FieldAddr:
		xi := s.info(x.X)
		fsrc := s.fieldSrc(x.X.Type(), x.Field)
		vi := vinfo{t: addrTaint(xi)}
		if fsrc != nil {
			vi.t = vi.t.join(secretTaint(fsrc))
		}
		if xi.obj != nil {
			vi.obj = s.sub(xi.obj, x.Field, fsrc)
		}
		s.set(x, vi)
	case *ssa.Field:
		s.field(x)
	case *ssa.IndexAddr:
		xi := s.info(x.X)
		s.set(x, vinfo{t: addrTaint(xi).join(s.taintOf(x.Index)), obj: xi.obj})
	case *ssa.Index:
		xi := s.info(x.X)
		t := xi.t.join(s.taintOf(x.Index))
		if xi.obj != nil {
			t = t.join(s.contents(xi.obj))
		}
		s.set(x, vinfo{t: t, obj: s.loaded(xi.obj, x.Type())})
	case *ssa.Lookup:
		xi := s.info(x.X)
		t := xi.t.join(s.taintOf(x.Index))
		var obj *object
		if _, isMap := x.X.Type().Underlying().(*types.Map); isMap && xi.obj != nil {
			t = t.join(s.contents(xi.obj))
			obj = s.loaded(xi.obj, elemType(x.X.Type()))
		}
		if x.CommaOk {
			s.set(x, vinfo{tup: []taint{t, t}, tobj: []*object{obj, nil}})
		} else {
			s.set(x, vinfo{t: t, obj: obj})
		}
	case *ssa.Extract:
		ti := s.info(x.Tuple)
		var vi vinfo
		if x.Index < len(ti.tup) {
			vi.t = ti.tup[x.Index]
			vi.obj = ti.tobj[x.Index]
		}
		s.set(x, vi)
	case *ssa.TypeAssert:
		xi := s.info(x.X)
		if x.CommaOk {
			s.set(x, vinfo{tup: []taint{xi.t, {}}, tobj: []*object{xi.obj, nil}})
		} else {
			s.set(x, xi)
		}
	case *ssa.Range:
		xi := s.info(x.X)
		t := xi.t
		if xi.obj != nil {
			t = t.join(s.contents(xi.obj))
		}
		s.set(x, vinfo{t: t, obj: xi.obj})
	case *ssa.Next:
		ii := s.info(x.Iter)
		key := ii.t
		var kobj, vobj *object
		if !x.IsString && ii.obj != nil {
			if m, ok := x.Iter.(*ssa.Range); ok {
				if mt, ok := m.X.Type().Underlying().(*types.Map); ok {
					kobj = s.loaded(ii.obj, mt.Key())
					vobj = s.loaded(ii.obj, mt.Elem())
				}
			}
		}
		if x.IsString {
			key = taint{} // the index
		}
		s.set(x, vinfo{tup: []taint{{}, key, ii.t}, tobj: []*object{nil, kobj, vobj}})
	case *ssa.Select:
		tup := []taint{{}, {}}
		tobj := []*object{nil, nil}
		for _, st := range x.States {
			ci := s.info(st.Chan)
			if st.Dir == types.RecvOnly {
				t := ci.t
				var obj *object
				if ci.obj != nil {
					t = t.join(s.contents(ci.obj))
					obj = s.loaded(ci.obj, elemType(st.Chan.Type()))
				}
				tup = append(tup, t)
				tobj = append(tobj, obj)
			} else if ci.obj != nil {
				vi := s.info(st.Send)
				s.storeValue(ci.obj, st.Send.Type(), vi.t, vi.obj)
			}
		}
		s.set(x, vinfo{tup: tup, tobj: tobj})
	case *ssa.Store:
		vi := s.info(x.Val)
		if a := s.objOfValue(x.Addr); a != nil {
			s.storeValue(a, x.Val.Type(), vi.t, vi.obj)
		}
	case *ssa.MapUpdate:
		vi := s.info(x.Value)
		if m := s.objOfValue(x.Map); m != nil {
			s.storeValue(m, x.Value.Type(), vi.t.join(s.taintOf(x.Key)), vi.obj)
			ki := s.info(x.Key)
			if ki.obj != nil {
				s.storeValue(m, x.Key.Type(), taint{}, ki.obj)
			}
		}
	case *ssa.Send:
		vi := s.info(x.X)
		if c := s.objOfValue(x.Chan); c != nil {
			s.storeValue(c, x.X.Type(), vi.t, vi.obj)
		}
	case *ssa.Call:
		s.call(x, x.Common(), x)
	case *ssa.Go:
		s.call(x, x.Common(), nil)
	case *ssa.Defer:
		s.call(x, x.Common(), nil)
	case *ssa.Panic:
		if s.final {
			s.sinkValue(x.Pos(), s.deep(x.X), "panic", "")
		}
	case *ssa.Return:
		if s.final && s.ann.Boundary {
			for _, r := range x.Results {
				s.sinkValue(x.Pos(), s.deep(r), "the result of boundary function "+s.name, "")
			}
		}
	}
}

// addrTaint is the taint an address derived from a pointer carries into
// what is loaded through it: the pointer's secret (a secret pointer makes
// everything read through it secret), but not its dependence on
// parameters, which the object's contents already carry field by field
// (unless the pointer points to nothing known).
func addrTaint(p vinfo) taint {
	if p.obj == nil {
		return p.t
	}
	return taint{src: p.t.src}
}

func isUintptrOrPointer(t types.Type) bool {
	b, ok := t.Underlying().(*types.Basic)
	return ok && (b.Kind() == types.Uintptr || b.Kind() == types.UnsafePointer)
}

func isSliceType(t types.Type) bool {
	_, ok := t.Underlying().(*types.Slice)
	return ok
}

func (s *fnState) unop(x *ssa.UnOp) {
	switch x.Op {
	case token.MUL:
		ai := s.info(x.X)
		vi := vinfo{t: addrTaint(ai)}
		switch x.X.(type) {
		case *ssa.FieldAddr, *ssa.IndexAddr:
			vi.t = ai.t // computed by addrTaint already, with the index
		}
		if ai.obj != nil {
			vi.t = vi.t.join(s.contents(ai.obj))
			vi.obj = s.loaded(ai.obj, x.Type())
		}
		s.set(x, vi)
	case token.ARROW:
		ci := s.info(x.X)
		t := ci.t
		var obj *object
		if ci.obj != nil {
			t = t.join(s.contents(ci.obj))
			obj = s.loaded(ci.obj, elemType(x.X.Type()))
		}
		if x.CommaOk {
			s.set(x, vinfo{tup: []taint{t, {}}, tobj: []*object{obj, nil}})
		} else {
			s.set(x, vinfo{t: t, obj: obj})
		}
	default:
		s.set(x, vinfo{t: s.taintOf(x.X)})
	}
}

// field extracts a field from a struct value, reading only that field's
// sub-object of the value's storage.
func (s *fnState) field(x *ssa.Field) {
	fsrc := s.fieldSrc(x.X.Type(), x.Field)
	xi := s.info(x.X)
	var vi vinfo
	if xi.obj != nil {
		k := s.sub(xi.obj, x.Field, fsrc)
		vi.obj = s.loaded(k, x.Type())
		if ld, ok := x.X.(*ssa.UnOp); ok && ld.Op == token.MUL {
			vi.t = addrTaint(s.info(ld.X)).join(s.contents(k))
		} else {
			vi.t = xi.t
		}
	} else {
		vi.t = xi.t
	}
	if fsrc != nil {
		vi.t = vi.t.join(secretTaint(fsrc))
	}
	s.set(x, vi)
}

// fieldSrc returns the source of field i of the struct (or pointer to
// struct) type t if the field is annotated secret.
func (s *fnState) fieldSrc(t types.Type, i int) *source {
	if p, ok := t.Underlying().(*types.Pointer); ok {
		t = p.Elem()
	}
	st, ok := t.Underlying().(*types.Struct)
	if !ok || i >= st.NumFields() {
		return nil
	}
	what := s.p.secretObj(st.Field(i))
	if what == "" {
		return nil
	}
	return s.src(what)
}
