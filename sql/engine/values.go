package engine

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/confide/confide/sql/types"
	"github.com/confide/confide/sql/wire"
)

// PostgreSQL type OIDs the engine speaks.
const (
	oidBool      = 16
	oidBytea     = 17
	oidInt8      = 20
	oidInt2      = 21
	oidInt4      = 23
	oidText      = 25
	oidDate      = 1082
	oidTimestamp = 1114
	oidNumeric   = 1700
	oidUUID      = 2950
)

// oidOf is the wire type of a column: bytea for an encrypted one (the
// client sees its cell), else the type's PostgreSQL counterpart.
func oidOf(c *column) uint32 {
	if c == nil {
		return oidText
	}
	if c.Encrypted() {
		return oidBytea
	}
	switch c.Type.Kind {
	case types.TinyInt, types.SmallInt:
		return oidInt2
	case types.Int:
		return oidInt4
	case types.BigInt:
		return oidInt8
	case types.Bit:
		return oidBool
	case types.Decimal:
		return oidNumeric
	case types.Date:
		return oidDate
	case types.DateTime2:
		return oidTimestamp
	case types.UniqueIdentifier:
		return oidUUID
	case types.VarBinary:
		return oidBytea
	}
	return oidText
}

// storageType is the SQLite type a column is declared with: BLOB for
// encrypted columns and binary data, INTEGER for integers and bits, TEXT
// for the rest (decimals as their exact text).
func storageType(c column) string {
	if c.Enclave {
		return "TEXT" // an envelope, under the collation confide_ae
	}
	if c.Encrypted() {
		return "BLOB"
	}
	switch c.Type.Kind {
	case types.TinyInt, types.SmallInt, types.Int, types.BigInt, types.Bit:
		return "INTEGER"
	case types.VarBinary:
		return "BLOB"
	case types.Decimal:
		// SQLite's NUMERIC affinity: stored as an integer or a double,
		// so that comparisons and sums are numeric (as TEXT, 9.00 sorted
		// after 24.00). Past 15 significant digits it is not exact; an
		// encrypted DECIMAL, which the enclave computes on, is.
		return "NUMERIC"
	}
	return "TEXT"
}

var pgEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// decodeParam turns a wire parameter into an SQLite argument.
func decodeParam(p wire.Param, oid uint32, n int) (any, error) {
	if p.Value == nil {
		return nil, nil
	}
	bad := func(why string) (any, error) {
		return nil, &wire.Error{Code: "22P02", Message: fmt.Sprintf("parameter $%d: %s", n, why)}
	}
	if p.Format == wire.TextFormat {
		s := string(p.Value)
		switch oid {
		case oidBytea:
			h, ok := strings.CutPrefix(s, `\x`)
			if !ok {
				return bad(`bytea in text format must be \x followed by hex`)
			}
			b, err := hex.DecodeString(h)
			if err != nil {
				return bad("bad hex")
			}
			return b, nil
		case oidInt2, oidInt4, oidInt8:
			v, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return bad("not an integer")
			}
			return v, nil
		case oidBool:
			switch strings.ToLower(s) {
			case "t", "true", "1", "on", "yes":
				return int64(1), nil
			case "f", "false", "0", "off", "no":
				return int64(0), nil
			}
			return bad("not a boolean")
		}
		return s, nil
	}
	b := p.Value
	switch oid {
	case oidBytea, oidText:
		if oid == oidText {
			return string(b), nil
		}
		return b, nil
	case oidInt2:
		if len(b) == 2 {
			return int64(int16(binary.BigEndian.Uint16(b))), nil
		}
	case oidInt4:
		if len(b) == 4 {
			return int64(int32(binary.BigEndian.Uint32(b))), nil
		}
	case oidInt8:
		if len(b) == 8 {
			return int64(binary.BigEndian.Uint64(b)), nil
		}
	case oidBool:
		if len(b) == 1 && b[0] <= 1 {
			return int64(b[0]), nil
		}
	case oidUUID:
		if len(b) == 16 {
			return formatUUID(b), nil
		}
	case oidDate:
		if len(b) == 4 {
			return pgEpoch.AddDate(0, 0, int(int32(binary.BigEndian.Uint32(b)))).Format(time.DateOnly), nil
		}
	case oidTimestamp:
		if len(b) == 8 {
			us := int64(binary.BigEndian.Uint64(b))
			return time.Unix(pgEpoch.Unix()+us/1e6, (us%1e6)*1e3).UTC().Format("2006-01-02 15:04:05.999999"), nil
		}
	default:
		return bad(fmt.Sprintf("binary format of type %d is not supported", oid))
	}
	return bad("binary value of the wrong length")
}

// numericBinary encodes a decimal string in PostgreSQL's binary numeric
// format: ndigits, weight, sign, dscale (int16 each, big-endian), then
// base-10000 digits, most significant first.
func numericBinary(s string) ([]byte, error) {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(strings.TrimPrefix(s, "-"), "+")
	whole, frac, _ := strings.Cut(s, ".")
	if strings.Trim(whole+frac, "0123456789") != "" || whole+frac == "" {
		return nil, fmt.Errorf("engine: stored decimal %q", s)
	}
	dscale := len(frac)
	whole = strings.TrimLeft(whole, "0")
	// Pad the whole part on the left and the fraction on the right to
	// multiples of four digits: base-10000 groups.
	whole = strings.Repeat("0", (4-len(whole)%4)%4) + whole
	frac += strings.Repeat("0", (4-len(frac)%4)%4)
	var groups []uint16
	for i := 0; i < len(whole); i += 4 {
		n, _ := strconv.Atoi(whole[i : i+4])
		groups = append(groups, uint16(n))
	}
	for i := 0; i < len(frac); i += 4 {
		n, _ := strconv.Atoi(frac[i : i+4])
		groups = append(groups, uint16(n))
	}
	weight := len(whole)/4 - 1
	// Strip leading and trailing zero groups.
	for len(groups) > 0 && groups[0] == 0 {
		groups = groups[1:]
		weight--
	}
	for len(groups) > 0 && groups[len(groups)-1] == 0 {
		groups = groups[:len(groups)-1]
	}
	sign := uint16(0)
	if neg && len(groups) > 0 {
		sign = 0x4000
	}
	if len(groups) == 0 {
		weight = 0
	}
	out := binary.BigEndian.AppendUint16(nil, uint16(len(groups)))
	out = binary.BigEndian.AppendUint16(out, uint16(int16(weight)))
	out = binary.BigEndian.AppendUint16(out, sign)
	out = binary.BigEndian.AppendUint16(out, uint16(dscale))
	for _, g := range groups {
		out = binary.BigEndian.AppendUint16(out, g)
	}
	return out, nil
}

func formatUUID(b []byte) string {
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// encodeValue writes an SQLite value in the column's wire type and format.
func encodeValue(v any, oid uint32, format int16) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	var text string
	switch x := v.(type) {
	case []byte:
		if oid == oidBytea {
			if format == wire.BinaryFormat {
				return x, nil
			}
			return []byte(`\x` + hex.EncodeToString(x)), nil
		}
		text = string(x)
	case string:
		text = x
	case int64:
		if oid == oidBool {
			text = map[bool]string{true: "t", false: "f"}[x != 0]
		} else {
			text = strconv.FormatInt(x, 10)
		}
	case float64:
		text = strconv.FormatFloat(x, 'g', -1, 64)
	case time.Time:
		text = x.UTC().Format("2006-01-02 15:04:05.999999")
	default:
		text = fmt.Sprint(x)
	}
	if format == wire.TextFormat {
		return []byte(text), nil
	}
	switch oid {
	case oidNumeric:
		return numericBinary(text)
	case oidText:
		return []byte(text), nil
	case oidBytea:
		return []byte(text), nil
	case oidInt2, oidInt4, oidInt8:
		n, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			return nil, err
		}
		switch oid {
		case oidInt2:
			if n < math.MinInt16 || n > math.MaxInt16 {
				return nil, fmt.Errorf("value %d out of int2", n)
			}
			return binary.BigEndian.AppendUint16(nil, uint16(n)), nil
		case oidInt4:
			return binary.BigEndian.AppendUint32(nil, uint32(n)), nil
		}
		return binary.BigEndian.AppendUint64(nil, uint64(n)), nil
	case oidBool:
		if text == "t" {
			return []byte{1}, nil
		}
		return []byte{0}, nil
	case oidUUID:
		b, err := hex.DecodeString(strings.ReplaceAll(text, "-", ""))
		if err != nil || len(b) != 16 {
			return nil, fmt.Errorf("stored uuid %q", text)
		}
		return b, nil
	case oidDate:
		d, err := time.Parse(time.DateOnly, text)
		if err != nil {
			return nil, err
		}
		return binary.BigEndian.AppendUint32(nil, uint32(int32((d.Unix()-pgEpoch.Unix())/86400))), nil
	case oidTimestamp:
		t, err := time.Parse("2006-01-02 15:04:05.999999", text)
		if err != nil {
			return nil, err
		}
		return binary.BigEndian.AppendUint64(nil, uint64((t.Unix()-pgEpoch.Unix())*1e6+int64(t.Nanosecond()/1e3))), nil
	}
	return []byte(text), nil
}
