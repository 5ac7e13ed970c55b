package driver_test

import (
	"context"
	"database/sql"
	sqldriver "database/sql/driver"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/confide/confide/sql/decimal"
	"github.com/confide/confide/sql/driver"
)

// BenchmarkTPCH measures issue 25's figures: the aggregate shape of TPC-H
// Q1 and Q6 over a generated lineitem of CONFIDE_BENCH_ROWS rows (default
// 1,000,000),
//
//	lineitem(l_id INT PRIMARY KEY, l_quantity, l_extendedprice, l_discount, l_tax DECIMAL(15,2),
//	         l_returnflag VARCHAR(1), l_linestatus VARCHAR(1), l_shipdate DATE)
//
// with values drawn as dbgen draws them (quantity 1–50, discount
// 0.00–0.10, tax 0.00–0.08, ship dates 1992-01-02 … 1998-12-01, flags by
// date). Modes, one client through this driver, the confide server
// in-process with its SQL enclave on the simulated platform:
//
//	confide/plain    the plaintext table on the confide server (SQLite's NUMERIC: floating point)
//	postgres/plain   PostgreSQL (CONFIDE_BENCH_PG), NUMERIC(15,2)
//	client           the peers' way: quantity, price, discount and tax
//	                 encrypted (RANDOMIZED, enclave-enabled key); the client
//	                 fetches the rows the plaintext predicates select, and
//	                 its driver decrypts them; it filters on the encrypted
//	                 columns and aggregates with package decimal
//	enclave/cold     the encrypted table, the enclave scan, after the
//	                 enclave forgot every decrypted number
//	enclave/warm     the same, the enclave's number cache filled by an
//	                 earlier run
//	enclave/per-row  the per-row enclave functions (confide.enclave_scan off)
//	oblivious-cold   SET confide.oblivious = on, after the enclave forgot
//	                 its table images (every row streamed and decrypted)
//	oblivious-warm   the same on the image an earlier run left
//
// The literals of Q1's arithmetic (1 - l_discount) and Q6's predicates on
// encrypted columns become encrypted parameters (driver.Parameterize).
// Every mode's result is checked: the encrypted modes and the client's
// must agree exactly; PostgreSQL's sums and counts equal them; SQLite's
// floating-point sums agree to 1e-9.
//
// bench/tpch.sh runs it with PostgreSQL and prints the table.
func BenchmarkTPCH(b *testing.B) {
	n := benchRows(b)
	ctx := context.Background()
	db, encl, _ := benchEnclaveDB(b)
	exec := func(db *sql.DB, q string) {
		if _, err := db.Exec(q); err != nil {
			b.Fatalf("%.120s: %v", q, err)
		}
	}

	rows := tpchRows(n)
	load := func(db *sql.DB, table, numeric string) {
		exec(db, `CREATE TABLE `+table+` (l_id INT PRIMARY KEY, l_quantity `+numeric+`, l_extendedprice `+numeric+`, l_discount `+numeric+
			`, l_tax `+numeric+`, l_returnflag VARCHAR(1), l_linestatus VARCHAR(1), l_shipdate DATE)`)
		tx, err := db.Begin()
		if err != nil {
			b.Fatal(err)
		}
		var sb strings.Builder
		for i := 0; i < n; i += 1000 {
			sb.Reset()
			for j := i; j < min(i+1000, n); j++ {
				if j > i {
					sb.WriteString(", ")
				}
				r := rows[j]
				fmt.Fprintf(&sb, "(%d, %s, %s, %s, %s, '%s', '%s', '%s')", j, r.qty, r.price, r.disc, r.tax, r.flag, r.status, r.date)
			}
			if _, err := tx.Exec(`INSERT INTO ` + table + ` VALUES ` + sb.String()); err != nil {
				b.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	start := time.Now()
	load(db, "lineitem", "DECIMAL(15,2)")
	load(db, "lineitem_enc", "DECIMAL(15,2)")
	loaded := time.Since(start)
	start = time.Now()
	for _, c := range []string{"l_quantity", "l_extendedprice", "l_discount", "l_tax"} {
		exec(db, `ALTER TABLE lineitem_enc ALTER COLUMN `+c+` DECIMAL(15,2) ENCRYPTED WITH (COLUMN_ENCRYPTION_KEY = cek1, ENCRYPTION_TYPE = RANDOMIZED, ALGORITHM = 'AEAD_AES_256_CBC_HMAC_SHA_256')`)
	}
	b.Logf("%d rows: loaded both tables in %v, encrypted 4 columns in place in %v", n, loaded.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	var pgdb *sql.DB
	if dsn := os.Getenv("CONFIDE_BENCH_PG"); dsn != "" {
		pgdb = sql.OpenDB(driver.NewConnector(freshDatabase(b, dsn, "tpch"), driver.Config{}))
		b.Cleanup(func() { pgdb.Close() })
		load(pgdb, "lineitem", "NUMERIC(15,2)")
		exec(pgdb, `ANALYZE lineitem`)
	}

	queries := map[string]string{
		"q1": `SELECT l_returnflag, l_linestatus, SUM(l_quantity), SUM(l_extendedprice), SUM(l_extendedprice * (1 - l_discount)),
		SUM(l_extendedprice * (1 - l_discount) * (1 + l_tax)), AVG(l_quantity), AVG(l_extendedprice), AVG(l_discount), COUNT(*)
		FROM lineitem WHERE l_shipdate <= '1998-09-02' GROUP BY l_returnflag, l_linestatus ORDER BY l_returnflag, l_linestatus`,
		"q6": `SELECT SUM(l_extendedprice * l_discount) FROM lineitem
		WHERE l_shipdate >= '1994-01-01' AND l_shipdate < '1995-01-01' AND l_discount BETWEEN 0.05 AND 0.07 AND l_quantity < 24`,
	}
	// The reference: the client's way, checked in turn against the others.
	want := map[string][]string{}
	for _, q := range []string{"q1", "q6"} {
		want[q] = tpchClient(b, db, q)
	}
	b.Logf("q1: %q", want["q1"])
	b.Logf("q6: %q", want["q6"])
	run := func(b *testing.B, c interface {
		QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	}, q, table string, check func([]string)) {
		text := strings.ReplaceAll(queries[q], "FROM lineitem", "FROM "+table)
		var args []any
		if table == "lineitem_enc" {
			var err error
			if text, args, err = driver.Parameterize(text); err != nil {
				b.Fatal(err)
			}
		}
		got, err := tpchQuery(ctx, c, text, args)
		if err != nil {
			b.Fatal(err)
		}
		check(got)
	}
	exact := func(q string) func([]string) {
		return func(got []string) {
			if !slices.Equal(got, want[q]) {
				b.Fatalf("%s:\n got %q\nwant %q", q, got, want[q])
			}
		}
	}
	cpuStart := time.Duration(0)
	report := func(b *testing.B) {
		if s := b.Elapsed().Seconds(); s > 0 && b.N > 0 {
			b.ReportMetric(float64(b.N)/s, "queries/s")
			b.ReportMetric(float64(n)*float64(b.N)/s, "rows/s")
			b.ReportMetric(float64((cpuTime()-cpuStart).Milliseconds())/float64(b.N), "cpu-ms/op")
		}
	}
	for _, q := range []string{"q1", "q6"} {
		b.Run(q+"/confide-plain", func(b *testing.B) {
			cpuStart = cpuTime()
			for b.Loop() {
				run(b, db, q, "lineitem", func(got []string) { tpchClose(b, q, got, want[q], "sqlite") })
			}
			report(b)
		})
		if pgdb != nil {
			b.Run(q+"/postgres-plain", func(b *testing.B) {
				cpuStart = cpuTime()
				for b.Loop() {
					run(b, pgdb, q, "lineitem", func(got []string) { tpchClose(b, q, got, want[q], "postgres") })
				}
				report(b)
			})
		}
		b.Run(q+"/client", func(b *testing.B) {
			cpuStart = cpuTime()
			for b.Loop() {
				exact(q)(tpchClient(b, db, q))
			}
			report(b)
		})
		b.Run(q+"/enclave-cold", func(b *testing.B) {
			cpuStart = cpuTime()
			for b.Loop() {
				encl.DropCaches()
				run(b, db, q, "lineitem_enc", exact(q))
			}
			report(b)
		})
		b.Run(q+"/enclave-warm", func(b *testing.B) {
			run(b, db, q, "lineitem_enc", exact(q))
			cpuStart = cpuTime()
			for b.Loop() {
				run(b, db, q, "lineitem_enc", exact(q))
			}
			report(b)
		})
		for _, mode := range []string{"cold", "warm"} {
			b.Run(q+"/oblivious-"+mode, func(b *testing.B) {
				c, err := db.Conn(ctx)
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				if _, err := c.ExecContext(ctx, `SET confide.oblivious = on`); err != nil {
					b.Fatal(err)
				}
				defer c.ExecContext(ctx, `SET confide.oblivious = off`) // the connection goes back to the pool
				run(b, c, q, "lineitem_enc", exact(q))
				cpuStart = cpuTime()
				for b.Loop() {
					if mode == "cold" {
						encl.DropCaches()
					}
					run(b, c, q, "lineitem_enc", exact(q))
				}
				report(b)
			})
		}
		if os.Getenv("CONFIDE_BENCH_PERROW") != "" {
			b.Run(q+"/enclave-per-row", func(b *testing.B) {
				c, err := db.Conn(ctx)
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				if _, err := c.ExecContext(ctx, `SET confide.enclave_scan = off`); err != nil {
					b.Fatal(err)
				}
				defer c.ExecContext(ctx, `SET confide.enclave_scan = on`)
				cpuStart = cpuTime()
				for b.Loop() {
					run(b, c, q, "lineitem_enc", exact(q))
				}
				report(b)
			})
		}
	}
}

type tpchRow struct {
	qty, price, disc, tax, flag, status, date string
}

// tpchRows draws n lineitem rows as TPC-H's dbgen does, from a fixed seed.
func tpchRows(n int) []tpchRow {
	r := rand.New(rand.NewPCG(25, 1))
	start := time.Date(1992, 1, 2, 0, 0, 0, 0, time.UTC)
	days := int(time.Date(1998, 12, 1, 0, 0, 0, 0, time.UTC).Sub(start).Hours() / 24)
	current := time.Date(1995, 6, 17, 0, 0, 0, 0, time.UTC)
	out := make([]tpchRow, n)
	for i := range out {
		qty := 1 + r.IntN(50)
		part := 90000 + r.IntN(110001) // cents: 900.00 … 2000.00
		ship := start.AddDate(0, 0, r.IntN(days+1))
		flag, status := "N", "O"
		if !ship.After(current) {
			flag, status = string("RA"[r.IntN(2)]), "F"
		}
		price := int64(qty) * int64(part)
		out[i] = tpchRow{qty: fmt.Sprintf("%d.00", qty), price: fmt.Sprintf("%d.%02d", price/100, price%100),
			disc: fmt.Sprintf("0.%02d", r.IntN(11)), tax: fmt.Sprintf("0.%02d", r.IntN(9)), flag: flag, status: status, date: ship.Format(time.DateOnly)}
	}
	return out
}

// tpchQuery runs a query and returns its rows, each value's text joined
// by "|" (NULL as "NULL").
func tpchQuery(ctx context.Context, c interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, q string, args []any) ([]string, error) {
	rs, err := c.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	cols, _ := rs.Columns()
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var out []string
	for rs.Next() {
		if err := rs.Scan(ptrs...); err != nil {
			return nil, err
		}
		parts := make([]string, len(vals))
		for i, v := range vals {
			if dv, ok := v.(sqldriver.Valuer); ok { // PostgreSQL's NUMERIC
				if v, err = dv.Value(); err != nil {
					return nil, err
				}
			}
			switch x := v.(type) {
			case nil:
				parts[i] = "NULL"
			case []byte:
				parts[i] = string(x)
			case float64:
				parts[i] = strconv.FormatFloat(x, 'g', -1, 64)
			default:
				parts[i] = fmt.Sprint(x)
			}
		}
		out = append(out, strings.Join(parts, "|"))
	}
	return out, rs.Err()
}

// tpchClient is the peers' way: fetch the encrypted columns of the rows
// the plaintext predicates select, let the driver decrypt them, filter
// and aggregate in the client, exactly (package decimal, SQL Server's
// result types).
func tpchClient(b *testing.B, db *sql.DB, q string) []string {
	col := decimal.Type{Precision: 15, Scale: 2}
	parse := func(s string) decimal.Dec {
		d, t, err := decimal.Parse(s)
		if err == nil {
			d, err = decimal.Cast(d, t, col)
		}
		if err != nil {
			b.Fatalf("%q: %v", s, err)
		}
		return d
	}
	one := parse("1")
	check := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	sumT := decimal.SumType(col)
	if q == "q6" {
		rs, err := db.Query(`SELECT l_extendedprice, l_discount, l_quantity FROM lineitem_enc WHERE l_shipdate >= '1994-01-01' AND l_shipdate < '1995-01-01'`)
		check(err)
		defer rs.Close()
		lo, hi, qmax := parse("0.05"), parse("0.07"), parse("24")
		var sum decimal.Dec
		st := decimal.Type{}
		found := false
		var ps, ds, qs string
		for rs.Next() {
			check(rs.Scan(&ps, &ds, &qs))
			disc, qty := parse(ds), parse(qs)
			if decimal.Compare(disc, col, lo, col) < 0 || decimal.Compare(disc, col, hi, col) > 0 || decimal.Compare(qty, col, qmax, col) >= 0 {
				continue
			}
			v, vt, err := decimal.Mul(parse(ps), col, disc, col)
			check(err)
			if !found {
				st, found = decimal.SumType(vt), true
			}
			sum, _, err = decimal.Add(sum, st, v, vt)
			check(err)
		}
		check(rs.Err())
		if !found {
			return []string{"NULL"}
		}
		return []string{sum.String(st)}
	}
	type group struct {
		qty, price, discPrice, charge, disc decimal.Dec
		dpT, chT                            decimal.Type
		count                               int64
	}
	groups := map[string]*group{}
	rs, err := db.Query(`SELECT l_returnflag, l_linestatus, l_quantity, l_extendedprice, l_discount, l_tax FROM lineitem_enc WHERE l_shipdate <= '1998-09-02'`)
	check(err)
	defer rs.Close()
	var flag, status, qs, ps, ds, ts string
	for rs.Next() {
		check(rs.Scan(&flag, &status, &qs, &ps, &ds, &ts))
		g := groups[flag+"|"+status]
		if g == nil {
			g = &group{}
			groups[flag+"|"+status] = g
		}
		qty, price, disc, tax := parse(qs), parse(ps), parse(ds), parse(ts)
		oneMinus, omT, err := decimal.Sub(one, col, disc, col)
		check(err)
		dp, dpT, err := decimal.Mul(price, col, oneMinus, omT)
		check(err)
		onePlus, opT, err := decimal.Add(one, col, tax, col)
		check(err)
		ch, chT, err := decimal.Mul(dp, dpT, onePlus, opT)
		check(err)
		g.dpT, g.chT = decimal.SumType(dpT), decimal.SumType(chT)
		add := func(acc *decimal.Dec, t decimal.Type, v decimal.Dec, vt decimal.Type) {
			s, _, err := decimal.Add(*acc, t, v, vt)
			check(err)
			*acc = s
		}
		add(&g.qty, sumT, qty, col)
		add(&g.price, sumT, price, col)
		add(&g.discPrice, g.dpT, dp, dpT)
		add(&g.charge, g.chT, ch, chT)
		add(&g.disc, sumT, disc, col)
		g.count++
	}
	check(rs.Err())
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var out []string
	for _, k := range keys {
		g := groups[k]
		avg := func(s decimal.Dec) string {
			a, at, err := decimal.AvgOf(s, sumT, g.count)
			check(err)
			return a.String(at)
		}
		out = append(out, strings.Join([]string{k, g.qty.String(sumT), g.price.String(sumT), g.discPrice.String(g.dpT), g.charge.String(g.chT),
			avg(g.qty), avg(g.price), avg(g.disc), strconv.FormatInt(g.count, 10)}, "|"))
	}
	return out
}

// tpchClose checks a plaintext engine's result against the exact one:
// PostgreSQL's sums and counts equal it (its averages have another
// scale), SQLite's floating-point values agree to 1e-9.
func tpchClose(b *testing.B, q string, got, want []string, engine string) {
	if len(got) != len(want) {
		b.Fatalf("%s on %s: %d rows, want %d", q, engine, len(got), len(want))
	}
	for i := range got {
		g, w := strings.Split(got[i], "|"), strings.Split(want[i], "|")
		if len(g) != len(w) {
			b.Fatalf("%s on %s: %q, want %q", q, engine, got[i], want[i])
		}
		for j := range g {
			isAvg := q == "q1" && j >= 6 && j <= 8
			if engine == "postgres" && !isAvg {
				if g[j] != w[j] {
					b.Fatalf("%s on %s: %q, want %q", q, engine, got[i], want[i])
				}
				continue
			}
			gf, err1 := strconv.ParseFloat(g[j], 64)
			wf, err2 := strconv.ParseFloat(w[j], 64)
			if err1 != nil || err2 != nil {
				if g[j] != w[j] {
					b.Fatalf("%s on %s: %q, want %q", q, engine, got[i], want[i])
				}
				continue
			}
			// SQL Server's AVG keeps 6 decimals; SQLite's is a double.
			tol := 1e-9
			if isAvg {
				tol = 1e-6
			}
			if math.Abs(gf-wf) > tol*math.Max(1, math.Abs(wf)) {
				b.Fatalf("%s on %s: %q, want %q", q, engine, got[i], want[i])
			}
		}
	}
}
