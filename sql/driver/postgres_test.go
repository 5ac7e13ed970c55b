package driver_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/confide/confide/internal/pgtest"
	"github.com/confide/confide/sql/cek"
	"github.com/confide/confide/sql/driver"
)

func TestDeterministicOperations(t *testing.T) { eachBackend(t, testDeterministicOperations) }

// testDeterministicOperations runs what deterministic encryption supports
// (=, <>, IN, equality joins, GROUP BY, DISTINCT, unique indexes), all
// evaluated by the server on ciphertext, and randomized storage.
func testDeterministicOperations(t *testing.T, w *world) {
	for _, q := range []string{
		`CREATE TABLE visits (ssn VARCHAR(11) ENCRYPTED WITH (COLUMN_ENCRYPTION_KEY = cek1, ENCRYPTION_TYPE = DETERMINISTIC, ALGORITHM = 'AEAD_AES_256_CBC_HMAC_SHA_256'), seq INT, note NVARCHAR(50) ENCRYPTED WITH (COLUMN_ENCRYPTION_KEY = cek1, ENCRYPTION_TYPE = RANDOMIZED, ALGORITHM = 'AEAD_AES_256_CBC_HMAC_SHA_256'))`,
		`CREATE UNIQUE INDEX patients_ssn ON patients (ssn)`,
	} {
		if _, err := w.db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	ssns := []string{"111-11-1111", "222-22-2222", "333-33-3333"}
	for i, s := range ssns {
		if _, err := w.db.Exec(`INSERT INTO patients (id, ssn, diagnosis, balance, ward) VALUES ($1, $2, $3, $4, $5)`, i+1, s, "d"+s, "1.00", "w"); err != nil {
			t.Fatal(err)
		}
		for v := range i + 1 {
			if _, err := w.db.Exec(`INSERT INTO visits (ssn, seq, note) VALUES ($1, $2, $3)`, s, v, "visit 🩺 "+s); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The unique index compares ciphertexts: a second row with the same
	// SSN is refused.
	if _, err := w.db.Exec(`INSERT INTO patients (id, ssn) VALUES ($1, $2)`, 9, ssns[0]); err == nil || !strings.Contains(err.Error(), "unique") && !strings.Contains(err.Error(), "duplicate") {
		t.Errorf("duplicate SSN: %v", err)
	}
	ints := func(q string, args ...any) []int {
		t.Helper()
		out := ids(t, w.db, q, args...)
		slices.Sort(out)
		return out
	}
	for _, c := range []struct {
		q    string
		args []any
		want []int
	}{
		{`SELECT id FROM patients WHERE ssn = $1`, []any{ssns[1]}, []int{2}},
		{`SELECT id FROM patients WHERE ssn <> $1`, []any{ssns[1]}, []int{1, 3}},
		{`SELECT id FROM patients WHERE ssn IN ($1, $2)`, []any{ssns[0], ssns[2]}, []int{1, 3}},
		{`SELECT p.id FROM patients p JOIN visits v ON v.ssn = p.ssn WHERE v.seq = $1`, []any{1}, []int{2, 3}},
		{`SELECT count(*) FROM visits GROUP BY ssn`, nil, []int{1, 2, 3}},
		{`SELECT count(*) FROM (SELECT DISTINCT ssn FROM visits) d`, nil, []int{3}},
	} {
		if got := ints(c.q, c.args...); !slices.Equal(got, c.want) {
			t.Errorf("%s %v: %v, want %v", c.q, c.args, got, c.want)
		}
	}
	// DISTINCT and GROUP BY return the encrypted column itself, decrypted.
	rows, err := w.db.Query(`SELECT DISTINCT ssn FROM visits`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		got = append(got, s)
	}
	rows.Close()
	slices.Sort(got)
	if !slices.Equal(got, ssns) {
		t.Errorf("DISTINCT ssn: %v", got)
	}
	var note string
	if err := w.db.QueryRow(`SELECT note FROM visits WHERE ssn = $1 AND seq = $2`, ssns[2], 2).Scan(&note); err != nil || note != "visit 🩺 "+ssns[2] {
		t.Errorf("randomized column: %q %v", note, err)
	}
	// What ciphertext cannot do is refused before anything runs.
	for _, q := range []string{
		`SELECT id FROM patients ORDER BY ssn`,
		`SELECT note FROM visits WHERE note = $1`,
		`SELECT id FROM patients WHERE ssn > $1`,
	} {
		if _, err := w.db.Query(q, ssns[0]); err == nil {
			t.Errorf("%s: no error", q)
		}
	}
}

// TestPostgresNoPlaintext runs a workload through the driver against a
// PostgreSQL primary with a streaming replica, then reads every file of
// both data directories (heap, indexes, WAL): no plaintext of an encrypted
// column, in UTF-8 or UTF-16LE, is anywhere; the plaintext column's values
// are (the scan's own check).
func TestPostgresNoPlaintext(t *testing.T) {
	w := setup(t, "postgres")
	replica := w.pg.Replica(t)
	secret := func(i int) string { return "SSN-SECRET-" + string(rune('A'+i%26)) + strings.Repeat("x", i%7) }
	for i := range 200 {
		if _, err := w.db.Exec(`INSERT INTO patients (id, ssn, diagnosis, balance, ward) VALUES ($1, $2, $3, $4, $5)`,
			i, secret(i)[:11], "DIAGNOSIS-CONFIDENTIAL-"+secret(i), "12345.67", "WARD-PLAIN-MARKER"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.db.Exec(`UPDATE patients SET diagnosis = $1 WHERE ssn = $2`, "DIAGNOSIS-CONFIDENTIAL-updated", secret(3)[:11]); err != nil {
		t.Fatal(err)
	}
	// Wait for the replica to replay everything.
	rc := replica.Connect(t, "clinic")
	defer rc.Close(context.Background())
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int
		err := rc.QueryRow(context.Background(), `SELECT count(*) FROM patients`).Scan(&n)
		if err == nil && n == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replica has %d rows (%v)", n, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	w.pg.Checkpoint(t)
	replica.Checkpoint(t)
	needles := [][]byte{[]byte("DIAGNOSIS-CONFIDENTIAL"), []byte("SSN-SECRET"), utf16le("DIAGNOSIS-CONFIDENTIAL")}
	for _, c := range []struct {
		name string
		dir  string
	}{{"primary", w.pg.Data()}, {"replica", replica.Data()}} {
		sawPlain := false
		err := filepath.WalkDir(c.dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, n := range needles {
				if bytes.Contains(b, n) {
					t.Errorf("%s: %s holds the plaintext %q", c.name, path, n)
				}
			}
			sawPlain = sawPlain || bytes.Contains(b, []byte("WARD-PLAIN-MARKER"))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if !sawPlain {
			t.Errorf("%s: the scan did not find the plaintext column either: it proves nothing", c.name)
		}
	}
}

func utf16le(s string) []byte {
	var out []byte
	for _, u := range utf16.Encode([]rune(s)) {
		out = append(out, byte(u), byte(u>>8))
	}
	return out
}

// TestPostgresCatalogTampering: the catalog is the DBA's to change, and
// the driver's trusted key paths and MACs are what stop a change from
// leaking or corrupting anything.
func TestPostgresCatalogTampering(t *testing.T) {
	w := setup(t, "postgres")
	ctx := context.Background()
	if _, err := w.db.Exec(`INSERT INTO patients (id, ssn, diagnosis, balance) VALUES ($1, $2, $3, $4)`, 1, "123-45-6789", "flu", "1.00"); err != nil {
		t.Fatal(err)
	}
	// A catalog row pointing at another key path: a fresh client refuses
	// to open it.
	if _, err := w.dba.Exec(ctx, `UPDATE confide.cmk SET key_path = '/attacker/key.pem'`); err != nil {
		t.Fatal(err)
	}
	fresh := w.open(t, []string{w.keyPath})
	var u *cek.ErrUntrusted
	var diag string
	if err := fresh.QueryRow(`SELECT diagnosis FROM patients WHERE id = $1`, 1).Scan(&diag); !errors.As(err, &u) {
		t.Errorf("untrusted key path: %v", err)
	}
	if _, err := w.dba.Exec(ctx, `UPDATE confide.cmk SET key_path = $1`, w.keyPath); err != nil {
		t.Fatal(err)
	}
	// A DBA who declares an encrypted column plaintext gets it read as
	// ciphertext bytes; forced encryption keeps parameters from leaking.
	if _, err := w.dba.Exec(ctx, `DELETE FROM confide.encrypted_column WHERE col = 'ssn'`); err != nil {
		t.Fatal(err)
	}
	fresh = w.open(t, []string{w.keyPath})
	if _, err := fresh.Exec(`SELECT id FROM patients WHERE ssn = $1`, driver.Encrypted{Value: "123-45-6789"}); err == nil || !strings.Contains(err.Error(), "plaintext") {
		t.Errorf("forced encryption after the catalog lost the column: %v", err)
	}
	// A catalog that calls a non-bytea column encrypted is refused.
	if _, err := w.dba.Exec(ctx, `INSERT INTO confide.encrypted_column (schema_name, tbl, col, sqltype, cek, enc_type) VALUES ('public', 'patients', 'ward', 'NVARCHAR(10)', 'cek1', 'DETERMINISTIC')`); err != nil {
		t.Fatal(err)
	}
	fresh = w.open(t, []string{w.keyPath})
	if _, err := fresh.Exec(`SELECT id FROM patients WHERE ward = $1`, "x"); err == nil || !strings.Contains(err.Error(), "not bytea") {
		t.Errorf("catalog and table disagree: %v", err)
	}
}

// TestPostgresSCRAMAndTLS: the driver authenticates and encrypts the
// connection as PostgreSQL offers (pgx's SCRAM-SHA-256 and TLS), and its
// own DSN parameters never reach the server.
func TestPostgresSCRAMAndTLS(t *testing.T) {
	c := pgtest.Start(t)
	c.CreateDB(t, "clinic")
	c.RequirePassword(t, "app", "s3cret pass")
	ca := c.EnableTLS(t)
	dsn := func(password string) string {
		return fmt.Sprintf("postgres://%s@127.0.0.1:%d/clinic?sslmode=verify-full&sslrootcert=%s&column_encryption=enabled",
			url.UserPassword("app", password), c.Port, url.QueryEscape(ca))
	}
	keys := &cek.Cache{Providers: []cek.Provider{cek.KeyFiles{}}}
	db := sql.OpenDB(driver.NewConnector(dsn("s3cret pass"), driver.Config{Keys: keys}))
	defer db.Close()
	var ssl bool
	var user string
	if err := db.QueryRow(`SELECT s.ssl, a.usename FROM pg_stat_ssl s JOIN pg_stat_activity a ON a.pid = s.pid WHERE s.pid = pg_backend_pid()`).Scan(&ssl, &user); err != nil {
		t.Fatal(err)
	}
	if !ssl || user != "app" {
		t.Errorf("ssl %v, user %q", ssl, user)
	}
	wrong := sql.OpenDB(driver.NewConnector(dsn("wrong"), driver.Config{Keys: keys}))
	defer wrong.Close()
	if err := wrong.Ping(); err == nil || !strings.Contains(err.Error(), "password authentication failed") {
		t.Errorf("wrong password: %v", err)
	}
}
