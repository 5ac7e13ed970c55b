package driver_test

import (
	"bytes"
	"context"
	cryptorand "crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io/fs"
	"math/big"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/jackc/pgx/v5"

	"github.com/confide/confide/attest"
	"github.com/confide/confide/attestsvc"
	"github.com/confide/confide/enclave"
	"github.com/confide/confide/enclave/sim/simtest"
	"github.com/confide/confide/kvstore"
	"github.com/confide/confide/seal"
	"github.com/confide/confide/sql/cek"
	"github.com/confide/confide/sql/decimal"
	"github.com/confide/confide/sql/driver"
	"github.com/confide/confide/sql/engine"
	"github.com/confide/confide/sql/sqlenclave"
	"github.com/confide/confide/sql/types"
)

// enclaveWorld is a confide server with a SQL enclave on a simulated
// platform, an enclave-enabled CMK and CEK, and a table whose randomized
// columns the enclave computes on.
type enclaveWorld struct {
	dir, addr, keyPath string
	p                  *simtest.Platform
	eng                *engine.Engine
	verifier           *attest.Verifier
	rows               []account
}

type account struct {
	id      int
	name    string
	balance string // DECIMAL(12,2)
	opened  time.Time
	score   int64
}

func (a account) bal() *big.Rat { r, _ := new(big.Rat).SetString(a.balance); return r }

var enclaveNames = []string{"alice", "Bob", "bob", "Ｚoe", "😀 smile", "𝄞 clef", "ab", "abc", "a_c", "", "zz", "éclair", "中文", "alice"}

func newEnclaveWorld(t *testing.T) *enclaveWorld {
	t.Helper()
	w := &enclaveWorld{dir: t.TempDir(), p: simtest.Start(t)}
	w.eng = &engine.Engine{Dir: filepath.Join(w.dir, "data"), Enclave: &sqlenclave.Enclave{Platform: w.p.Client}}
	w.addr = serveEngine(t, w.eng)
	ctx := context.Background()
	w.verifier = &attest.Verifier{Backends: map[string]enclave.Verifier{"sim": w.p.Verifier()}}

	w.keyPath = filepath.Join(w.dir, "cmk.pem")
	cmk, pemBytes, err := cek.NewKeyFile(2048)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(w.keyPath, pemBytes, 0o600)
	sig, err := cek.SignMetadata(ctx, cmk, "CONFIDE_KEY_FILE", w.keyPath, true)
	if err != nil {
		t.Fatal(err)
	}
	root := bytes.Repeat([]byte{0x42}, 32)
	value, err := cek.Encrypt(ctx, cmk, w.keyPath, root, nil)
	if err != nil {
		t.Fatal(err)
	}
	rnd := func(col, typ string) string {
		return col + " " + typ + " ENCRYPTED WITH (COLUMN_ENCRYPTION_KEY = cek_e, ENCRYPTION_TYPE = RANDOMIZED, ALGORITHM = 'AEAD_AES_256_CBC_HMAC_SHA_256')"
	}
	db := w.open(t, w.thisEnclave(t))
	for _, q := range []string{
		fmt.Sprintf(`CREATE COLUMN MASTER KEY cmk_e WITH (KEY_STORE_PROVIDER_NAME = 'CONFIDE_KEY_FILE', KEY_PATH = '%s', ENCLAVE_COMPUTATIONS (SIGNATURE = 0x%x))`, w.keyPath, sig),
		fmt.Sprintf(`CREATE COLUMN ENCRYPTION KEY cek_e WITH VALUES (COLUMN_MASTER_KEY = cmk_e, ALGORITHM = 'RSA_OAEP', ENCRYPTED_VALUE = 0x%x)`, value),
		`CREATE TABLE accounts (id INT PRIMARY KEY, ` + rnd("name", "NVARCHAR(40)") + `, ` + rnd("balance", "DECIMAL(12,2)") + `, ` +
			rnd("opened", "DATE") + `, ` + rnd("score", "INT") + `)`,
		`CREATE INDEX accounts_balance ON accounts (balance)`,
		`CREATE TABLE owners (` + rnd("name", "NVARCHAR(40)") + `, city TEXT)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for i, n := range enclaveNames {
		a := account{id: i + 1, name: n, balance: fmt.Sprintf("%d.%02d", (i*7919)%2000-1000, (i*37)%100),
			opened: time.Date(2020+i%5, time.Month(1+i%12), 1+i%28, 0, 0, 0, 0, time.UTC), score: int64(i % 4)}
		if strings.HasPrefix(a.balance, "-") && a.balance[1] == '0' && a.balance[2] == '.' {
			a.balance = "0." + a.balance[3:] // no "-0.xx"
		}
		w.rows = append(w.rows, a)
		if _, err := db.Exec(`INSERT INTO accounts (id, name, balance, opened, score) VALUES ($1, $2, $3, $4, $5)`,
			a.id, a.name, a.balance, a.opened, a.score); err != nil {
			t.Fatalf("insert %v: %v", a, err)
		}
	}
	for _, o := range [][2]string{{"Bob", "Basel"}, {"😀 smile", "Lyon"}, {"nobody", "Oslo"}} {
		if _, err := db.Exec(`INSERT INTO owners (name, city) VALUES ($1, $2)`, o[0], o[1]); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

// thisEnclave is a policy naming the test process, which the simulated
// platform measured as the enclave.
func (w *enclaveWorld) thisEnclave(t *testing.T) string {
	id, err := w.p.Client.Identity(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return w.policy(t, `{"version":"1.0.0","allOf":[{"claim":"platform","equals":"sim"},{"claim":"unique_id","equals":"`+hex.EncodeToString(id.UniqueID)+`"}]}`)
}

func (w *enclaveWorld) policy(t *testing.T, text string) string {
	f, err := os.CreateTemp(w.dir, "policy*.json")
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(text)
	f.Close()
	return f.Name()
}

func (w *enclaveWorld) open(t *testing.T, policyFile string) *sql.DB {
	db := sql.OpenDB(driver.NewConnector("postgres://app@"+w.addr+"/bank?sslmode=disable&column_encryption=enabled&enclave_policy="+policyFile,
		driver.Config{Keys: &cek.Cache{Providers: []cek.Provider{cek.KeyFiles{}}, Trusted: []string{w.keyPath}}, Enclave: w.verifier}))
	t.Cleanup(func() { db.Close() })
	return db
}

func ids(t *testing.T, db *sql.DB, q string, args ...any) []int {
	t.Helper()
	rows, err := db.Query(q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	var out []int
	for rows.Next() {
		var id int
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		out = append(out, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return out
}

func utf16Less(a, b string) int {
	return slices.Compare(utf16.Encode([]rune(a)), utf16.Encode([]rune(b)))
}

// TestEnclaveOperations runs each operation on randomized enclave-enabled
// columns and checks it against the same operation on the rows in Go.
func TestEnclaveOperations(t *testing.T) {
	w := newEnclaveWorld(t)
	db := w.open(t, w.thisEnclave(t))
	where := func(keep func(account) bool) []int {
		var out []int
		for _, a := range w.rows {
			if keep(a) {
				out = append(out, a.id)
			}
		}
		return out
	}
	sorted := func(xs []int) []int { slices.Sort(xs); return xs }
	rat := func(s string) *big.Rat { r, _ := new(big.Rat).SetString(s); return r }
	like := func(p string) func(account) bool {
		ty := types.Type{Kind: types.NVarChar, Length: types.Max}
		np, _ := ty.Normalize(p)
		return func(a account) bool {
			nv, _ := ty.Normalize(a.name)
			ok, _ := ty.Like(nv, np)
			return ok
		}
	}
	day := time.Date(2022, 6, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		q    string
		args []any
		want []int
	}{
		{`SELECT id FROM accounts WHERE balance > $1`, []any{"12.50"}, where(func(a account) bool { return a.bal().Cmp(rat("12.50")) > 0 })},
		{`SELECT id FROM accounts WHERE balance BETWEEN $1 AND $2`, []any{"-300", "300"}, where(func(a account) bool {
			return a.bal().Cmp(rat("-300")) >= 0 && a.bal().Cmp(rat("300")) <= 0
		})},
		{`SELECT id FROM accounts WHERE score <= $1`, []any{1}, where(func(a account) bool { return a.score <= 1 })},
		{`SELECT id FROM accounts WHERE opened < $1`, []any{day}, where(func(a account) bool { return a.opened.Before(day) })},
		{`SELECT id FROM accounts WHERE name = $1`, []any{"alice"}, where(func(a account) bool { return a.name == "alice" })},
		{`SELECT id FROM accounts WHERE name <> $1`, []any{"alice"}, where(func(a account) bool { return a.name != "alice" })},
		{`SELECT id FROM accounts WHERE name IN ($1, $2)`, []any{"bob", "中文"}, where(func(a account) bool { return a.name == "bob" || a.name == "中文" })},
		{`SELECT id FROM accounts WHERE name LIKE $1`, []any{"a%"}, where(like("a%"))},
		{`SELECT id FROM accounts WHERE name LIKE $1`, []any{"%😀%"}, where(like("%😀%"))},
		{`SELECT id FROM accounts WHERE name LIKE $1`, []any{"a_c"}, where(like("a_c"))},
		{`SELECT id FROM accounts WHERE name NOT LIKE $1`, []any{"%b%"}, where(func(a account) bool { return !like("%b%")(a) })},
		{`SELECT a.id FROM accounts a JOIN owners o ON o.name = a.name`, nil, where(func(a account) bool { return a.name == "Bob" || a.name == "😀 smile" })},
	} {
		if got := sorted(ids(t, db, c.q, c.args...)); !slices.Equal(got, sorted(c.want)) {
			t.Errorf("%s %v:\n got %v\nwant %v", c.q, c.args, got, c.want)
		}
	}
	// ORDER BY: by decimal value, and by UTF-16 code units (BIN2).
	byBal := slices.Clone(w.rows)
	slices.SortStableFunc(byBal, func(a, b account) int { return a.bal().Cmp(b.bal()) })
	got := ids(t, db, `SELECT id FROM accounts ORDER BY balance, id LIMIT 5`)
	var want []int
	for _, a := range byBal[:5] {
		want = append(want, a.id)
	}
	if !slices.Equal(got, want) {
		t.Errorf("ORDER BY balance LIMIT 5: %v, want %v", got, want)
	}
	rows, err := db.Query(`SELECT name FROM accounts ORDER BY name DESC`)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for rows.Next() {
		var n string
		rows.Scan(&n)
		names = append(names, n)
	}
	rows.Close()
	wantNames := slices.Clone(enclaveNames)
	slices.SortFunc(wantNames, func(a, b string) int { return -utf16Less(a, b) })
	if !slices.Equal(names, wantNames) {
		t.Errorf("ORDER BY name DESC:\n got %q\nwant %q", names, wantNames)
	}
	// GROUP BY, DISTINCT, min and max.
	counts := map[int64]int{}
	for _, a := range w.rows {
		counts[a.score]++
	}
	rows, err = db.Query(`SELECT score, count(*) FROM accounts GROUP BY score`)
	if err != nil {
		t.Fatal(err)
	}
	gotCounts := map[int64]int{}
	for rows.Next() {
		var s int64
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			t.Fatal(err)
		}
		gotCounts[s] = n
	}
	rows.Close()
	if fmt.Sprint(gotCounts) != fmt.Sprint(counts) {
		t.Errorf("GROUP BY score: %v, want %v", gotCounts, counts)
	}
	var distinct int
	if err := db.QueryRow(`SELECT count(*) FROM (SELECT DISTINCT name FROM accounts) d`).Scan(&distinct); err != nil || distinct != len(enclaveNames)-1 {
		t.Errorf("DISTINCT name: %d %v, want %d", distinct, err, len(enclaveNames)-1)
	}
	var lo, hi string
	if err := db.QueryRow(`SELECT min(balance), max(name) FROM accounts`).Scan(&lo, &hi); err != nil {
		t.Fatal(err)
	}
	if rat(lo).Cmp(byBal[0].bal()) != 0 || hi != wantNames[0] {
		t.Errorf("min(balance), max(name) = %s, %q; want %s, %q", lo, hi, byBal[0].balance, wantNames[0])
	}
	if n := w.eng.CollationFailures(); n != 0 {
		t.Errorf("%d comparisons failed in the enclave", n)
	}
	// The files hold no plaintext.
	w.eng.Close()
	filepath.WalkDir(w.eng.Dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := os.ReadFile(path)
		for _, n := range []string{"éclair", "clef", "smile"} {
			if bytes.Contains(b, []byte(n)) || bytes.Contains(b, utf16le(n)) {
				t.Errorf("%s holds %q", path, n)
			}
		}
		return nil
	})
}

// TestEnclaveRefusals: the driver gives keys only to the enclave its
// policy names, never to a debug enclave under a production policy, and
// only for a CMK whose enclave signature verifies; the server refuses a
// replayed key package and statements whose keys the enclave lacks.
func TestEnclaveRefusals(t *testing.T) {
	w := newEnclaveWorld(t)
	const q = `SELECT id FROM accounts WHERE balance > $1`
	wrong := w.policy(t, `{"version":"1.0.0","allOf":[{"claim":"platform","equals":"sim"},{"claim":"unique_id","equals":"`+strings.Repeat("ab", 32)+`"}]}`)
	if _, err := w.open(t, wrong).Query(q, "1"); err == nil || !strings.Contains(err.Error(), "attestation") {
		t.Errorf("wrong identity: %v", err)
	}
	prod := w.policy(t, `{"version":"1.0.0","allOf":[{"claim":"debug","equals":false}]}`)
	if _, err := w.open(t, prod).Query(q, "1"); err == nil || !strings.Contains(err.Error(), "attestation") {
		t.Errorf("debug enclave under a production policy: %v", err)
	}
	// Without a policy the driver refuses rather than skipping the enclave.
	noPolicy := sql.OpenDB(driver.NewConnector("postgres://app@"+w.addr+"/bank?sslmode=disable&column_encryption=enabled",
		driver.Config{Keys: &cek.Cache{Providers: []cek.Provider{cek.KeyFiles{}}, Trusted: []string{w.keyPath}}, Enclave: w.verifier}))
	defer noPolicy.Close()
	if _, err := noPolicy.Query(q, "1"); err == nil || !strings.Contains(err.Error(), "enclave_policy") {
		t.Errorf("no policy: %v", err)
	}

	// A DBA (the host) cannot run the statement without the keys.
	ctx := context.Background()
	dba, err := pgx.Connect(ctx, "postgres://dba@"+w.addr+"/bank?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	defer dba.Close(ctx)
	// An enclave that lost its keys (a restart) refuses statements up
	// front; the driver attests again, resends and retries.
	db := w.open(t, w.thisEnclave(t))
	if got := ids(t, db, q, "0"); len(got) == 0 {
		t.Fatal("no rows")
	}
	w.eng.Enclave.Forget()
	if _, err := dba.Exec(ctx, `SELECT id FROM accounts ORDER BY name`); err == nil || !strings.Contains(err.Error(), "does not hold") {
		t.Errorf("statement without keys: %v", err)
	}
	if got := ids(t, db, q, "0"); len(got) == 0 {
		t.Error("no rows after the enclave restarted")
	}
	if _, err := db.Exec(`UPDATE accounts SET score = $1 WHERE name = $2`, 3, "zz"); err != nil {
		t.Errorf("update after the restart: %v", err)
	}
	// A replayed package: the session's counter has moved on.
	nonce, _ := sqlenclave.NewNonce()
	var att sqlenclave.Attestation
	if err := dba.QueryRow(ctx, `SELECT * FROM sp_enclave_attest($1)`, nonce).Scan(&att.SessionID, &att.EnclaveKey, &att.Evidence); err != nil {
		t.Fatal(err)
	}
	s, err := sqlenclave.Open(ctx, att, nonce, func(context.Context, []byte, []byte, []byte) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	pkg, _ := s.Package(q, map[string][]byte{"cek_e": bytes.Repeat([]byte{0x42}, 32)})
	var n int
	if err := dba.QueryRow(ctx, `SELECT * FROM sp_enclave_keys($1, $2)`, pkg, q).Scan(&n); err != nil || n != 1 {
		t.Fatalf("first delivery: %d %v", n, err)
	}
	if err := dba.QueryRow(ctx, `SELECT * FROM sp_enclave_keys($1, $2)`, pkg, q).Scan(&n); err == nil || !strings.Contains(err.Error(), "rejected") {
		t.Errorf("replayed package: %v", err)
	}
	if err := dba.QueryRow(ctx, `SELECT * FROM sp_enclave_keys($1, $2)`, pkg, `SELECT 1`).Scan(&n); err == nil {
		t.Errorf("package for another statement accepted")
	}

	// A CMK whose enclave signature does not verify: its keys never go to
	// the enclave.
	if _, err := dba.Exec(ctx, `UPDATE _confide_cmk SET enclave_signature = $1`, bytes.Repeat([]byte{1}, 256)); err == nil {
		t.Fatal("the DBA wrote the catalog directly")
	}
	other := w.open(t, w.thisEnclave(t))
	if _, err := other.Exec(fmt.Sprintf(`CREATE COLUMN MASTER KEY cmk_forged WITH (KEY_STORE_PROVIDER_NAME = 'CONFIDE_KEY_FILE', KEY_PATH = '%s', ENCLAVE_COMPUTATIONS (SIGNATURE = 0x%x))`, w.keyPath, bytes.Repeat([]byte{1}, 256))); err != nil {
		t.Fatal(err)
	}
	value, _ := cek.Encrypt(ctx, mustKeyFile(t, w.keyPath), w.keyPath, bytes.Repeat([]byte{0x43}, 32), nil)
	for _, q := range []string{
		fmt.Sprintf(`CREATE COLUMN ENCRYPTION KEY cek_forged WITH VALUES (COLUMN_MASTER_KEY = cmk_forged, ALGORITHM = 'RSA_OAEP', ENCRYPTED_VALUE = 0x%x)`, value),
		`CREATE TABLE forged (v INT ENCRYPTED WITH (COLUMN_ENCRYPTION_KEY = cek_forged, ENCRYPTION_TYPE = RANDOMIZED, ALGORITHM = 'AEAD_AES_256_CBC_HMAC_SHA_256'))`,
	} {
		if _, err := other.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := other.Exec(`INSERT INTO forged (v) VALUES ($1)`, 1); err == nil || !strings.Contains(err.Error(), "does not allow enclave computations") {
		t.Errorf("forged enclave signature: %v", err)
	}
}

func mustKeyFile(t *testing.T, path string) *cek.KeyFile {
	k, err := cek.LoadKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestInPlaceEncryption encrypts a plaintext column inside the enclave,
// re-encrypts it as deterministic, decrypts another, with progress
// notices; a cell that fails mid-way rolls the whole change back.
func TestInPlaceEncryption(t *testing.T) {
	w := newEnclaveWorld(t)
	var notices []string
	db := sql.OpenDB(driver.NewConnector("postgres://app@"+w.addr+"/bank?sslmode=disable&column_encryption=enabled&enclave_policy="+w.thisEnclave(t),
		driver.Config{Keys: &cek.Cache{Providers: []cek.Provider{cek.KeyFiles{}}, Trusted: []string{w.keyPath}}, Enclave: w.verifier,
			OnNotice: func(msg, detail string) { notices = append(notices, detail) }}))
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`CREATE TABLE people (id INT PRIMARY KEY, name NVARCHAR(40), balance DECIMAL(12,2))`); err != nil {
		t.Fatal(err)
	}
	const n = 23_456
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i += 500 {
		var vals []string
		for j := i; j < min(i+500, n); j++ {
			vals = append(vals, fmt.Sprintf("(%d, 'person %d', %d.%02d)", j, j%1000, j%5000-2500, j%100))
		}
		if _, err := tx.Exec(`INSERT INTO people (id, name, balance) VALUES ` + strings.Join(vals, ", ")); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	enc := func(kind string) string {
		return ` ENCRYPTED WITH (COLUMN_ENCRYPTION_KEY = cek_e, ENCRYPTION_TYPE = ` + kind + `, ALGORITHM = 'AEAD_AES_256_CBC_HMAC_SHA_256')`
	}
	if _, err := db.Exec(`ALTER TABLE people ALTER COLUMN name NVARCHAR(40)` + enc("RANDOMIZED")); err != nil {
		t.Fatal(err)
	}
	if want := []string{"10000/23456", "20000/23456", "23456/23456"}; !slices.Equal(notices, want) {
		t.Errorf("progress: %v, want %v", notices, want)
	}
	ctx := context.Background()
	dba, err := pgx.Connect(ctx, "postgres://dba@"+w.addr+"/bank?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	defer dba.Close(ctx)
	var raw []byte
	if err := dba.QueryRow(ctx, `SELECT name FROM people WHERE id = 7`).Scan(&raw); err != nil || len(raw) < 65 || raw[0] != 1 {
		t.Fatalf("the DBA reads %q %v", raw, err)
	}
	count := func(q string, args ...any) int {
		t.Helper()
		var c int
		if err := db.QueryRow(q, args...).Scan(&c); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return c
	}
	if got := count(`SELECT count(*) FROM people WHERE name LIKE $1`, "person 99%"); got != 11*n/1000+0 && got == 0 {
		t.Errorf("LIKE after encryption: %d", got)
	}
	wantLike := 0
	for j := range n {
		if strings.HasPrefix(fmt.Sprintf("person %d", j%1000), "person 99") {
			wantLike++
		}
	}
	if got := count(`SELECT count(*) FROM people WHERE name LIKE $1`, "person 99%"); got != wantLike {
		t.Errorf("LIKE after encryption: %d, want %d", got, wantLike)
	}
	// Re-encrypt as deterministic; then decrypt the balances after
	// encrypting them.
	if _, err := db.Exec(`ALTER TABLE people ALTER COLUMN name NVARCHAR(40)` + enc("DETERMINISTIC")); err != nil {
		t.Fatal(err)
	}
	if got := count(`SELECT count(*) FROM people WHERE name = $1`, "person 7"); got != (n+999-7)/1000 {
		t.Errorf("equality after re-encryption: %d", got)
	}
	for _, q := range []string{`ALTER TABLE people ALTER COLUMN balance DECIMAL(12,2)` + enc("RANDOMIZED"), `ALTER TABLE people ALTER COLUMN balance DECIMAL(12,2)`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	var bal string
	if err := dba.QueryRow(ctx, `SELECT balance FROM people WHERE id = 4321`).Scan(&bal); err != nil || bal != "1821.21" {
		t.Errorf("the decrypted balance, as the DBA reads it: %q %v", bal, err)
	}
	// Once another statement's package replaced the decrypting one, the
	// enclave decrypts nothing for the host, even with the key cached.
	if _, err := db.Exec(`ALTER TABLE people ALTER COLUMN balance DECIMAL(12,2)` + enc("RANDOMIZED")); err != nil {
		t.Fatal(err)
	}
	if _, err := w.eng.Enclave.Decrypt(sqlenclave.Envelope("cek_e", "NVARCHAR(40)", raw)); err == nil {
		t.Error("the enclave decrypted for the host")
	}
	// A tampered cell fails the re-encryption half-way: nothing changes.
	var cellBytes []byte
	if err := dba.QueryRow(ctx, `SELECT name FROM people WHERE id = 15000`).Scan(&cellBytes); err != nil {
		t.Fatal(err)
	}
	cellBytes[len(cellBytes)-1] ^= 1
	if _, err := dba.Exec(ctx, `UPDATE people SET name = $1 WHERE id = 15000`, cellBytes); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`ALTER TABLE people ALTER COLUMN name NVARCHAR(40)` + enc("RANDOMIZED")); err == nil {
		t.Fatal("re-encryption over a tampered cell succeeded")
	}
	if got := count(`SELECT count(*) FROM people WHERE name = $1`, "person 7"); got != (n+999-7)/1000 {
		t.Errorf("after the failed ALTER the column is not intact: %d", got)
	}
}

// TestEnclaveAttestationService: with enclave_attestation_url the driver
// has confide's attestation service appraise the SQL enclave and checks
// the token it signs.
func TestEnclaveAttestationService(t *testing.T) {
	w := newEnclaveWorld(t)
	st, err := kvstore.OpenBolt(filepath.Join(t.TempDir(), "as.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sealer, err := seal.New(w.p.Client, cryptorand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(nil)
	url := "http://" + ts.Listener.Addr().String()
	svc, err := attestsvc.New(context.Background(), attestsvc.Config{Verifier: w.verifier, Store: st, Sealer: sealer, Issuer: url})
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = svc.Handler(nil)
	ts.Start()
	t.Cleanup(ts.Close)
	good, _ := os.ReadFile(w.thisEnclave(t))
	if _, err := svc.PutPolicy("sql-enclave", "test", good); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.PutPolicy("other-enclave", "test", []byte(`{"version":"1.0.0","allOf":[{"claim":"platform","equals":"sim"},{"claim":"unique_id","equals":"`+strings.Repeat("cd", 32)+`"}]}`)); err != nil {
		t.Fatal(err)
	}
	open := func(policy string) *sql.DB {
		db := sql.OpenDB(driver.NewConnector("postgres://app@"+w.addr+"/bank?sslmode=disable&column_encryption=enabled&enclave_attestation_url="+url+"&enclave_attestation_policy="+policy,
			driver.Config{Keys: &cek.Cache{Providers: []cek.Provider{cek.KeyFiles{}}, Trusted: []string{w.keyPath}}}))
		t.Cleanup(func() { db.Close() })
		return db
	}
	w.eng.Enclave.Forget() // no keys from the setup's own session
	if got := ids(t, open("sql-enclave"), `SELECT id FROM accounts WHERE score >= $1`, 3); len(got) == 0 {
		t.Error("no rows through the attestation service")
	}
	w.eng.Enclave.Forget()
	if _, err := open("other-enclave").Query(`SELECT id FROM accounts WHERE score >= $1`, 3); err == nil || !strings.Contains(err.Error(), "attestation") {
		t.Errorf("a policy naming another enclave: %v", err)
	}
}

// TestEnclaveAnalytics computes SUM, AVG, arithmetic and ROUND on
// randomized columns in the enclave, grouped and ordered, and checks each
// value against package decimal on the plaintext rows (the exact engine
// that TestAgainstPostgreSQL checks against PostgreSQL's NUMERIC).
func TestEnclaveAnalytics(t *testing.T) {
	w := newEnclaveWorld(t)
	db := w.open(t, w.thisEnclave(t))
	rnd := func(col, typ string) string {
		return col + " " + typ + " ENCRYPTED WITH (COLUMN_ENCRYPTION_KEY = cek_e, ENCRYPTION_TYPE = RANDOMIZED, ALGORITHM = 'AEAD_AES_256_CBC_HMAC_SHA_256')"
	}
	if _, err := db.Exec(`CREATE TABLE positions (id INT PRIMARY KEY, client TEXT, ` + rnd("qty", "INT") + `, ` + rnd("price", "DECIMAL(12,4)") + `)`); err != nil {
		t.Fatal(err)
	}
	type pos struct {
		client string
		qty    int64
		price  string
	}
	var rows []pos
	clients := []string{"ana", "ben", "cho"}
	for i := range 60 {
		p := pos{clients[i%3], int64((i*37)%200 - 50), fmt.Sprintf("%d.%04d", (i*7919)%900+1, (i*131)%10000)}
		rows = append(rows, p)
		if _, err := db.Exec(`INSERT INTO positions (id, client, qty, price) VALUES ($1, $2, $3, $4)`, i, p.client, p.qty, p.price); err != nil {
			t.Fatal(err)
		}
	}
	intT := types.Type{Kind: types.Int}
	priceT, _ := types.Parse("DECIMAL(12,4)")
	dec := func(s string) (decimal.Dec, decimal.Type) {
		d, lt, err := decimal.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		pt, _ := decimal.Of(priceT)
		d, err = decimal.Cast(d, lt, pt)
		if err != nil {
			t.Fatal(err)
		}
		return d, pt
	}
	qtyDec := func(q int64) (decimal.Dec, decimal.Type) {
		d, lt, _ := decimal.Parse(fmt.Sprint(q))
		it, _ := decimal.Of(intT)
		d, _ = decimal.Cast(d, lt, it)
		return d, it
	}
	// The expected value per client, computed as SQL Server would.
	valueT, _ := decimal.ResultType('*', intT, priceT)
	vt, _ := decimal.Of(valueT)
	sums := map[string][]decimal.Dec{}
	for _, p := range rows {
		q, qt := qtyDec(p.qty)
		pr, prt := dec(p.price)
		v, _, err := decimal.Mul(q, qt, pr, prt)
		if err != nil {
			t.Fatal(err)
		}
		sums[p.client] = append(sums[p.client], v)
	}
	want := map[string][3]string{}
	for c, vs := range sums {
		s, st, _ := decimal.Sum(vs, vt)
		a, at, _ := decimal.Avg(vs, vt)
		r, _ := decimal.Round(s, st, 2, false)
		want[c] = [3]string{s.String(st), a.String(at), r.String(st)}
	}
	q := `SELECT client, SUM(qty * price), AVG(qty * price), ROUND(SUM(qty * price), 2) FROM positions GROUP BY client ORDER BY SUM(qty * price) DESC`
	rs, err := db.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	var last *big.Rat
	for rs.Next() {
		var c, s, a, r string
		if err := rs.Scan(&c, &s, &a, &r); err != nil {
			t.Fatal(err)
		}
		if got := [3]string{s, a, r}; got != want[c] {
			t.Errorf("%s: SUM, AVG, ROUND = %v, want %v", c, got, want[c])
		}
		v, _ := new(big.Rat).SetString(s)
		if last != nil && v.Cmp(last) > 0 {
			t.Errorf("ORDER BY SUM DESC: %s after %s", s, last.RatString())
		}
		last = v
		order = append(order, c)
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	if len(order) != 3 {
		t.Errorf("groups: %v", order)
	}
	// A filter on a computed value with an encrypted parameter, and
	// integer arithmetic.
	threshold := "10000.00000000"
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM positions WHERE qty * price > $1`, threshold).Scan(&n); err != nil {
		t.Fatal(err)
	}
	wantN := 0
	th, tt, _ := decimal.Parse(threshold)
	for _, p := range rows {
		q, qt := qtyDec(p.qty)
		pr, prt := dec(p.price)
		v, vt, _ := decimal.Mul(q, qt, pr, prt)
		if decimal.Compare(v, vt, th, tt) > 0 {
			wantN++
		}
	}
	if n != wantN {
		t.Errorf("WHERE qty * price > %s: %d rows, want %d", threshold, n, wantN)
	}
	var total int64
	if err := db.QueryRow(`SELECT SUM(qty + qty) FROM positions`).Scan(&total); err != nil {
		t.Fatal(err)
	}
	var wantTotal int64
	for _, p := range rows {
		wantTotal += 2 * p.qty
	}
	if total != wantTotal {
		t.Errorf("SUM(qty + qty) = %d, want %d", total, wantTotal)
	}
	// A literal in arithmetic, parameterized as the shell does: the driver
	// encrypts it as the other operand's type.
	pq, args, err := driver.Parameterize(`SELECT SUM(qty * 3) FROM positions WHERE id < 60`)
	if err != nil || len(args) != 2 {
		t.Fatalf("parameterize: %s %v %v", pq, args, err)
	}
	if err := db.QueryRow(pq, args...).Scan(&total); err != nil || total != wantTotal/2*3 {
		t.Errorf("%s %v = %d %v, want %d", pq, args, total, err, wantTotal/2*3)
	}
	// What the enclave refuses: a literal in arithmetic (the driver must
	// encrypt it), and a plaintext column in it.
	for _, q := range []string{`SELECT SUM(qty * 2) FROM positions`, `SELECT SUM(qty * id) FROM positions`} {
		if _, err := db.Query(q); err == nil {
			t.Errorf("%s: no error", q)
		}
	}
	// ROLLUP: a subtotal row per client, then the grand total (client
	// NULL).
	rs, err = db.Query(`SELECT client, SUM(qty * price) FROM positions WHERE id < 60 GROUP BY ROLLUP(client)`)
	if err != nil {
		t.Fatal(err)
	}
	var subtotals []decimal.Dec
	var grand string
	for rs.Next() {
		var c sql.NullString
		var s string
		if err := rs.Scan(&c, &s); err != nil {
			t.Fatal(err)
		}
		if !c.Valid {
			grand = s
			continue
		}
		if s != want[c.String][0] {
			t.Errorf("ROLLUP %s: %s, want %s", c.String, s, want[c.String][0])
		}
		d, lt, _ := decimal.Parse(s)
		d, _ = decimal.Cast(d, lt, decimal.Type{Precision: 38, Scale: vt.Scale})
		subtotals = append(subtotals, d)
	}
	if err := rs.Err(); err != nil {
		t.Fatalf("ROLLUP: %v", err)
	}
	rs.Close()
	gt, gtt, _ := decimal.Sum(subtotals, decimal.Type{Precision: 38, Scale: vt.Scale})
	if len(subtotals) != 3 || grand != gt.String(gtt) {
		t.Errorf("ROLLUP: %d subtotals, grand total %s, want %s", len(subtotals), grand, gt.String(gtt))
	}
	// CAST in the enclave: rounding half away from zero, overflow an error.
	var c1 string
	if err := db.QueryRow(`SELECT CAST(price AS DECIMAL(10,1)) FROM positions WHERE id = $1`, 1).Scan(&c1); err != nil {
		t.Fatal(err)
	}
	pr, prt := dec(rows[1].price)
	wantCast, err := decimal.Cast(pr, prt, decimal.Type{Precision: 10, Scale: 1})
	if err != nil || c1 != wantCast.String(decimal.Type{Precision: 10, Scale: 1}) {
		t.Errorf("CAST(price AS DECIMAL(10,1)) = %s, want %s", c1, wantCast.String(decimal.Type{Precision: 10, Scale: 1}))
	}
	if err := db.QueryRow(`SELECT CAST(price AS DECIMAL(2,0)) FROM positions WHERE id = $1`, 1).Scan(&c1); err == nil || !strings.Contains(err.Error(), "overflow") {
		t.Errorf("CAST overflow: %q %v", c1, err)
	}
	if _, err := db.Query(`SELECT CAST(price AS NVARCHAR(20)) FROM positions`); err == nil {
		t.Error("CAST of an encrypted number to a string accepted")
	}
	// Window functions: a running quantity per client, and the median
	// price per client (PERCENTILE_DISC returns one of the prices).
	rs, err = db.Query(`SELECT id, client, SUM(qty) OVER (PARTITION BY client ORDER BY id), PERCENTILE_DISC(0.5) WITHIN GROUP (ORDER BY price) OVER (PARTITION BY client), ROW_NUMBER() OVER (PARTITION BY client ORDER BY price) FROM positions`)
	if err != nil {
		t.Fatal(err)
	}
	prices := map[string][]string{}
	for _, p := range rows {
		prices[p.client] = append(prices[p.client], p.price)
	}
	median := map[string]string{}
	rank := map[string]map[string]int{}
	for c, ps := range prices {
		slices.SortFunc(ps, func(a, b string) int {
			da, ta := dec(a)
			db, tb := dec(b)
			return decimal.Compare(da, ta, db, tb)
		})
		median[c] = ps[(len(ps)+1)/2-1]
		rank[c] = map[string]int{}
		for i, p := range ps {
			rank[c][p] = i + 1
		}
	}
	seen := 0
	for rs.Next() {
		var id int
		var c, med string
		var run, rn int64
		if err := rs.Scan(&id, &c, &run, &med, &rn); err != nil {
			t.Fatal(err)
		}
		var wantRun int64
		for j := 0; j <= id; j++ {
			if rows[j].client == c {
				wantRun += rows[j].qty
			}
		}
		if run != wantRun {
			t.Errorf("id %d: running qty %d, want %d", id, run, wantRun)
		}
		if med != median[c] {
			t.Errorf("id %d: median price of %s %s, want %s", id, c, med, median[c])
		}
		if int(rn) != rank[c][rows[id].price] {
			t.Errorf("id %d: row number %d, want %d", id, rn, rank[c][rows[id].price])
		}
		seen++
	}
	if err := rs.Err(); err != nil || seen != len(rows) {
		t.Fatalf("window rows: %d %v", seen, err)
	}
	rs.Close()
	// Beside a WHERE clause (on plaintext and encrypted columns), the
	// windows see the rows it selects.
	rs, err = db.Query(`SELECT id, client, SUM(qty) OVER (PARTITION BY client ORDER BY id), PERCENTILE_DISC(0.5) WITHIN GROUP (ORDER BY price) OVER (PARTITION BY client)
		FROM positions WHERE id >= $1 AND qty > $2`, 10, int64(0))
	if err != nil {
		t.Fatal(err)
	}
	selected := func(j int) bool { return j >= 10 && rows[j].qty > 0 }
	seen = 0
	for rs.Next() {
		var id int
		var c, med string
		var run int64
		if err := rs.Scan(&id, &c, &run, &med); err != nil {
			t.Fatal(err)
		}
		if !selected(id) {
			t.Errorf("id %d does not pass the WHERE clause", id)
		}
		var wantRun int64
		var ps []string
		for j := range rows {
			if selected(j) && rows[j].client == c {
				if j <= id {
					wantRun += rows[j].qty
				}
				ps = append(ps, rows[j].price)
			}
		}
		slices.SortFunc(ps, func(a, b string) int {
			da, ta := dec(a)
			db, tb := dec(b)
			return decimal.Compare(da, ta, db, tb)
		})
		if run != wantRun || med != ps[(len(ps)+1)/2-1] {
			t.Errorf("id %d with WHERE: running qty %d, median %s; want %d, %s", id, run, med, wantRun, ps[(len(ps)+1)/2-1])
		}
		seen++
	}
	rs.Close()
	wantRows := 0
	for j := range rows {
		if selected(j) {
			wantRows++
		}
	}
	if seen != wantRows || wantRows == 0 {
		t.Errorf("window rows with WHERE: %d, want %d", seen, wantRows)
	}
	if _, err := db.Query(`SELECT client, SUM(qty) OVER (PARTITION BY client) FROM positions GROUP BY client, qty`); err == nil {
		t.Error("a window function beside GROUP BY accepted")
	}
	// Operands under two keys: refused before anything runs.
	v2, err := cek.Encrypt(context.Background(), mustKeyFile(t, w.keyPath), w.keyPath, bytes.Repeat([]byte{0x44}, 32), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		fmt.Sprintf(`CREATE COLUMN ENCRYPTION KEY cek_other WITH VALUES (COLUMN_MASTER_KEY = cmk_e, ALGORITHM = 'RSA_OAEP', ENCRYPTED_VALUE = 0x%x)`, v2),
		`CREATE TABLE fx (id INT PRIMARY KEY, rate DECIMAL(9,6) ENCRYPTED WITH (COLUMN_ENCRYPTION_KEY = cek_other, ENCRYPTION_TYPE = RANDOMIZED, ALGORITHM = 'AEAD_AES_256_CBC_HMAC_SHA_256'))`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Query(`SELECT p.price * f.rate FROM positions p JOIN fx f ON f.id = p.id`); err == nil || !strings.Contains(err.Error(), "share an enclave-enabled key") {
		t.Errorf("mixed keys: %v", err)
	}
	// CASE choosing between encrypted values: the client gets cells.
	var capped string
	if err := db.QueryRow(`SELECT CASE WHEN price > $1 THEN $1 ELSE price END FROM positions WHERE id = $2`, "100.0000", 1).Scan(&capped); err != nil || capped != "100.0000" {
		t.Errorf("CASE: %q %v", capped, err)
	}
	if _, err := db.Query(`SELECT CASE WHEN qty > $1 THEN qty ELSE price END FROM positions`, 1); err == nil {
		t.Error("CASE over differently typed encrypted results accepted")
	}
	// Division by zero is an error, not a value.
	if _, err := db.Exec(`INSERT INTO positions (id, client, qty, price) VALUES ($1, $2, $3, $4)`, 100, "zed", 0, "1.0000"); err != nil {
		t.Fatal(err)
	}
	var x string
	if err := db.QueryRow(`SELECT price / qty FROM positions WHERE id = $1`, 100).Scan(&x); err == nil || !strings.Contains(err.Error(), "divide by zero") {
		t.Errorf("division by zero: %q %v", x, err)
	}
}

// TestObliviousMode runs aggregate queries with SET confide.oblivious =
// on and requires the same results as the normal mode; queries of other
// shapes are refused in that mode.
func TestObliviousMode(t *testing.T) {
	w := newEnclaveWorld(t)
	db := w.open(t, w.thisEnclave(t))
	db.SetMaxOpenConns(1) // one session: the setting is per session
	rnd := func(col, typ string) string {
		return col + " " + typ + " ENCRYPTED WITH (COLUMN_ENCRYPTION_KEY = cek_e, ENCRYPTION_TYPE = RANDOMIZED, ALGORITHM = 'AEAD_AES_256_CBC_HMAC_SHA_256')"
	}
	if _, err := db.Exec(`CREATE TABLE trades (id INT PRIMARY KEY, desk INT, ` + rnd("book", "SMALLINT") + `, ` + rnd("amount", "DECIMAL(14,2)") + `)`); err != nil {
		t.Fatal(err)
	}
	for i := range 120 {
		var amount any = fmt.Sprintf("%d.%02d", (i*7907)%20000-10000, i%100)
		if i%17 == 0 {
			amount = nil
		}
		if _, err := db.Exec(`INSERT INTO trades (id, desk, book, amount) VALUES ($1, $2, $3, $4)`, i, i%4, int64(i%5-2), amount); err != nil {
			t.Fatal(err)
		}
	}
	type q struct {
		sql  string
		args []any
	}
	queries := []q{
		{`SELECT book, SUM(amount), COUNT(*), COUNT(amount), MIN(amount), MAX(amount), AVG(amount) FROM trades GROUP BY book`, nil},
		{`SELECT desk, SUM(amount) FROM trades WHERE amount > $1 GROUP BY desk`, []any{"0"}},
		{`SELECT SUM(amount), COUNT(*) FROM trades WHERE amount >= $1 AND amount < $2`, []any{"-5000", "5000.50"}},
		{`SELECT book, MAX(amount) FROM trades WHERE amount <> $1 GROUP BY book`, []any{"1.00"}},
		{`SELECT book, SUM(amount) FROM trades WHERE book >= $1 AND amount < $2 GROUP BY book`, []any{int64(0), "3000"}},
		{`SELECT desk, COUNT(amount) FROM trades WHERE desk <> $1 GROUP BY desk`, []any{int64(2)}},
	}
	run := func(query q) []string {
		t.Helper()
		rows, err := db.Query(query.sql, query.args...)
		if err != nil {
			t.Fatalf("%s: %v", query.sql, err)
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		var out []string
		for rows.Next() {
			vals := make([]sql.NullString, len(cols))
			ptrs := make([]any, len(vals))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprint(vals))
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		slices.Sort(out) // the normal mode's group order is SQLite's
		return out
	}
	var normal [][]string
	for _, query := range queries {
		normal = append(normal, run(query))
	}
	if _, err := db.Exec(`SET confide.oblivious = on`); err != nil {
		t.Fatal(err)
	}
	for i, query := range queries {
		if got := run(query); !slices.Equal(got, normal[i]) {
			t.Errorf("%s:\n oblivious %v\n normal    %v", query.sql, got, normal[i])
		}
	}
	for _, bad := range []q{
		{`SELECT id FROM trades WHERE amount > $1`, []any{"1"}},
		{`SELECT SUM(t.amount) FROM trades t JOIN trades u ON u.id = t.id`, nil},
		{`SELECT SUM(amount) FROM trades ORDER BY 1`, nil},
	} {
		if _, err := db.Query(bad.sql, bad.args...); err == nil || !strings.Contains(err.Error(), "oblivious mode") {
			t.Errorf("%s: %v", bad.sql, err)
		}
	}
	// Padding to a public bound: the application sees the same rows, the
	// host exactly the bound, each value a fresh ciphertext.
	padded := q{`SELECT book, SUM(amount), MAX(amount), AVG(amount) FROM trades WHERE amount > $1 GROUP BY book`, []any{"-9000"}}
	unpadded := run(padded)
	if len(unpadded) != 5 {
		t.Fatalf("%d groups, want 5", len(unpadded))
	}
	if _, err := db.Exec(`SET confide.oblivious_pad = 8`); err != nil {
		t.Fatal(err)
	}
	if got := run(padded); !slices.Equal(got, unpadded) {
		t.Errorf("padded:\n got %v\nwant %v", got, unpadded)
	}
	ctx := context.Background()
	dba, err := pgx.Connect(ctx, "postgres://dba@"+w.addr+"/bank?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	defer dba.Close(ctx)
	var param []byte // a cell of the table serves as the parameter
	if err := dba.QueryRow(ctx, `SELECT amount FROM trades WHERE id = 1`).Scan(&param); err != nil {
		t.Fatal(err)
	}
	for _, set := range []string{`SET confide.oblivious = on`, `SET confide.oblivious_pad = 8`} {
		if _, err := dba.Exec(ctx, set); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := dba.Query(ctx, `SELECT book, SUM(amount), MAX(amount) FROM trades WHERE amount > $1 GROUP BY book`, param)
	if err != nil {
		t.Fatal(err)
	}
	seen, n := map[string]bool{}, 0
	for rows.Next() {
		var book, sum, mx []byte
		if err := rows.Scan(&book, &sum, &mx); err != nil {
			t.Fatal(err)
		}
		for _, c := range [][]byte{book, sum, mx} {
			if seen[string(c)] {
				t.Error("a padded result repeats a ciphertext")
			}
			seen[string(c)] = true
		}
		n++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n != 8 {
		t.Errorf("the host saw %d rows, want the bound, 8", n)
	}
	for bound, want := range map[string]string{"3": "more groups", "8": "COUNT is plaintext"} {
		if _, err := db.Exec(`SET confide.oblivious_pad = ` + bound); err != nil {
			t.Fatal(err)
		}
		query := padded.sql
		if bound == "8" {
			query = `SELECT book, COUNT(*) FROM trades WHERE amount > $1 GROUP BY book`
		}
		if _, err := db.Query(query, padded.args...); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("pad %s, %s: %v", bound, query, err)
		}
	}
	if _, err := db.Exec(`SET confide.oblivious_pad = -1`); err == nil {
		t.Error("a negative pad bound was accepted")
	}
	if _, err := db.Exec(`RESET confide.oblivious_pad`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`SET confide.oblivious = off`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Query(`SELECT id FROM trades WHERE amount > $1`, "1"); err != nil {
		t.Errorf("after SET off: %v", err)
	}
}

// TestObliviousHostView: what the host observes of an aggregate query —
// the calls into the enclave and which stored rows' cells they carry —
// is the same for two tables of one size with different values in the
// oblivious mode, and differs in the normal mode.
func TestObliviousHostView(t *testing.T) {
	w := newEnclaveWorld(t)
	db := w.open(t, w.thisEnclave(t))
	db.SetMaxOpenConns(1)
	ctx := context.Background()
	dba, err := pgx.Connect(ctx, "postgres://dba@"+w.addr+"/bank?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	defer dba.Close(ctx)
	const n = 40
	tables := map[string]func(i int) string{
		"low":  func(i int) string { return fmt.Sprintf("%d.00", i%7) },          // all below the threshold but a few
		"high": func(i int) string { return fmt.Sprintf("%d.00", 1000+i*31%97) }, // all above
	}
	// row index of each stored cell, per table
	rowOf := map[string]int{}
	for name, amount := range tables {
		if _, err := db.Exec(`CREATE TABLE ` + name + ` (id INT PRIMARY KEY, book SMALLINT ENCRYPTED WITH (COLUMN_ENCRYPTION_KEY = cek_e, ENCRYPTION_TYPE = RANDOMIZED, ALGORITHM = 'AEAD_AES_256_CBC_HMAC_SHA_256'), amount DECIMAL(10,2) ENCRYPTED WITH (COLUMN_ENCRYPTION_KEY = cek_e, ENCRYPTION_TYPE = RANDOMIZED, ALGORITHM = 'AEAD_AES_256_CBC_HMAC_SHA_256'))`); err != nil {
			t.Fatal(err)
		}
		for i := range n {
			if _, err := db.Exec(`INSERT INTO `+name+` (id, book, amount) VALUES ($1, $2, $3)`, i, int64(i%3), amount(i)); err != nil {
				t.Fatal(err)
			}
			var book, am []byte
			if err := dba.QueryRow(ctx, `SELECT book, amount FROM `+name+` WHERE id = $1`, i).Scan(&book, &am); err != nil {
				t.Fatal(err)
			}
			rowOf[string(book)], rowOf[string(am)] = i, i
		}
	}
	query := `SELECT book, SUM(amount) FROM %s WHERE amount > $1 GROUP BY book`
	observe := func(table string) []string {
		var mu sync.Mutex
		var seen []string
		w.eng.Enclave.Observe(func(op string, envs ...string) {
			mu.Lock()
			defer mu.Unlock()
			var rows []string
			for _, e := range envs {
				_, _, c, err := sqlenclave.ParseEnvelope(e)
				if r, ok := rowOf[string(c)]; ok && err == nil {
					rows = append(rows, fmt.Sprint(r))
				} else {
					rows = append(rows, "param")
				}
			}
			seen = append(seen, op+"("+strings.Join(rows, ",")+")")
		})
		defer w.eng.Enclave.Observe(nil)
		rs, err := db.Query(fmt.Sprintf(query, table), "10.00")
		if err != nil {
			t.Fatal(err)
		}
		for rs.Next() {
		}
		if err := rs.Err(); err != nil {
			t.Fatal(err)
		}
		rs.Close()
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(seen)
	}
	// The per-row plan of the normal mode hands the enclave the cells of
	// the rows SQLite's WHERE selected.
	if _, err := db.Exec(`SET confide.enclave_scan = off`); err != nil {
		t.Fatal(err)
	}
	normalLow, normalHigh := observe("low"), observe("high")
	if slices.Equal(normalLow, normalHigh) {
		t.Error("the normal mode's host view does not depend on the values: the test cannot tell")
	}
	// The enclave scan loads every row into the table's image, and
	// filters inside.
	if _, err := db.Exec(`SET confide.enclave_scan = on`); err != nil {
		t.Fatal(err)
	}
	scanLow, scanHigh := observe("low"), observe("high")
	if !slices.Equal(scanLow, scanHigh) || len(scanLow) == 0 {
		t.Errorf("enclave scan: the host saw\n %v\nand\n %v", scanLow, scanHigh)
	}
	if _, err := db.Exec(`SET confide.oblivious = on`); err != nil {
		t.Fatal(err)
	}
	oblLow, oblHigh := observe("low"), observe("high")
	if !slices.Equal(oblLow, oblHigh) || len(oblLow) != 1 {
		t.Errorf("oblivious mode: the host saw\n %v\nand\n %v", oblLow, oblHigh)
	}
	// The oblivious scan: expressions over several columns.
	query = `SELECT SUM(amount * amount), MAX(book * amount), COUNT(*) FROM %s WHERE amount > $1 AND id >= 0`
	oblLow, oblHigh = observe("low"), observe("high")
	if !slices.Equal(oblLow, oblHigh) || len(oblLow) != 1 {
		t.Errorf("oblivious scan: the host saw\n %v\nand\n %v", oblLow, oblHigh)
	}
}
