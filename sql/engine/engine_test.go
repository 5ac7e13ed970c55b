package engine_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/confide/confide/sql/cek"
	"github.com/confide/confide/sql/cell"
	"github.com/confide/confide/sql/engine"
	"github.com/confide/confide/sql/types"
	"github.com/confide/confide/sql/wire"
)

type fixture struct {
	dir  string
	conn *pgx.Conn
	key  *cell.Key
	enc  func(t types.Type, v any, det bool) []byte
}

func start(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	eng := &engine.Engine{Dir: dir}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { (&wire.Server{Engine: eng}).Serve(ctx, l); close(done) }()
	t.Cleanup(func() { cancel(); <-done; eng.Close() })
	conn, err := pgx.Connect(context.Background(), fmt.Sprintf("postgres://tester@%s/clinic?sslmode=disable", l.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })

	// Keys, as a client would make and register them.
	cmk, pemBytes, err := cek.NewKeyFile(2048)
	if err != nil {
		t.Fatal(err)
	}
	keyPath := filepath.Join(dir, "cmk.pem")
	os.WriteFile(keyPath, pemBytes, 0o600)
	root := bytes.Repeat([]byte{9}, 32)
	value, err := cek.Encrypt(context.Background(), cmk, keyPath, root, nil)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := cell.NewKey(root)
	f := &fixture{dir: dir, conn: conn, key: k}
	f.enc = func(ty types.Type, v any, det bool) []byte {
		b, err := ty.Normalize(v)
		if err != nil {
			t.Fatal(err)
		}
		c, err := k.Encrypt(b, det, nil)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	f.exec(t, fmt.Sprintf(`CREATE COLUMN MASTER KEY cmk1 WITH (KEY_STORE_PROVIDER_NAME = 'CONFIDE_KEY_FILE', KEY_PATH = '%s')`, keyPath))
	f.exec(t, fmt.Sprintf(`CREATE COLUMN ENCRYPTION KEY cek1 WITH VALUES (COLUMN_MASTER_KEY = cmk1, ALGORITHM = 'RSA_OAEP', ENCRYPTED_VALUE = 0x%x)`, value))
	f.exec(t, `CREATE TABLE patients (
		id INT PRIMARY KEY,
		ssn VARCHAR(11) COLLATE Latin1_General_BIN2 ENCRYPTED WITH (COLUMN_ENCRYPTION_KEY = cek1, ENCRYPTION_TYPE = DETERMINISTIC, ALGORITHM = 'AEAD_AES_256_CBC_HMAC_SHA_256') NOT NULL,
		diagnosis NVARCHAR(100) ENCRYPTED WITH (COLUMN_ENCRYPTION_KEY = cek1, ENCRYPTION_TYPE = RANDOMIZED, ALGORITHM = 'AEAD_AES_256_CBC_HMAC_SHA_256'),
		ward TEXT)`)
	f.exec(t, `CREATE TABLE visits (ssn VARCHAR(11) ENCRYPTED WITH (COLUMN_ENCRYPTION_KEY = cek1, ENCRYPTION_TYPE = DETERMINISTIC, ALGORITHM = 'AEAD_AES_256_CBC_HMAC_SHA_256'), day DATE)`)
	return f
}

func (f *fixture) exec(t *testing.T, sql string, args ...any) pgconn.CommandTag {
	t.Helper()
	tag, err := f.conn.Exec(context.Background(), sql, args...)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return tag
}

func sqlstate(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

var (
	ssnType  = types.Type{Kind: types.VarChar, Length: 11}
	diagType = types.Type{Kind: types.NVarChar, Length: 100}
)

func TestEncryptedColumns(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	patients := []struct {
		id         int
		ssn, diag  string
		ward       string
		visitCount int
	}{
		{1, "123-45-6789", "diagnosis withheld", "east", 2},
		{2, "987-65-4321", "influenza", "west", 1},
		{3, "555-55-5555", "fracture", "east", 0},
	}
	for _, p := range patients {
		f.exec(t, `INSERT INTO patients (id, ssn, diagnosis, ward) VALUES ($1, $2, $3, $4)`,
			p.id, f.enc(ssnType, p.ssn, true), f.enc(diagType, p.diag, false), p.ward)
		for i := 0; i < p.visitCount; i++ {
			f.exec(t, `INSERT INTO visits (ssn, day) VALUES ($1, $2)`, f.enc(ssnType, p.ssn, true), fmt.Sprintf("2026-11-%02d", 20+i))
		}
	}
	// Point lookup by a deterministic column.
	var id int
	var diag []byte
	if err := f.conn.QueryRow(ctx, `SELECT id, diagnosis FROM patients WHERE ssn = $1`, f.enc(ssnType, "987-65-4321", true)).Scan(&id, &diag); err != nil {
		t.Fatal(err)
	}
	pt, err := f.key.Decrypt(diag)
	if err != nil || id != 2 {
		t.Fatalf("lookup: id %d, %v", id, err)
	}
	if v, _ := diagType.Denormalize(pt); v != "influenza" {
		t.Errorf("diagnosis %v", v)
	}
	// IN, a join and GROUP BY on encrypted columns.
	var n int
	f.conn.QueryRow(ctx, `SELECT count(*) FROM patients WHERE ssn IN ($1, $2)`, f.enc(ssnType, "123-45-6789", true), f.enc(ssnType, "nobody", true)).Scan(&n)
	if n != 1 {
		t.Errorf("IN: %d", n)
	}
	rows, err := f.conn.Query(ctx, `SELECT p.id, count(*) FROM patients p JOIN visits v ON v.ssn = p.ssn GROUP BY p.id ORDER BY p.id`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var pid, c int
		rows.Scan(&pid, &c)
		got = append(got, fmt.Sprint(pid, ":", c))
	}
	if rows.Err() != nil || strings.Join(got, " ") != "1:2 2:1" {
		t.Errorf("join: %v %v", got, rows.Err())
	}
	if err := f.conn.QueryRow(ctx, `SELECT count(DISTINCT ssn) FROM visits`).Scan(&n); err != nil || n != 2 {
		t.Errorf("distinct: %d %v", n, err)
	}
	// Update and delete by the encrypted column.
	if tag := f.exec(t, `UPDATE patients SET diagnosis = $1 WHERE ssn = $2`, f.enc(diagType, "recovered", false), f.enc(ssnType, "555-55-5555", true)); tag.RowsAffected() != 1 {
		t.Errorf("update: %s", tag)
	}
	if tag := f.exec(t, `DELETE FROM visits WHERE ssn = $1`, f.enc(ssnType, "987-65-4321", true)); tag.RowsAffected() != 1 {
		t.Errorf("delete: %s", tag)
	}
}

func TestRefusals(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	cellv := f.enc(ssnType, "123-45-6789", true)
	for _, c := range []struct {
		sql  string
		args []any
		code string
	}{
		{`SELECT id FROM patients WHERE ssn = '123-45-6789'`, nil, "42804"},
		{`INSERT INTO patients (id, ssn) VALUES (9, '123-45-6789')`, nil, "42804"},
		{`SELECT id FROM patients WHERE diagnosis = $1`, []any{f.enc(diagType, "x", false)}, "42804"},
		{`SELECT id FROM patients WHERE ssn > $1`, []any{cellv}, "0A000"},
		{`SELECT id FROM patients ORDER BY ssn`, nil, "0A000"},
		{`SELECT upper(ssn) FROM patients`, nil, "0A000"},
		{`SELECT id FROM patients p JOIN visits v ON v.ssn = p.diagnosis`, nil, "42804"},
		{`INSERT INTO patients (id, ssn) VALUES ($1, $2)`, []any{7, []byte("123-45-6789")}, "22000"},
		{`SELECT * FROM _confide_cek`, nil, "42501"},
		{`SELECT * FROM nowhere`, nil, "42P01"},
		{`CREATE TABLE t (a INT ENCRYPTED WITH (COLUMN_ENCRYPTION_KEY = nokey, ENCRYPTION_TYPE = DETERMINISTIC, ALGORITHM = 'AEAD_AES_256_CBC_HMAC_SHA_256'))`, nil, "42704"},
		{`CREATE TABLE t2 (a FLOAT)`, nil, "42704"},
		{`CREATE COLUMN ENCRYPTION KEY bad WITH VALUES (COLUMN_MASTER_KEY = cmk1, ALGORITHM = 'RSA_OAEP', ENCRYPTED_VALUE = 0x0102)`, nil, "22023"},
		{`DROP COLUMN ENCRYPTION KEY cek1`, nil, "2BP01"},
	} {
		_, err := f.conn.Exec(ctx, c.sql, c.args...)
		if got := sqlstate(err); got != c.code {
			t.Errorf("%s: %v (SQLSTATE %q), want %s", c.sql, err, got, c.code)
		}
	}
}

func TestDescribe(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	rows, err := f.conn.Query(ctx, `SELECT * FROM sp_describe_parameter_encryption($1)`, `SELECT id, diagnosis, ward FROM patients WHERE ssn = $1 AND ward = $2`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var kind string
		var ord int
		var tbl, col, typ, et, alg, cekName, cmkName, provider, path, kalg *string
		var value, sig []byte
		if err := rows.Scan(&kind, &ord, &tbl, &col, &typ, &et, &alg, &cekName, &cmkName, &provider, &path, &kalg, &value, &sig); err != nil {
			t.Fatal(err)
		}
		s := fmt.Sprintf("%s%d:%s", kind, ord, deref(col))
		if et != nil {
			s += fmt.Sprintf("/%s/%s/%s/%v", *et, *cekName, *provider, len(value) > 0)
		}
		got = append(got, s)
	}
	want := "parameter1:ssn/DETERMINISTIC/cek1/CONFIDE_KEY_FILE/true parameter2:ward column1:id column2:diagnosis/RANDOMIZED/cek1/CONFIDE_KEY_FILE/true column3:ward"
	if rows.Err() != nil || strings.Join(got, " ") != want {
		t.Errorf("describe:\n got %s\nwant %s (%v)", strings.Join(got, " "), want, rows.Err())
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// TestNoPlaintextOnDisk scans every file the server wrote after a
// workload for the plaintexts of encrypted columns, in every encoding a
// column's normalization could leave.
func TestNoPlaintextOnDisk(t *testing.T) {
	f := start(t)
	secrets := []string{"123-45-6789", "secret diagnosis alpha"}
	for i := 0; i < 50; i++ {
		f.exec(t, `INSERT INTO patients (id, ssn, diagnosis, ward) VALUES ($1, $2, $3, 'east')`, i,
			f.enc(ssnType, fmt.Sprintf("%s%d", secrets[0][:9], i%10), true), f.enc(diagType, secrets[1], false))
	}
	f.exec(t, `UPDATE patients SET diagnosis = $1 WHERE ssn = $2`, f.enc(diagType, secrets[1], false), f.enc(ssnType, secrets[0][:9]+"3", true))
	f.conn.Close(context.Background())
	var scanned int
	filepath.Walk(f.dir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || strings.HasSuffix(path, ".pem") {
			return err
		}
		b, _ := os.ReadFile(path)
		scanned++
		for _, s := range secrets {
			for _, enc := range [][]byte{[]byte(s), mustNorm(t, diagType, s)} {
				if bytes.Contains(b, enc) {
					t.Errorf("%s holds the plaintext %q", path, s)
				}
			}
		}
		if bytes.Contains(b, []byte(secrets[0][:9])) {
			t.Errorf("%s holds an SSN prefix", path)
		}
		return nil
	})
	if scanned == 0 {
		t.Fatal("no files scanned")
	}
}

func mustNorm(t *testing.T, ty types.Type, v any) []byte {
	b, err := ty.Normalize(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestIndexesAndPlainDecimals(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	f.exec(t, `CREATE INDEX visits_ssn ON visits (ssn)`)
	if _, err := f.conn.Exec(ctx, `CREATE INDEX p_diag ON patients (diagnosis)`); sqlstate(err) != "42804" {
		t.Errorf("index on a randomized column: %v", err)
	}
	f.exec(t, `CREATE TABLE accounts (id INT, balance DECIMAL(12,2))`)
	// Stored with NUMERIC affinity, read back at the column's scale.
	for v, want := range map[string]string{"0": "0", "12.50": "12.50", "-0.05": "-0.05", "123456789.99": "123456789.99", "10000": "10000.00", "0.0001": "0"} {
		f.exec(t, `DELETE FROM accounts`)
		f.exec(t, `INSERT INTO accounts VALUES (1, $1)`, v)
		var got pgtypeNumeric
		if err := f.conn.QueryRow(ctx, `SELECT balance FROM accounts`).Scan(&got.s); err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		if got.s != want {
			t.Errorf("decimal %s read back as %s (binary numeric), want %s", v, got.s, want)
		}
	}
	// Comparisons are numeric, not textual.
	f.exec(t, `DELETE FROM accounts`)
	f.exec(t, `INSERT INTO accounts VALUES (1, 9.00), (2, 24.00), (3, 100.5)`)
	var n int
	if err := f.conn.QueryRow(ctx, `SELECT count(*) FROM accounts WHERE balance < 24`).Scan(&n); err != nil || n != 1 {
		t.Errorf("balance < 24: %d rows, %v; want 1", n, err)
	}
}

type pgtypeNumeric struct{ s string }
