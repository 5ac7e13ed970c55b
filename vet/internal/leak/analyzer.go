// Package leak implements confide's leak checker as an analysis.Analyzer:
// a taint analysis over SSA with per-function summaries exported as
// facts. Package vet documents what it checks.
package leak

import (
	"fmt"
	"go/ast"
	"go/build"
	"go/token"
	"go/types"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/ssa"

	"github.com/confide/confide/vet/internal/annot"
	"github.com/confide/confide/vet/internal/summary"
)

// Analyzer is the leak checker.
var Analyzer = &analysis.Analyzer{
	Name:      "confide",
	Doc:       "report direct leaks (secrets written out of the enclave) and indirect leaks (secret-dependent branches and memory accesses in oblivious functions)",
	URL:       "https://pkg.go.dev/github.com/confide/confide/vet",
	Run:       run,
	FactTypes: []analysis.Fact{new(summary.FuncFact), new(summary.ObjFact)},
}

// pkgState is the analysis of one package.
type pkgState struct {
	pass *analysis.Pass
	ann  *annot.Info
	ssa  *ssa.Package

	funcs []*ssa.Function
	// eff holds each function's effective annotations: its own, those
	// inherited from the interface methods it implements, and, for
	// closures, the obliviousness of the enclosing function.
	eff      map[*ssa.Function]*annot.Func
	contract map[*ssa.Function]string
	sums     map[*ssa.Function]*summary.Func
	diags    map[*ssa.Function][]diag

	ifaceSums map[*types.Func]*summary.Func
	facts     map[*types.Func]*summary.Func
	objSecret map[types.Object]string
	globals   map[*types.Var]*globalVar
	typeMemo  map[types.Type]*source
	secretPos map[token.Pos]*source
	callStart map[token.Pos]token.Pos
	names     map[*ssa.Function]string

	globalsChanged bool
}

type globalVar struct {
	obj *types.Var
	src *source
}

func run(pass *analysis.Pass) (any, error) {
	if isStandard(pass) {
		return nil, nil
	}
	p := &pkgState{
		pass:      pass,
		ann:       annot.Parse(pass.Fset, pass.Files, pass.TypesInfo),
		eff:       map[*ssa.Function]*annot.Func{},
		contract:  map[*ssa.Function]string{},
		sums:      map[*ssa.Function]*summary.Func{},
		diags:     map[*ssa.Function][]diag{},
		ifaceSums: map[*types.Func]*summary.Func{},
		facts:     map[*types.Func]*summary.Func{},
		objSecret: map[types.Object]string{},
		globals:   map[*types.Var]*globalVar{},
		typeMemo:  map[types.Type]*source{},
		secretPos: map[token.Pos]*source{},
		callStart: map[token.Pos]token.Pos{},
		names:     map[*ssa.Function]string{},
	}
	p.ssa, p.funcs = buildSSA(pass)
	p.prepare()
	p.solve()
	p.export()
	p.reportAll()
	if os.Getenv("CONFIDE_VET_DEBUG") != "" {
		for _, fn := range p.funcs {
			fmt.Fprintf(os.Stderr, "confide vet: %s: %s\n", pass.Pkg.Path(), p.sums[fn])
		}
	}
	return nil, nil
}

var goroot = filepath.Clean(build.Default.GOROOT)

// isStandard reports whether the package is in the standard library,
// which gets built-in summaries instead of analysis.
func isStandard(pass *analysis.Pass) bool {
	if len(pass.Files) == 0 {
		return true
	}
	name := pass.Fset.File(pass.Files[0].Pos()).Name()
	return goroot != "" && strings.HasPrefix(filepath.Clean(name), filepath.Join(goroot, "src")+string(filepath.Separator))
}

// prepare computes the effective annotations and the summaries' skeletons.
func (p *pkgState) prepare() {
	for _, f := range p.pass.Files {
		ast.Inspect(f, func(n ast.Node) bool {
			if c, ok := n.(*ast.CallExpr); ok {
				p.callStart[c.Lparen] = c.Pos()
			}
			return true
		})
	}
	for obj, what := range p.ann.Secrets {
		if v, ok := obj.(*types.Var); ok && !v.IsField() && v.Parent() != p.pass.Pkg.Scope() {
			p.secretPos[v.Pos()] = &source{what: what}
		}
	}
	for m, a := range p.ann.Funcs {
		if recv := m.Type().(*types.Signature).Recv(); recv != nil && types.IsInterface(recv.Type()) {
			p.ifaceSums[m] = ifaceSummary(p.pkgQual(annot.FuncName(m)), m, a)
		}
	}
	for _, fn := range p.funcs {
		if obj, ok := fn.Object().(*types.Func); ok && fn.Parent() == nil {
			if a := p.ann.Funcs[obj]; a != nil {
				c := *a
				c.SecretParams = append([]bool(nil), a.SecretParams...)
				p.eff[fn] = &c
			}
		}
	}
	p.inheritInterfaces()
	for _, fn := range p.funcs {
		p.sums[fn] = p.skeleton(fn)
	}
}

// isOblivious reports whether fn is oblivious: annotated, inherited, or
// a closure inside an oblivious function.
func (p *pkgState) isOblivious(fn *ssa.Function) bool {
	for f := fn; f != nil; f = f.Parent() {
		if a := p.eff[f]; a != nil && a.Oblivious {
			return true
		}
	}
	return false
}

// acceptsFloatDivision reports whether fn, or the oblivious function it
// is a closure in, is annotated //confide:oblivious float-division.
func (p *pkgState) acceptsFloatDivision(fn *ssa.Function) bool {
	for f := fn; f != nil; f = f.Parent() {
		if a := p.eff[f]; a != nil && a.Oblivious {
			return a.FloatDivision
		}
	}
	return false
}

// skeleton is the summary a function's annotations alone imply.
func (p *pkgState) skeleton(fn *ssa.Function) *summary.Func {
	a := p.eff[fn]
	if a == nil {
		a = &annot.Func{}
	}
	name := p.name(fn)
	sum := &summary.Func{
		Name:       name,
		Precise:    true,
		Declassify: a.Declassify,
		Sink:       a.Sink,
		Boundary:   a.Boundary,
		Oblivious:  p.isOblivious(fn),
	}
	for i, prm := range fn.Params {
		pf := summary.Param{Name: prm.Name()}
		if i < len(a.SecretParams) && a.SecretParams[i] || p.contract[fn] != "" && !(i == 0 && fn.Signature.Recv() != nil) {
			pf.Secret = true
		}
		if a.Sink {
			pf.Sink = &summary.Leak{Sink: "an argument of sink function " + p.pkgQual(name)}
		}
		sum.Params = append(sum.Params, pf)
	}
	for _, fv := range fn.FreeVars {
		pf := summary.Param{Name: fv.Name(), Secret: p.secretAt(fv.Pos()) != nil}
		sum.Params = append(sum.Params, pf)
	}
	res := fn.Signature.Results()
	for r := range res.Len() {
		rs := summary.Result{Name: res.At(r).Name()}
		if r < len(a.SecretResults) && a.SecretResults[r] {
			rs.Secret = "result of " + p.pkgQual(name)
		}
		sum.Results = append(sum.Results, rs)
	}
	return sum
}

// pkgQual qualifies a name of this package with the package name, for
// descriptions that travel to other packages in facts.
func (p *pkgState) pkgQual(name string) string {
	return p.pass.Pkg.Name() + "." + name
}

// defaultFunc is the conservative summary of a function whose body the
// analysis cannot see: every parameter flows to every result and into
// whatever the others point to; none reaches a sink; every one reaches a
// call that is not known to be oblivious.
func (p *pkgState) defaultFunc(name string, sig *types.Signature, via string) *summary.Func {
	sum := &summary.Func{Name: name}
	var types_ []types.Type
	if sig.Recv() != nil {
		types_ = append(types_, sig.Recv().Type())
		sum.Params = append(sum.Params, summary.Param{Name: sig.Recv().Name()})
	}
	for i := range sig.Params().Len() {
		types_ = append(types_, sig.Params().At(i).Type())
		sum.Params = append(sum.Params, summary.Param{Name: sig.Params().At(i).Name()})
	}
	for r := range sig.Results().Len() {
		sum.Results = append(sum.Results, summary.Result{Name: sig.Results().At(r).Name()})
	}
	for i := range sum.Params {
		pf := &sum.Params[i]
		pf.ToResults = ^uint64(0)
		pf.Uses = []summary.Use{{Kind: summary.Call, Via: via}}
		for j, t := range types_ {
			if j != i && mayPoint(t) {
				pf.Stores = append(pf.Stores, summary.Store{Param: j})
			}
		}
	}
	return sum
}

// ifaceSummary is the contract an annotated interface method states.
func ifaceSummary(name string, m *types.Func, a *annot.Func) *summary.Func {
	sig := m.Type().(*types.Signature)
	sum := &summary.Func{Name: name, Declassify: a.Declassify, Sink: a.Sink, Boundary: a.Boundary, Oblivious: a.Oblivious, Interface: true}
	sum.Params = append(sum.Params, summary.Param{Name: "receiver"})
	for i := range sig.Params().Len() {
		pf := summary.Param{Name: sig.Params().At(i).Name()}
		if i < len(a.SecretParams) && a.SecretParams[i] {
			pf.Secret = true
		}
		sum.Params = append(sum.Params, pf)
	}
	for i := range sum.Params {
		pf := &sum.Params[i]
		if !a.Declassify {
			pf.ToResults = ^uint64(0)
		}
		if a.Sink && i > 0 {
			pf.Sink = &summary.Leak{Sink: "an argument of sink method " + name}
		}
		if !a.Oblivious {
			pf.Uses = []summary.Use{{Kind: summary.Call, Via: "interface method " + name + " (not annotated oblivious)"}}
		}
	}
	for r := range sig.Results().Len() {
		rs := summary.Result{Name: sig.Results().At(r).Name()}
		if r < len(a.SecretResults) && a.SecretResults[r] {
			rs.Secret = "result of " + name
		}
		sum.Results = append(sum.Results, rs)
	}
	return sum
}

// inheritInterfaces gives the methods that implement annotated interface
// methods (of this package or, through facts, of imported ones) the
// annotations of their contract.
func (p *pkgState) inheritInterfaces() {
	type contract struct {
		named   *types.Named
		methods map[*types.Func]*summary.Func
	}
	byNamed := map[*types.Named]*contract{}
	var order []*types.Named
	addMethod := func(m *types.Func, sum *summary.Func) {
		recv := m.Type().(*types.Signature).Recv()
		if recv == nil {
			return
		}
		named, _ := types.Unalias(recv.Type()).(*types.Named)
		if named == nil || named.TypeParams().Len() > 0 {
			return
		}
		c := byNamed[named]
		if c == nil {
			c = &contract{named: named, methods: map[*types.Func]*summary.Func{}}
			byNamed[named] = c
			order = append(order, named)
		}
		c.methods[m] = sum
	}
	for m, sum := range p.ifaceSums {
		addMethod(m, sum)
	}
	for _, f := range p.pass.AllObjectFacts() {
		ff, ok := f.Fact.(*summary.FuncFact)
		m, isFunc := f.Object.(*types.Func)
		if ok && isFunc && ff.Interface {
			addMethod(m, &ff.Func)
		}
	}
	if len(order) == 0 {
		return
	}
	sort.Slice(order, func(i, j int) bool { return order[i].Obj().Id() < order[j].Obj().Id() })
	scope := p.pass.Pkg.Scope()
	for _, nm := range scope.Names() {
		tn, ok := scope.Lookup(nm).(*types.TypeName)
		if !ok || tn.IsAlias() {
			continue
		}
		named, ok := tn.Type().(*types.Named)
		if !ok || types.IsInterface(named) || named.TypeParams().Len() > 0 {
			continue
		}
		ptr := types.NewPointer(named)
		for _, in := range order {
			c := byNamed[in]
			iface := in.Underlying().(*types.Interface)
			if !types.Implements(named, iface) && !types.Implements(ptr, iface) {
				continue
			}
			for m, csum := range c.methods {
				obj, _, _ := types.LookupFieldOrMethod(ptr, true, m.Pkg(), m.Name())
				impl, ok := obj.(*types.Func)
				if !ok || impl.Pkg() != p.pass.Pkg {
					continue
				}
				fn := p.ssa.Prog.FuncValue(impl)
				if fn == nil {
					continue
				}
				p.inherit(fn, csum, p.qualName(m))
			}
		}
	}
}

func (p *pkgState) inherit(fn *ssa.Function, c *summary.Func, name string) {
	e := p.eff[fn]
	if e == nil {
		e = &annot.Func{SecretParams: make([]bool, len(fn.Params))}
		p.eff[fn] = e
	}
	for len(e.SecretParams) < len(fn.Params) {
		e.SecretParams = append(e.SecretParams, false)
	}
	if c.Oblivious {
		e.Oblivious = true
		p.contract[fn] = name
	}
	if c.Boundary {
		e.Boundary = true
	}
	for i := 1; i < len(c.Params) && i < len(fn.Params); i++ {
		if c.Params[i].Secret {
			e.SecretParams[i] = true
		}
	}
}

// solve analyses the package's functions callees first, iterating over
// recursive components, and again while package variables become secret.
func (p *pkgState) solve() {
	sccs := p.components()
	for round := 0; round < 4; round++ {
		p.globalsChanged = false
		for _, scc := range sccs {
			recursive := len(scc) > 1 || p.selfCall(scc[0])
			for iter := 0; iter < 32; iter++ {
				changed := false
				for _, fn := range scc {
					s := p.analyzeFunc(fn)
					if !equivalent(s.sum, p.sums[fn]) {
						changed = true
					}
					p.sums[fn] = s.sum
					p.diags[fn] = s.diags
				}
				if !recursive || !changed {
					break
				}
			}
		}
		if !p.globalsChanged {
			break
		}
	}
}

// analyzeFunc analyses one function. A failure of the analysis (a bug,
// or code it does not expect) is reported at the function, whose summary
// becomes the conservative one of a function without a body: the run
// goes on, and the gap is visible.
func (p *pkgState) analyzeFunc(fn *ssa.Function) (s *fnState) {
	s = newFnState(p, fn)
	defer func() {
		if r := recover(); r != nil {
			if os.Getenv("CONFIDE_VET_PANIC") != "" { // for debugging the checker: the stack
				panic(r)
			}
			s.sum = p.defaultFunc(s.name, fn.Signature, "function "+s.name+" (not analysed)")
			for len(s.sum.Params) < len(fn.Params)+len(fn.FreeVars) {
				s.sum.Params = append(s.sum.Params, summary.Param{})
			}
			s.diags = []diag{{pos: fn.Pos(), msg: fmt.Sprintf("annotation: confide vet could not analyse %s (internal error: %v); its leaks are not checked", s.name, r)}}
		}
	}()
	s.analyze()
	return s
}

// callees lists the package's functions fn refers to.
func (p *pkgState) callees(fn *ssa.Function) []*ssa.Function {
	var out []*ssa.Function
	seen := map[*ssa.Function]bool{}
	add := func(f *ssa.Function) {
		if f == nil {
			return
		}
		if o := f.Origin(); o != nil {
			f = o
		}
		if obj := boundMethod(f); obj != nil {
			f = p.ssa.Prog.FuncValue(obj)
		} else if f.Synthetic != "" {
			if obj, ok := f.Object().(*types.Func); ok && obj.Pkg() == p.pass.Pkg {
				f = p.ssa.Prog.FuncValue(obj)
			}
		}
		if _, ok := p.sums[f]; ok && !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	var rands []*ssa.Value
	for _, b := range fn.Blocks {
		for _, instr := range b.Instrs {
			rands = instr.Operands(rands[:0])
			for _, r := range rands {
				if f, ok := (*r).(*ssa.Function); ok {
					add(f)
				}
			}
			if ci, ok := instr.(ssa.CallInstruction); ok {
				add(ci.Common().StaticCallee())
			}
		}
	}
	return out
}

func (p *pkgState) selfCall(fn *ssa.Function) bool {
	for _, c := range p.callees(fn) {
		if c == fn {
			return true
		}
	}
	return false
}

// components returns the strongly connected components of the package's
// call graph, callees first (Tarjan's algorithm).
func (p *pkgState) components() [][]*ssa.Function {
	index := map[*ssa.Function]int{}
	low := map[*ssa.Function]int{}
	on := map[*ssa.Function]bool{}
	var stack []*ssa.Function
	var out [][]*ssa.Function
	n := 0
	var visit func(f *ssa.Function)
	visit = func(f *ssa.Function) {
		index[f], low[f] = n, n
		n++
		stack = append(stack, f)
		on[f] = true
		for _, c := range p.callees(f) {
			if _, ok := index[c]; !ok {
				visit(c)
				low[f] = min(low[f], low[c])
			} else if on[c] {
				low[f] = min(low[f], index[c])
			}
		}
		if low[f] == index[f] {
			var scc []*ssa.Function
			for {
				g := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				on[g] = false
				scc = append(scc, g)
				if g == f {
					break
				}
			}
			out = append(out, scc)
		}
	}
	for _, f := range p.funcs {
		if _, ok := index[f]; !ok {
			visit(f)
		}
	}
	return out
}

// export publishes the package's summaries and secret objects as facts.
func (p *pkgState) export() {
	for _, fn := range p.funcs {
		obj, ok := fn.Object().(*types.Func)
		if !ok || fn.Parent() != nil || obj.Pkg() != p.pass.Pkg {
			continue
		}
		sum := *p.sums[fn]
		sum.Params = append([]summary.Param(nil), sum.Params[:min(len(sum.Params), len(fn.Params))]...)
		for i := range sum.Params {
			sum.Params[i].Globals = nil
			sum.Params[i].Fields = append([]summary.Field(nil), sum.Params[i].Fields...)
			for k := range sum.Params[i].Fields {
				sum.Params[i].Fields[k].Globals = nil
			}
		}
		p.pass.ExportObjectFact(obj, &summary.FuncFact{Func: sum})
	}
	for m, sum := range p.ifaceSums {
		p.pass.ExportObjectFact(m, &summary.FuncFact{Func: *sum})
	}
	for obj, what := range p.ann.Secrets {
		switch o := obj.(type) {
		case *types.Var:
			if o.IsField() || o.Parent() == p.pass.Pkg.Scope() {
				p.pass.ExportObjectFact(obj, &summary.ObjFact{Secret: what})
			}
		case *types.Const:
			if o.Parent() == p.pass.Pkg.Scope() {
				p.pass.ExportObjectFact(obj, &summary.ObjFact{Secret: what})
			}
		}
	}
	for v, g := range p.globals {
		if g.src != nil && v.Pkg() == p.pass.Pkg && p.ann.Secrets[v] == "" {
			p.pass.ExportObjectFact(v, &summary.ObjFact{Secret: g.src.what})
		}
	}
}

// reportAll reports the diagnostics that no //confide:ignore suppresses.
func (p *pkgState) reportAll() {
	var all []diag
	for _, fn := range p.funcs {
		all = append(all, p.diags[fn]...)
	}
	for _, pr := range p.ann.Problems {
		all = append(all, diag{pos: pr.Pos, msg: "annotation: " + pr.Msg})
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].pos < all[j].pos })
	type fileLine struct {
		file string
		line int
	}
	ignored := map[fileLine]bool{}
	for _, s := range p.ann.Suppressions {
		if s.Reason != "" {
			ignored[fileLine{s.File, s.Line}] = true
		}
	}
	seen := map[diag]bool{}
	for _, d := range all {
		if seen[d] {
			continue
		}
		seen[d] = true
		pos := p.pass.Fset.Position(d.pos)
		if strings.HasSuffix(pos.Filename, "_test.go") {
			continue
		}
		if !strings.HasPrefix(d.msg, "annotation: ") &&
			(ignored[fileLine{pos.Filename, pos.Line}] || ignored[fileLine{pos.Filename, pos.Line - 1}]) {
			continue
		}
		p.pass.Report(analysis.Diagnostic{Pos: d.pos, Category: category(d.msg), Message: d.msg})
	}
}

func category(msg string) string {
	switch {
	case strings.HasPrefix(msg, "direct leak:"):
		return "direct-leak"
	case strings.HasPrefix(msg, "indirect leak:"):
		return "indirect-leak"
	}
	return "annotation"
}

// ---- names and lookups ----

func (p *pkgState) name(fn *ssa.Function) string {
	if n, ok := p.names[fn]; ok {
		return n
	}
	var n string
	switch {
	case fn.Parent() != nil:
		n = "a function literal in " + p.name(fn.Parent())
	default:
		if obj, ok := fn.Object().(*types.Func); ok {
			n = annot.FuncName(obj)
		} else {
			n = fn.Name()
		}
	}
	p.names[fn] = n
	return n
}

// qualName names a function of any package for messages.
func (p *pkgState) qualName(obj *types.Func) string {
	if obj.Pkg() == nil || obj.Pkg() == p.pass.Pkg {
		return annot.FuncName(obj)
	}
	return obj.Pkg().Name() + "." + annot.FuncName(obj)
}

func (p *pkgState) paramDesc(fn *ssa.Function, i int) string {
	name := fn.Params[i].Name()
	if fn.Signature.Recv() != nil && i == 0 {
		return "receiver " + name + " of " + p.name(fn)
	}
	return "parameter " + name + " of " + p.name(fn)
}

func (p *pkgState) shortPos(pos token.Pos) string {
	if start, ok := p.callStart[pos]; ok {
		pos = start
	}
	position := p.pass.Fset.Position(pos)
	return fmt.Sprintf("%s:%d", filepath.Base(position.Filename), position.Line)
}

// secretAt returns the secret local variable or parameter declared at pos.
func (p *pkgState) secretAt(pos token.Pos) *source {
	return p.secretPos[pos]
}

// secretObj describes obj if it is a secret field, variable or constant.
func (p *pkgState) secretObj(obj types.Object) string {
	if v, ok := obj.(*types.Var); ok {
		obj = v.Origin()
	}
	if what, ok := p.ann.Secrets[obj]; ok {
		return what
	}
	if obj.Pkg() == nil || obj.Pkg() == p.pass.Pkg {
		return ""
	}
	if what, ok := p.objSecret[obj]; ok {
		return what
	}
	var f summary.ObjFact
	what := ""
	if p.pass.ImportObjectFact(obj, &f) {
		what = f.Secret
	}
	p.objSecret[obj] = what
	return what
}

// factOf returns the summary fact of a function of another package.
func (p *pkgState) factOf(obj *types.Func) *summary.Func {
	if sum, ok := p.facts[obj]; ok {
		return sum
	}
	var f summary.FuncFact
	var sum *summary.Func
	if obj.Pkg() != nil && obj.Pkg() != p.pass.Pkg && p.pass.ImportObjectFact(obj, &f) {
		sum = &f.Func
	}
	p.facts[obj] = sum
	return sum
}

// global returns the state of a package variable.
func (p *pkgState) global(g *ssa.Global) *globalVar {
	v, _ := g.Object().(*types.Var)
	if v == nil {
		return &globalVar{}
	}
	if gv, ok := p.globals[v]; ok {
		return gv
	}
	gv := &globalVar{obj: v}
	if what := p.secretObj(v); what != "" {
		gv.src = &source{what: what}
	}
	p.globals[v] = gv
	return gv
}

func (p *pkgState) taintGlobalVar(gv *globalVar, what string) {
	if gv.src == nil && gv.obj != nil && gv.obj.Pkg() == p.pass.Pkg {
		gv.src = &source{what: "variable " + gv.obj.Name() + " (holding secret " + what + ")"}
		p.globalsChanged = true
	}
}

// taintGlobal applies a callee's flow of t into package variable name.
func (p *pkgState) taintGlobal(name string, t taint) {
	if t.src == nil {
		return
	}
	v, ok := p.pass.Pkg.Scope().Lookup(name).(*types.Var)
	if !ok {
		return
	}
	gv, ok := p.globals[v]
	if !ok {
		gv = &globalVar{obj: v}
		if what := p.secretObj(v); what != "" {
			gv.src = &source{what: what}
		}
		p.globals[v] = gv
	}
	p.taintGlobalVar(gv, t.src.what)
}

// typeSecret reports whether values of type t hold a secret field
// (directly, or through pointers, slices, arrays and maps): printing or
// comparing such a value reveals it.
func (p *pkgState) typeSecret(t types.Type) *source {
	if s, ok := p.typeMemo[t]; ok {
		return s
	}
	p.typeMemo[t] = nil // cycles
	var s *source
	switch u := types.Unalias(t).(type) {
	case *types.Named:
		s = p.typeSecret(u.Underlying())
	case *types.Pointer:
		s = p.typeSecret(u.Elem())
	case *types.Slice:
		s = p.typeSecret(u.Elem())
	case *types.Array:
		s = p.typeSecret(u.Elem())
	case *types.Map:
		if s = p.typeSecret(u.Key()); s == nil {
			s = p.typeSecret(u.Elem())
		}
	case *types.Struct:
		for i := range u.NumFields() {
			f := u.Field(i)
			if what := p.secretObj(f); what != "" {
				s = &source{what: what}
				break
			}
			if s = p.typeSecret(f.Type()); s != nil {
				break
			}
		}
	}
	p.typeMemo[t] = s
	return s
}
