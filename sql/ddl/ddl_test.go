package ddl_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/confide/confide/sql/ddl"
)

func TestParse(t *testing.T) {
	for _, c := range []struct {
		sql  string
		want any
	}{
		{`CREATE COLUMN MASTER KEY CMK1 WITH (KEY_STORE_PROVIDER_NAME = N'CONFIDE_KEY_FILE', KEY_PATH = N'/keys/cmk1.pem');`,
			&ddl.CreateCMK{Name: "CMK1", Provider: "CONFIDE_KEY_FILE", KeyPath: "/keys/cmk1.pem"}},
		{`create column master key [My Key] with (key_path = 'it''s', KEY_STORE_PROVIDER_NAME = 'P',
		  ENCLAVE_COMPUTATIONS (SIGNATURE = 0xA1B2)) -- trailing comment`,
			&ddl.CreateCMK{Name: "My Key", Provider: "P", KeyPath: "it's", EnclaveSignature: []byte{0xa1, 0xb2}}},
		{`CREATE COLUMN ENCRYPTION KEY CEK1 WITH VALUES (COLUMN_MASTER_KEY = CMK1, ALGORITHM = 'RSA_OAEP', ENCRYPTED_VALUE = 0x0102)`,
			&ddl.CreateCEK{Name: "CEK1", Values: []ddl.CEKValue{{CMK: "CMK1", Algorithm: "RSA_OAEP", Encrypted: []byte{1, 2}}}}},
		{`CREATE COLUMN ENCRYPTION KEY CEK1 WITH VALUES (COLUMN_MASTER_KEY = A, ALGORITHM = 'RSA_OAEP', ENCRYPTED_VALUE = 0x01),
		  (COLUMN_MASTER_KEY = "B", ALGORITHM = 'rsa_oaep', ENCRYPTED_VALUE = 0x02)`,
			&ddl.CreateCEK{Name: "CEK1", Values: []ddl.CEKValue{{CMK: "A", Algorithm: "RSA_OAEP", Encrypted: []byte{1}}, {CMK: "B", Algorithm: "rsa_oaep", Encrypted: []byte{2}}}}},
		{`ALTER COLUMN ENCRYPTION KEY CEK1 ADD VALUE (COLUMN_MASTER_KEY = CMK2, ALGORITHM = 'RSA_OAEP', ENCRYPTED_VALUE = 0xff)`,
			&ddl.AlterCEK{Name: "CEK1", Add: &ddl.CEKValue{CMK: "CMK2", Algorithm: "RSA_OAEP", Encrypted: []byte{0xff}}}},
		{`ALTER COLUMN ENCRYPTION KEY CEK1 DROP VALUE (COLUMN_MASTER_KEY = CMK1)`, &ddl.AlterCEK{Name: "CEK1", DropCMK: "CMK1"}},
		{`DROP COLUMN MASTER KEY CMK1`, &ddl.Drop{What: "COLUMN MASTER KEY", Name: "CMK1"}},
		{`drop column encryption key cek1;`, &ddl.Drop{What: "COLUMN ENCRYPTION KEY", Name: "cek1"}},
		{`SELECT 1`, nil},
		{`CREATE TABLE t (a INT)`, nil},
		{`INSERT INTO t VALUES ('CREATE COLUMN MASTER KEY')`, nil},
	} {
		got, err := ddl.Parse(c.sql)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s:\n got %#v %v\nwant %#v", c.sql, got, err, c.want)
		}
	}
}

func TestCreateTable(t *testing.T) {
	sql := `CREATE TABLE dbo.Patients (
		Id INT PRIMARY KEY,
		SSN CHAR(11) COLLATE Latin1_General_BIN2 ENCRYPTED WITH (COLUMN_ENCRYPTION_KEY = CEK1,
			ENCRYPTION_TYPE = DETERMINISTIC, ALGORITHM = 'AEAD_AES_256_CBC_HMAC_SHA_256') NOT NULL,
		"Birth Date" DATE ENCRYPTED WITH (ENCRYPTION_TYPE = RANDOMIZED, ALGORITHM = 'AEAD_AES_256_CBC_HMAC_SHA_256', COLUMN_ENCRYPTION_KEY = [CEK 2]),
		Note NVARCHAR(100) DEFAULT ('ENCRYPTED WITH'),
		CHECK (Id > 0)
	)`
	got, err := ddl.Parse(sql)
	if err != nil {
		t.Fatal(err)
	}
	ct := got.(*ddl.CreateTable)
	want := map[string]ddl.ColumnEncryption{
		"SSN":        {CEK: "CEK1", Type: ddl.Deterministic, Algorithm: "AEAD_AES_256_CBC_HMAC_SHA_256"},
		"Birth Date": {CEK: "CEK 2", Type: ddl.Randomized, Algorithm: "AEAD_AES_256_CBC_HMAC_SHA_256"},
	}
	if ct.Table != "Patients" || !reflect.DeepEqual(ct.Columns, want) {
		t.Errorf("%+v", ct)
	}
	if strings.Contains(ct.SQL, "COLUMN_ENCRYPTION_KEY") || !strings.Contains(ct.SQL, "NOT NULL") ||
		!strings.Contains(ct.SQL, "DEFAULT ('ENCRYPTED WITH')") || !strings.Contains(ct.SQL, "CHECK (Id > 0)") {
		t.Errorf("stripped SQL:\n%s", ct.SQL)
	}
}

func TestErrors(t *testing.T) {
	for _, sql := range []string{
		`CREATE COLUMN MASTER KEY k WITH (KEY_PATH = 'p')`,
		`CREATE COLUMN MASTER KEY k WITH (KEY_PATH = 'p', KEY_PATH = 'q', KEY_STORE_PROVIDER_NAME = 'x')`,
		`CREATE COLUMN MASTER KEY k WITH (KEY_PATH = 'p', KEY_STORE_PROVIDER_NAME = 'x', COLOR = 'red')`,
		`CREATE COLUMN MASTER KEY k WITH (KEY_PATH = 'p', KEY_STORE_PROVIDER_NAME = 'x') extra`,
		`CREATE COLUMN MASTER KEY k WITH (KEY_PATH = 'p`,
		`CREATE COLUMN ENCRYPTION KEY c WITH VALUES (COLUMN_MASTER_KEY = k, ALGORITHM = 'RSA1_5', ENCRYPTED_VALUE = 0x01)`,
		`CREATE COLUMN ENCRYPTION KEY c WITH VALUES (COLUMN_MASTER_KEY = k, ALGORITHM = 'RSA_OAEP', ENCRYPTED_VALUE = 0x0)`,
		`CREATE COLUMN ENCRYPTION KEY c WITH VALUES (COLUMN_MASTER_KEY = k, ALGORITHM = 'RSA_OAEP')`,
		`CREATE COLUMN ENCRYPTION KEY c WITH VALUES (COLUMN_MASTER_KEY = a, ALGORITHM = 'RSA_OAEP', ENCRYPTED_VALUE = 0x01),
			(COLUMN_MASTER_KEY = b, ALGORITHM = 'RSA_OAEP', ENCRYPTED_VALUE = 0x01), (COLUMN_MASTER_KEY = c, ALGORITHM = 'RSA_OAEP', ENCRYPTED_VALUE = 0x01)`,
		`ALTER COLUMN ENCRYPTION KEY c RENAME TO d`,
		`ALTER COLUMN ENCRYPTION KEY c DROP VALUE (COLUMN_MASTER_KEY = k, ALGORITHM = 'RSA_OAEP')`,
		`CREATE TABLE t (a INT ENCRYPTED WITH (COLUMN_ENCRYPTION_KEY = c, ENCRYPTION_TYPE = SOMETIMES, ALGORITHM = 'AEAD_AES_256_CBC_HMAC_SHA_256'))`,
		`CREATE TABLE t (a INT ENCRYPTED WITH (COLUMN_ENCRYPTION_KEY = c, ENCRYPTION_TYPE = DETERMINISTIC, ALGORITHM = 'AES'))`,
		`CREATE TABLE t (a INT ENCRYPTED WITH (ENCRYPTION_TYPE = DETERMINISTIC))`,
		`CREATE TABLE t (a INT ENCRYPTED (COLUMN_ENCRYPTION_KEY = c))`,
		`DROP COLUMN MASTER KEY`,
		`CREATE COLUMN MASTER KEY "" WITH (KEY_PATH = 'p', KEY_STORE_PROVIDER_NAME = 'x')`,
		`CREATE COLUMN MASTER KEY k /* unterminated`,
	} {
		if _, err := ddl.Parse(sql); !errors.Is(err, ddl.ErrSyntax) {
			t.Errorf("%s: %v", sql, err)
		}
	}
}

// FuzzParse: arbitrary statements never crash the parser, and a stripped
// CREATE TABLE has no ENCRYPTED WITH clause left to find. Seeds:
// testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`CREATE COLUMN MASTER KEY CMK1 WITH (KEY_STORE_PROVIDER_NAME = N'P', KEY_PATH = N'/k', ENCLAVE_COMPUTATIONS (SIGNATURE = 0xA1))`,
		`CREATE COLUMN ENCRYPTION KEY C WITH VALUES (COLUMN_MASTER_KEY = K, ALGORITHM = 'RSA_OAEP', ENCRYPTED_VALUE = 0x01)`,
		`ALTER COLUMN ENCRYPTION KEY C DROP VALUE (COLUMN_MASTER_KEY = K)`,
		`CREATE TABLE t (a INT ENCRYPTED WITH (COLUMN_ENCRYPTION_KEY = c, ENCRYPTION_TYPE = DETERMINISTIC, ALGORITHM = 'AEAD_AES_256_CBC_HMAC_SHA_256'), b TEXT)`,
		`/* /* nested */ */ DROP COLUMN MASTER KEY [x]`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		v, err := ddl.Parse(sql)
		if ct, ok := v.(*ddl.CreateTable); ok && err == nil {
			again, err := ddl.Parse(ct.SQL)
			if err != nil {
				return // cutting may leave text the general parser rejects
			}
			if _, still := again.(*ddl.CreateTable); still {
				t.Fatalf("clauses left in %q", ct.SQL)
			}
		}
	})
}

func TestAlterColumn(t *testing.T) {
	got, err := ddl.Parse(`ALTER TABLE accounts ALTER COLUMN name NVARCHAR(40) ENCRYPTED WITH (COLUMN_ENCRYPTION_KEY = cek2, ENCRYPTION_TYPE = RANDOMIZED, ALGORITHM = 'AEAD_AES_256_CBC_HMAC_SHA_256');`)
	if err != nil {
		t.Fatal(err)
	}
	ac, ok := got.(*ddl.AlterColumn)
	if !ok || ac.Table != "ACCOUNTS" && ac.Table != "accounts" || ac.Type != "NVARCHAR(40)" || ac.Encryption == nil || ac.Encryption.CEK != "cek2" && ac.Encryption.CEK != "CEK2" || ac.Encryption.Type != ddl.Randomized {
		t.Fatalf("%#v %#v", got, ac.Encryption)
	}
	got, err = ddl.Parse(`alter table t alter column c decimal(10, 2)`)
	if ac, ok := got.(*ddl.AlterColumn); err != nil || !ok || ac.Type != "decimal(10, 2)" || ac.Encryption != nil {
		t.Fatalf("decrypt: %#v %v", got, err)
	}
	// Other ALTER TABLE statements are not ours.
	if got, err := ddl.Parse(`ALTER TABLE t ADD COLUMN x INT`); got != nil || err != nil {
		t.Errorf("ADD COLUMN: %#v %v", got, err)
	}
	for _, bad := range []string{
		`ALTER TABLE t ALTER COLUMN c`,
		`ALTER TABLE t ALTER COLUMN c INT ENCRYPTED WITH (COLUMN_ENCRYPTION_KEY = k)`,
		`ALTER TABLE t ALTER COLUMN c INT ENCRYPTED WITH (COLUMN_ENCRYPTION_KEY = k, ENCRYPTION_TYPE = RANDOMIZED, ALGORITHM = 'AES') x`,
	} {
		if _, err := ddl.Parse(bad); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}
