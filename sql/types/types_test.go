package types_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/confide/confide/sql/types"
)

func TestParse(t *testing.T) {
	for in, want := range map[string]string{
		"int": "INT", "INTEGER": "INT", "int4": "INT", "bigint": "BIGINT", "smallint": "SMALLINT", "tinyint": "TINYINT",
		"bit": "BIT", "boolean": "BIT", "decimal": "DECIMAL(18,0)", "numeric(10, 2)": "DECIMAL(10,2)",
		"nvarchar(50)": "NVARCHAR(50)", "NVARCHAR(max)": "NVARCHAR(MAX)", "text": "NVARCHAR(MAX)",
		"varchar(8000)": "VARCHAR(8000)", "character  varying(3)": "VARCHAR(3)", "date": "DATE",
		"datetime2": "DATETIME2(7)", "datetime2(3)": "DATETIME2(3)", "timestamp": "DATETIME2(6)",
		"uuid": "UNIQUEIDENTIFIER", "varbinary(16)": "VARBINARY(16)", "bytea": "VARBINARY(MAX)",
	} {
		got, err := types.Parse(in)
		if err != nil || got.String() != want {
			t.Errorf("%q: %v %v, want %s", in, got, err, want)
		}
		if again, err := types.Parse(got.String()); err != nil || again != got {
			t.Errorf("%s does not parse back: %v", got, err)
		}
	}
	for _, bad := range []string{"float", "int(3)", "decimal(39,0)", "decimal(5,6)", "nvarchar(4001)", "varchar(0)",
		"datetime2(8)", "decimal(max)", "varchar(1,2)", "", "int; drop table x"} {
		if _, err := types.Parse(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func mustParse(t *testing.T, s string) types.Type {
	ty, err := types.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return ty
}

func TestNormalize(t *testing.T) {
	u, _ := types.ParseUUID("00112233-4455-6677-8899-aabbccddeeff")
	for _, c := range []struct {
		typ  string
		v    any
		want string
	}{
		{"INT", int64(42), "2a00000000000000"},
		{"INT", int64(-1), "ffffffffffffffff"},
		{"TINYINT", int64(255), "ff00000000000000"},
		{"SMALLINT", int64(-32768), "0080ffffffffffff"},
		{"BIGINT", int64(1) << 40, "0000000000010000"},
		{"BIT", true, "0100000000000000"},
		{"DECIMAL(10,2)", "123.45", "01393000000000000000000000000000" + "00"},
		{"DECIMAL(10,2)", "-0.01", "000100000000000000000000000000000" + "0"},
		{"NVARCHAR(10)", "ab€", "61006200ac20"},
		{"VARCHAR(10)", "ab€", "6162e282ac"},
		{"VARBINARY(4)", []byte{1, 2}, "0102"},
		{"DATE", time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), "000000"},
		{"DATE", time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC), "684a0b"}, // 739,944 days, Python's date.toordinal() − 1
		{"DATETIME2(0)", time.Date(1, 1, 2, 0, 0, 1, 0, time.UTC), "010000" + "010000"},
		{"DATETIME2(7)", time.Date(1, 1, 1, 0, 0, 0, 100, time.UTC), "0100000000" + "000000"},
		{"UNIQUEIDENTIFIER", u, "33221100554477668899aabbccddeeff"},
	} {
		ty := mustParse(t, c.typ)
		b, err := ty.Normalize(c.v)
		if err != nil || hex.EncodeToString(b) != c.want {
			t.Errorf("%s %v: %x %v, want %s", c.typ, c.v, b, err, c.want)
			continue
		}
		back, err := ty.Denormalize(b)
		if err != nil {
			t.Errorf("%s %v: denormalize: %v", c.typ, c.v, err)
			continue
		}
		again, _ := ty.Normalize(back)
		if !bytes.Equal(again, b) {
			t.Errorf("%s %v: round trip gives %v", c.typ, c.v, back)
		}
	}
}

func TestDayCount(t *testing.T) {
	// Every day of a few centuries: the day count is the calendar's.
	d := time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	ty := mustParse(t, "DATE")
	for i := 0; i < 800*366; i += 37 {
		day := d.AddDate(0, 0, i)
		b, err := ty.Normalize(day)
		if err != nil {
			t.Fatal(err)
		}
		if n := int(b[0]) | int(b[1])<<8 | int(b[2])<<16; n != i {
			t.Fatalf("%s: day %d, want %d", day.Format(time.DateOnly), n, i)
		}
	}
}

func TestBadValues(t *testing.T) {
	for _, c := range []struct {
		typ string
		v   any
	}{
		{"TINYINT", int64(256)}, {"TINYINT", int64(-1)}, {"INT", int64(1) << 31}, {"BIT", int64(2)},
		{"INT", "42"}, {"DECIMAL(4,2)", "123.45"}, {"DECIMAL(4,2)", "1.234"}, {"DECIMAL(4,2)", "x"},
		{"NVARCHAR(2)", "abc"}, {"VARCHAR(2)", "€"}, {"VARCHAR(10)", string([]byte{0xff})}, {"VARBINARY(1)", []byte{1, 2}},
		{"DATETIME2(0)", time.Date(2026, 1, 1, 0, 0, 0, 5, time.UTC)}, {"DATE", time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"UNIQUEIDENTIFIER", "not-a-uuid"},
		{"DECIMAL(38,0)", types.Dec{Unscaled: new(big.Int).Exp(big.NewInt(10), big.NewInt(38), nil)}},
	} {
		if _, err := mustParse(t, c.typ).Normalize(c.v); !errors.Is(err, types.ErrValue) {
			t.Errorf("%s %v: %v", c.typ, c.v, err)
		}
	}
	for _, c := range []struct {
		typ string
		b   string
	}{
		{"INT", "2a000000"}, {"INT", "ffffffff7f000000"}, {"BIT", "0200000000000000"}, {"DECIMAL(4,2)", "02" + "00000000000000000000000000000000"},
		{"NVARCHAR(10)", "610"}, {"DATE", "00000000"}, {"DATETIME2(0)", "805101" + "000000"}, {"UNIQUEIDENTIFIER", "00"},
	} {
		b, _ := hex.DecodeString(c.b)
		if _, err := mustParse(t, c.typ).Denormalize(b); !errors.Is(err, types.ErrValue) {
			t.Errorf("%s %s: %v", c.typ, c.b, err)
		}
	}
}

// FuzzDenormalize: arbitrary bytes for every type never crash, and what
// is accepted normalizes back to the same bytes. Seeds:
// testdata/fuzz/FuzzDenormalize.
func FuzzDenormalize(f *testing.F) {
	names := []string{"TINYINT", "INT", "BIGINT", "BIT", "DECIMAL(38,4)", "DECIMAL(5,2)", "NVARCHAR(MAX)", "NVARCHAR(3)",
		"VARCHAR(MAX)", "DATE", "DATETIME2(7)", "DATETIME2(2)", "DATETIME2(4)", "UNIQUEIDENTIFIER", "VARBINARY(8)"}
	f.Add(byte(0), []byte{42, 0, 0, 0, 0, 0, 0, 0})
	f.Add(byte(4), append([]byte{1}, make([]byte, 16)...))
	f.Add(byte(10), []byte{1, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, which byte, b []byte) {
		ty, err := types.Parse(names[int(which)%len(names)])
		if err != nil {
			t.Fatal(err)
		}
		v, err := ty.Denormalize(b)
		if err != nil {
			return
		}
		again, err := ty.Normalize(v)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("%s: %x → %v → %x (%v)", ty, b, v, again, err)
		}
	})
}
