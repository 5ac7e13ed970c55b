package leak

import (
	"go/ast"
	"go/token"
	"go/types"

	"github.com/confide/confide/vet/internal/summary"
)

// checkUses walks the function's syntax for the dependences an oblivious
// function must not have on a secret, finding the SSA value of each
// relevant expression through the DebugRefs. Outside oblivious functions
// it only records which parameters reach which dependences, for the
// summary.
func (s *fnState) checkUses() {
	syn := s.fn.Syntax()
	var body ast.Node
	switch f := syn.(type) {
	case *ast.FuncDecl:
		if f.Body == nil {
			return
		}
		body = f.Body
	case *ast.FuncLit:
		body = f.Body
	default:
		return
	}
	info := s.p.pass.TypesInfo
	ast.Inspect(body, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.FuncLit:
			return false // checked as its own function
		case *ast.IfStmt:
			s.cond(n.Cond, summary.Branch)
		case *ast.ForStmt:
			if n.Cond != nil {
				s.cond(n.Cond, summary.Loop)
			}
		case *ast.RangeStmt:
			s.rangeStmt(n)
		case *ast.SwitchStmt:
			if n.Tag != nil {
				s.use(n.Tag.Pos(), s.exprTaint(n.Tag), summary.Switch)
			}
			for _, cc := range n.Body.List {
				for _, e := range cc.(*ast.CaseClause).List {
					if n.Tag != nil {
						s.use(e.Pos(), s.exprTaint(e), summary.Switch)
					} else {
						s.cond(e, summary.Switch)
					}
				}
			}
		case *ast.SelectStmt:
			for _, cc := range n.Body.List {
				comm := cc.(*ast.CommClause).Comm
				var ch ast.Expr
				switch c := comm.(type) {
				case *ast.SendStmt:
					ch = c.Chan
				case *ast.ExprStmt:
					ch = recvChan(c.X)
				case *ast.AssignStmt:
					if len(c.Rhs) == 1 {
						ch = recvChan(c.Rhs[0])
					}
				}
				if ch != nil {
					s.use(ch.Pos(), s.exprTaint(ch), summary.Select)
				}
			}
		case *ast.BinaryExpr:
			s.binary(n.Op, n.X, n.Y, n.OpPos)
		case *ast.AssignStmt:
			if len(n.Lhs) == 1 && len(n.Rhs) == 1 {
				switch n.Tok {
				case token.QUO_ASSIGN:
					s.binary(token.QUO, n.Lhs[0], n.Rhs[0], n.TokPos)
				case token.REM_ASSIGN:
					s.binary(token.REM, n.Lhs[0], n.Rhs[0], n.TokPos)
				case token.SHL_ASSIGN:
					s.binary(token.SHL, n.Lhs[0], n.Rhs[0], n.TokPos)
				case token.SHR_ASSIGN:
					s.binary(token.SHR, n.Lhs[0], n.Rhs[0], n.TokPos)
				}
			}
		case *ast.IndexExpr:
			if tv, ok := info.Types[n.X]; ok && !tv.IsType() && !isGenericFunc(info, n.X) {
				s.use(n.Index.Pos(), s.exprTaint(n.Index), summary.Index)
			}
		case *ast.SliceExpr:
			for _, b := range []ast.Expr{n.Low, n.High, n.Max} {
				if b != nil {
					s.use(b.Pos(), s.exprTaint(b), summary.SliceBound)
				}
			}
		case *ast.CallExpr:
			s.builtinUses(n)
			s.conversion(n)
		}
		return true
	})
}

func recvChan(e ast.Expr) ast.Expr {
	if u, ok := ast.Unparen(e).(*ast.UnaryExpr); ok && u.Op == token.ARROW {
		return u.X
	}
	return nil
}

func isGenericFunc(info *types.Info, e ast.Expr) bool {
	t := info.TypeOf(e)
	if sig, ok := t.(*types.Signature); ok {
		return sig.TypeParams() != nil
	}
	return false
}

// cond checks a condition: each operand of && and || is a branch.
func (s *fnState) cond(e ast.Expr, k summary.Kind) {
	switch x := ast.Unparen(e).(type) {
	case *ast.BinaryExpr:
		if x.Op == token.LAND || x.Op == token.LOR {
			s.cond(x.X, summary.ShortCircuit)
			s.cond(x.Y, k)
			return
		}
	case *ast.UnaryExpr:
		if x.Op == token.NOT {
			s.cond(x.X, k)
			return
		}
	}
	s.use(e.Pos(), s.exprTaint(e), k)
}

func (s *fnState) binary(op token.Token, x, y ast.Expr, pos token.Pos) {
	info := s.p.pass.TypesInfo
	switch op {
	case token.LAND, token.LOR:
		s.use(x.Pos(), s.exprTaint(x), summary.ShortCircuit)
	case token.QUO, token.REM:
		switch {
		case info.Types[y].Value != nil:
		case isInteger(info.TypeOf(y)):
			s.use(y.Pos(), s.exprTaint(y), summary.Divisor)
		case isFloat(info.TypeOf(y)):
			s.use(y.Pos(), s.exprTaint(y), summary.FloatDivisor)
		}
	case token.SHL, token.SHR:
		if info.Types[y].Value == nil {
			s.use(y.Pos(), s.exprTaint(y), summary.Shift)
		}
	case token.EQL, token.NEQ:
		t := info.TypeOf(x)
		if t == nil || isNilType(t) {
			t = info.TypeOf(y)
		}
		if t == nil {
			return
		}
		switch t.Underlying().(type) {
		case *types.Array, *types.Struct:
		case *types.Basic:
			if b := t.Underlying().(*types.Basic); b.Info()&types.IsString == 0 {
				return
			}
		default:
			return
		}
		tt := s.exprTaint(x).join(s.exprTaint(y))
		if src := s.p.typeSecret(t); src != nil {
			tt = tt.join(secretTaint(s.src(src.what)))
		}
		s.use(pos, tt, summary.Compare)
	}
}

func isNilType(t types.Type) bool {
	b, ok := t.(*types.Basic)
	return ok && b.Kind() == types.UntypedNil
}

func isInteger(t types.Type) bool {
	if t == nil {
		return false
	}
	b, ok := t.Underlying().(*types.Basic)
	return ok && b.Info()&types.IsInteger != 0
}

func (s *fnState) rangeStmt(n *ast.RangeStmt) {
	info := s.p.pass.TypesInfo
	t := info.TypeOf(n.X)
	if t == nil {
		return
	}
	if p, ok := t.Underlying().(*types.Pointer); ok {
		t = p.Elem()
	}
	switch u := t.Underlying().(type) {
	case *types.Basic:
		if u.Info()&types.IsInteger != 0 {
			s.use(n.X.Pos(), s.exprTaint(n.X), summary.Loop)
		} else if u.Info()&types.IsString != 0 {
			// Decoding UTF-8 branches on the bytes.
			s.use(n.X.Pos(), s.exprTaint(n.X), summary.Branch)
		}
	case *types.Slice, *types.Array:
		s.use(n.X.Pos(), s.lenTaint(n.X), summary.Loop)
	case *types.Map:
		// Iteration order and count depend on the keys.
		s.use(n.X.Pos(), s.exprDeep(n.X), summary.Index)
	}
}

// builtinUses checks the operands of min, max, make, append and delete.
// conversion checks a conversion between a floating-point type and a
// 64-bit unsigned integer type: amd64 has no such instruction, so Go
// compiles one with a branch on the value (whether it reaches 2^63);
// through int64 there is none.
func (s *fnState) conversion(call *ast.CallExpr) {
	info := s.p.pass.TypesInfo
	if tv, ok := info.Types[call.Fun]; !ok || !tv.IsType() || len(call.Args) != 1 {
		return
	}
	from, to := info.TypeOf(call.Args[0]), info.TypeOf(call)
	if isFloat(from) && isUint64(to) || isUint64(from) && isFloat(to) {
		if info.Types[call.Args[0]].Value == nil {
			s.use(call.Args[0].Pos(), s.exprTaint(call.Args[0]), summary.UintFloat)
		}
	}
}

func isUint64(t types.Type) bool {
	if t == nil {
		return false
	}
	b, ok := t.Underlying().(*types.Basic)
	return ok && (b.Kind() == types.Uint64 || b.Kind() == types.Uint || b.Kind() == types.Uintptr)
}

func (s *fnState) builtinUses(call *ast.CallExpr) {
	info := s.p.pass.TypesInfo
	id, ok := ast.Unparen(call.Fun).(*ast.Ident)
	if !ok {
		return
	}
	if _, isBuiltin := info.Uses[id].(*types.Builtin); !isBuiltin {
		return
	}
	switch id.Name {
	case "min", "max":
		if b, ok := info.TypeOf(call).Underlying().(*types.Basic); ok && b.Info()&types.IsFloat != 0 {
			return
		}
		for _, a := range call.Args {
			s.use(a.Pos(), s.exprTaint(a), summary.MinMax)
		}
	case "make":
		for _, a := range call.Args[1:] {
			s.use(a.Pos(), s.exprTaint(a), summary.MakeSize)
		}
	case "append":
		if call.Ellipsis.IsValid() && len(call.Args) == 2 {
			s.use(call.Args[1].Pos(), s.lenTaint(call.Args[1]), summary.AppendSize)
		}
	case "delete":
		if len(call.Args) == 2 {
			s.use(call.Args[1].Pos(), s.exprTaint(call.Args[1]), summary.Index)
		}
	}
}

// exprTaint is the taint of an expression's value.
func (s *fnState) exprTaint(e ast.Expr) taint {
	e = ast.Unparen(e)
	info := s.p.pass.TypesInfo
	if tv, ok := info.Types[e]; ok && tv.Value != nil {
		return s.constExprTaint(e)
	}
	if v, ok := s.exprVal[e]; ok {
		return s.taintOf(v)
	}
	if call, ok := e.(*ast.CallExpr); ok && isUnsafeSize(info, call) {
		return taint{} // does not evaluate its operand
	}
	// No value recorded (for example a condition's && or !): the union
	// of its operands.
	var t taint
	ast.Inspect(e, func(n ast.Node) bool {
		if n == e {
			return true
		}
		switch n := n.(type) {
		case *ast.FuncLit:
			return false
		case ast.Expr:
			t = t.join(s.exprTaint(n))
			return false
		}
		return true
	})
	return t
}

// exprDeep is the taint of an expression's value and what it points to.
func (s *fnState) exprDeep(e ast.Expr) taint {
	e = ast.Unparen(e)
	if v, ok := s.exprVal[e]; ok {
		return s.deep(v)
	}
	return s.exprTaint(e)
}

// lenTaint is the taint of the length of a slice expression's value.
func (s *fnState) lenTaint(e ast.Expr) taint {
	if v, ok := s.exprVal[ast.Unparen(e)]; ok {
		return s.info(v).lenT
	}
	return taint{}
}

// constExprTaint: a constant expression is secret if it names a secret
// constant.
func (s *fnState) constExprTaint(e ast.Expr) taint {
	var t taint
	ast.Inspect(e, func(n ast.Node) bool {
		if id, ok := n.(*ast.Ident); ok {
			if c, ok := s.p.pass.TypesInfo.Uses[id].(*types.Const); ok {
				if what := s.p.secretObj(c); what != "" && t.src == nil {
					t = secretTaint(s.src(what))
				}
			}
		}
		return true
	})
	return t
}

// isUnsafeSize reports whether call is unsafe.Sizeof, Alignof or
// Offsetof, which depend on their operand's type only.
func isUnsafeSize(info *types.Info, call *ast.CallExpr) bool {
	var id *ast.Ident
	switch f := ast.Unparen(call.Fun).(type) {
	case *ast.SelectorExpr:
		id = f.Sel
	case *ast.Ident:
		id = f
	}
	if id == nil {
		return false
	}
	b, ok := info.Uses[id].(*types.Builtin)
	if !ok {
		return false
	}
	switch b.Name() {
	case "Sizeof", "Alignof", "Offsetof":
		return true
	}
	return false
}

func isFloat(t types.Type) bool {
	if t == nil {
		return false
	}
	b, ok := t.Underlying().(*types.Basic)
	return ok && b.Info()&types.IsFloat != 0
}
