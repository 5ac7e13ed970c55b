package engine

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"

	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/confide/confide/sql/bind"
	"github.com/confide/confide/sql/catalog"
	"github.com/confide/confide/sql/ddl"
	"github.com/confide/confide/sql/decimal"
	"github.com/confide/confide/sql/sqlenclave"
	"github.com/confide/confide/sql/types"
	"github.com/confide/confide/sql/wire"
)

// Engine serves the databases under Dir, creating one on first
// connection.
type Engine struct {
	Dir string
	Log *slog.Logger
	// Enclave is the SQL enclave (package sqlenclave); nil for a server
	// without one, which then refuses statements that need it.
	Enclave *sqlenclave.Enclave

	collateFailures atomic.Int64
	scans           atomic.Int64
	// version counts writes: any statement but a read moves it, before
	// and after it runs, so that an enclave table image made at one
	// version is of committed rows no write has touched since.
	version atomic.Uint64

	mu  sync.Mutex
	dbs map[string]*sql.DB
}

var dbNameRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_-]{0,62}$`)

func (e *Engine) db(name string) (*sql.DB, error) {
	if !dbNameRE.MatchString(name) {
		return nil, &wire.Error{Code: "3D000", Message: fmt.Sprintf("database name %q: use 1–63 of A-Z a-z 0-9 _ -", name)}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if db, ok := e.dbs[name]; ok {
		return db, nil
	}
	if err := os.MkdirAll(e.Dir, 0o700); err != nil {
		return nil, err
	}
	path := filepath.Join(e.Dir, name+".db")
	db := e.openSQLite("file:" + path + "?_journal_mode=WAL&_busy_timeout=10000&_foreign_keys=1&_txlock=immediate")
	if _, err := db.Exec(catalog.SQLiteSchema); err != nil {
		db.Close()
		return nil, err
	}
	// Databases made before key rotation existed lack cek_next.
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM pragma_table_info('_confide_column') WHERE name = 'cek_next'`).Scan(&n); err == nil && n == 0 {
		if _, err := db.Exec(`ALTER TABLE _confide_column ADD COLUMN cek_next TEXT COLLATE NOCASE REFERENCES _confide_cek(name)`); err != nil {
			db.Close()
			return nil, err
		}
	}
	// … and before the SQL enclave, enclave.
	if err := db.QueryRow(`SELECT count(*) FROM pragma_table_info('_confide_column') WHERE name = 'enclave'`).Scan(&n); err == nil && n == 0 {
		if _, err := db.Exec(`ALTER TABLE _confide_column ADD COLUMN enclave INTEGER NOT NULL DEFAULT 0`); err != nil {
			db.Close()
			return nil, err
		}
	}
	if e.dbs == nil {
		e.dbs = map[string]*sql.DB{}
	}
	e.dbs[name] = db
	return db, nil
}

// Close closes every database.
func (e *Engine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	var first error
	for n, db := range e.dbs {
		if err := db.Close(); err != nil && first == nil {
			first = err
		}
		delete(e.dbs, n)
	}
	return first
}

// Open starts a session on its own SQLite connection.
func (e *Engine) Open(ctx context.Context, s wire.Startup) (wire.Session, error) {
	db, err := e.db(s.Database)
	if err != nil {
		return nil, err
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	return &session{conn: conn, e: e, notify: s.Notify}, nil
}

type txState int

const (
	idle txState = iota
	inTx
	failedTx
)

type session struct {
	conn   *sql.Conn
	e      *Engine
	tx     txState
	notify func(message, detail string) // nil: no client to tell
	// oblivious is SET confide.oblivious: aggregate queries run by the
	// enclave's oblivious plan.
	oblivious bool
	// noScan is SET confide.enclave_scan = off.
	noScan bool
	// pad is SET confide.oblivious_pad.
	pad int
}

func (s *session) Close() error {
	if s.tx != idle {
		s.conn.ExecContext(context.Background(), "ROLLBACK")
	}
	return s.conn.Close()
}

// TxStatus reports the transaction status for ReadyForQuery.
func (s *session) TxStatus() byte {
	return [...]byte{'I', 'T', 'E'}[s.tx]
}

func (s *session) Split(_ context.Context, q string) ([]string, error) {
	parts, err := pg.SplitWithScanner(q, true)
	if err != nil {
		return nil, &wire.Error{Code: "42601", Message: err.Error()}
	}
	var out []string
	for _, p := range parts {
		if strings.TrimSpace(p) != "" {
			out = append(out, p)
		}
	}
	return out, nil
}

// failed marks the transaction failed after an error inside one.
func (s *session) failed(err error) error {
	if err != nil && s.tx == inTx {
		s.tx = failedTx
	}
	return err
}

func syntax(err error) error {
	return &wire.Error{Code: "42601", Message: err.Error()}
}

func (s *session) Prepare(ctx context.Context, q string, oids []uint32) (wire.Statement, error) {
	//confide:ignore the checker merges the engine's objects, the enclave's included, through the wire.Statement interface; parse trees never hold enclave session keys
	st, err := s.prepare(ctx, q, oids)
	if err == nil && writes(st) {
		st = versioned{Statement: st, version: &s.e.version}
	}
	return st, s.failed(err)
}

// writes reports whether a statement may change a table.
func writes(st wire.Statement) bool {
	switch x := st.(type) {
	case *dmlStmt:
		return x.kind != "SELECT"
	case *enclaveStmt, *describeStmt, *cmkStmt, *cekStmt:
		return false
	}
	return true
}

// versioned moves the engine's write version around a statement.
type versioned struct {
	wire.Statement
	version *atomic.Uint64
}

func (v versioned) Execute(ctx context.Context, params []wire.Param, formats []int16) (wire.Result, error) {
	v.version.Add(1)
	defer v.version.Add(1)
	return v.Statement.Execute(ctx, params, formats)
}

func (s *session) prepare(ctx context.Context, q string, oids []uint32) (wire.Statement, error) {
	if s.tx == failedTx && !isTxEnd(q) {
		return nil, &wire.Error{Code: "25P02", Message: "current transaction is aborted, commands ignored until end of transaction block"}
	}
	aeStmt, err := ddl.Parse(q)
	if err != nil {
		return nil, syntax(err)
	}
	switch st := aeStmt.(type) {
	case nil:
	case *ddl.CreateTable:
		return s.createTable(ctx, st.SQL, st.Columns)
	case *ddl.AlterColumn:
		return s.alterColumn(ctx, st)
	default:
		return &execStmt{s: s, run: func(ctx context.Context) (string, error) { return s.catalog().KeyDDL(ctx, st) }}, nil
	}
	tree, err := pg.Parse(q)
	if err != nil {
		return nil, syntax(err)
	}
	if len(tree.Stmts) != 1 {
		return nil, &wire.Error{Code: "42601", Message: "one statement expected"}
	}
	node := tree.Stmts[0].Stmt
	switch n := node.Node.(type) {
	case *pg.Node_CreateStmt:
		return s.createTable(ctx, q, nil)
	case *pg.Node_DropStmt:
		return s.dropTable(n.DropStmt)
	case *pg.Node_IndexStmt:
		return s.createIndex(ctx, tree, n.IndexStmt)
	case *pg.Node_VariableSetStmt:
		return s.setting(n.VariableSetStmt)
	case *pg.Node_TransactionStmt:
		return s.transaction(n.TransactionStmt)
	case *pg.Node_SelectStmt:
		if d, ok := describeCall(n.SelectStmt); ok {
			return s.describe(ctx, d)
		}
		if st, err, ok := metaCall(s, n.SelectStmt); ok {
			return st, err
		}
		if a, ok := tableFunction(n.SelectStmt, CMKFunction); ok {
			return &cmkStmt{s: s, arg: a}, nil
		}
		if a, ok := tableFunction(n.SelectStmt, CEKFunction); ok {
			return &cekStmt{s: s, arg: a}, nil
		}
		if a, ok := callArgs(n.SelectStmt, AttestFunction); ok {
			return &enclaveStmt{s: s, e: s.e, args: a}, nil
		}
		if a, ok := callArgs(n.SelectStmt, KeysFunction); ok {
			return &enclaveStmt{s: s, e: s.e, args: a, keys: true}, nil
		}
		if a, ok := callArgs(n.SelectStmt, RotateFunction); ok {
			return &rotateStmt{s: s, args: a}, nil
		}
		if a, ok := callArgs(n.SelectStmt, FinishFunction); ok {
			return &rotateStmt{s: s, args: a, finish: true}, nil
		}
		return s.dml(ctx, tree, oids, "SELECT")
	case *pg.Node_InsertStmt:
		return s.dml(ctx, tree, oids, "INSERT")
	case *pg.Node_UpdateStmt:
		return s.dml(ctx, tree, oids, "UPDATE")
	case *pg.Node_DeleteStmt:
		return s.dml(ctx, tree, oids, "DELETE")
	}
	return nil, &wire.Error{Code: "0A000", Message: "this statement is not supported by confide SQL"}
}

func isTxEnd(q string) bool {
	f := strings.Fields(strings.ToUpper(q))
	return len(f) > 0 && (strings.TrimSuffix(f[0], ";") == "COMMIT" || strings.TrimSuffix(f[0], ";") == "ROLLBACK" || f[0] == "END" || f[0] == "ABORT")
}

func (s *session) transaction(t *pg.TransactionStmt) (wire.Statement, error) {
	switch t.Kind {
	case pg.TransactionStmtKind_TRANS_STMT_BEGIN, pg.TransactionStmtKind_TRANS_STMT_START:
		return &execStmt{s: s, run: func(ctx context.Context) (string, error) {
			if s.tx != idle {
				return "", &wire.Error{Code: "25001", Message: "there is already a transaction in progress"}
			}
			if _, err := s.conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
				return "", err
			}
			s.tx = inTx
			return "BEGIN", nil
		}}, nil
	case pg.TransactionStmtKind_TRANS_STMT_COMMIT, pg.TransactionStmtKind_TRANS_STMT_ROLLBACK:
		commit := t.Kind == pg.TransactionStmtKind_TRANS_STMT_COMMIT
		return &execStmt{s: s, run: func(ctx context.Context) (string, error) {
			tag := "ROLLBACK"
			if commit && s.tx == inTx {
				tag = "COMMIT"
			}
			if s.tx != idle {
				if _, err := s.conn.ExecContext(ctx, tag); err != nil {
					return "", err
				}
			}
			s.tx = idle
			return tag, nil
		}}, nil
	}
	return nil, &wire.Error{Code: "0A000", Message: "savepoints and two-phase commit are not supported"}
}

// createTable records every column in the catalog and creates the SQLite
// table, encrypted columns as BLOBs, without collations or schemas.
func (s *session) createTable(ctx context.Context, q string, enc map[string]ddl.ColumnEncryption) (wire.Statement, error) {
	tree, err := pg.Parse(q)
	if err != nil {
		return nil, syntax(err)
	}
	cs, ok := tree.Stmts[0].Stmt.Node.(*pg.Node_CreateStmt)
	if !ok || len(tree.Stmts) != 1 {
		return nil, &wire.Error{Code: "42601", Message: "one CREATE TABLE statement expected"}
	}
	c := cs.CreateStmt
	table := c.Relation.Relname
	if strings.HasPrefix(strings.ToLower(table), "_confide_") || strings.HasPrefix(strings.ToLower(table), "sqlite_") {
		return nil, &wire.Error{Code: "42501", Message: fmt.Sprintf("table name %q is reserved", table)}
	}
	c.Relation.Schemaname, c.Relation.Catalogname = "", ""
	var cols []column
	for _, el := range c.TableElts {
		cd, ok := el.Node.(*pg.Node_ColumnDef)
		if !ok {
			continue
		}
		d := cd.ColumnDef
		ty, err := bind.TypeName(d.TypeName)
		if err != nil {
			return nil, err
		}
		col := column{Table: table, Name: d.Colname, Ord: len(cols), Type: ty}
		for name, e := range enc {
			if strings.EqualFold(name, d.Colname) {
				col.CEK, col.EncType = e.CEK, e.Type
				delete(enc, name)
			}
		}
		if col.Encrypted() && col.EncType == ddl.Deterministic && (ty.Kind == types.NVarChar || ty.Kind == types.VarChar) && d.CollClause == nil {
			// SQL Server wants a BIN2 collation on deterministic strings;
			// confide compares ciphertexts, which is BIN2 equality anyway.
		}
		if col.Encrypted() {
			if col.Enclave, err = s.catalog().EnclaveEnabled(ctx, col.CEK); err != nil {
				return nil, err
			}
		}
		d.CollClause = nil
		if col.Enclave {
			d.CollClause = &pg.CollateClause{Collname: []*pg.Node{pg.MakeStrNode(enclaveCollation)}}
		}
		d.TypeName = &pg.TypeName{Names: []*pg.Node{pg.MakeStrNode(storageType(col))}, Typemod: -1}
		cols = append(cols, col)
	}
	for name := range enc {
		return nil, &wire.Error{Code: "42703", Message: fmt.Sprintf("ENCRYPTED WITH names column %q, which the table does not have", name)}
	}
	if len(cols) == 0 {
		return nil, &wire.Error{Code: "42601", Message: "a table needs columns"}
	}
	out, err := pg.Deparse(tree)
	if err != nil {
		return nil, syntax(err)
	}
	return &execStmt{s: s, run: func(ctx context.Context) (string, error) {
		return "CREATE TABLE", s.atomically(ctx, func() error {
			if err := s.catalog().AddTable(ctx, "", cols); err != nil {
				return err
			}
			_, err := s.conn.ExecContext(ctx, out)
			return sqliteError(err)
		})
	}}, nil
}

// createIndex indexes plaintext and deterministic columns; an index on a
// randomized column (SQL Server refuses it too) would order random bytes.
func (s *session) createIndex(ctx context.Context, tree *pg.ParseResult, ix *pg.IndexStmt) (wire.Statement, error) {
	var names []string
	table := ix.Relation.Relname
	for _, p := range ix.IndexParams {
		el := p.GetIndexElem()
		if el == nil || el.Name == "" {
			return nil, &wire.Error{Code: "0A000", Message: "only indexes on columns are supported"}
		}
		c, err := bind.Resolve(ctx, s.catalog(), "", ix.Relation.Relname, el.Name)
		if err != nil {
			return nil, err
		}
		if c.Encrypted() && c.EncType != ddl.Deterministic && !c.Enclave {
			return nil, &wire.Error{Code: "42804", Message: fmt.Sprintf("column %s.%s is encrypted with randomized encryption: it cannot be indexed", c.Table, c.Name)}
		}
		names, table = append(names, quoteIdent(c.Name)), c.Table
	}
	if ix.Idxname == "" {
		return nil, &wire.Error{Code: "42601", Message: "CREATE INDEX needs an index name"}
	}
	// SQLite's dialect: no access method, no schema.
	out := "CREATE "
	if ix.Unique {
		out += "UNIQUE "
	}
	out += "INDEX "
	if ix.IfNotExists {
		out += "IF NOT EXISTS "
	}
	out += quoteIdent(ix.Idxname) + " ON " + quoteIdent(table) + " (" + strings.Join(names, ", ") + ")"
	return &execStmt{s: s, run: func(ctx context.Context) (string, error) {
		_, err := s.conn.ExecContext(ctx, out)
		return "CREATE INDEX", sqliteError(err)
	}}, nil
}

// atomically runs fn in a savepoint, so that a catalog change and the
// table change commit together, inside or outside a transaction.
func (s *session) atomically(ctx context.Context, fn func() error) error {
	if _, err := s.conn.ExecContext(ctx, "SAVEPOINT confide_ddl"); err != nil {
		return err
	}
	if err := fn(); err != nil {
		s.conn.ExecContext(ctx, "ROLLBACK TO confide_ddl")
		s.conn.ExecContext(ctx, "RELEASE confide_ddl")
		return err
	}
	_, err := s.conn.ExecContext(ctx, "RELEASE confide_ddl")
	return err
}

func (s *session) dropTable(d *pg.DropStmt) (wire.Statement, error) {
	if d.RemoveType != pg.ObjectType_OBJECT_TABLE {
		return nil, &wire.Error{Code: "0A000", Message: "only DROP TABLE is supported"}
	}
	var tables []string
	for _, o := range d.Objects {
		l, ok := o.Node.(*pg.Node_List)
		if !ok || len(l.List.Items) == 0 {
			continue
		}
		last := l.List.Items[len(l.List.Items)-1]
		if sv, ok := last.Node.(*pg.Node_String_); ok {
			tables = append(tables, sv.String_.Sval)
		}
	}
	return &execStmt{s: s, run: func(ctx context.Context) (string, error) {
		return "DROP TABLE", s.atomically(ctx, func() error {
			for _, t := range tables {
				known, err := s.catalog().DropTable(ctx, "", t)
				if err != nil {
					return err
				}
				if !known {
					if d.MissingOk {
						continue
					}
					return catalog.ErrUndefined("table", t)
				}
				if _, err := s.conn.ExecContext(ctx, `DROP TABLE "`+strings.ReplaceAll(t, `"`, `""`)+`"`); err != nil {
					return sqliteError(err)
				}
			}
			return nil
		})
	}}, nil
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// sqliteError turns SQLite's constraint errors into PostgreSQL's codes.
func sqliteError(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "UNIQUE constraint failed"):
		return &wire.Error{Code: "23505", Message: "duplicate key value violates unique constraint", Detail: msg, Err: err}
	case strings.Contains(msg, "NOT NULL constraint failed"):
		return &wire.Error{Code: "23502", Message: "null value violates not-null constraint", Detail: msg, Err: err}
	case strings.Contains(msg, "CHECK constraint failed"):
		return &wire.Error{Code: "23514", Message: "new row violates check constraint", Detail: msg, Err: err}
	case strings.Contains(msg, "FOREIGN KEY constraint failed"):
		return &wire.Error{Code: "23503", Message: "foreign key violation", Err: err}
	case strings.Contains(msg, decimal.ErrDivideByZero.Error()):
		return &wire.Error{Code: "22012", Message: "divide by zero error encountered", Err: err}
	case strings.Contains(msg, decimal.ErrOverflow.Error()):
		return &wire.Error{Code: "22003", Message: "arithmetic overflow error converting expression to data type numeric", Err: err}
	case strings.Contains(msg, "sqlenclave:"):
		// The enclave's messages name keys, types and checks, never values.
		return &wire.Error{Code: "22000", Message: msg[strings.Index(msg, "sqlenclave:"):], Err: err}
	case strings.Contains(msg, "syntax error") || strings.Contains(msg, "no such"):
		return &wire.Error{Code: "42601", Message: "the statement cannot run on confide SQL", Detail: msg, Err: err}
	}
	return err
}

// execStmt runs once and returns no rows.
type execStmt struct {
	s   *session
	run func(context.Context) (string, error)
}

func (e *execStmt) Params() []uint32       { return nil }
func (e *execStmt) Columns() []wire.Column { return nil }
func (e *execStmt) Close() error           { return nil }
func (e *execStmt) Execute(ctx context.Context, _ []wire.Param, _ []int16) (wire.Result, error) {
	tag, err := e.run(ctx)
	if err != nil {
		return nil, e.s.failed(err)
	}
	return &tagResult{tag: tag}, nil
}

type tagResult struct{ tag string }

func (r *tagResult) Next(context.Context) ([][]byte, error) { return nil, io.EOF }
func (r *tagResult) Tag() string                            { return r.tag }
func (r *tagResult) Close() error                           { return nil }
