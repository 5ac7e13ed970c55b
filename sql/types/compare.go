package types

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/big"
	"slices"
	"time"
)

// Compare orders two normalized plaintexts of type t as the SQL enclave
// and its plaintext twin do: integers, BIT and DECIMAL by value (exactly),
// DATE and DATETIME2 by time, VARCHAR (UTF-8) and VARBINARY byte by byte,
// NVARCHAR by UTF-16 code units (SQL Server's BIN2 order, in which
// characters outside the Basic Multilingual Plane sort before U+E000–
// U+FFFF), UNIQUEIDENTIFIER by its 16 stored bytes. Trailing spaces are
// significant: there is no ANSI padding.
func (t Type) Compare(a, b []byte) (int, error) {
	switch t.Kind {
	case NVarChar:
		if len(a)%2 != 0 || len(b)%2 != 0 {
			return 0, fmt.Errorf("%w %s: odd UTF-16LE length", ErrValue, t)
		}
		for i := 0; i < len(a) && i < len(b); i += 2 {
			x, y := binary.LittleEndian.Uint16(a[i:]), binary.LittleEndian.Uint16(b[i:])
			if x != y {
				if x < y {
					return -1, nil
				}
				return 1, nil
			}
		}
		return compareInts(len(a), len(b)), nil
	case VarChar, VarBinary, UniqueIdentifier:
		return bytes.Compare(a, b), nil
	}
	x, err := t.Denormalize(a)
	if err != nil {
		return 0, err
	}
	y, err := t.Denormalize(b)
	if err != nil {
		return 0, err
	}
	switch xv := x.(type) {
	case int64:
		return compareInts(xv, y.(int64)), nil
	case bool:
		return compareInts(boolInt(xv), boolInt(y.(bool))), nil
	case Dec:
		return CompareDec(xv, y.(Dec)), nil
	case time.Time:
		return xv.Compare(y.(time.Time)), nil
	}
	return 0, fmt.Errorf("types: %s values cannot be ordered", t)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func compareInts[T int | int64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// CompareDec orders decimals exactly, whatever their scales.
func CompareDec(a, b Dec) int {
	x, y := a.Unscaled, b.Unscaled
	if a.Scale < b.Scale {
		x = new(big.Int).Mul(x, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(b.Scale-a.Scale)), nil))
	} else if b.Scale < a.Scale {
		y = new(big.Int).Mul(y, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(a.Scale-b.Scale)), nil))
	}
	return x.Cmp(y)
}

// Like matches a VARCHAR or NVARCHAR plaintext against a LIKE pattern of
// the same type: % matches any run of characters, _ exactly one
// character (a code point), everything else itself, case-sensitively
// (binary collation). There is no escape character and no [ ] class.
func (t Type) Like(value, pattern []byte) (bool, error) {
	if t.Kind != VarChar && t.Kind != NVarChar {
		return false, fmt.Errorf("types: LIKE needs a string, not %s", t)
	}
	v, err := t.Denormalize(value)
	if err != nil {
		return false, err
	}
	// A pattern may be longer than the column (it has wildcards): read it
	// as the unbounded type.
	pt := Type{Kind: t.Kind, Length: Max}
	p, err := pt.Denormalize(pattern)
	if err != nil {
		return false, err
	}
	return like([]rune(v.(string)), []rune(p.(string))), nil
}

// like is glob matching with backtracking to the last %: linear in
// practice, quadratic at worst, never exponential.
func like(s, p []rune) bool {
	si, pi := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		switch {
		case pi < len(p) && (p[pi] == '_' || p[pi] == s[si]) && p[pi] != '%':
			si++
			pi++
		case pi < len(p) && p[pi] == '%':
			star, mark = pi, si
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	return !slices.ContainsFunc(p[pi:], func(r rune) bool { return r != '%' })
}
