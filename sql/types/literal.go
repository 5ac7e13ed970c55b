package types

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseLiteral reads a SQL literal's text as a value of the type, for
// clients that turn literals into parameters.
func (t Type) ParseLiteral(s string) (any, error) {
	switch t.Kind {
	case TinyInt, SmallInt, Int, BigInt:
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w %s: %q is not an integer", ErrValue, t, s)
		}
		return n, nil
	case Bit:
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "1", "true", "t":
			return true, nil
		case "0", "false", "f":
			return false, nil
		}
		return nil, fmt.Errorf("%w %s: %q is not a bit", ErrValue, t, s)
	case Decimal:
		return ParseDec(strings.TrimSpace(s), t.Scale)
	case Date:
		d, err := time.Parse(time.DateOnly, strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("%w %s: %q is not a date (YYYY-MM-DD)", ErrValue, t, s)
		}
		return d, nil
	case DateTime2:
		for _, layout := range []string{"2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999", time.DateOnly} {
			if d, err := time.Parse(layout, strings.TrimSpace(s)); err == nil {
				return d, nil
			}
		}
		return nil, fmt.Errorf("%w %s: %q is not a date and time", ErrValue, t, s)
	case UniqueIdentifier:
		return ParseUUID(strings.TrimSpace(s))
	case VarBinary:
		return nil, fmt.Errorf("%w %s: give binary values as parameters", ErrValue, t)
	}
	return s, nil
}
