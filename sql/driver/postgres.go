package driver

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/jackc/pgx/v5"
	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/confide/confide/sql/bind"
	"github.com/confide/confide/sql/catalog"
	"github.com/confide/confide/sql/cell"
	"github.com/confide/confide/sql/ddl"
	"github.com/confide/confide/sql/wire"
)

// On a stock PostgreSQL server there is no describe function: the driver
// keeps the catalog itself, in the database's schema confide (package
// catalog), binds each statement with the confide server's binder
// (package bind) against it, and runs the Always Encrypted DDL and the
// key functions (sp_column_master_key, sp_column_encryption_key,
// sp_rotate_column_encryption_key, …) on the client, each in one
// transaction with the table change it belongs to.

// pgQuerier runs catalog statements on the connection.
type pgQuerier struct{ c *pgx.Conn }

func (q pgQuerier) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	tag, err := q.c.Exec(ctx, query, args...)
	return tag.RowsAffected(), err
}

func (q pgQuerier) Query(ctx context.Context, query string, args ...any) (catalog.Rows, error) {
	return q.c.Query(ctx, query, args...)
}

func (cn *conn) store() *catalog.Store {
	return &catalog.Store{Q: pgQuerier{cn.pg}, Dialect: catalog.PostgreSQL}
}

// stockDescribe binds a SELECT, INSERT, UPDATE or DELETE; any other
// statement has no encrypted parameters or results. A statement that does
// not parse is left for PostgreSQL to refuse.
func (cn *conn) stockDescribe(ctx context.Context, query string) ([]describeRow, error) {
	tree, err := pg.Parse(query)
	if err != nil || len(tree.Stmts) != 1 {
		return nil, nil
	}
	node := tree.Stmts[0].Stmt
	switch node.Node.(type) {
	case *pg.Node_SelectStmt, *pg.Node_InsertStmt, *pg.Node_UpdateStmt, *pg.Node_DeleteStmt:
	default:
		return nil, nil
	}
	st, err := bind.Analyze(ctx, cn.store(), node)
	if err != nil {
		return nil, err
	}
	entries, err := cn.store().Describe(ctx, st)
	if err != nil {
		return nil, err
	}
	out := make([]describeRow, 0, len(entries))
	for _, e := range entries {
		r := describeRow{kind: e.Kind, ord: e.Ordinal}
		if c := e.Column; c != nil {
			tbl, col := c.Table, c.Name
			r.table, r.column = &tbl, &col
			if c.Encrypted() {
				typ, enc := c.Type.String(), c.EncType
				r.typ, r.encType = &typ, &enc
			}
		}
		if e.Key != nil {
			r.cek, r.key = e.Key.CEK, cekValue{e.Key.Provider, e.Key.Path, e.Key.Value}
		} else if r.encType != nil {
			return nil, fmt.Errorf("driver: column %s.%s: its column encryption key %s has no value", e.Column.Table, e.Column.Name, e.Column.CEK)
		}
		out = append(out, r)
	}
	return out, nil
}

// localResult is what a statement the driver ran itself returns.
type localResult struct {
	handled bool
	tag     string
	cols    []string
	rows    [][]driver.Value
}

// stockLocal runs the statements that the driver answers itself on stock
// PostgreSQL; handled is false for all others.
func (cn *conn) stockLocal(ctx context.Context, query string, named []driver.NamedValue) (localResult, error) {
	cn.c.mu.Lock()
	_, remote := cn.c.remote[query]
	cn.c.mu.Unlock()
	if remote || !mentionsLocal(query) {
		return localResult{}, nil
	}
	res, err := cn.runLocal(ctx, query, named)
	if err == nil && !res.handled {
		cn.c.mu.Lock()
		if len(cn.c.remote) >= maxRemembered {
			clear(cn.c.remote)
		}
		cn.c.remote[query] = struct{}{}
		cn.c.mu.Unlock()
	}
	return res, err
}

// maxRemembered bounds the statement texts remembered as not local.
const maxRemembered = 10_000

func (cn *conn) runLocal(ctx context.Context, query string, named []driver.NamedValue) (localResult, error) {
	ae, err := ddl.Parse(query)
	if err != nil {
		return localResult{}, &wire.Error{Code: "42601", Message: err.Error()}
	}
	switch st := ae.(type) {
	case *ddl.CreateTable:
		return cn.stockCreateTable(ctx, st)
	case *ddl.AlterColumn:
		return localResult{}, &wire.Error{Code: "0A000", Message: "in-place encryption (ALTER COLUMN … ENCRYPTED WITH) needs the confide server's SQL enclave; stock PostgreSQL has none",
			Hint: "rotate keys through the client: confide sql keys rotate-cek"}
	case nil:
	default:
		var tag string
		err := cn.atomically(ctx, func(s *catalog.Store) (err error) {
			tag, err = s.KeyDDL(ctx, st)
			return err
		})
		return localResult{handled: true, tag: tag}, err
	}
	tree, err := pg.Parse(query)
	if err != nil || len(tree.Stmts) != 1 {
		return localResult{}, nil
	}
	switch n := tree.Stmts[0].Stmt.Node.(type) {
	case *pg.Node_DropStmt:
		if n.DropStmt.RemoveType != pg.ObjectType_OBJECT_TABLE {
			return localResult{}, nil
		}
		err := cn.atomically(ctx, func(s *catalog.Store) error {
			for _, o := range n.DropStmt.Objects {
				items := o.GetList().GetItems()
				var schema, table string
				switch len(items) {
				case 1:
					table = items[0].GetString_().GetSval()
				case 2:
					schema, table = items[0].GetString_().GetSval(), items[1].GetString_().GetSval()
				default:
					continue
				}
				if _, err := s.DropTable(ctx, schema, table); err != nil {
					return err
				}
			}
			_, err := cn.pg.Exec(ctx, query)
			return err
		})
		return localResult{handled: true, tag: "DROP TABLE"}, err
	case *pg.Node_SelectStmt:
		return cn.stockFunction(ctx, n.SelectStmt, named)
	}
	return localResult{}, nil
}

// mentionsLocal is a cheap filter before parsing: only Always Encrypted
// DDL, DROP TABLE and the key functions are answered locally.
func mentionsLocal(q string) bool {
	l := strings.ToLower(q)
	return strings.Contains(l, "create") || strings.Contains(l, "alter") || strings.Contains(l, "drop") || strings.Contains(l, "sp_")
}

// Names of the confide server's table functions, which the driver
// answers itself on stock PostgreSQL.
const (
	describeFunction = "sp_describe_parameter_encryption"
	cmkFunction      = "sp_column_master_key"
	cekFunction      = "sp_column_encryption_key"
	rotateFunction   = "sp_rotate_column_encryption_key"
	finishFunction   = "sp_finish_column_encryption_key_rotation"
)

func (cn *conn) stockFunction(ctx context.Context, sel *pg.SelectStmt, named []driver.NamedValue) (localResult, error) {
	var name string
	var args []bind.Arg
	for _, f := range []string{cmkFunction, cekFunction, rotateFunction, finishFunction, describeFunction} {
		if a, ok := bind.Call(sel, f); ok {
			name, args = f, a
			break
		}
	}
	if name == "" {
		return localResult{}, nil
	}
	var vals []string
	for _, a := range args {
		if !a.Param {
			vals = append(vals, a.Literal)
			continue
		}
		i := len(vals)
		if i >= len(named) {
			return localResult{}, &wire.Error{Code: "08P01", Message: fmt.Sprintf("%s: parameter $%d has no value", name, i+1)}
		}
		v, ok := named[i].Value.(string)
		if !ok {
			return localResult{}, &wire.Error{Code: "22023", Message: fmt.Sprintf("%s takes text arguments", name)}
		}
		vals = append(vals, v)
	}
	want := map[string]int{cmkFunction: 1, cekFunction: 1, rotateFunction: 3, finishFunction: 2, describeFunction: 1}[name]
	if len(vals) != want {
		return localResult{}, &wire.Error{Code: "42883", Message: fmt.Sprintf("%s takes %d arguments", name, want)}
	}
	s := cn.store()
	res := localResult{handled: true}
	switch name {
	case cmkFunction:
		k, err := s.LookupCMK(ctx, vals[0])
		if err != nil {
			return res, err
		}
		var sig driver.Value
		if k.EnclaveSignature != nil {
			sig = k.EnclaveSignature
		}
		res.cols = []string{"name", "key_store_provider", "key_path", "enclave_signature"}
		res.rows = [][]driver.Value{{k.Name, k.Provider, k.Path, sig}}
	case cekFunction:
		keys, err := s.CEKValues(ctx, vals[0])
		if err != nil {
			return res, err
		}
		if len(keys) == 0 {
			return res, catalog.ErrUndefined("column encryption key", vals[0])
		}
		res.cols = []string{"column_master_key", "key_store_provider", "key_path", "key_algorithm", "encrypted_value"}
		for _, k := range keys {
			res.rows = append(res.rows, []driver.Value{k.CMK, k.Provider, k.Path, k.Alg, k.Value})
		}
	case rotateFunction, finishFunction:
		schema, table := splitName(vals[0])
		next := ""
		if name == rotateFunction {
			next = vals[2]
		}
		var status string
		err := cn.atomically(ctx, func(s *catalog.Store) (err error) {
			status, err = s.Rotate(ctx, schema, table, vals[1], next, name == finishFunction)
			return err
		})
		if err != nil {
			return res, err
		}
		res.cols, res.rows = []string{"status"}, [][]driver.Value{{status}}
	case describeFunction:
		rows, err := cn.stockDescribe(ctx, vals[0])
		if err != nil {
			return res, err
		}
		res.cols = []string{"kind", "ordinal", "table_name", "column_name", "sql_type", "encryption_type", "algorithm",
			"column_encryption_key", "column_master_key", "key_store_provider", "key_path", "key_algorithm", "encrypted_value"}
		str := func(p *string) driver.Value {
			if p == nil {
				return nil
			}
			return *p
		}
		for _, r := range rows {
			row := []driver.Value{r.kind, int64(r.ord), str(r.table), str(r.column), str(r.typ), str(r.encType), nil, nil, nil, nil, nil, nil, nil}
			if r.encType != nil {
				row[6], row[7], row[9], row[10], row[12] = cell.Algorithm, r.cek, r.key.provider, r.key.path, r.key.value
			}
			res.rows = append(res.rows, row)
		}
	}
	res.tag = fmt.Sprintf("SELECT %d", len(res.rows))
	return res, nil
}

// splitName splits schema.table.
func splitName(n string) (schema, table string) {
	if s, t, ok := strings.Cut(n, "."); ok {
		return s, t
	}
	return "", n
}

// stockCreateTable creates the table with its encrypted columns as bytea
// and records their encryption, in one transaction.
func (cn *conn) stockCreateTable(ctx context.Context, st *ddl.CreateTable) (localResult, error) {
	tree, err := pg.Parse(st.SQL)
	if err != nil {
		return localResult{}, &wire.Error{Code: "42601", Message: err.Error()}
	}
	var cs *pg.CreateStmt
	if len(tree.Stmts) == 1 {
		cs = tree.Stmts[0].Stmt.GetCreateStmt()
	}
	if cs == nil {
		return localResult{}, &wire.Error{Code: "42601", Message: "one CREATE TABLE statement expected"}
	}
	enc := map[string]ddl.ColumnEncryption{}
	for k, v := range st.Columns {
		enc[strings.ToLower(k)] = v
	}
	var cols []bind.Column
	for _, el := range cs.TableElts {
		d := el.GetColumnDef()
		if d == nil {
			continue
		}
		col := bind.Column{Table: cs.Relation.Relname, Name: d.Colname, Ord: len(cols)}
		if e, ok := enc[strings.ToLower(d.Colname)]; ok {
			delete(enc, strings.ToLower(d.Colname))
			if col.Type, err = bind.TypeName(d.TypeName); err != nil {
				return localResult{}, err
			}
			col.CEK, col.EncType = e.CEK, e.Type
			d.CollClause = nil
			d.TypeName = &pg.TypeName{Names: []*pg.Node{pg.MakeStrNode("bytea")}, Typemod: -1}
		}
		cols = append(cols, col)
	}
	for name := range enc {
		return localResult{}, &wire.Error{Code: "42703", Message: fmt.Sprintf("ENCRYPTED WITH names column %q, which the table does not have", name)}
	}
	out, err := pg.Deparse(tree)
	if err != nil {
		return localResult{}, &wire.Error{Code: "42601", Message: err.Error()}
	}
	err = cn.atomically(ctx, func(s *catalog.Store) error {
		if err := s.AddTable(ctx, cs.Relation.Schemaname, cols); err != nil {
			return err
		}
		_, err := cn.pg.Exec(ctx, out)
		return err
	})
	return localResult{handled: true, tag: "CREATE TABLE"}, err
}

// atomically runs fn with the catalog (created first if missing) in one
// transaction: the caller's, through a savepoint, or one of its own.
func (cn *conn) atomically(ctx context.Context, fn func(*catalog.Store) error) error {
	defer cn.forget()
	begin, commit, rollback := "BEGIN", "COMMIT", "ROLLBACK"
	switch cn.pg.PgConn().TxStatus() {
	case 'T':
		begin, commit, rollback = "SAVEPOINT confide_ddl", "RELEASE confide_ddl", "ROLLBACK TO confide_ddl"
	case 'E':
		return &wire.Error{Code: "25P02", Message: "current transaction is aborted, commands ignored until end of transaction block"}
	}
	if _, err := cn.pg.Exec(ctx, begin); err != nil {
		return err
	}
	s := cn.store()
	err := s.Ensure(ctx)
	if err == nil {
		err = fn(s)
	}
	if err != nil {
		_, rerr := cn.pg.Exec(ctx, rollback)
		if rollback != "ROLLBACK" && rerr == nil {
			_, rerr = cn.pg.Exec(ctx, "RELEASE confide_ddl")
		}
		return errors.Join(err, rerr)
	}
	_, err = cn.pg.Exec(ctx, commit)
	return err
}

// localRows serves a local result through database/sql.
type localRows struct {
	cols []string
	rows [][]driver.Value
	i    int
}

func (r *localRows) Columns() []string { return r.cols }
func (r *localRows) Close() error      { return nil }
func (r *localRows) Next(dest []driver.Value) error {
	if r.i >= len(r.rows) {
		return io.EOF
	}
	copy(dest, r.rows[r.i])
	r.i++
	return nil
}
