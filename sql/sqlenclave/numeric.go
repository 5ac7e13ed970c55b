package sqlenclave

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/confide/confide/oblivious"
	"github.com/confide/confide/sql/decimal"
	"github.com/confide/confide/sql/types"
)

// Arithmetic and aggregates on encrypted numbers (issue 25): the enclave
// decrypts the operands, computes exactly (package decimal), and returns
// the result encrypted — randomized, under the operands' column
// encryption key, with the result's type — so a computed value leaves the
// enclave as ciphertext only.

// fromNormalized reads an integer or DECIMAL plaintext (spec/ae-types.md)
// as a decimal, without branching on its value.
//
//confide:secret pt
func fromNormalized(t types.Type, pt []byte) (decimal.Dec, decimal.Type, error) {
	dt, err := decimal.Of(t)
	if err != nil {
		return decimal.Dec{}, dt, err
	}
	if t.Kind == types.Decimal {
		if len(pt) != 17 {
			return decimal.Dec{}, dt, fmt.Errorf("sqlenclave: a %s plaintext of %d bytes", t, len(pt))
		}
		return decimal.Dec{Neg: 1 - uint64(pt[0]&1), Mag: [2]uint64{binary.LittleEndian.Uint64(pt[1:9]), binary.LittleEndian.Uint64(pt[9:17])}}, dt, nil
	}
	if len(pt) != 8 {
		return decimal.Dec{}, dt, fmt.Errorf("sqlenclave: a %s plaintext of %d bytes", t, len(pt))
	}
	v := binary.LittleEndian.Uint64(pt)
	neg := v >> 63
	mag := oblivious.Select(oblivious.FromBit(neg), -v, v)
	return decimal.Dec{Neg: neg, Mag: [2]uint64{mag, 0}}, decimal.Type{Precision: 19}, nil
}

// intRange is the largest magnitude of each integer kind (TINYINT is
// unsigned: 0–255).
var intRange = map[types.Kind]uint64{types.TinyInt: 255, types.SmallInt: 1<<15 - 1, types.Int: 1<<31 - 1, types.BigInt: 1<<63 - 1}

// toNormalized writes a decimal as type t's plaintext: rounding to t's
// scale, an error when it does not fit.
//
//confide:secret d
func toNormalized(d decimal.Dec, dt decimal.Type, t types.Type) ([]byte, error) {
	if t.Kind == types.Decimal {
		c, err := decimal.Cast(d, dt, decimal.Type{Precision: t.Precision, Scale: t.Scale})
		if err != nil {
			return nil, err
		}
		out := make([]byte, 17)
		out[0] = byte(1 - c.Neg)
		binary.LittleEndian.PutUint64(out[1:], c.Mag[0])
		binary.LittleEndian.PutUint64(out[9:], c.Mag[1])
		return out, nil
	}
	limit, ok := intRange[t.Kind]
	if !ok {
		return nil, fmt.Errorf("sqlenclave: %s is not numeric", t)
	}
	c, err := decimal.Cast(d, dt, decimal.Type{Precision: 20})
	if err != nil {
		return nil, err
	}
	// |v| ≤ limit, and BIGINT's −2^63; TINYINT has no negatives.
	over := oblivious.IsZero(c.Mag[1]).Not().
		Or(oblivious.Gt(c.Mag[0], limit+c.Neg&oblivious.IsZero(uint64(t.Kind)^uint64(types.BigInt)).Bit())).
		Or(oblivious.FromBit(c.Neg).And(oblivious.IsZero(c.Mag[0]).Not()).And(oblivious.IsZero(uint64(t.Kind) ^ uint64(types.TinyInt))))
	if over == oblivious.True {
		return nil, decimal.ErrOverflow
	}
	v := oblivious.Select(oblivious.FromBit(c.Neg), -c.Mag[0], c.Mag[0])
	return binary.LittleEndian.AppendUint64(nil, v), nil
}

// openNumber decrypts an envelope of a numeric type.
func (e *Enclave) openNumber(env string) (string, types.Type, decimal.Dec, decimal.Type, error) {
	name, _, _, err := ParseEnvelope(env)
	if err != nil {
		return "", types.Type{}, decimal.Dec{}, decimal.Type{}, err
	}
	t, pt, err := e.open(env)
	if err != nil {
		return "", types.Type{}, decimal.Dec{}, decimal.Type{}, err
	}
	t = publicType(t)
	d, dt, err := fromNormalized(t, pt)
	return name, t, d, publicDecType(dt), err
}

// publicType marks a type read from an envelope as public: the envelope
// names it in clear, beside the cell.
//
//confide:declassify
func publicType(t types.Type) types.Type { return t }

// publicDecType is publicType for the decimal type derived from it.
//
//confide:declassify
func publicDecType(t decimal.Type) decimal.Type { return t }

// seal encrypts a result under a cached key, randomized.
func (e *Enclave) seal(cek string, d decimal.Dec, dt decimal.Type, t types.Type) (string, error) {
	pt, err := toNormalized(d, dt, t)
	if err != nil {
		return "", err
	}
	return e.Encrypt(pt, cek, t, false)
}

// Arith computes a op b (+ − × /) on two envelopes under one key, as
// type rt (decimal.ResultType of the operands' types), and returns the
// result's envelope. Integer division truncates.
func (e *Enclave) Arith(op byte, a, b string, rt types.Type) (string, error) {
	e.observe("arith", a, b)
	ka, ta, da, dta, err := e.openNumber(a)
	if err != nil {
		return "", err
	}
	kb, tb, db, dtb, err := e.openNumber(b)
	if err != nil {
		return "", err
	}
	if !strings.EqualFold(ka, kb) {
		return "", fmt.Errorf("sqlenclave: operands under keys %q and %q: an expression's encrypted operands must share a key", ka, kb)
	}
	if want, err := decimal.ResultType(op, ta, tb); err != nil || want != rt {
		return "", fmt.Errorf("sqlenclave: %s %c %s is not %s", ta, op, tb, rt)
	}
	var r decimal.Dec
	var rdt decimal.Type
	switch op {
	case '+':
		r, rdt, err = decimal.Add(da, dta, db, dtb)
	case '-':
		r, rdt, err = decimal.Sub(da, dta, db, dtb)
	case '*':
		r, rdt, err = decimal.Mul(da, dta, db, dtb)
	case '/':
		r, rdt, err = decimal.Div(da, dta, db, dtb)
		if err == nil && rt.Kind != types.Decimal {
			r, err = decimal.Round(r, rdt, 0, true)
		}
	default:
		return "", fmt.Errorf("sqlenclave: unknown operator %c", op)
	}
	if err != nil {
		return "", err
	}
	return e.seal(ka, r, rdt, rt)
}

// Round is ROUND(a, n[, truncate]) on an envelope, in a's type.
func (e *Enclave) Round(a string, n int, truncate bool) (string, error) {
	e.observe("round", a)
	k, t, d, dt, err := e.openNumber(a)
	if err != nil {
		return "", err
	}
	r, err := decimal.Round(d, dt, n, truncate)
	if err != nil {
		return "", err
	}
	return e.seal(k, r, dt, t)
}

// Cast converts an envelope's number to type t (CAST(x AS t)): rounding
// half away from zero to t's scale, an error when it does not fit.
func (e *Enclave) Cast(a string, t types.Type) (string, error) {
	e.observe("cast", a)
	k, _, d, dt, err := e.openNumber(a)
	if err != nil {
		return "", err
	}
	return e.seal(k, d, dt, t)
}

// Aggregate is SUM or AVG over envelopes of one key and type, inside the
// enclave.
type Aggregate struct {
	e     *Enclave
	fn    string // "sum" or "avg"
	rt    types.Type
	cek   string
	sum   decimal.Dec
	st    decimal.Type
	count int64
}

// NewAggregate starts SUM or AVG with result type rt
// (decimal.AggregateType).
func (e *Enclave) NewAggregate(fn string, rt types.Type) *Aggregate {
	return &Aggregate{e: e, fn: fn, rt: rt, st: decimal.Type{Precision: decimal.MaxPrecision}}
}

// Step adds one value.
func (a *Aggregate) Step(env string) error {
	a.e.observe(a.fn, env)
	k, _, d, dt, err := a.e.openNumber(env)
	if err != nil {
		return err
	}
	if a.count == 0 {
		a.cek = k
		a.st = decimal.Type{Precision: decimal.MaxPrecision, Scale: dt.Scale}
	} else if !strings.EqualFold(k, a.cek) || dt.Scale != a.st.Scale {
		return fmt.Errorf("sqlenclave: %s over values under different keys or types", strings.ToUpper(a.fn))
	}
	// DECIMAL(38, s) + DECIMAL(p, s) is DECIMAL(38, s) again: the running
	// sum keeps the type set at the first value.
	sum, _, err := decimal.Add(a.sum, a.st, d, dt)
	if err != nil {
		return err
	}
	a.sum = sum
	a.count++
	return nil
}

// Result is the aggregate's envelope; ok is false for no rows (NULL).
func (a *Aggregate) Result() (env string, ok bool, err error) {
	if a.count == 0 {
		return "", false, nil
	}
	d, dt := a.sum, a.st
	if a.fn == "avg" {
		if a.rt.Kind == types.Decimal {
			if d, dt, err = decimal.AvgOf(d, dt, a.count); err != nil {
				return "", false, err
			}
		} else {
			// AVG of integers is an integer, truncated.
			var q decimal.Dec
			if q, dt, err = decimal.Div(d, dt, mustCount(a.count), decimal.Type{Precision: 19}); err != nil {
				return "", false, err
			}
			if d, err = decimal.Round(q, dt, 0, true); err != nil {
				return "", false, err
			}
		}
	}
	env, err = a.e.seal(a.cek, d, dt, a.rt)
	return env, err == nil, err
}

func mustCount(n int64) decimal.Dec { return decimal.Dec{Mag: [2]uint64{uint64(n), 0}} }
