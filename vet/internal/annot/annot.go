// Package annot parses confide's source annotations: the //confide:
// directives on functions, interface methods, struct fields, variables,
// constants and short variable declarations, and the //confide:ignore
// suppressions. The grammar is documented in package vet.
package annot

import (
	"fmt"
	"go/ast"
	"go/token"
	"go/types"
	"sort"
	"strings"
)

// Prefix starts every directive.
const Prefix = "//confide:"

// Directive names.
const (
	Secret     = "secret"
	Declassify = "declassify"
	Sink       = "sink"
	Boundary   = "boundary"
	Oblivious  = "oblivious"
	Ignore     = "ignore"
)

// Func is what a function's (or interface method's) doc comment says.
// Parameters are indexed as in the summaries: the receiver first, if
// any, then the parameters in order.
type Func struct {
	SecretParams  []bool
	SecretResults []bool
	Declassify    bool
	Sink          bool
	Boundary      bool
	Oblivious     bool
	// FloatDivision: an oblivious function that accepts floating-point
	// division by a secret (//confide:oblivious float-division).
	FloatDivision bool
}

// FloatDivisionOption is the option of //confide:oblivious that accepts
// floating-point division by a secret: under a threat model of memory
// traces (not timing), since a division's latency may depend on its
// operands but what it touches does not.
const FloatDivisionOption = "float-division"

// Suppression is one //confide:ignore comment.
type Suppression struct {
	Pos    token.Pos
	File   string
	Line   int
	Reason string
}

// Problem is a misuse of the annotation grammar, reported as a
// diagnostic.
type Problem struct {
	Pos token.Pos
	Msg string
}

// Info holds the annotations of one package.
type Info struct {
	// Funcs maps functions, methods and interface methods declared in
	// the package to their annotations (absent: none).
	Funcs map[*types.Func]*Func
	// Secrets maps struct fields, package and local variables,
	// constants, and parameters or receivers annotated secret to a
	// description of the secret ("field Config.Key").
	Secrets map[types.Object]string
	// Suppressions lists every //confide:ignore, in source order.
	Suppressions []Suppression
	// Problems lists misuses of the grammar.
	Problems []Problem
}

// Parse reads the annotations of a type-checked package.
func Parse(fset *token.FileSet, files []*ast.File, info *types.Info) *Info {
	p := &parser{
		fset: fset,
		info: info,
		out: &Info{
			Funcs:   map[*types.Func]*Func{},
			Secrets: map[types.Object]string{},
		},
		used: map[*ast.Comment]bool{},
	}
	for _, f := range files {
		p.file(f)
	}
	sort.Slice(p.out.Problems, func(i, j int) bool { return p.out.Problems[i].Pos < p.out.Problems[j].Pos })
	return p.out
}

type parser struct {
	fset *token.FileSet
	info *types.Info
	out  *Info
	used map[*ast.Comment]bool
	// lineSecret maps a line of the current file to a //confide:secret
	// comment on it, for short variable declarations.
	lineSecret map[int]*ast.Comment
	// typeNames maps the type expressions of type specs to their names.
	typeNames map[ast.Expr]string
}

func (p *parser) problem(pos token.Pos, format string, args ...any) {
	p.out.Problems = append(p.out.Problems, Problem{Pos: pos, Msg: fmt.Sprintf(format, args...)})
}

// IgnoreReason reports whether c is a //confide:ignore comment, and its
// reason (empty when it has none).
func IgnoreReason(c *ast.Comment) (reason string, ok bool) {
	name, _, ok := directive(c)
	if !ok || name != Ignore {
		return "", false
	}
	return strings.TrimSpace(strings.TrimPrefix(c.Text, Prefix+Ignore)), true
}

// directive splits a comment into a directive name and its arguments.
func directive(c *ast.Comment) (name string, args []string, ok bool) {
	rest, ok := strings.CutPrefix(c.Text, Prefix)
	if !ok {
		return "", nil, false
	}
	fields := strings.Fields(rest)
	if len(fields) == 0 {
		return "", nil, true
	}
	return fields[0], fields[1:], true
}

func (p *parser) file(f *ast.File) {
	p.lineSecret = map[int]*ast.Comment{}
	for _, cg := range f.Comments {
		for _, c := range cg.List {
			name, args, ok := directive(c)
			if !ok {
				continue
			}
			switch name {
			case Ignore:
				p.used[c] = true
				pos := p.fset.Position(c.Pos())
				reason, _ := IgnoreReason(c)
				if reason == "" {
					p.problem(c.Pos(), "//confide:ignore needs a reason")
				}
				p.out.Suppressions = append(p.out.Suppressions, Suppression{Pos: c.Pos(), File: pos.Filename, Line: pos.Line, Reason: reason})
			case Secret:
				if len(args) == 0 {
					p.lineSecret[p.fset.Position(c.Pos()).Line] = c
				}
			}
		}
	}

	p.typeNames = map[ast.Expr]string{}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.TypeSpec:
			p.typeNames[n.Type] = n.Name.Name
		case *ast.FuncDecl:
			p.funcDecl(n)
		case *ast.InterfaceType:
			p.iface(n)
		case *ast.StructType:
			p.structType(n)
		case *ast.GenDecl:
			p.genDecl(n)
		case *ast.AssignStmt:
			p.shortVar(n)
		}
		return true
	})

	for _, cg := range f.Comments {
		for _, c := range cg.List {
			name, _, ok := directive(c)
			if !ok || p.used[c] {
				continue
			}
			switch name {
			case Secret, Declassify, Sink, Boundary, Oblivious:
				p.problem(c.Pos(), "misplaced //confide:%s: it belongs in the doc comment of a function or interface method, on a struct field, variable or constant, or at the end of a short variable declaration", name)
			default:
				p.problem(c.Pos(), "unknown directive %s", strings.Fields(c.Text)[0])
			}
		}
	}
}

func (p *parser) funcDecl(d *ast.FuncDecl) {
	fn, _ := p.info.Defs[d.Name].(*types.Func)
	if fn == nil || d.Doc == nil {
		return
	}
	recv := ""
	if d.Recv != nil && len(d.Recv.List) == 1 && len(d.Recv.List[0].Names) == 1 {
		recv = d.Recv.List[0].Names[0].Name
	}
	p.funcDoc(fn, recv, d.Doc)
}

func (p *parser) iface(it *ast.InterfaceType) {
	for _, m := range it.Methods.List {
		if _, ok := m.Type.(*ast.FuncType); !ok || len(m.Names) != 1 || m.Doc == nil {
			continue
		}
		fn, _ := p.info.Defs[m.Names[0]].(*types.Func)
		if fn == nil {
			continue
		}
		p.funcDoc(fn, "", m.Doc)
	}
}

var errorType = types.Universe.Lookup("error").Type()

// funcDoc reads the directives of a function's doc comment.
func (p *parser) funcDoc(fn *types.Func, recvName string, doc *ast.CommentGroup) {
	sig := fn.Type().(*types.Signature)
	a := &Func{}
	found := false
	nrecv := 0
	if sig.Recv() != nil && !types.IsInterface(sig.Recv().Type()) {
		nrecv = 1
	}
	a.SecretParams = make([]bool, nrecv+sig.Params().Len())
	a.SecretResults = make([]bool, sig.Results().Len())
	for _, c := range doc.List {
		name, args, ok := directive(c)
		if !ok {
			continue
		}
		switch name {
		case Secret:
			p.used[c] = true
			found = true
			if len(args) == 0 {
				n := 0
				for i := range sig.Results().Len() {
					if !types.Identical(sig.Results().At(i).Type(), errorType) {
						a.SecretResults[i] = true
						n++
					}
				}
				if n == 0 {
					p.problem(c.Pos(), "//confide:secret without names marks the results secret, but %s has no results other than errors", fn.Name())
				}
				continue
			}
		names:
			for _, arg := range args {
				if nrecv == 1 && arg == recvName {
					a.SecretParams[0] = true
					p.out.Secrets[sig.Recv()] = "receiver " + arg + " of " + funcName(fn)
					continue
				}
				for i := range sig.Params().Len() {
					if v := sig.Params().At(i); v.Name() == arg {
						a.SecretParams[nrecv+i] = true
						p.out.Secrets[v] = "parameter " + arg + " of " + funcName(fn)
						continue names
					}
				}
				for i := range sig.Results().Len() {
					if sig.Results().At(i).Name() == arg {
						a.SecretResults[i] = true
						continue names
					}
				}
				p.problem(c.Pos(), "//confide:secret names %s, which is not a parameter, receiver or named result of %s", arg, fn.Name())
			}
		case Declassify, Sink, Boundary, Oblivious:
			p.used[c] = true
			found = true
			switch {
			case name == Oblivious && len(args) == 1 && args[0] == FloatDivisionOption:
				a.FloatDivision = true
			case name == Oblivious && len(args) != 0:
				p.problem(c.Pos(), "//confide:oblivious takes no arguments but %s", FloatDivisionOption)
			case len(args) != 0:
				p.problem(c.Pos(), "//confide:%s takes no arguments", name)
			}
			switch name {
			case Declassify:
				a.Declassify = true
			case Sink:
				a.Sink = true
			case Boundary:
				a.Boundary = true
			case Oblivious:
				a.Oblivious = true
			}
		}
	}
	if found {
		p.out.Funcs[fn] = a
	}
}

// funcName names a function for messages: F, T.M or (*T).M.
func funcName(fn *types.Func) string {
	sig := fn.Type().(*types.Signature)
	if sig.Recv() == nil {
		return fn.Name()
	}
	t := sig.Recv().Type()
	ptr := ""
	if pt, ok := t.(*types.Pointer); ok {
		t, ptr = pt.Elem(), "*"
	}
	name := types.TypeString(t, func(*types.Package) string { return "" })
	if i := strings.IndexByte(name, '['); i >= 0 {
		name = name[:i]
	}
	if ptr != "" {
		return "(*" + name + ")." + fn.Name()
	}
	return name + "." + fn.Name()
}

// FuncName names a function for messages.
func FuncName(fn *types.Func) string { return funcName(fn) }

// secretComment returns the //confide:secret directive in cg, if any.
func (p *parser) secretComment(cg *ast.CommentGroup) *ast.Comment {
	if cg == nil {
		return nil
	}
	for _, c := range cg.List {
		if name, args, ok := directive(c); ok && name == Secret {
			if len(args) != 0 {
				p.problem(c.Pos(), "//confide:secret on a declaration takes no names")
			}
			return c
		}
	}
	return nil
}

func (p *parser) structType(st *ast.StructType) {
	tv, ok := p.info.Types[st]
	if !ok {
		return
	}
	s, ok := tv.Type.Underlying().(*types.Struct)
	if !ok {
		return
	}
	owner := p.structName(st)
	k := 0
	for _, f := range st.Fields.List {
		n := len(f.Names)
		if n == 0 {
			n = 1 // embedded
		}
		c := p.secretComment(f.Doc)
		if c == nil {
			c = p.secretComment(f.Comment)
		}
		for i := 0; i < n && k < s.NumFields(); i++ {
			if c != nil {
				p.used[c] = true
				v := s.Field(k)
				p.out.Secrets[v] = "field " + owner + v.Name()
			}
			k++
		}
	}
}

// structName names the type a struct type literal defines, for
// messages ("Config."), or "" for anonymous structs.
func (p *parser) structName(st *ast.StructType) string {
	if name, ok := p.typeNames[st]; ok {
		return name + "."
	}
	return ""
}

func (p *parser) genDecl(d *ast.GenDecl) {
	if d.Tok != token.VAR && d.Tok != token.CONST {
		return
	}
	grouped := d.Lparen.IsValid()
	if grouped {
		if c := p.secretComment(d.Doc); c != nil {
			p.used[c] = true
			p.problem(c.Pos(), "//confide:secret on a grouped declaration: mark each spec by its own comment")
		}
	}
	for _, spec := range d.Specs {
		vs := spec.(*ast.ValueSpec)
		c := p.secretComment(vs.Doc)
		if c == nil {
			c = p.secretComment(vs.Comment)
		}
		if c == nil && !grouped {
			c = p.secretComment(d.Doc)
		}
		if c == nil {
			continue
		}
		p.used[c] = true
		for _, id := range vs.Names {
			obj := p.info.Defs[id]
			switch obj.(type) {
			case *types.Var:
				p.out.Secrets[obj] = "variable " + id.Name
			case *types.Const:
				p.out.Secrets[obj] = "constant " + id.Name
			}
		}
	}
}

// shortVar marks the variables a short variable declaration defines when
// its line ends with //confide:secret.
func (p *parser) shortVar(s *ast.AssignStmt) {
	if s.Tok != token.DEFINE {
		return
	}
	line := p.fset.Position(s.End()).Line
	c := p.lineSecret[line]
	if c == nil || c.Pos() < s.End() || p.used[c] {
		return
	}
	p.used[c] = true
	for _, lhs := range s.Lhs {
		id, ok := lhs.(*ast.Ident)
		if !ok {
			continue
		}
		if obj, ok := p.info.Defs[id].(*types.Var); ok && obj != nil {
			p.out.Secrets[obj] = "variable " + id.Name
		}
	}
}
