package driver_test

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/confide/confide/sql/driver"
)

// TestEnclaveScan runs aggregate queries over encrypted columns twice,
// through the enclave scan and through the per-row enclave functions
// (SET confide.enclave_scan = off), and wants the same rows, exactly:
// values with their scale, NULLs, order where ORDER BY decides it, and
// the same errors.
func TestEnclaveScan(t *testing.T) {
	w := newEnclaveWorld(t)
	db := w.open(t, w.thisEnclave(t))
	ctx := context.Background()
	rnd := func(col, typ string) string {
		return col + " " + typ + " ENCRYPTED WITH (COLUMN_ENCRYPTION_KEY = cek_e, ENCRYPTION_TYPE = RANDOMIZED, ALGORITHM = 'AEAD_AES_256_CBC_HMAC_SHA_256')"
	}
	if _, err := db.Exec(`CREATE TABLE lines (id INT PRIMARY KEY, flag VARCHAR(1), status VARCHAR(1), shipdate DATE, ` +
		rnd("book", "SMALLINT") + `, ` + rnd("qty", "DECIMAL(15,2)") + `, ` + rnd("price", "DECIMAL(15,2)") + `, ` +
		rnd("disc", "DECIMAL(15,2)") + `, ` + rnd("tax", "DECIMAL(15,2)") + `, ` + rnd("n", "INT") + `)`); err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		var qty, n any = fmt.Sprintf("%d.%02d", 1+i%50, i%7), int64(i%9 - 4)
		if i%23 == 0 {
			qty = nil
		}
		if i%31 == 0 {
			n = nil
		}
		if _, err := db.Exec(`INSERT INTO lines VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`, i, string("ANR"[i%3]), string("OF"[i%2]),
			fmt.Sprintf("1998-%02d-%02d", 1+i%12, 1+i%28), int64(i%5), qty, fmt.Sprintf("%d.%02d", (i*7919)%90000+900, i%100),
			fmt.Sprintf("0.%02d", i%11), fmt.Sprintf("0.%02d", i%9), n); err != nil {
			t.Fatal(err)
		}
	}
	type query struct {
		sql     string
		args    []any
		ordered bool // ORDER BY fixes the order of every row
	}
	queries := []query{
		// TPC-H Q1's shape; the literals become encrypted parameters.
		{`SELECT flag, status, SUM(qty), SUM(price), SUM(price * (1 - disc)), SUM(price * (1 - disc) * (1 + tax)), AVG(qty), AVG(price), AVG(disc), COUNT(*)
		  FROM lines WHERE shipdate <= $1 GROUP BY flag, status ORDER BY flag, status`, []any{"1998-09-02"}, true},
		// Q6's.
		{`SELECT SUM(price * disc) FROM lines WHERE shipdate >= $1 AND shipdate < $2 AND disc BETWEEN $3 AND $4 AND qty < $5`,
			[]any{"1998-02-01", "1998-11-01", "0.03", "0.07", "30"}, true},
		{`SELECT book, SUM(qty), MIN(qty), MAX(price * disc), AVG(n), COUNT(qty), COUNT(*) FROM lines GROUP BY book ORDER BY book DESC`, nil, true},
		{`SELECT book AS b, SUM(ROUND(price * disc, 1)), SUM(CAST(qty AS DECIMAL(20,4))), MIN(n), MAX(n) FROM lines WHERE id > $1 GROUP BY book`, []any{10}, false},
		{`SELECT SUM(qty), AVG(price), COUNT(*), MIN(qty) FROM lines WHERE id < $1`, []any{0}, true},
		{`SELECT flag, SUM(qty) FROM lines WHERE id < $1 GROUP BY flag`, []any{0}, true},
		{`SELECT status, SUM(price) AS total FROM lines GROUP BY status ORDER BY total DESC LIMIT 1`, nil, true},
		{`SELECT flag, SUM(qty) AS s FROM lines GROUP BY flag ORDER BY 2`, nil, true},
		{`SELECT SUM(price / qty) FROM lines WHERE qty > $1`, []any{"0"}, true},
		{`SELECT SUM(n / (n - n)) FROM lines`, nil, true},                                                   // division by zero
		{`SELECT SUM(price * price * price * price * price * price * price * price) FROM lines`, nil, true}, // overflow
		{`SELECT SUM(qty * $1) FROM lines`, []any{nil}, true},
		// Filters the enclave evaluates on the table's image: encrypted
		// and plaintext columns, constants and parameters, NULL.
		{`SELECT flag, SUM(qty), COUNT(*) FROM lines WHERE flag = 'A' AND qty > $1 AND n <> $2 GROUP BY flag`, []any{"20", int64(0)}, true},
		{`SELECT SUM(price) FROM lines WHERE qty = $1`, []any{nil}, true},
		{`SELECT status, MAX(qty) FROM lines WHERE shipdate BETWEEN '1998-03-01' AND '1998-06-30' AND id >= 7 GROUP BY status ORDER BY status`, nil, true},
		// WHEREs the host evaluates, streaming the rows it selects.
		{`SELECT flag, SUM(price * disc) FROM lines WHERE id < $1 OR id > $2 GROUP BY flag ORDER BY flag`, []any{20, 180}, true},
		{`SELECT SUM(qty) FROM lines WHERE length(status) = 1 AND id > 100`, nil, true},
	}
	scanOn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer scanOn.Close()
	scanOff, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer scanOff.Close()
	if _, err := scanOff.ExecContext(ctx, `SET confide.enclave_scan = off`); err != nil {
		t.Fatal(err)
	}
	obl, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer obl.Close()
	if _, err := obl.ExecContext(ctx, `SET confide.oblivious = on`); err != nil {
		t.Fatal(err)
	}
	oblivious := 0
	run := func(c *sql.Conn, q query) ([]string, error) {
		// Literals in arithmetic become encrypted parameters, as the
		// shell makes them.
		text, more, err := driver.Parameterize(q.sql)
		if err != nil {
			return nil, err
		}
		rs, err := c.QueryContext(ctx, text, append(q.args[:len(q.args):len(q.args)], more...)...)
		if err != nil {
			return nil, err
		}
		defer rs.Close()
		cols, _ := rs.Columns()
		var out []string
		for rs.Next() {
			vals := make([]sql.NullString, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rs.Scan(ptrs...); err != nil {
				return nil, err
			}
			var b strings.Builder
			for _, v := range vals {
				if v.Valid {
					fmt.Fprintf(&b, "%s|", v.String)
				} else {
					b.WriteString("NULL|")
				}
			}
			out = append(out, b.String())
		}
		return out, rs.Err()
	}
	errCode := func(err error) string {
		if err == nil {
			return ""
		}
		for _, code := range []string{"22012", "22003"} {
			if strings.Contains(err.Error(), code) {
				return code
			}
		}
		return err.Error()
	}
	for _, q := range queries {
		// Twice: the table's first query at a version streams, the
		// next ones run on its image.
		before := w.eng.EnclaveScans()
		got, err1 := run(scanOn, q)
		again, err3 := run(scanOn, q)
		if w.eng.EnclaveScans() != before+2 {
			t.Errorf("%s: not run by the enclave scan", q.sql)
		}
		if errCode(err1) != errCode(err3) || !slices.Equal(got, again) {
			t.Errorf("%s:\nonce  %q %v\nagain %q %v", q.sql, got, err1, again, err3)
		}
		want, err2 := run(scanOff, q)
		if errCode(err1) != errCode(err2) {
			t.Errorf("%s:\nscan error %v\nper-row error %v", q.sql, err1, err2)
			continue
		}
		if !q.ordered {
			slices.Sort(got)
			slices.Sort(want)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s:\nscan    %q\nper-row %q", q.sql, got, want)
		}
		if wantErr := strings.Contains(q.sql, "n - n") || strings.Contains(q.sql, "price * price * price"); wantErr != (err1 != nil) {
			t.Errorf("%s: error %v", q.sql, err1)
		}
		if err1 == nil && len(got) == 0 && !strings.Contains(q.sql, "id < ") {
			t.Errorf("%s: no rows", q.sql)
		}
		// The oblivious mode runs it to the same result, or refuses its
		// shape.
		ob, err4 := run(obl, q)
		switch {
		case err4 != nil && strings.Contains(err4.Error(), "0A000"):
			if strings.Contains(q.sql, "l_") || strings.HasPrefix(q.sql, "SELECT flag, status, SUM(qty), SUM(price), SUM(price * (1 - disc))") ||
				strings.HasPrefix(q.sql, "SELECT SUM(price * disc) FROM lines WHERE shipdate") {
				t.Errorf("%s: the oblivious mode refused it: %v", q.sql, err4)
			}
		case errCode(err4) != errCode(err2):
			t.Errorf("%s:\noblivious error %v\nper-row error   %v", q.sql, err4, err2)
		default:
			if !q.ordered {
				slices.Sort(ob)
			}
			if !slices.Equal(ob, want) {
				t.Errorf("%s:\noblivious %q\nper-row   %q", q.sql, ob, want)
			}
			oblivious++
		}
	}
	if oblivious < 8 {
		t.Errorf("the oblivious mode ran %d of the queries", oblivious)
	}
	// A table large enough for several workers, in each mode.
	if _, err := db.Exec(`CREATE TABLE big (id INT PRIMARY KEY, g VARCHAR(1), ` + rnd("a", "DECIMAL(12,2)") + `, ` + rnd("b", "DECIMAL(12,2)") + `)`); err != nil {
		t.Fatal(err)
	}
	const bigRows = 9000
	for base := 0; base < bigRows; base += 500 {
		var sb strings.Builder
		var bigArgs []any
		for i := base; i < base+500; i++ {
			if i > base {
				sb.WriteString(", ")
			}
			k := len(bigArgs)
			fmt.Fprintf(&sb, "($%d, $%d, $%d, $%d)", k+1, k+2, k+3, k+4)
			var a any = fmt.Sprintf("%d.%02d", i%1000-500, i%100)
			if i%97 == 0 {
				a = nil
			}
			bigArgs = append(bigArgs, i, string("xyz"[i%3]), a, fmt.Sprintf("%d.5", i%13))
		}
		if _, err := db.Exec(`INSERT INTO big VALUES `+sb.String(), bigArgs...); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []query{
		{`SELECT g, SUM(a * b), MIN(a), MAX(a - b), AVG(b), COUNT(a), COUNT(*) FROM big WHERE b > $1 AND id < $2 GROUP BY g ORDER BY g`, []any{"3", 8500}, true},
		{`SELECT SUM(a), MAX(a * b) FROM big WHERE a < $1`, []any{"100"}, true},
	} {
		want, err := run(scanOff, q)
		if err != nil {
			t.Fatal(err)
		}
		for i, c := range []*sql.Conn{scanOn, scanOn, scanOn, obl, obl} {
			got, err := run(c, q)
			if err != nil || !slices.Equal(got, want) {
				t.Errorf("%s, run %d:\n got %q %v\nwant %q", q.sql, i, got, err, want)
			}
		}
	}

	// The image is of the table as of its last write: a write, or a
	// transaction, must not see an older image.
	q := query{`SELECT flag, SUM(qty), MIN(price), COUNT(qty) FROM lines WHERE id <= $1 GROUP BY flag ORDER BY flag`, []any{100}, true}
	before, err := run(scanOn, q)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{`UPDATE lines SET qty = $1 WHERE id = 3`, `DELETE FROM lines WHERE id = 4`, `INSERT INTO lines (id, flag, qty, price) VALUES (1000, 'A', $1, $2)`} {
		args := []any{"12345.00"}
		switch {
		case strings.Contains(w, "$2"):
			args = append(args, "1.00")
		case !strings.Contains(w, "$1"):
			args = nil
		}
		if _, err := scanOff.ExecContext(ctx, w, args...); err != nil {
			t.Fatalf("%s: %v", w, err)
		}
		q.args = []any{2000}
		got, err1 := run(scanOn, q)
		want, err2 := run(scanOff, q)
		if err1 != nil || err2 != nil || !slices.Equal(got, want) {
			t.Errorf("after %s:\nscan    %q %v\nper-row %q %v", w, got, err1, want, err2)
		}
		if slices.Equal(got, before) {
			t.Errorf("after %s: the result did not change", w)
		}
		before = got
	}
	tx, err := scanOn.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`UPDATE lines SET qty = $1 WHERE id = 5`, "777.00"); err != nil {
		t.Fatal(err)
	}
	text, more, _ := driver.Parameterize(q.sql)
	rs, err := tx.Query(text, append([]any{2000}, more...)...)
	if err != nil {
		t.Fatal(err)
	}
	var inTx []string
	for rs.Next() {
		var f, s, m, c sql.NullString
		if err := rs.Scan(&f, &s, &m, &c); err != nil {
			t.Fatal(err)
		}
		inTx = append(inTx, f.String+"|"+s.String+"|"+m.String+"|"+c.String+"|")
	}
	rs.Close()
	if slices.Equal(inTx, before) {
		t.Error("inside a transaction, the query did not see the transaction's write")
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if got, err := run(scanOn, q); err != nil || !slices.Equal(got, before) {
		t.Errorf("after ROLLBACK: %q %v, want %q", got, err, before)
	}
}
