package engine

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/confide/confide/sql/bind"
	"github.com/confide/confide/sql/ddl"
	"github.com/confide/confide/sql/types"
	"github.com/confide/confide/sql/wire"
)

// In-place encryption, SQL Server's ALTER TABLE … ALTER COLUMN … [ENCRYPTED
// WITH (…)]: the engine rebuilds the table in one SQLite transaction,
// streaming the column through the SQL enclave (SQL function
// confide_transform), which encrypts, re-encrypts or decrypts each value;
// then it drops the old table, renames the new one, recreates the indexes
// and updates the catalog. A crash at any point rolls the whole change
// back: the column is never half old, half new. Long runs send NOTICEs with
// their progress ("n of m rows" in the detail).

const (
	enclaveTransform = "confide_transform"
	alterBatch       = 10_000
)

// transforms holds the value transforms of running ALTERs, by the token
// the SQL passes to confide_transform.
var (
	transforms   sync.Map // int64 → func(any) (any, error)
	transformIDs atomic.Int64
)

// transform is the SQL function confide_transform(value, token).
func transform(v any, token int64) (any, error) {
	f, ok := transforms.Load(token)
	if !ok {
		return nil, fmt.Errorf("%s: no such transform", enclaveTransform)
	}
	if sqlNull(v) {
		return nil, nil
	}
	return f.(func(any) (any, error))(v)
}

// alterStmt is a prepared in-place ALTER COLUMN.
type alterStmt struct {
	s        *session
	col      column
	from, to column // the column before and after
	ceks     []string
}

func (s *session) alterColumn(ctx context.Context, ac *ddl.AlterColumn) (wire.Statement, error) {
	c, err := bind.Resolve(ctx, s.catalog(), "", ac.Table, ac.Column)
	if err != nil {
		return nil, err
	}
	ty, err := types.Parse(ac.Type)
	if err != nil {
		return nil, &wire.Error{Code: "42704", Message: err.Error()}
	}
	if ty != c.Type {
		return nil, &wire.Error{Code: "0A000", Message: fmt.Sprintf("column %s.%s is %s: changing its type in place is not supported", c.Table, c.Name, c.Type)}
	}
	if c.Next != "" {
		return nil, &wire.Error{Code: "55000", Message: fmt.Sprintf("column %s.%s is being rotated to %s; finish that first", c.Table, c.Name, c.Next)}
	}
	to := *c
	to.CEK, to.EncType, to.Enclave = "", "", false
	if e := ac.Encryption; e != nil {
		to.CEK, to.EncType = e.CEK, e.Type
		ok, err := s.catalog().EnclaveEnabled(ctx, e.CEK)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, &wire.Error{Code: "0A000", Message: fmt.Sprintf("column encryption key %q is not enclave-enabled: in-place encryption needs the SQL enclave to hold it", e.CEK)}
		}
		to.Enclave = true
	}
	if c.Encrypted() && !c.Enclave {
		return nil, &wire.Error{Code: "0A000", Message: fmt.Sprintf("column %s.%s is encrypted with a key that is not enclave-enabled: rotate it through the client (confide sql keys rotate-cek)", c.Table, c.Name)}
	}
	if strings.EqualFold(to.CEK, c.CEK) && to.EncType == c.EncType {
		return nil, &wire.Error{Code: "22023", Message: fmt.Sprintf("column %s.%s is already so", c.Table, c.Name)}
	}
	a := &alterStmt{s: s, col: *c, from: *c, to: to}
	for _, k := range []string{c.CEK, to.CEK} {
		if k != "" {
			a.ceks = append(a.ceks, k)
		}
	}
	return a, nil
}

func (a *alterStmt) Params() []uint32       { return nil }
func (a *alterStmt) Columns() []wire.Column { return nil }
func (a *alterStmt) Close() error           { return nil }

func (a *alterStmt) Execute(ctx context.Context, _ []wire.Param, _ []int16) (wire.Result, error) {
	if err := a.s.e.needKeys(a.ceks); err != nil {
		return nil, a.s.failed(err)
	}
	f, err := a.valueTransform()
	if err != nil {
		return nil, a.s.failed(err)
	}
	token := transformIDs.Add(1)
	transforms.Store(token, f)
	defer transforms.Delete(token)
	err = a.s.atomically(ctx, func() error { return a.rebuild(ctx, token) })
	if err != nil {
		if _, ok := sqliteError(err).(*wire.Error); !ok && ctx.Err() == nil {
			// The enclave's and SQLite's messages name keys, columns and
			// checks, never values.
			err = &wire.Error{Code: "22000", Message: fmt.Sprintf("ALTER COLUMN %s.%s failed and changed nothing: %v", a.col.Table, a.col.Name, err)}
		}
		return nil, a.s.failed(sqliteError(err))
	}
	return &tagResult{tag: "ALTER TABLE"}, nil
}

// valueTransform is what happens to one stored value.
func (a *alterStmt) valueTransform() (func(any) (any, error), error) {
	enc := a.s.e.Enclave
	if enc == nil {
		return nil, &wire.Error{Code: "0A000", Message: "this server has no SQL enclave"}
	}
	from, to, t := a.from, a.to, a.col.Type
	det := to.EncType == ddl.Deterministic
	switch {
	case !from.Encrypted(): // encrypt
		return func(v any) (any, error) {
			val, err := storedToValue(t, v)
			if err != nil {
				return nil, err
			}
			norm, err := t.Normalize(val)
			if err != nil {
				return nil, err
			}
			return enc.Encrypt(norm, to.CEK, t, det)
		}, nil
	case to.Encrypted(): // re-encrypt
		return func(v any) (any, error) {
			s, ok := v.(string)
			if !ok {
				return nil, fmt.Errorf("column %s.%s holds a value that is not an enclave-enabled cell", from.Table, from.Name)
			}
			return enc.Reencrypt(s, to.CEK, t, det)
		}, nil
	}
	return func(v any) (any, error) { // decrypt
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("column %s.%s holds a value that is not an enclave-enabled cell", from.Table, from.Name)
		}
		pt, err := enc.Decrypt(s)
		if err != nil {
			return nil, err
		}
		val, err := t.Denormalize(pt)
		if err != nil {
			return nil, err
		}
		return valueToStored(val), nil
	}, nil
}

// storedToValue reads a plaintext column's SQLite value as package types
// expects it.
func storedToValue(t types.Type, v any) (any, error) {
	if t.Kind == types.Decimal {
		// NUMERIC storage (storageType): an integer or a double.
		switch x := v.(type) {
		case int64:
			return t.ParseLiteral(strconv.FormatInt(x, 10))
		case float64:
			return t.ParseLiteral(strconv.FormatFloat(x, 'f', t.Scale, 64))
		}
	}
	switch x := v.(type) {
	case int64:
		if t.Kind == types.Bit {
			return x != 0, nil
		}
		return x, nil
	case string:
		if t.Kind == types.VarChar || t.Kind == types.NVarChar {
			return x, nil
		}
		return t.ParseLiteral(x)
	case []byte, time.Time:
		return x, nil
	}
	return nil, fmt.Errorf("a %T value cannot become %s", v, t)
}

// valueToStored is the inverse: how the engine stores plaintext.
func valueToStored(v any) any {
	switch x := v.(type) {
	case bool:
		if x {
			return int64(1)
		}
		return int64(0)
	case types.Dec:
		return x.String()
	case time.Time:
		if x.Hour() == 0 && x.Minute() == 0 && x.Second() == 0 && x.Nanosecond() == 0 {
			return x.Format(time.DateOnly)
		}
		return x.Format("2006-01-02 15:04:05.9999999")
	case [16]byte:
		return formatUUID(x[:])
	}
	return v
}

// rebuild copies the table into one with the column's new storage, in
// batches with progress notices, and swaps it in; the caller holds a
// savepoint.
func (a *alterStmt) rebuild(ctx context.Context, token int64) error {
	conn, table := a.s.conn, a.col.Table
	var createSQL string
	if err := conn.QueryRowContext(ctx, `SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ? COLLATE NOCASE`, table).Scan(&createSQL); err != nil {
		return fmt.Errorf("engine: the table's definition: %w", err)
	}
	var indexes []string
	rows, err := conn.QueryContext(ctx, `SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? COLLATE NOCASE AND sql IS NOT NULL`, table)
	if err != nil {
		return err
	}
	for rows.Next() {
		var q string
		if err := rows.Scan(&q); err != nil {
			rows.Close()
			return err
		}
		indexes = append(indexes, q)
	}
	rows.Close()
	tmp := "_confide_rebuild_" + strconv.FormatInt(token, 10)
	newSQL, cols, err := a.newTable(createSQL, tmp)
	if err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, newSQL); err != nil {
		return err
	}
	var total int64
	if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM `+quoteIdent(table)).Scan(&total); err != nil {
		return err
	}
	var list, sel []string
	for _, c := range cols {
		list = append(list, quoteIdent(c))
		if strings.EqualFold(c, a.col.Name) {
			sel = append(sel, fmt.Sprintf("%s(%s, %d)", enclaveTransform, quoteIdent(c), token))
		} else {
			sel = append(sel, quoteIdent(c))
		}
	}
	copySQL := `INSERT INTO ` + quoteIdent(tmp) + ` (rowid, ` + strings.Join(list, ", ") + `) SELECT rowid, ` + strings.Join(sel, ", ") +
		` FROM ` + quoteIdent(table) + ` WHERE rowid > ? ORDER BY rowid LIMIT ` + strconv.Itoa(alterBatch)
	what := "encrypting"
	switch {
	case a.from.Encrypted() && a.to.Encrypted():
		what = "re-encrypting"
	case a.from.Encrypted():
		what = "decrypting"
	}
	var done, last int64 = 0, -1 << 62
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		r, err := conn.ExecContext(ctx, copySQL, last)
		if err != nil {
			return err
		}
		n, _ := r.RowsAffected()
		if n == 0 {
			break
		}
		done += n
		if err := conn.QueryRowContext(ctx, `SELECT max(rowid) FROM `+quoteIdent(tmp)).Scan(&last); err != nil {
			return err
		}
		if a.s.notify != nil {
			a.s.notify(fmt.Sprintf("%s %s.%s: %d of %d rows", what, table, a.col.Name, done, total), fmt.Sprintf("%d/%d", done, total))
		}
	}
	for _, q := range []string{`DROP TABLE ` + quoteIdent(table), `ALTER TABLE ` + quoteIdent(tmp) + ` RENAME TO ` + quoteIdent(table)} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	for _, q := range indexes {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	var cekName, encType any
	if a.to.Encrypted() {
		cekName, encType = a.to.CEK, a.to.EncType
	}
	_, err = conn.ExecContext(ctx, `UPDATE _confide_column SET cek = ?, enc_type = ?, enclave = ? WHERE tbl = ? AND col = ?`,
		cekName, encType, a.to.Enclave, a.col.Table, a.col.Name)
	return err
}

// newTable rewrites the table's CREATE statement (the engine's own
// deparsed text) under another name, with the column's new storage. It
// returns the statement and the table's column names.
func (a *alterStmt) newTable(createSQL, name string) (string, []string, error) {
	tree, err := pg.Parse(createSQL)
	if err != nil || len(tree.Stmts) != 1 || tree.Stmts[0].Stmt.GetCreateStmt() == nil {
		return "", nil, fmt.Errorf("engine: cannot rebuild table %s from its definition", a.col.Table)
	}
	cs := tree.Stmts[0].Stmt.GetCreateStmt()
	cs.Relation.Relname = name
	var cols []string
	for _, el := range cs.TableElts {
		d := el.GetColumnDef()
		if d == nil {
			continue
		}
		cols = append(cols, d.Colname)
		if !strings.EqualFold(d.Colname, a.col.Name) {
			continue
		}
		d.CollClause = nil
		if a.to.Enclave {
			d.CollClause = &pg.CollateClause{Collname: []*pg.Node{pg.MakeStrNode(enclaveCollation)}}
		}
		d.TypeName = &pg.TypeName{Names: []*pg.Node{pg.MakeStrNode(storageType(a.to))}, Typemod: -1}
	}
	out, err := pg.Deparse(tree)
	return out, cols, err
}
