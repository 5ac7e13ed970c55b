package driver_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/confide/confide/internal/pgtest"
	"github.com/confide/confide/sql/cek"
	"github.com/confide/confide/sql/cell"
	"github.com/confide/confide/sql/driver"
	"github.com/confide/confide/sql/engine"
	"github.com/confide/confide/sql/wire"
)

type world struct {
	dsn     string // for the application, without column_encryption
	keyPath string
	db      *sql.DB
	dba     *pgx.Conn
	pg      *pgtest.Cluster // nil on the confide server
}

// backends are the servers every test of the shared suite runs against:
// the confide server, and a stock PostgreSQL cluster on which the driver
// keeps the catalog itself.
var backends = []string{"confide", "postgres"}

// eachBackend runs a test of the shared suite on each backend.
func eachBackend(t *testing.T, fn func(t *testing.T, w *world)) {
	for _, b := range backends {
		t.Run(b, func(t *testing.T) { fn(t, setup(t, b)) })
	}
}

func setup(t *testing.T, backend string) *world {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	w := &world{keyPath: filepath.Join(dir, "cmk.pem")}
	var dbaDSN string
	switch backend {
	case "confide":
		addr := serveEngine(t, &engine.Engine{Dir: filepath.Join(dir, "data")})
		w.dsn = "postgres://app@" + addr + "/clinic?sslmode=disable"
		dbaDSN = "postgres://dba@" + addr + "/clinic?sslmode=disable"
	case "postgres":
		w.pg = pgtest.Start(t)
		w.pg.CreateDB(t, "clinic")
		w.dsn, dbaDSN = w.pg.DSN("clinic"), w.pg.DSN("clinic")
	}
	cmk, pemBytes, err := cek.NewKeyFile(2048)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(w.keyPath, pemBytes, 0o600)
	root := make([]byte, 32)
	copy(root, "a column encryption key, 32 byte")
	value, err := cek.Encrypt(ctx, cmk, w.keyPath, root, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.db = w.open(t, []string{w.keyPath})
	for _, q := range []string{
		fmt.Sprintf(`CREATE COLUMN MASTER KEY cmk1 WITH (KEY_STORE_PROVIDER_NAME = 'CONFIDE_KEY_FILE', KEY_PATH = '%s')`, w.keyPath),
		fmt.Sprintf(`CREATE COLUMN ENCRYPTION KEY cek1 WITH VALUES (COLUMN_MASTER_KEY = cmk1, ALGORITHM = 'RSA_OAEP', ENCRYPTED_VALUE = 0x%x)`, value),
		`CREATE TABLE patients (id INT PRIMARY KEY,
			ssn VARCHAR(11) ENCRYPTED WITH (COLUMN_ENCRYPTION_KEY = cek1, ENCRYPTION_TYPE = DETERMINISTIC, ALGORITHM = 'AEAD_AES_256_CBC_HMAC_SHA_256'),
			diagnosis NVARCHAR(100) ENCRYPTED WITH (COLUMN_ENCRYPTION_KEY = cek1, ENCRYPTION_TYPE = RANDOMIZED, ALGORITHM = 'AEAD_AES_256_CBC_HMAC_SHA_256'),
			balance DECIMAL(12,2) ENCRYPTED WITH (COLUMN_ENCRYPTION_KEY = cek1, ENCRYPTION_TYPE = RANDOMIZED, ALGORITHM = 'AEAD_AES_256_CBC_HMAC_SHA_256'),
			ward TEXT)`,
	} {
		if _, err := w.db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if w.dba, err = pgx.Connect(ctx, dbaDSN); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.dba.Close(context.Background()) })
	return w
}

// serveEngine serves an engine on a loopback port until the test or
// benchmark ends, and returns its address.
func serveEngine(tb testing.TB, eng *engine.Engine) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { (&wire.Server{Engine: eng}).Serve(ctx, l); close(done) }()
	tb.Cleanup(func() { cancel(); <-done; eng.Close() })
	return l.Addr().String()
}

func (w *world) open(t *testing.T, trusted []string) *sql.DB {
	db := sql.OpenDB(driver.NewConnector(w.dsn+"&column_encryption=enabled",
		driver.Config{Keys: &cek.Cache{Providers: []cek.Provider{cek.KeyFiles{}}, Trusted: trusted}}))
	t.Cleanup(func() { db.Close() })
	return db
}

func TestTransparentEncryption(t *testing.T) { eachBackend(t, testTransparentEncryption) }

func testTransparentEncryption(t *testing.T, w *world) {
	for i, p := range [][3]string{{"123-45-6789", "diagnosis withheld", "10.50"}, {"987-65-4321", "influenza", "-3.25"}} {
		if _, err := w.db.Exec(`INSERT INTO patients (id, ssn, diagnosis, balance, ward) VALUES ($1, $2, $3, $4, $5)`,
			i+1, p[0], p[1], p[2], "east"); err != nil {
			t.Fatal(err)
		}
	}
	var id int
	var diag, balance string
	if err := w.db.QueryRow(`SELECT id, diagnosis, balance FROM patients WHERE ssn = $1`, "987-65-4321").Scan(&id, &diag, &balance); err != nil {
		t.Fatal(err)
	}
	if id != 2 || diag != "influenza" || balance != "-3.25" {
		t.Errorf("got %d %q %s", id, diag, balance)
	}
	// The DBA sees ciphertext only.
	var raw []byte
	if err := w.dba.QueryRow(context.Background(), `SELECT diagnosis FROM patients WHERE id = 2`).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("influenza")) || len(raw) < cell.Overhead || raw[0] != 1 {
		t.Errorf("the DBA reads %q", raw)
	}
	// A flipped byte in a stored cell: a MAC error naming the column.
	raw[len(raw)-1] ^= 1
	if _, err := w.dba.Exec(context.Background(), `UPDATE patients SET diagnosis = $1 WHERE id = 2`, raw); err != nil {
		t.Fatal(err)
	}
	err := w.db.QueryRow(`SELECT diagnosis FROM patients WHERE id = $1`, 2).Scan(&diag)
	if !errors.Is(err, cell.ErrMAC) || !strings.Contains(err.Error(), "patients.diagnosis") {
		t.Errorf("tampered cell: %v", err)
	}
}

func TestDriverRefusals(t *testing.T) { eachBackend(t, testDriverRefusals) }

func testDriverRefusals(t *testing.T, w *world) {
	// A value of the wrong type for an encrypted column.
	if _, err := w.db.Exec(`INSERT INTO patients (id, ssn) VALUES ($1, $2)`, 1, 123456789); err == nil || !strings.Contains(err.Error(), "patients.ssn") {
		t.Errorf("wrong type: %v", err)
	}
	// Forced encryption of a parameter the server calls plaintext.
	if _, err := w.db.Exec(`INSERT INTO patients (id, ward) VALUES ($1, $2)`, 1, driver.Encrypted{Value: "east"}); err == nil || !strings.Contains(err.Error(), "plaintext") {
		t.Errorf("forced encryption: %v", err)
	}
	// A client that does not trust the CMK's path cannot open the CEK.
	other := w.open(t, []string{"/some/other.pem"})
	var u *cek.ErrUntrusted
	if _, err := other.Exec(`INSERT INTO patients (id, ssn) VALUES ($1, $2)`, 1, "123-45-6789"); !errors.As(err, &u) {
		t.Errorf("untrusted path: %v", err)
	}
	// A literal against an encrypted column is the server's refusal.
	if _, err := w.db.Exec(`SELECT id FROM patients WHERE ssn = '123-45-6789'`); err == nil || !strings.Contains(err.Error(), "operand type clash") {
		t.Errorf("literal: %v", err)
	}
}

func TestParameterize(t *testing.T) { eachBackend(t, testParameterize) }

func testParameterize(t *testing.T, w *world) {
	for _, q := range []string{
		`INSERT INTO patients (id, ssn, diagnosis, balance, ward) VALUES (5, '111-22-3333', 'sprain', 12.5, 'north')`,
		`UPDATE patients SET balance = 99.99 WHERE ssn = '111-22-3333'`,
	} {
		pq, args, err := driver.Parameterize(q)
		if err != nil || len(args) == 0 {
			t.Fatalf("%s: %v %v", q, args, err)
		}
		if _, err := w.db.Exec(pq, args...); err != nil {
			t.Fatalf("%s → %s %v: %v", q, pq, args, err)
		}
	}
	pq, args, _ := driver.Parameterize(`SELECT id, diagnosis, balance FROM patients WHERE ssn IN ('111-22-3333', '000-00-0000') AND id = 5`)
	var id int
	var diag, bal string
	if err := w.db.QueryRow(pq, args...).Scan(&id, &diag, &bal); err != nil || id != 5 || diag != "sprain" || bal != "99.99" {
		t.Fatalf("%s %v: %d %q %s %v", pq, args, id, diag, bal, err)
	}
	if same, args, _ := driver.Parameterize(`SELECT count(*) FROM patients`); len(args) != 0 || same != `SELECT count(*) FROM patients` {
		t.Errorf("unchanged statement became %q %v", same, args)
	}
}
