package bind_test

import (
	"context"
	"strings"
	"testing"

	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/confide/confide/sql/bind"
	"github.com/confide/confide/sql/types"
	"github.com/confide/confide/sql/wire"
)

// catalog is a fixed catalog: t(id INT, ssn det, note rand), u(ssn det
// under another key, n INT).
type catalog map[string][]bind.Column

func (c catalog) Columns(_ context.Context, _, table string) ([]bind.Column, error) {
	return c[strings.ToLower(table)], nil
}

func testCatalog(t *testing.T) catalog {
	typ := func(s string) types.Type {
		ty, err := types.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return ty
	}
	return catalog{
		"t": {
			{Table: "t", Name: "id", Ord: 0, Type: typ("INT")},
			{Table: "t", Name: "ssn", Ord: 1, Type: typ("VARCHAR(11)"), CEK: "k1", EncType: "DETERMINISTIC"},
			{Table: "t", Name: "note", Ord: 2, Type: typ("NVARCHAR(50)"), CEK: "k1", EncType: "RANDOMIZED"},
		},
		"u": {
			{Table: "u", Name: "ssn", Ord: 0, Type: typ("VARCHAR(11)"), CEK: "k2", EncType: "DETERMINISTIC"},
			{Table: "u", Name: "n", Ord: 1, Type: typ("INT")},
		},
	}
}

func analyze(t *testing.T, cat catalog, q string) (*bind.Statement, error) {
	t.Helper()
	tree, err := pg.Parse(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return bind.Analyze(context.Background(), cat, tree.Stmts[0].Stmt)
}

func TestBindings(t *testing.T) {
	cat := testCatalog(t)
	for _, c := range []struct {
		q       string
		params  int
		bound   map[int]string // parameter → table.column
		results []string       // result → table.column, or "" for an expression
	}{
		{`SELECT id, note FROM t WHERE ssn = $1`, 1, map[int]string{1: "t.ssn"}, []string{"t.id", "t.note"}},
		{`SELECT * FROM t WHERE id = $1 AND ssn IN ($2, $3)`, 3, map[int]string{1: "t.id", 2: "t.ssn", 3: "t.ssn"}, []string{"t.id", "t.ssn", "t.note"}},
		{`INSERT INTO t (id, ssn, note) VALUES ($1, $2, $3)`, 3, map[int]string{1: "t.id", 2: "t.ssn", 3: "t.note"}, nil},
		{`UPDATE t SET note = $1 WHERE ssn <> $2`, 2, map[int]string{1: "t.note", 2: "t.ssn"}, nil},
		{`DELETE FROM t WHERE ssn = $1`, 1, map[int]string{1: "t.ssn"}, nil},
		{`SELECT count(*), ssn FROM t GROUP BY ssn`, 0, nil, []string{"", "t.ssn"}},
		{`SELECT a.id FROM t a JOIN t b ON a.ssn = b.ssn WHERE b.id = $1`, 1, map[int]string{1: "t.id"}, []string{"t.id"}},
	} {
		st, err := analyze(t, cat, c.q)
		if err != nil {
			t.Errorf("%s: %v", c.q, err)
			continue
		}
		if st.Params != c.params {
			t.Errorf("%s: %d parameters, want %d", c.q, st.Params, c.params)
		}
		for n, want := range c.bound {
			if col := st.Bound[n]; col == nil || col.Table+"."+col.Name != want {
				t.Errorf("%s: $%d bound to %v, want %s", c.q, n, col, want)
			}
		}
		if len(st.Results) != len(c.results) {
			t.Errorf("%s: %d results, want %d", c.q, len(st.Results), len(c.results))
			continue
		}
		for i, want := range c.results {
			got := ""
			if r := st.Results[i].Col; r != nil {
				got = r.Table + "." + r.Name
			}
			if got != want {
				t.Errorf("%s: result %d from %q, want %q", c.q, i+1, got, want)
			}
		}
	}
}

func TestRefusals(t *testing.T) {
	cat := testCatalog(t)
	for _, c := range []struct{ q, code, text string }{
		{`SELECT id FROM t WHERE ssn = '123'`, "42804", "operand type clash"},
		{`INSERT INTO t (id, ssn) VALUES (1, '123')`, "42804", "operand type clash"},
		{`UPDATE t SET ssn = upper($1)`, "42804", "operand type clash"},
		{`SELECT id FROM t WHERE note = $1`, "42804", "randomized"},
		{`SELECT id FROM t WHERE ssn > $1`, "0A000", "only equality"},
		{`SELECT id FROM t ORDER BY ssn`, "0A000", "ORDER BY"},
		{`SELECT upper(ssn) FROM t`, "0A000", "function upper"},
		{`SELECT t.id FROM t JOIN u ON t.ssn = u.ssn`, "42804", "not encrypted alike"},
		{`SELECT id FROM t WHERE ssn = $1 OR id = $1`, "42804", "encrypted differently"},
		{`SELECT nope FROM t`, "42703", "does not exist"},
		{`SELECT ssn FROM t, u`, "42702", "ambiguous"},
		{`SELECT x FROM missing`, "42P01", "does not exist"},
		{`SELECT id FROM t UNION SELECT n FROM u`, "0A000", "UNION"},
	} {
		_, err := analyze(t, cat, c.q)
		we, ok := err.(*wire.Error)
		if !ok || we.Code != c.code || !strings.Contains(we.Message, c.text) {
			t.Errorf("%s: %v, want %s %q", c.q, err, c.code, c.text)
		}
	}
}
