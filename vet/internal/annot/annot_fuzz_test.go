package annot

import (
	"go/ast"
	"go/importer"
	goparser "go/parser"
	"go/token"
	"go/types"
	"testing"
)

// FuzzParse reads annotations from arbitrary Go source, as the checker
// does from any module it is pointed at: no panic, and every problem it
// reports has a position in the file.
func FuzzParse(f *testing.F) {
	f.Add("package p\n\n// F does.\n//\n//confide:secret k\n//confide:oblivious\nfunc F(k []byte) int { return len(k) }\n")
	f.Add("package p\n\ntype T struct {\n\tKey []byte //confide:secret\n\tembedded //confide:secret\n}\n\ntype embedded struct{}\n")
	f.Add("package p\n\n//confide:secret\nvar (\n\ta = 1 //confide:secret\n\tb = 2\n)\n\nfunc g() {\n\tx := a //confide:secret\n\t_ = x //confide:ignore\n}\n")
	f.Add("package p\n\ntype I interface {\n\t//confide:sink\n\tWrite(p []byte) (int, error)\n}\n\n//confide:secret nosuch\n//confide:bogus\nfunc h(a, b ...int) (r int, err error) { return }\n")
	f.Fuzz(func(t *testing.T, src string) {
		fset := token.NewFileSet()
		file, err := goparser.ParseFile(fset, "p.go", src, goparser.ParseComments)
		if err != nil {
			return
		}
		info := &types.Info{
			Defs: map[*ast.Ident]types.Object{}, Uses: map[*ast.Ident]types.Object{},
			Types: map[ast.Expr]types.TypeAndValue{}, Selections: map[*ast.SelectorExpr]*types.Selection{},
		}
		conf := types.Config{Importer: importer.Default(), Error: func(error) {}}
		conf.Check("p", fset, []*ast.File{file}, info) // errors tolerated: annotations are read anyway
		out := Parse(fset, []*ast.File{file}, info)
		for _, p := range out.Problems {
			if !p.Pos.IsValid() || p.Msg == "" {
				t.Fatalf("problem without position or message: %+v", p)
			}
		}
	})
}
