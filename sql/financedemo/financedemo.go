package financedemo

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/confide/confide/attest"
	"github.com/confide/confide/enclave"
	"github.com/confide/confide/sql/cek"
	"github.com/confide/confide/sql/decimal"
	"github.com/confide/confide/sql/driver"
	"github.com/confide/confide/sql/engine"
	"github.com/confide/confide/sql/sqlenclave"
	"github.com/confide/confide/sql/types"
	"github.com/confide/confide/sql/wire"
)

// Options sizes the demo and names the platform its SQL enclave runs on.
type Options struct {
	// Positions is the number of positions (default 2,000); there is a
	// client per 20 positions and 250 trading days of returns.
	Positions int
	// Platform attests the SQL enclave; Verifier checks its evidence and
	// Policy (JSON, the platform policy grammar) appraises it.
	Platform enclave.Attester
	Verifier *attest.Verifier
	Policy   []byte
	// Dir holds the server's files and the key file (a temporary
	// directory if empty).
	Dir string
}

const (
	days       = 250
	instrCount = 40
	confidence = 0.95 // VaR: the 5th-percentile daily loss
)

var sectors = []string{"energy", "financials", "health care", "industrials", "technology", "utilities"}

type data struct {
	clients   []string
	sector    []string   // per instrument
	positions []position // client, instrument, qty, price
	returns   [][]string // [instrument][day] daily return, DECIMAL(9,6)
}

type position struct {
	client, instrument int
	qty                int64
	price              string // DECIMAL(12,4)
}

func generate(n int, r *mrand.Rand) *data {
	d := &data{}
	first := []string{"Ada", "Björn", "Chen", "Dalia", "Emeka", "Farah", "Goran", "Hana", "Ines", "Jun", "Kofi", "Lena"}
	for i := range max(1, n/20) {
		d.clients = append(d.clients, fmt.Sprintf("%s %c. %d", first[i%len(first)], 'A'+rune(i%26), i))
	}
	for i := range instrCount {
		d.sector = append(d.sector, sectors[i%len(sectors)])
		var rs []string
		for range days {
			bp := r.IntN(90001) - 45000 // −4.5000 % … +4.5000 %, in 1e-6
			rs = append(rs, fmt.Sprintf("%s0.%06d", map[bool]string{true: "-", false: ""}[bp < 0], abs(bp)))
		}
		d.returns = append(d.returns, rs)
	}
	for range n {
		d.positions = append(d.positions, position{
			client: r.IntN(len(d.clients)), instrument: r.IntN(instrCount),
			qty: int64(1 + r.IntN(5000)), price: fmt.Sprintf("%d.%04d", 5+r.IntN(495), r.IntN(10000)),
		})
	}
	return d
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// Run runs the demo and writes its report to w. It fails if any figure
// the enclave computed differs from the plaintext computation.
func Run(ctx context.Context, w io.Writer, o Options) error {
	if o.Positions <= 0 {
		o.Positions = 2000
	}
	dir := o.Dir
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "confide-finance"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	d := generate(o.Positions, mrand.New(mrand.NewPCG(2026, 12)))

	// The server, with its SQL enclave, on loopback.
	eng := &engine.Engine{Dir: filepath.Join(dir, "data"), Enclave: &sqlenclave.Enclave{Platform: o.Platform}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	//confide:ignore false positive: the checker merges the server, its engine and the engine's SQL enclave; the server logs no key or value
	go func() { (&wire.Server{Engine: eng}).Serve(sctx, l); close(done) }()
	defer func() { cancel(); <-done; eng.Close() }()
	addr := l.Addr().String()

	// The wealth manager's column master key stays in a key file on the
	// client side; it signs its metadata to allow enclave computations.
	keyPath := filepath.Join(dir, "cmk.pem")
	cmk, pemBytes, err := cek.NewKeyFile(2048)
	if err != nil {
		return err
	}
	if err := os.WriteFile(keyPath, pemBytes, 0o600); err != nil {
		return err
	}
	sig, err := cek.SignMetadata(ctx, cmk, "CONFIDE_KEY_FILE", keyPath, true)
	if err != nil {
		return err
	}
	root := make([]byte, 32)
	if _, err := rand.Read(root); err != nil {
		return err
	}
	value, err := cek.Encrypt(ctx, cmk, keyPath, root, nil)
	if err != nil {
		return err
	}
	policy := filepath.Join(dir, "policy.json")
	if err := os.WriteFile(policy, o.Policy, 0o600); err != nil {
		return err
	}
	db := sql.OpenDB(driver.NewConnector("postgres://manager@"+addr+"/wealth?sslmode=disable&column_encryption=enabled&enclave_policy="+policy,
		driver.Config{Keys: &cek.Cache{Providers: []cek.Provider{cek.KeyFiles{}}, Trusted: []string{keyPath}}, Enclave: o.Verifier}))
	defer db.Close()
	db.SetMaxIdleConns(2)

	start := time.Now()
	if err := load(ctx, db, d, keyPath, sig, value); err != nil {
		return err
	}
	fmt.Fprintf(w, "Loaded %d clients, %d positions, %d instruments × %d days of returns in %v; quantities, prices, returns and names are encrypted (randomized, enclave-enabled key).\n\n",
		len(d.clients), len(d.positions), instrCount, days, time.Since(start).Round(time.Millisecond))

	mismatches := 0
	check := func(what, got, want string) {
		if got != want {
			mismatches++
			fmt.Fprintf(w, "  MISMATCH %s: enclave %s, plaintext %s\n", shown(what), shown(got), shown(want))
		}
	}
	value0 := expectedValues(d)

	// 1. Portfolio value per client.
	fmt.Fprintln(w, "Portfolio value per client (top 5), SUM(qty × price) in the enclave:")
	rows, err := db.QueryContext(ctx, `SELECT c.id, c.name, SUM(p.qty * p.price) FROM clients c JOIN positions p ON p.client = c.id GROUP BY c.id, c.name ORDER BY SUM(p.qty * p.price) DESC`)
	if err != nil {
		return err
	}
	listed := 0
	for rows.Next() {
		var id int
		var name, total string
		if err := rows.Scan(&id, &name, &total); err != nil {
			rows.Close()
			return err
		}
		check("value of client "+name, total, value0[id])
		if listed < 5 {
			fmt.Fprintf(w, "  %-16s %20s\n", shown(name), shown(total))
			listed++
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}

	// 2. Exposure by sector.
	fmt.Fprintln(w, "\nExposure by sector, SUM(qty × price) grouped by the instruments' sector:")
	bySector := expectedSectors(d)
	rows, err = db.QueryContext(ctx, `SELECT i.sector, SUM(p.qty * p.price) FROM positions p JOIN instruments i ON i.id = p.instrument GROUP BY i.sector ORDER BY i.sector`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var sector, total string
		if err := rows.Scan(&sector, &total); err != nil {
			rows.Close()
			return err
		}
		check("exposure of "+sector, total, bySector[sector])
		fmt.Fprintf(w, "  %-12s %20s\n", shown(sector), shown(total))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}

	// 3. One-day historical VaR per client: the daily P&L of today's
	// positions under each past day's returns, and its 5th-percentile
	// loss, found by ordering the encrypted P&Ls in the enclave.
	k := days * 5 / 100 // the 5% tail: 12 of 250 days are worse
	fmt.Fprintf(w, "\nOne-day historical VaR at %.0f%% (the %s-worst of %d daily P&Ls, SUM(qty × price × return) ordered in the enclave), first 5 clients:\n",
		confidence*100, ordinal(k+1), days)
	wantVaR := expectedVaR(d, k)
	for id := range d.clients {
		var day int
		var pnl string
		err := db.QueryRowContext(ctx, fmt.Sprintf(`SELECT r.day, SUM(p.qty * p.price * r.ret) FROM positions p JOIN returns r ON r.instrument = p.instrument
			WHERE p.client = $1 GROUP BY r.day ORDER BY SUM(p.qty * p.price * r.ret), r.day LIMIT 1 OFFSET %d`, k), id).Scan(&day, &pnl)
		if err == sql.ErrNoRows {
			continue // a client without positions
		}
		if err != nil {
			return err
		}
		check("VaR of client "+d.clients[id], pnl, wantVaR[id])
		if id < 5 {
			fmt.Fprintf(w, "  %-16s VaR %18s   (day %s)\n", shown(d.clients[id]), shown(strings.TrimPrefix(pnl, "-")), shown(fmt.Sprint(day)))
		}
	}

	// What the DBA sees of one position.
	dba, err := pgx.Connect(ctx, "postgres://dba@"+addr+"/wealth?sslmode=disable")
	if err != nil {
		return err
	}
	defer dba.Close(ctx)
	var client int
	var qty, price []byte
	if err := dba.QueryRow(ctx, `SELECT client, qty, price FROM positions LIMIT 1`).Scan(&client, &qty, &price); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nWhat a DBA sees of a position (psql, any query): client %d, qty \\x%s…, price \\x%s…\n", client, hex.EncodeToString(qty[:12]), hex.EncodeToString(price[:12]))
	if mismatches > 0 {
		return fmt.Errorf("financedemo: %d figures differ from the plaintext computation", mismatches)
	}
	fmt.Fprintf(w, "\nEvery figure equals the same computation on the plaintext with the same exact decimal arithmetic (%d clients, %d sectors, %d VaRs).\n",
		len(value0), len(bySector), len(wantVaR))
	return nil
}

// shown marks a figure the demo prints: the wealth manager's own
// decrypted results, on the client side, are what it exists to show.
//
//confide:declassify
func shown(s string) string { return s }

func ordinal(n int) string {
	switch {
	case n%100 >= 11 && n%100 <= 13:
		return fmt.Sprintf("%dth", n)
	case n%10 == 1:
		return fmt.Sprintf("%dst", n)
	case n%10 == 2:
		return fmt.Sprintf("%dnd", n)
	case n%10 == 3:
		return fmt.Sprintf("%drd", n)
	}
	return fmt.Sprintf("%dth", n)
}

func load(ctx context.Context, db *sql.DB, d *data, keyPath string, sig, value []byte) error {
	enc := func(col, typ string) string {
		return col + " " + typ + " ENCRYPTED WITH (COLUMN_ENCRYPTION_KEY = portfolio, ENCRYPTION_TYPE = RANDOMIZED, ALGORITHM = 'AEAD_AES_256_CBC_HMAC_SHA_256')"
	}
	for _, q := range []string{
		fmt.Sprintf(`CREATE COLUMN MASTER KEY manager WITH (KEY_STORE_PROVIDER_NAME = 'CONFIDE_KEY_FILE', KEY_PATH = '%s', ENCLAVE_COMPUTATIONS (SIGNATURE = 0x%x))`, keyPath, sig),
		fmt.Sprintf(`CREATE COLUMN ENCRYPTION KEY portfolio WITH VALUES (COLUMN_MASTER_KEY = manager, ALGORITHM = 'RSA_OAEP', ENCRYPTED_VALUE = 0x%x)`, value),
		`CREATE TABLE clients (id INT PRIMARY KEY, ` + enc("name", "NVARCHAR(40)") + `)`,
		`CREATE TABLE instruments (id INT PRIMARY KEY, sector TEXT)`,
		`CREATE TABLE positions (id INT PRIMARY KEY, client INT, instrument INT, ` + enc("qty", "INT") + `, ` + enc("price", "DECIMAL(12,4)") + `)`,
		`CREATE TABLE returns (instrument INT, day INT, ` + enc("ret", "DECIMAL(9,6)") + `, PRIMARY KEY (instrument, day))`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%.60s…: %w", q, err)
		}
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for id, name := range d.clients {
		if _, err := tx.ExecContext(ctx, `INSERT INTO clients (id, name) VALUES ($1, $2)`, id, name); err != nil {
			return err
		}
	}
	for id, s := range d.sector {
		if _, err := tx.ExecContext(ctx, `INSERT INTO instruments (id, sector) VALUES ($1, $2)`, id, s); err != nil {
			return err
		}
	}
	for id, p := range d.positions {
		if _, err := tx.ExecContext(ctx, `INSERT INTO positions (id, client, instrument, qty, price) VALUES ($1, $2, $3, $4, $5)`, id, p.client, p.instrument, p.qty, p.price); err != nil {
			return err
		}
	}
	for i, rs := range d.returns {
		for day, r := range rs {
			if _, err := tx.ExecContext(ctx, `INSERT INTO returns (instrument, day, ret) VALUES ($1, $2, $3)`, i, day, r); err != nil {
				return err
			}
		}
	}
	return tx.Commit()
}

// The plaintext computation, with the same exact arithmetic and SQL
// Server's result types.

var (
	intT, _   = types.Parse("INT")
	priceT, _ = types.Parse("DECIMAL(12,4)")
	retT, _   = types.Parse("DECIMAL(9,6)")
)

func num(s string, t types.Type) (decimal.Dec, decimal.Type) {
	d, lt, err := decimal.Parse(s)
	if err != nil {
		panic(err)
	}
	dt, _ := decimal.Of(t)
	if d, err = decimal.Cast(d, lt, dt); err != nil {
		panic(err)
	}
	return d, dt
}

func mul(a decimal.Dec, at decimal.Type, b decimal.Dec, bt decimal.Type) (decimal.Dec, decimal.Type) {
	r, rt, err := decimal.Mul(a, at, b, bt)
	if err != nil {
		panic(err)
	}
	return r, rt
}

func value(p position) (decimal.Dec, decimal.Type) {
	q, qt := num(fmt.Sprint(p.qty), intT)
	pr, pt := num(p.price, priceT)
	return mul(q, qt, pr, pt)
}

func sumOf(vs []decimal.Dec, t decimal.Type) string {
	s, st, err := decimal.Sum(vs, t)
	if err != nil {
		panic(err)
	}
	return s.String(st)
}

func expectedValues(d *data) map[int]string {
	by := map[int][]decimal.Dec{}
	var vt decimal.Type
	for _, p := range d.positions {
		v, t := value(p)
		by[p.client], vt = append(by[p.client], v), t
	}
	out := map[int]string{}
	for c, vs := range by {
		out[c] = sumOf(vs, vt)
	}
	return out
}

func expectedSectors(d *data) map[string]string {
	by := map[string][]decimal.Dec{}
	var vt decimal.Type
	for _, p := range d.positions {
		v, t := value(p)
		s := d.sector[p.instrument]
		by[s], vt = append(by[s], v), t
	}
	out := map[string]string{}
	for s, vs := range by {
		out[s] = sumOf(vs, vt)
	}
	return out
}

func expectedVaR(d *data, k int) map[int]string {
	out := map[int]string{}
	for c := range d.clients {
		var mine []position
		for _, p := range d.positions {
			if p.client == c {
				mine = append(mine, p)
			}
		}
		if len(mine) == 0 {
			continue
		}
		type daily struct {
			d  decimal.Dec
			t  decimal.Type
			id int
		}
		var pnl []daily
		for day := range days {
			var vs []decimal.Dec
			var vt decimal.Type
			for _, p := range mine {
				v, t := value(p)
				r, rt := num(d.returns[p.instrument][day], retT)
				x, xt := mul(v, t, r, rt)
				vs, vt = append(vs, x), xt
			}
			s, st, err := decimal.Sum(vs, vt)
			if err != nil {
				panic(err)
			}
			pnl = append(pnl, daily{s, st, day})
		}
		slices.SortStableFunc(pnl, func(a, b daily) int {
			if c := decimal.Compare(a.d, a.t, b.d, b.t); c != 0 {
				return c
			}
			return a.id - b.id
		})
		out[c] = pnl[k].d.String(pnl[k].t)
	}
	return out
}
