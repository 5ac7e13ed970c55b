package engine

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"github.com/confide/confide/sql/internal/pgast"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"strings"
	"sync"

	sqlite3 "github.com/mattn/go-sqlite3"
	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/confide/confide/sql/bind"
	"github.com/confide/confide/sql/sqlenclave"
	"github.com/confide/confide/sql/types"
	"github.com/confide/confide/sql/wire"
)

// Enclave-enabled columns (spec/ae-enclave.md) are stored as TEXT
// envelopes under the collation confide_ae, which asks the SQL enclave to
// order two cells by their plaintexts: SQLite then compares, sorts, groups
// and indexes them with its own machinery, and an index on such a column
// is ordered by plaintext. That order is visible to whoever reads the
// database file, as SQL Server's documentation says of its enclave
// indexes. LIKE, which SQLite does not evaluate by collation, becomes the
// enclave function confide_like.
//
// A collation cannot fail, so every statement on a table with
// enclave-enabled columns first checks that the enclave holds all their
// keys (missing ones refuse the statement before SQLite runs it). If a
// comparison still fails — a cell tampered with in the file — the
// collation falls back to comparing the envelopes' text, counts the
// failure, and the statement goes on; SQLite's journal and the cells' MACs
// keep that from losing data, but the index may need REINDEX once the
// cell is repaired.
const (
	enclaveCollation = "confide_ae"
	enclaveLike      = "confide_like"
)

// open opens a database with the enclave's collation and functions on
// every connection.
func (e *Engine) openSQLite(dsn string) *sql.DB {
	drv := &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
		if err := c.RegisterCollation(enclaveCollation, e.collate); err != nil {
			return err
		}
		if err := c.RegisterFunc(enclaveTransform, transform, false); err != nil {
			return err
		}
		// Not pure: results are encrypted with fresh randomness.
		if err := c.RegisterFunc(enclaveArith, e.arith, false); err != nil {
			return err
		}
		if err := c.RegisterFunc(enclaveRound, e.round, false); err != nil {
			return err
		}
		if err := c.RegisterFunc(enclaveCast, e.cast, false); err != nil {
			return err
		}
		for _, fn := range []string{"sum", "avg"} {
			name := map[string]string{"sum": enclaveSum, "avg": enclaveAvg}[fn]
			if err := c.RegisterAggregator(name, func() *aggregate { return &aggregate{e: e, fn: fn} }, false); err != nil {
				return err
			}
		}
		return c.RegisterFunc(enclaveLike, e.like, true)
	}}
	return sql.OpenDB(sqliteConnector{drv: drv, dsn: dsn})
}

type sqliteConnector struct {
	drv *sqlite3.SQLiteDriver
	dsn string
}

func (c sqliteConnector) Connect(context.Context) (driver.Conn, error) { return c.drv.Open(c.dsn) }
func (c sqliteConnector) Driver() driver.Driver                        { return c.drv }

// collate is the collation confide_ae.
func (e *Engine) collate(a, b string) int {
	if e.Enclave != nil {
		if n, err := e.Enclave.Compare(a, b); err == nil {
			return n
		}
	}
	e.collateFailures.Add(1)
	return strings.Compare(a, b)
}

// like is the SQL function confide_like(value, pattern): 1 or 0, NULL
// for NULL operands.
func (e *Engine) like(value, pattern any) (any, error) {
	if sqlNull(value) || sqlNull(pattern) {
		return nil, nil
	}
	v, ok1 := value.(string)
	p, ok2 := pattern.(string)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("%s takes enclave-enabled cells", enclaveLike)
	}
	if e.Enclave == nil {
		return nil, fmt.Errorf("this server has no SQL enclave")
	}
	ok, err := e.Enclave.Like(v, p)
	if err != nil {
		return nil, err
	}
	if ok {
		return int64(1), nil
	}
	return int64(0), nil
}

// CollationFailures counts comparisons the enclave could not make.
func (e *Engine) CollationFailures() int64 { return e.collateFailures.Load() }

// rewriteLikes turns each LIKE on an enclave-enabled column into
// confide_like(value, pattern) = 1 (NOT LIKE: = 0).
func rewriteLikes(likes []*pg.A_Expr) {
	for _, x := range likes {
		op := ""
		for _, n := range x.Name {
			op = n.GetString_().GetSval()
		}
		want := int32(1)
		if op == "!~~" {
			want = 0
		}
		call := &pg.Node{Node: &pg.Node_FuncCall{FuncCall: &pg.FuncCall{
			Funcname:   []*pg.Node{pg.MakeStrNode(enclaveLike)},
			Args:       []*pg.Node{x.Lexpr, x.Rexpr},
			Funcformat: pg.CoercionForm_COERCE_EXPLICIT_CALL,
		}}}
		x.Kind = pg.A_Expr_Kind_AEXPR_OP
		x.Name = []*pg.Node{pg.MakeStrNode("=")}
		x.Lexpr = call
		x.Rexpr = pg.MakeAConstIntNode(int64(want), -1)
	}
}

// needKeys refuses a statement whose enclave keys are not all cached.
func (e *Engine) needKeys(ceks []string) error {
	if len(ceks) == 0 {
		return nil
	}
	if e.Enclave == nil {
		return &wire.Error{Code: "0A000", Message: "this server has no SQL enclave, which columns encrypted with an enclave-enabled column encryption key need"}
	}
	if missing := e.Enclave.Missing(ceks...); len(missing) > 0 {
		return &wire.Error{Code: "28000", Message: fmt.Sprintf("the SQL enclave does not hold column encryption key %s", strings.Join(missing, ", ")),
			Hint: "the driver sends keys with " + KeysFunction + " after attesting the enclave (" + AttestFunction + ")"}
	}
	return nil
}

// Table functions of the SQL enclave (spec/ae-enclave.md).
const (
	AttestFunction = sqlenclave.AttestFunction
	KeysFunction   = sqlenclave.KeysFunction
)

// enclaveStmt serves sp_enclave_attest($nonce) and
// sp_enclave_keys($package, $statement).
type enclaveStmt struct {
	s    *session
	e    *Engine
	args []describeArg
	keys bool
}

func (x *enclaveStmt) Params() []uint32 {
	var out []uint32
	for i, a := range x.args {
		if a.Param {
			if i == 1 {
				out = append(out, oidText)
			} else {
				out = append(out, oidBytea)
			}
		}
	}
	return out
}

func (x *enclaveStmt) Columns() []wire.Column {
	names, oids := []string{"session_id", "enclave_key", "evidence"}, []uint32{oidBytea, oidBytea, oidBytea}
	if x.keys {
		names, oids = []string{"keys"}, []uint32{oidInt4}
	}
	out := make([]wire.Column, len(names))
	for i := range names {
		out[i] = wire.Column{Name: names[i], TypeOID: oids[i], TypeSize: -1, TypeModifier: -1}
	}
	return out
}

func (x *enclaveStmt) Close() error { return nil }

func (x *enclaveStmt) Execute(ctx context.Context, params []wire.Param, formats []int16) (wire.Result, error) {
	want := 1
	if x.keys {
		want = 2
	}
	if len(x.args) != want {
		return nil, x.s.failed(&wire.Error{Code: "42883", Message: fmt.Sprintf("the function takes %d arguments", want)})
	}
	var vals [][]byte
	pi := 0
	for i, a := range x.args {
		if !a.Param {
			vals = append(vals, []byte(a.Literal))
			continue
		}
		if pi >= len(params) || params[pi].Value == nil {
			return nil, x.s.failed(&wire.Error{Code: "22023", Message: "enclave functions take non-NULL arguments"})
		}
		v, err := decodeParam(params[pi], x.Params()[pi], i+1)
		if err != nil {
			return nil, x.s.failed(err)
		}
		switch b := v.(type) {
		case []byte:
			vals = append(vals, b)
		case string:
			vals = append(vals, []byte(b))
		}
		pi++
	}
	if x.e.Enclave == nil {
		return nil, x.s.failed(&wire.Error{Code: "0A000", Message: "this server has no SQL enclave"})
	}
	res := &listResult{formats: append([]int16(nil), formats...)}
	if x.keys {
		names, err := x.e.Enclave.AcceptKeys(vals[0], string(vals[1]))
		if err != nil {
			return nil, x.s.failed(&wire.Error{Code: "28000", Message: err.Error()})
		}
		res.rows, res.oids = [][]any{{int64(len(names))}}, []uint32{oidInt4}
		return res, nil
	}
	att, err := x.e.Enclave.Attest(ctx, vals[0])
	if err != nil {
		return nil, x.s.failed(&wire.Error{Code: "22023", Message: err.Error()})
	}
	res.rows, res.oids = [][]any{{att.SessionID, att.EnclaveKey, att.Evidence}}, []uint32{oidBytea, oidBytea, oidBytea}
	return res, nil
}

// toEnvelope stores a cell bound for an enclave-enabled column.
func toEnvelope(c *column, cellBytes []byte) string {
	return sqlenclave.Envelope(c.CEK, c.Type.String(), cellBytes)
}

// Enclave functions for arithmetic and aggregates on encrypted numbers
// (package bind's Rewrites): each returns an envelope, under the
// collation, so that results compare, sort and group by plaintext too.
const (
	enclaveArith = "confide_arith"
	enclaveRound = "confide_round"
	enclaveCast  = "confide_cast"
	enclaveSum   = "confide_sum"
	enclaveAvg   = "confide_avg"
)

// rewriteExprs replaces each computed expression by its enclave function.
func rewriteExprs(rs []bind.Rewrite) {
	str := func(s string) *pg.Node { return pg.MakeAConstStrNode(s, -1) }
	num := func(n int64) *pg.Node { return pg.MakeAConstIntNode(n, -1) }
	// Window functions last: their subqueries copy the WHERE clause,
	// whose own expressions must be rewritten first.
	ordered := make([]bind.Rewrite, 0, len(rs))
	for _, r := range rs {
		if r.Table == "" {
			ordered = append(ordered, r)
		}
	}
	for _, r := range rs {
		if r.Table != "" {
			ordered = append(ordered, r)
		}
	}
	for _, r := range ordered {
		if r.Table != "" {
			sub := windowSubquery(r)
			if sub == nil {
				// A bug of ours, never the user's: leave a call SQLite
				// refuses rather than a wrong result.
				sub = &pg.Node{Node: &pg.Node_FuncCall{FuncCall: &pg.FuncCall{Funcname: []*pg.Node{pg.MakeStrNode("confide_window_failed")}}}}
			}
			r.Node.Node = &pg.Node_SubLink{SubLink: &pg.SubLink{SubLinkType: pg.SubLinkType_EXPR_SUBLINK, Subselect: sub}}
			continue
		}
		var name string
		var args []*pg.Node
		switch r.Op {
		case "sum", "avg":
			name, args = map[string]string{"sum": enclaveSum, "avg": enclaveAvg}[r.Op], []*pg.Node{r.Args[0], str(r.Type.String())}
		case "cast":
			name, args = enclaveCast, []*pg.Node{r.Args[0], str(r.Type.String())}
		case "round":
			t := int64(0)
			if r.Truncate {
				t = 1
			}
			name, args = enclaveRound, []*pg.Node{r.Args[0], num(int64(r.N)), num(t)}
		default:
			name, args = enclaveArith, []*pg.Node{str(r.Op), r.Args[0], r.Args[1], str(r.Type.String())}
		}
		call := &pg.Node{Node: &pg.Node_FuncCall{FuncCall: &pg.FuncCall{
			Funcname: []*pg.Node{pg.MakeStrNode(name)}, Args: args, Funcformat: pg.CoercionForm_COERCE_EXPLICIT_CALL}}}
		r.Node.Node = &pg.Node_CollateClause{CollateClause: &pg.CollateClause{Arg: call, Collname: []*pg.Node{pg.MakeStrNode(enclaveCollation)}}}
	}
}

// windowSubquery writes a window function as the correlated subquery it
// equals over the statement's one table (nil for other rewrites):
//
//	SUM(x) OVER (PARTITION BY p ORDER BY o)  →
//	    (SELECT confide_sum(w.x, 'T') FROM t AS w WHERE w.p IS NOT DISTINCT FROM t.p AND w.o <= t.o)
//	PERCENTILE_DISC(f) WITHIN GROUP (ORDER BY x) OVER (PARTITION BY p)  →
//	    (SELECT min(w.x) FROM t AS w WHERE w.p IS NOT DISTINCT FROM t.p
//	     AND count(c.x ≤ w.x, same p) ≥ f × count(x, same p))
//
// (the default frame includes the current row's peers, hence <=; IS NOT
// DISTINCT FROM compares NULL partitions as equal; comparisons of encrypted columns go
// through their collation, in the enclave). SQLite allows no outer
// reference in LIMIT or OFFSET, hence the counting form of the
// percentile. Each costs correlated subqueries per row: quadratic, or for
// the percentile cubic, in a partition's size.
func windowSubquery(r bind.Rewrite) *pg.Node {
	if r.Op != "sum-over" && r.Op != "avg-over" && r.Op != "percentile_disc" {
		return nil
	}
	outer := quoteIdent(r.Table)
	if r.Alias != "" {
		outer = quoteIdent(r.Alias)
	}
	x := r.Args[0].GetColumnRef().Fields
	xname := quoteIdent(x[len(x)-1].GetString_().GetSval())
	where := func(alias string) string {
		conds := []string{"1 = 1"}
		for _, p := range r.Partition {
			conds = append(conds, alias+"."+quoteIdent(p)+" IS NOT DISTINCT FROM "+outer+"."+quoteIdent(p))
		}
		if r.Where != nil {
			conds = append(conds, "("+whereAs(r.Where, alias)+")")
		}
		return strings.Join(conds, " AND ")
	}
	var q string
	if r.Op == "percentile_disc" {
		// ceil(f × n) = (num × n + den − 1) / den for f = num/den.
		intPart, frac, _ := strings.Cut(r.Percentile, ".")
		num := strings.TrimLeft(intPart+frac, "0")
		if num == "" {
			num = "0"
		}
		den := "1" + strings.Repeat("0", len(frac))
		// The smallest x whose cumulative distribution reaches f:
		// count(values ≤ x) × den ≥ num × count(values).
		part := func(alias string) string { return quoteIdent(r.Table) + " AS " + alias + " WHERE " + where(alias) }
		q = "SELECT min(_confide_w." + xname + ") FROM " + part("_confide_w") +
			" AND (SELECT count(*) FROM " + part("_confide_c") + " AND _confide_c." + xname + " IS NOT NULL AND _confide_c." + xname + " <= _confide_w." + xname + ") * " + den +
			" >= " + num + " * (SELECT count(_confide_n." + xname + ") FROM " + part("_confide_n") + ")"
	} else {
		fn := map[string]string{"sum-over": enclaveSum, "avg-over": enclaveAvg}[r.Op]
		q = "SELECT " + fn + "(_confide_w." + xname + ", '" + r.Type.String() + "') FROM " + quoteIdent(r.Table) + " AS _confide_w WHERE " + where("_confide_w")
		if r.Order != "" {
			op := " <= "
			if r.Desc {
				op = " >= "
			}
			q += " AND _confide_w." + quoteIdent(r.Order) + op + outer + "." + quoteIdent(r.Order)
		}
	}
	tree, err := pg.Parse(q)
	if err != nil || len(tree.Stmts) != 1 {
		return nil
	}
	return tree.Stmts[0].Stmt
}

// whereAs writes a WHERE clause with its column references moved to
// alias (the window's own scan of the table), or "1 = 0" if it cannot,
// which makes the window empty rather than wrong.
func whereAs(w *pg.Node, alias string) string {
	c := proto.Clone(w).(*pg.Node)
	pgast.Walk(c.ProtoReflect(), func(m protoreflect.Message) bool {
		if cr, ok := m.Interface().(*pg.ColumnRef); ok && len(cr.Fields) > 0 {
			cr.Fields = []*pg.Node{pg.MakeStrNode(alias), cr.Fields[len(cr.Fields)-1]}
		}
		return true
	})
	tree, err := pg.Parse("SELECT 1 WHERE true")
	if err != nil {
		return "1 = 0"
	}
	tree.Stmts[0].Stmt.GetSelectStmt().WhereClause = c
	text, err := pg.Deparse(tree)
	_, cond, ok := strings.Cut(text, " WHERE ")
	if err != nil || !ok {
		return "1 = 0"
	}
	return cond
}

// resultTypes caches the types the enclave functions are given.
var resultTypes sync.Map // string → types.Type

func resultType(s string) (types.Type, error) {
	if t, ok := resultTypes.Load(s); ok {
		return t.(types.Type), nil
	}
	t, err := types.Parse(s)
	if err == nil {
		resultTypes.Store(s, t)
	}
	return t, err
}

func (e *Engine) arith(op string, a, b any, rt string) (any, error) {
	if sqlNull(a) || sqlNull(b) {
		return nil, nil
	}
	as, ok1 := a.(string)
	bs, ok2 := b.(string)
	t, err := resultType(rt)
	if !ok1 || !ok2 || err != nil || len(op) != 1 {
		return nil, fmt.Errorf("%s takes enclave-enabled cells", enclaveArith)
	}
	if e.Enclave == nil {
		return nil, fmt.Errorf("this server has no SQL enclave")
	}
	return e.Enclave.Arith(op[0], as, bs, t)
}

func (e *Engine) round(a any, n, truncate int64) (any, error) {
	if sqlNull(a) {
		return nil, nil
	}
	as, ok := a.(string)
	if !ok || e.Enclave == nil {
		return nil, fmt.Errorf("%s takes enclave-enabled cells", enclaveRound)
	}
	return e.Enclave.Round(as, int(n), truncate != 0)
}

func (e *Engine) cast(a any, rt string) (any, error) {
	if sqlNull(a) {
		return nil, nil
	}
	as, ok := a.(string)
	t, err := resultType(rt)
	if !ok || err != nil || e.Enclave == nil {
		return nil, fmt.Errorf("%s takes enclave-enabled cells", enclaveCast)
	}
	return e.Enclave.Cast(as, t)
}

// aggregate is an SQLite aggregator over envelopes.
type aggregate struct {
	e   *Engine
	fn  string
	agg *sqlenclave.Aggregate
}

func (a *aggregate) Step(v any, rt string) error {
	if sqlNull(v) {
		return nil // SUM and AVG skip NULLs
	}
	s, ok := v.(string)
	if !ok || a.e.Enclave == nil {
		return fmt.Errorf("%s takes enclave-enabled cells", a.fn)
	}
	if a.agg == nil {
		t, err := resultType(rt)
		if err != nil {
			return err
		}
		a.agg = a.e.Enclave.NewAggregate(a.fn, t)
	}
	//confide:ignore false positive: the checker merges the running sum's type (public: DECIMAL(38, s) from the column's type) with its value
	return a.agg.Step(s)
}

func (a *aggregate) Done() (any, error) {
	if a.agg == nil {
		return nil, nil
	}
	env, ok, err := a.agg.Result()
	if err != nil || !ok {
		return nil, err
	}
	return env, nil
}

// sqlNull reports an SQL NULL as mattn/go-sqlite3 hands it to a function
// taking any: a nil []byte.
func sqlNull(v any) bool {
	b, isBytes := v.([]byte)
	return v == nil || isBytes && b == nil
}
