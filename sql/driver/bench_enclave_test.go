package driver_test

import (
	"context"
	"database/sql"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/confide/confide/attest"
	"github.com/confide/confide/enclave"
	"github.com/confide/confide/enclave/sim/simtest"
	"github.com/confide/confide/sql/cek"
	"github.com/confide/confide/sql/driver"
	"github.com/confide/confide/sql/engine"
	"github.com/confide/confide/sql/sqlenclave"
)

// BenchmarkEnclave measures issue 15's figures on one table of
// CONFIDE_BENCH_ROWS rows (default 1,000,000), twice: t_plain, plaintext,
// and t_enc, the same rows with amount (BIGINT, cents) and name
// (NVARCHAR(40)) encrypted RANDOMIZED under an enclave-enabled key by
// in-place encryption, both indexed on amount. One client through this
// driver, the confide server in-process with its SQL enclave on a
// simulated platform. Operations, plain and enclave:
//
//	range          SELECT id, amount FROM t WHERE amount BETWEEN $1 AND $2   (~10 rows, via the index)
//	orderby-limit  SELECT id, amount FROM t ORDER BY amount LIMIT 100        (the index's first 100)
//	like-prefix    SELECT count(*) FROM t WHERE name LIKE $1                  ('prefix%': a full scan)
//
// In-place encryption of the two columns is timed once, during setup,
// and reported as inplace/encrypt rows/s (the whole table, both columns
// in one ALTER each).
func BenchmarkEnclave(b *testing.B) {
	n := benchRows(b)
	db, _, exec := benchEnclaveDB(b)
	words := []string{"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"}
	for _, t := range []string{"t_plain", "t_enc"} {
		exec(`CREATE TABLE ` + t + ` (id INT PRIMARY KEY, amount BIGINT, name NVARCHAR(40))`)
		tx, err := db.Begin()
		if err != nil {
			b.Fatal(err)
		}
		for i := 0; i < n; i += 1000 {
			var sb strings.Builder
			for j := i; j < min(i+1000, n); j++ {
				if j > i {
					sb.WriteString(", ")
				}
				fmt.Fprintf(&sb, "(%d, %d, '%s %d')", j, benchAmountOf(j), words[j%len(words)], j)
			}
			if _, err := tx.Exec(`INSERT INTO ` + t + ` (id, amount, name) VALUES ` + sb.String()); err != nil {
				b.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	start := time.Now()
	for _, c := range []string{"amount BIGINT", "name NVARCHAR(40)"} {
		exec(`ALTER TABLE t_enc ALTER COLUMN ` + c + ` ENCRYPTED WITH (COLUMN_ENCRYPTION_KEY = cek1, ENCRYPTION_TYPE = RANDOMIZED, ALGORITHM = 'AEAD_AES_256_CBC_HMAC_SHA_256')`)
	}
	inplace := time.Since(start)
	start = time.Now()
	exec(`CREATE INDEX t_enc_amount ON t_enc (amount)`)
	indexEnc := time.Since(start)
	start = time.Now()
	exec(`CREATE INDEX t_plain_amount ON t_plain (amount)`)
	indexPlain := time.Since(start)
	b.Logf("%d rows: in-place encryption of 2 columns %v (%.0f rows/s); index build %v enclave, %v plaintext",
		n, inplace.Round(time.Millisecond), float64(n)/inplace.Seconds(), indexEnc.Round(time.Millisecond), indexPlain.Round(time.Millisecond))

	b.Run("inplace/encrypt", func(b *testing.B) {
		for b.Loop() {
		}
		b.ReportMetric(float64(n)/inplace.Seconds(), "rows/s")
		b.ReportMetric(float64(n)/indexEnc.Seconds(), "index-rows/s")
	})
	for _, t := range []string{"plain", "enclave"} {
		table := map[string]string{"plain": "t_plain", "enclave": "t_enc"}[t]
		b.Run("range/"+t, func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, 2))
			q := `SELECT id, amount FROM ` + table + ` WHERE amount BETWEEN $1 AND $2`
			rows := 0
			for b.Loop() {
				lo := r.Int64N(benchAmountMax)
				rs, err := db.Query(q, lo, lo+benchAmountMax*10/int64(n))
				if err != nil {
					b.Fatal(err)
				}
				for rs.Next() {
					var id, amount int64
					if err := rs.Scan(&id, &amount); err != nil {
						b.Fatal(err)
					}
					rows++
				}
				if err := rs.Err(); err != nil {
					b.Fatal(err)
				}
				rs.Close()
			}
			b.ReportMetric(float64(rows)/float64(b.N), "rows/op")
			reportQPS(b)
		})
		b.Run("orderby-limit/"+t, func(b *testing.B) {
			q := `SELECT id, amount FROM ` + table + ` ORDER BY amount LIMIT 100`
			for b.Loop() {
				rs, err := db.Query(q)
				if err != nil {
					b.Fatal(err)
				}
				k := 0
				var last int64 = -1
				for rs.Next() {
					var id, amount int64
					if err := rs.Scan(&id, &amount); err != nil {
						b.Fatal(err)
					}
					if amount < last {
						b.Fatalf("ORDER BY: %d after %d", amount, last)
					}
					last = amount
					k++
				}
				rs.Close()
				if k != 100 {
					b.Fatalf("%d rows", k)
				}
			}
			reportQPS(b)
		})
		b.Run("like-prefix/"+t, func(b *testing.B) {
			want := 0
			for j := range n {
				if strings.HasPrefix(fmt.Sprintf("%s %d", words[j%len(words)], j), "golf 99") {
					want++
				}
			}
			for b.Loop() {
				var c int
				if err := db.QueryRow(`SELECT count(*) FROM `+table+` WHERE name LIKE $1`, "golf 99%").Scan(&c); err != nil {
					b.Fatal(err)
				}
				if c != want {
					b.Fatalf("LIKE: %d rows, want %d", c, want)
				}
			}
			reportQPS(b)
		})
	}
}

// benchRows is CONFIDE_BENCH_ROWS, 1,000,000 by default.
func benchRows(b *testing.B) int {
	if s := os.Getenv("CONFIDE_BENCH_ROWS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			b.Fatal(err)
		}
		return n
	}
	return 1_000_000
}

// benchEnclaveDB starts a confide server in-process with its SQL enclave
// on the simulated platform, makes an enclave-enabled key cek1 (under
// cmk1, a key file), and opens the driver on it with column encryption
// and a policy naming this process as the enclave. exec runs a statement
// or fails the benchmark.
func benchEnclaveDB(b *testing.B) (*sql.DB, *sqlenclave.Enclave, func(q string, args ...any)) {
	ctx := context.Background()
	dir := b.TempDir()
	p := simtest.Start(b)
	encl := &sqlenclave.Enclave{Platform: p.Client}
	eng := &engine.Engine{Dir: filepath.Join(dir, "data"), Enclave: encl}
	addr := serveEngine(b, eng)
	keyPath := filepath.Join(dir, "cmk.pem")
	cmk, pemBytes, err := cek.NewKeyFile(2048)
	if err != nil {
		b.Fatal(err)
	}
	os.WriteFile(keyPath, pemBytes, 0o600)
	sig, _ := cek.SignMetadata(ctx, cmk, "CONFIDE_KEY_FILE", keyPath, true)
	value, _ := cek.Encrypt(ctx, cmk, keyPath, []byte("an enclave-enabled key, 32 bytes"), nil)
	id, err := p.Client.Identity(ctx)
	if err != nil {
		b.Fatal(err)
	}
	policy := filepath.Join(dir, "policy.json")
	os.WriteFile(policy, []byte(`{"version":"1.0.0","allOf":[{"claim":"platform","equals":"sim"},{"claim":"unique_id","equals":"`+hex.EncodeToString(id.UniqueID)+`"}]}`), 0o600)
	db := sql.OpenDB(driver.NewConnector("postgres://bench@"+addr+"/bench?sslmode=disable&column_encryption=enabled&enclave_policy="+policy,
		driver.Config{Keys: &cek.Cache{Providers: []cek.Provider{cek.KeyFiles{}}, Trusted: []string{keyPath}},
			Enclave: &attest.Verifier{Backends: map[string]enclave.Verifier{"sim": p.Verifier()}}}))
	b.Cleanup(func() { db.Close() })
	db.SetMaxIdleConns(4)
	exec := func(q string, args ...any) {
		if _, err := db.Exec(q, args...); err != nil {
			b.Fatalf("%.120s: %v", q, err)
		}
	}
	exec(fmt.Sprintf(`CREATE COLUMN MASTER KEY cmk1 WITH (KEY_STORE_PROVIDER_NAME = 'CONFIDE_KEY_FILE', KEY_PATH = '%s', ENCLAVE_COMPUTATIONS (SIGNATURE = 0x%x))`, keyPath, sig))
	exec(fmt.Sprintf(`CREATE COLUMN ENCRYPTION KEY cek1 WITH VALUES (COLUMN_MASTER_KEY = cmk1, ALGORITHM = 'RSA_OAEP', ENCRYPTED_VALUE = 0x%x)`, value))
	return db, encl, exec
}

const benchAmountMax = 100_000_000 // cents

// benchAmountOf scatters amounts over [0, benchAmountMax).
func benchAmountOf(i int) int64 { return int64(i) * 387_420_489 % benchAmountMax }

func reportQPS(b *testing.B) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(b.N)/s, "queries/s")
	}
}
