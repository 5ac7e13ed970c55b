// Package types is confide SQL's one type system, SQL Server's: the
// column types that Always Encrypted can encrypt, with the aliases
// confide accepts, and each type's normalization — the bytes a value is
// turned into before cell encryption, SQL Server's, so that cells made by
// confide's driver and by SQL Server's drivers are interchangeable
// (spec/ae-types.md).
package types

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// Kind is a SQL Server type.
type Kind int

const (
	TinyInt Kind = iota + 1
	SmallInt
	Int
	BigInt
	Bit
	Decimal
	NVarChar
	VarChar
	Date
	DateTime2
	UniqueIdentifier
	VarBinary
)

var kindNames = map[Kind]string{
	TinyInt: "TINYINT", SmallInt: "SMALLINT", Int: "INT", BigInt: "BIGINT", Bit: "BIT",
	Decimal: "DECIMAL", NVarChar: "NVARCHAR", VarChar: "VARCHAR", Date: "DATE",
	DateTime2: "DATETIME2", UniqueIdentifier: "UNIQUEIDENTIFIER", VarBinary: "VARBINARY",
}

// Max is the Length of a (MAX) type.
const Max = -1

// Type is a column type.
type Type struct {
	Kind Kind
	// Length is n of NVARCHAR(n) (UTF-16 code units), VARCHAR(n) and
	// VARBINARY(n) (bytes), or Max.
	Length int
	// Precision and Scale of DECIMAL(p,s); Scale of DATETIME2(s).
	Precision, Scale int
}

// String is the canonical spelling.
func (t Type) String() string {
	n := kindNames[t.Kind]
	switch t.Kind {
	case NVarChar, VarChar, VarBinary:
		if t.Length == Max {
			return n + "(MAX)"
		}
		return fmt.Sprintf("%s(%d)", n, t.Length)
	case Decimal:
		return fmt.Sprintf("%s(%d,%d)", n, t.Precision, t.Scale)
	case DateTime2:
		return fmt.Sprintf("%s(%d)", n, t.Scale)
	}
	return n
}

// aliases maps accepted names to a kind and its defaults.
var aliases = map[string]Type{
	"TINYINT": {Kind: TinyInt}, "SMALLINT": {Kind: SmallInt}, "INT2": {Kind: SmallInt},
	"INT": {Kind: Int}, "INTEGER": {Kind: Int}, "INT4": {Kind: Int},
	"BIGINT": {Kind: BigInt}, "INT8": {Kind: BigInt},
	"BIT": {Kind: Bit}, "BOOL": {Kind: Bit}, "BOOLEAN": {Kind: Bit},
	"DECIMAL": {Kind: Decimal, Precision: 18}, "NUMERIC": {Kind: Decimal, Precision: 18}, "DEC": {Kind: Decimal, Precision: 18},
	"NVARCHAR": {Kind: NVarChar, Length: 1}, "NCHAR VARYING": {Kind: NVarChar, Length: 1},
	"TEXT": {Kind: NVarChar, Length: Max}, "NTEXT": {Kind: NVarChar, Length: Max},
	"VARCHAR": {Kind: VarChar, Length: 1}, "CHARACTER VARYING": {Kind: VarChar, Length: 1},
	"DATE":      {Kind: Date},
	"DATETIME2": {Kind: DateTime2, Scale: 7}, "TIMESTAMP": {Kind: DateTime2, Scale: 6},
	"UNIQUEIDENTIFIER": {Kind: UniqueIdentifier}, "UUID": {Kind: UniqueIdentifier},
	"VARBINARY": {Kind: VarBinary, Length: 1}, "BYTEA": {Kind: VarBinary, Length: Max}, "BLOB": {Kind: VarBinary, Length: Max},
}

var typeRE = regexp.MustCompile(`^([A-Z][A-Z0-9 ]*?)\s*(?:\(\s*(MAX|\d+)\s*(?:,\s*(\d+)\s*)?\))?$`)

// Parse reads a type name, case-insensitively, aliases included.
func Parse(s string) (Type, error) {
	m := typeRE.FindStringSubmatch(strings.ToUpper(strings.Join(strings.Fields(s), " ")))
	if m == nil {
		return Type{}, fmt.Errorf("types: cannot read type %q", s)
	}
	t, ok := aliases[m[1]]
	if !ok {
		return Type{}, fmt.Errorf("types: %q is not a type Always Encrypted supports (want one of TINYINT, SMALLINT, INT, BIGINT, BIT, DECIMAL(p,s), NVARCHAR(n|MAX), VARCHAR(n|MAX), DATE, DATETIME2(s), UNIQUEIDENTIFIER, VARBINARY(n|MAX))", s)
	}
	args := m[2:]
	num := func(a string) int { n, _ := strconv.Atoi(a); return n }
	switch t.Kind {
	case NVarChar, VarChar, VarBinary:
		if args[1] != "" {
			return Type{}, fmt.Errorf("types: %s takes one length", m[1])
		}
		if args[0] == "MAX" {
			t.Length = Max
		} else if args[0] != "" {
			t.Length = num(args[0])
			limit := 8000
			if t.Kind == NVarChar {
				limit = 4000
			}
			if t.Length < 1 || t.Length > limit {
				return Type{}, fmt.Errorf("types: %s length %d out of 1–%d (or MAX)", m[1], t.Length, limit)
			}
		}
	case Decimal:
		if args[0] == "MAX" {
			return Type{}, fmt.Errorf("types: DECIMAL(MAX) is not a type")
		}
		if args[0] != "" {
			t.Precision = num(args[0])
			t.Scale = num(args[1])
		}
		if t.Precision < 1 || t.Precision > 38 || t.Scale > t.Precision {
			return Type{}, fmt.Errorf("types: DECIMAL(%d,%d): precision 1–38, scale 0–precision", t.Precision, t.Scale)
		}
	case DateTime2:
		if args[0] == "MAX" || args[1] != "" {
			return Type{}, fmt.Errorf("types: DATETIME2 takes one scale")
		}
		if args[0] != "" {
			t.Scale = num(args[0])
		}
		if t.Scale > 7 {
			return Type{}, fmt.Errorf("types: DATETIME2(%d): scale 0–7", t.Scale)
		}
	default:
		if args[0] != "" {
			return Type{}, fmt.Errorf("types: %s takes no arguments", m[1])
		}
	}
	return t, nil
}

// ErrValue reports a value that does not fit its type.
var ErrValue = errors.New("types: value does not fit the column type")

// Dec is a DECIMAL value: Unscaled × 10^-Scale.
type Dec struct {
	Unscaled *big.Int
	Scale    int
}

// String formats the decimal.
func (d Dec) String() string {
	s := new(big.Int).Abs(d.Unscaled).String()
	if d.Scale > 0 {
		if len(s) <= d.Scale {
			s = strings.Repeat("0", d.Scale-len(s)+1) + s
		}
		s = s[:len(s)-d.Scale] + "." + s[len(s)-d.Scale:]
	}
	if d.Unscaled.Sign() < 0 {
		s = "-" + s
	}
	return s
}

// ParseDec reads a decimal literal ("-12.50") at a scale, refusing lost
// digits.
func ParseDec(s string, scale int) (Dec, error) {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(strings.TrimPrefix(s, "-"), "+")
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" && frac == "" || strings.Trim(whole+frac, "0123456789") != "" {
		return Dec{}, fmt.Errorf("%w: %q is not a decimal number", ErrValue, s)
	}
	if len(frac) > scale {
		if strings.Trim(frac[scale:], "0") != "" {
			return Dec{}, fmt.Errorf("%w: %q has more than %d decimals", ErrValue, s, scale)
		}
		frac = frac[:scale]
	}
	frac += strings.Repeat("0", scale-len(frac))
	u, ok := new(big.Int).SetString(whole+frac, 10)
	if !ok {
		u = new(big.Int)
	}
	if neg {
		u.Neg(u)
	}
	return Dec{Unscaled: u, Scale: scale}, nil
}

var (
	epoch  = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	maxDay = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)
)

// Normalize turns a Go value into the type's normalized bytes (see the
// package doc). Accepted values: int64 (or int) for the integer types,
// bool for BIT, Dec (or a decimal string) for DECIMAL, string for
// NVARCHAR and VARCHAR, time.Time for DATE and DATETIME2 (its UTC date
// and time of day, no zone), [16]byte (RFC 4122 order) or a string for
// UNIQUEIDENTIFIER, []byte for VARBINARY.
func (t Type) Normalize(v any) ([]byte, error) {
	fail := func(why string, args ...any) ([]byte, error) {
		return nil, fmt.Errorf("%w %s: %s", ErrValue, t, fmt.Sprintf(why, args...))
	}
	switch t.Kind {
	case TinyInt, SmallInt, Int, BigInt, Bit:
		var n int64
		switch x := v.(type) {
		case int64:
			n = x
		case int:
			n = int64(x)
		case bool:
			if t.Kind != Bit {
				return fail("a boolean")
			}
			if x {
				n = 1
			}
		default:
			return fail("want an integer, not %T", v)
		}
		r := intRange[t.Kind]
		if n < r[0] || n > r[1] {
			return fail("%d out of range", n)
		}
		return binary.LittleEndian.AppendUint64(nil, uint64(n)), nil
	case Decimal:
		var d Dec
		switch x := v.(type) {
		case Dec:
			d = x
		case string:
			var err error
			if d, err = ParseDec(x, t.Scale); err != nil {
				return nil, err
			}
		default:
			return fail("want a decimal, not %T", v)
		}
		if d.Scale != t.Scale {
			return fail("scale %d", d.Scale)
		}
		mag := new(big.Int).Abs(d.Unscaled)
		if len(mag.String()) > t.Precision && mag.Sign() != 0 {
			return fail("%s has more than %d digits", d, t.Precision)
		}
		out := make([]byte, 17)
		out[0] = 1
		if d.Unscaled.Sign() < 0 {
			out[0] = 0
		}
		be := mag.FillBytes(make([]byte, 16))
		for i := range 16 {
			out[1+i] = be[15-i]
		}
		return out, nil
	case NVarChar, VarChar:
		s, ok := v.(string)
		if !ok {
			return fail("want a string, not %T", v)
		}
		if !utf8.ValidString(s) {
			return fail("invalid UTF-8")
		}
		if t.Kind == VarChar {
			if t.Length != Max && len(s) > t.Length {
				return fail("%d bytes", len(s))
			}
			return []byte(s), nil
		}
		u := utf16.Encode([]rune(s))
		if t.Length != Max && len(u) > t.Length {
			return fail("%d characters", len(u))
		}
		b := make([]byte, 2*len(u))
		for i, c := range u {
			binary.LittleEndian.PutUint16(b[2*i:], c)
		}
		return b, nil
	case VarBinary:
		b, ok := v.([]byte)
		if !ok {
			return fail("want bytes, not %T", v)
		}
		if t.Length != Max && len(b) > t.Length {
			return fail("%d bytes", len(b))
		}
		return append([]byte(nil), b...), nil
	case Date, DateTime2:
		tm, ok := v.(time.Time)
		if !ok {
			return fail("want a time, not %T", v)
		}
		tm = tm.UTC()
		day := time.Date(tm.Year(), tm.Month(), tm.Day(), 0, 0, 0, 0, time.UTC)
		if day.Before(epoch) || day.After(maxDay) {
			return fail("%s outside 0001-01-01 … 9999-12-31", tm.Format(time.DateOnly))
		}
		days := uint32(daysSince(day))
		date := []byte{byte(days), byte(days >> 8), byte(days >> 16)}
		if t.Kind == Date {
			return date, nil
		}
		unit := int64(math.Pow10(9 - t.Scale))
		nanos := int64(tm.Sub(day))
		if nanos%unit != 0 {
			return fail("%s has more precision than scale %d", tm.Format(time.RFC3339Nano), t.Scale)
		}
		ticks := uint64(nanos / unit)
		out := binary.LittleEndian.AppendUint64(nil, ticks)[:timeLen(t.Scale)]
		return append(out, date...), nil
	case UniqueIdentifier:
		var g [16]byte
		switch x := v.(type) {
		case [16]byte:
			g = x
		case string:
			var err error
			if g, err = ParseUUID(x); err != nil {
				return nil, err
			}
		default:
			return fail("want a UUID, not %T", v)
		}
		return guidBytes(g), nil
	}
	return fail("unknown type")
}

var intRange = map[Kind][2]int64{TinyInt: {0, 255}, SmallInt: {math.MinInt16, math.MaxInt16},
	Int: {math.MinInt32, math.MaxInt32}, BigInt: {math.MinInt64, math.MaxInt64}, Bit: {0, 1}}

// daysSince counts days from 0001-01-01 without time.Duration, which
// overflows past 292 years.
func daysSince(d time.Time) int64 {
	y := int64(d.Year() - 1)
	return y*365 + y/4 - y/100 + y/400 + int64(d.YearDay()) - 1
}

func timeLen(scale int) int {
	switch {
	case scale <= 2:
		return 3
	case scale <= 4:
		return 4
	}
	return 5
}

// guidBytes writes an RFC 4122 UUID in SQL Server's (the .NET GUID's)
// byte order: the first three groups little-endian.
func guidBytes(u [16]byte) []byte {
	return []byte{u[3], u[2], u[1], u[0], u[5], u[4], u[7], u[6],
		u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]}
}

// ParseUUID reads the 8-4-4-4-12 hex form.
func ParseUUID(s string) ([16]byte, error) {
	var u [16]byte
	h := strings.ReplaceAll(s, "-", "")
	if len(s) != 36 || len(h) != 32 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, fmt.Errorf("%w: %q is not a UUID", ErrValue, s)
	}
	for i := range 16 {
		b, err := strconv.ParseUint(h[2*i:2*i+2], 16, 8)
		if err != nil {
			return u, fmt.Errorf("%w: %q is not a UUID", ErrValue, s)
		}
		u[i] = byte(b)
	}
	return u, nil
}

// Denormalize reads normalized bytes back into the Go value Normalize
// takes (int64, bool, Dec, string, time.Time in UTC, [16]byte, []byte),
// strictly: wrong lengths and out-of-range values are errors.
func (t Type) Denormalize(b []byte) (any, error) {
	fail := func(why string) (any, error) {
		return nil, fmt.Errorf("%w %s: stored value: %s", ErrValue, t, why)
	}
	switch t.Kind {
	case TinyInt, SmallInt, Int, BigInt, Bit:
		if len(b) != 8 {
			return fail(fmt.Sprintf("%d bytes, want 8", len(b)))
		}
		n := int64(binary.LittleEndian.Uint64(b))
		if _, err := t.Normalize(n); err != nil {
			return fail("out of range")
		}
		if t.Kind == Bit {
			return n == 1, nil
		}
		return n, nil
	case Decimal:
		if len(b) != 17 || b[0] > 1 {
			return fail("want a sign byte and 16 bytes")
		}
		be := make([]byte, 16)
		for i := range 16 {
			be[i] = b[16-i]
		}
		u := new(big.Int).SetBytes(be)
		if b[0] == 0 {
			u.Neg(u)
		}
		d := Dec{Unscaled: u, Scale: t.Scale}
		if _, err := t.Normalize(d); err != nil {
			return fail("too many digits")
		}
		return d, nil
	case VarChar:
		if !utf8.Valid(b) || (t.Length != Max && len(b) > t.Length) {
			return fail("not UTF-8 of the column's length")
		}
		return string(b), nil
	case NVarChar:
		if len(b)%2 != 0 || (t.Length != Max && len(b)/2 > t.Length) {
			return fail("not UTF-16LE of the column's length")
		}
		u := make([]uint16, len(b)/2)
		for i := range u {
			u[i] = binary.LittleEndian.Uint16(b[2*i:])
		}
		s := string(utf16.Decode(u))
		// An unpaired surrogate would decode to U+FFFD: refuse it rather
		// than change the value.
		if r := utf16.Encode([]rune(s)); len(r) != len(u) || !slices.Equal(r, u) {
			return fail("unpaired UTF-16 surrogate")
		}
		return s, nil
	case VarBinary:
		if t.Length != Max && len(b) > t.Length {
			return fail("longer than the column")
		}
		return append([]byte(nil), b...), nil
	case Date, DateTime2:
		n := 3
		if t.Kind == DateTime2 {
			n += timeLen(t.Scale)
		}
		if len(b) != n {
			return fail(fmt.Sprintf("%d bytes, want %d", len(b), n))
		}
		d := b[n-3:]
		days := int(d[0]) | int(d[1])<<8 | int(d[2])<<16
		day := epoch.AddDate(0, 0, days)
		if day.After(maxDay) {
			return fail("after 9999-12-31")
		}
		if t.Kind == Date {
			return day, nil
		}
		var tb [8]byte
		copy(tb[:], b[:n-3])
		ticks := binary.LittleEndian.Uint64(tb[:])
		unit := uint64(math.Pow10(9 - t.Scale))
		if ticks >= uint64(24*time.Hour)/unit {
			return fail("time of day past midnight")
		}
		return day.Add(time.Duration(ticks * unit)), nil
	case UniqueIdentifier:
		if len(b) != 16 {
			return fail("want 16 bytes")
		}
		var u [16]byte
		copy(u[:], guidBytes([16]byte(b)))
		return u, nil
	}
	return fail("unknown type")
}
