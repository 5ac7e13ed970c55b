package engine

import (
	"context"
	"os"
	"sort"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/confide/confide/sql/wire"
)

// What a DBA may see of the Always Encrypted metadata, as SQL Server's
// catalog views show it: SELECT * FROM name() for each of these table
// functions. They list names, key paths and encrypted values; no key
// that opens anything is in the catalog to be listed.
const (
	// CMKsFunction lists the column master keys: name,
	// key_store_provider, key_path, allow_enclave_computations.
	CMKsFunction = "sp_column_master_keys"
	// CEKsFunction lists the column encryption keys' values: name,
	// column_master_key, encryption_algorithm, encrypted_value.
	CEKsFunction = "sp_column_encryption_keys"
	// ColumnsFunction lists every column of every table: table_name,
	// column_name, ordinal, type, column_encryption_key,
	// encryption_type (NULL for plaintext), rotating_to (the key a
	// rotation moves it to), enclave_enabled.
	ColumnsFunction = "sp_encrypted_columns"
	// DatabasesFunction lists the server's databases: name.
	DatabasesFunction = "sp_databases"
)

type metaColumn struct {
	name string
	oid  uint32
}

var metaColumns = map[string][]metaColumn{
	CMKsFunction: {{"name", oidText}, {"key_store_provider", oidText}, {"key_path", oidText}, {"allow_enclave_computations", oidBool}},
	CEKsFunction: {{"name", oidText}, {"column_master_key", oidText}, {"encryption_algorithm", oidText}, {"encrypted_value", oidBytea}},
	ColumnsFunction: {{"table_name", oidText}, {"column_name", oidText}, {"ordinal", oidInt4}, {"type", oidText},
		{"column_encryption_key", oidText}, {"encryption_type", oidText}, {"rotating_to", oidText}, {"enclave_enabled", oidBool}},
	DatabasesFunction: {{"name", oidText}},
}

// metaStmt answers one of the metadata functions.
type metaStmt struct {
	s    *session
	name string
}

func (m *metaStmt) Params() []uint32 { return nil }
func (m *metaStmt) Close() error     { return nil }

func (m *metaStmt) Columns() []wire.Column {
	cols := metaColumns[m.name]
	out := make([]wire.Column, len(cols))
	for i, c := range cols {
		out[i] = wire.Column{Name: c.name, TypeOID: c.oid, TypeSize: -1, TypeModifier: -1}
	}
	return out
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func boolValue(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func (m *metaStmt) Execute(ctx context.Context, _ []wire.Param, formats []int16) (wire.Result, error) {
	var rows [][]any
	switch m.name {
	case CMKsFunction:
		ks, err := m.s.catalog().ListCMKs(ctx)
		if err != nil {
			return nil, m.s.failed(err)
		}
		for _, k := range ks {
			rows = append(rows, []any{k.Name, k.Provider, k.Path, boolValue(k.EnclaveSignature != nil)})
		}
	case CEKsFunction:
		ks, err := m.s.catalog().ListCEKValues(ctx)
		if err != nil {
			return nil, m.s.failed(err)
		}
		for _, k := range ks {
			rows = append(rows, []any{k.CEK, k.CMK, k.Alg, k.Value})
		}
	case ColumnsFunction:
		cs, err := m.s.catalog().ListColumns(ctx)
		if err != nil {
			return nil, m.s.failed(err)
		}
		for _, c := range cs {
			rows = append(rows, []any{c.Table, c.Column, int64(c.Ordinal), c.Type, nullable(c.CEK), nullable(c.EncType), nullable(c.RotatingTo), boolValue(c.Enclave)})
		}
	case DatabasesFunction:
		names, err := m.s.e.databases()
		if err != nil {
			return nil, m.s.failed(err)
		}
		for _, n := range names {
			rows = append(rows, []any{n})
		}
	}
	oids := make([]uint32, len(metaColumns[m.name]))
	for i, c := range metaColumns[m.name] {
		oids[i] = c.oid
	}
	return &listResult{rows: rows, formats: append([]int16(nil), formats...), oids: oids}, nil
}

// databases lists the databases in the server's directory.
func (e *Engine) databases() ([]string, error) {
	ents, err := os.ReadDir(e.Dir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, ent := range ents {
		if n, ok := strings.CutSuffix(ent.Name(), ".db"); ok && !ent.IsDir() && dbNameRE.MatchString(n) {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out, nil
}

// metaCall recognizes SELECT * FROM name() for the metadata functions;
// arguments, a column list or clauses are errors (not ignored).
func metaCall(s *session, sel *pg.SelectStmt) (wire.Statement, error, bool) {
	for name := range metaColumns {
		if args, ok := callArgs(sel, name); ok {
			if len(args) != 0 {
				return nil, s.failed(&wire.Error{Code: "22023", Message: name + " takes no arguments"}), true
			}
			if !selectStar(sel) {
				return nil, s.failed(&wire.Error{Code: "0A000", Message: "SELECT * FROM " + name + "() only: no column list, WHERE or ORDER BY"}), true
			}
			return &metaStmt{s: s, name: name}, nil, true
		}
	}
	return nil, nil, false
}

// selectStar reports whether sel is exactly SELECT * FROM f().
func selectStar(sel *pg.SelectStmt) bool {
	if len(sel.TargetList) != 1 || sel.WhereClause != nil || len(sel.SortClause) != 0 || len(sel.GroupClause) != 0 ||
		sel.LimitCount != nil || sel.LimitOffset != nil || sel.HavingClause != nil || len(sel.DistinctClause) != 0 {
		return false
	}
	rt := sel.TargetList[0].GetResTarget()
	if rt == nil || rt.Val == nil {
		return false
	}
	cr := rt.Val.GetColumnRef()
	return cr != nil && len(cr.Fields) == 1 && cr.Fields[0].GetAStar() != nil
}
