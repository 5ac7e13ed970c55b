package sqlenclave

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/confide/confide/oblivious"
	"github.com/confide/confide/sql/decimal"
	"github.com/confide/confide/sql/oblivq"
	"github.com/confide/confide/sql/types"
)

// The oblivious mode (issue 25): the host streams every row of a table,
// in storage order, to the enclave, which filters, groups and aggregates
// them with package oblivq. What leaves the enclave depends only on the
// number of rows and the number of groups.

// ObliviousPlan is an aggregate query the enclave runs obliviously:
//
//	SELECT [g,] agg(v), … FROM t [WHERE v op $1 [AND …]] [GROUP BY g]
//
// Each row the host passes is [g, v]: g an envelope or a plaintext
// integer (int64), absent without GROUP BY; v an envelope of a numeric
// enclave-enabled column; nil for NULL.
type ObliviousPlan struct {
	Grouped bool
	// Group is the group column's type (integers, BIT and DATE encode
	// exactly into the 64-bit sort key), GroupCEK its key (empty for a
	// plaintext column).
	Group    types.Type
	GroupCEK string
	// Value is v's type and CEK; results are encrypted under it.
	Value types.Type
	CEK   string
	// Filters are conjuncts on v: v Op Arg, Arg an envelope under CEK.
	Filters []ObliviousFilter
	// Outputs are the result columns: "group", "sum", "avg", "min",
	// "max", "count" (of v) or "count*", with their types.
	Outputs []ObliviousOutput
}

// ObliviousFilter is one conjunct v Op Arg.
type ObliviousFilter struct {
	Op  string // <, <=, >, >=, =, <>
	Arg string // an envelope
	// OnGroup filters the group column instead of v: Arg is an envelope
	// under GroupCEK, or, for a plaintext group column, ArgInt the value.
	OnGroup bool
	ArgInt  int64
}

// ObliviousOutput is one result column.
type ObliviousOutput struct {
	Kind string
	Type types.Type
}

// groupKey encodes an exact, order-preserving 64-bit key, for the types
// oblivious grouping supports.
//
//confide:oblivious
//confide:secret pt
func groupKey(t types.Type, pt []byte) uint64 {
	if t.Kind == types.Date {
		var b [8]byte
		copy(b[:], pt)
		return binary.LittleEndian.Uint64(b[:])
	}
	var b [8]byte
	copy(b[:], pt)
	return binary.LittleEndian.Uint64(b[:]) ^ 1<<63 // signed order
}

// GroupableObliviously reports whether a column type can be an oblivious
// GROUP BY key.
func GroupableObliviously(t types.Type) bool {
	switch t.Kind {
	case types.TinyInt, types.SmallInt, types.Int, types.BigInt, types.Bit, types.Date:
		return true
	}
	return false
}

// RunOblivious runs a plan over rows and returns the result rows:
// envelopes for encrypted outputs, int64 for counts and plaintext group
// keys. Every row costs the same work; the rows out are the groups, in
// ascending key order.
func (e *Enclave) RunOblivious(p ObliviousPlan, rows [][]any) ([][]any, error) {
	if e.observer.Load() != nil {
		var envs []string
		for _, r := range rows {
			for _, v := range r {
				if s, ok := v.(string); ok {
					envs = append(envs, s)
				}
			}
		}
		e.observe("oblivious", envs...)
	}
	filters := make([]decimal.Dec, len(p.Filters))
	groupArgs := make([]uint64, len(p.Filters))
	vt, err := decimal.Of(publicType(p.Value))
	if err != nil {
		return nil, err
	}
	vt = publicDecType(vt)
	for i, f := range p.Filters {
		if f.OnGroup {
			if p.GroupCEK == "" {
				groupArgs[i] = uint64(f.ArgInt) ^ 1<<63
				continue
			}
			k, t, pt, err := e.openCell(f.Arg)
			if err != nil {
				return nil, err
			}
			if !strings.EqualFold(k, p.GroupCEK) || t != p.Group {
				return nil, fmt.Errorf("sqlenclave: a group filter parameter of %s under %q", t, k)
			}
			groupArgs[i] = groupKey(t, pt)
			continue
		}
		k, t, d, dt, err := e.openNumber(f.Arg)
		if err != nil {
			return nil, err
		}
		if !strings.EqualFold(k, p.CEK) {
			return nil, fmt.Errorf("sqlenclave: a filter parameter under %q, not %q", k, p.CEK)
		}
		if filters[i], err = decimal.Cast(d, dt, vt); err != nil {
			return nil, fmt.Errorf("sqlenclave: a %s filter parameter does not fit %s: %w", t, p.Value, err)
		}
	}
	in := make([]oblivq.Row, len(rows))
	for i, r := range rows {
		row := &in[i]
		row.Keep = oblivious.True
		if p.Grouped {
			switch g := r[0].(type) {
			case nil:
				// NULL group keys form no group in the oblivious mode
				// (documented): the row is dropped like a filtered one.
				row.Keep = oblivious.False
			case int64:
				row.Group = uint64(g) ^ 1<<63
			case string:
				_, t, pt, err := e.openCell(g)
				if err != nil {
					return nil, err
				}
				if t != p.Group {
					return nil, fmt.Errorf("sqlenclave: a %s group key in a %s column", t, p.Group)
				}
				row.Group = groupKey(t, pt)
			default:
				return nil, fmt.Errorf("sqlenclave: a %T group key", g)
			}
		}
		v := r[len(r)-1]
		if v == nil {
			row.Null = 1
		} else {
			s, ok := v.(string)
			if !ok {
				return nil, fmt.Errorf("sqlenclave: the oblivious mode aggregates encrypted columns")
			}
			_, t, d, _, err := e.openNumber(s)
			if err != nil {
				return nil, err
			}
			if t != p.Value {
				return nil, fmt.Errorf("sqlenclave: a %s value in a %s column", t, p.Value)
			}
			row.Value = d
		}
		for j, f := range p.Filters {
			if f.OnGroup {
				row.Keep = row.Keep.And(compareKey(publicOp(f.Op), row.Group, groupArgs[j]))
				continue
			}
			row.Keep = row.Keep.And(oblivious.FromBit(row.Null).Not()).And(compareMask(publicOp(f.Op), row.Value, filters[j]))
		}
	}
	groups, n, err := oblivq.GroupBy(in)
	if err != nil {
		return nil, err
	}
	out := make([][]any, 0, n)
	for _, g := range groups[:n] {
		var res []any
		for _, o := range p.Outputs {
			var v any
			switch o.Kind {
			case "group":
				if p.GroupCEK == "" {
					v = int64(g.Key ^ 1<<63)
					break
				}
				// The key is the value's exact encoding: encrypt it afresh.
				if v, err = e.Encrypt(keyPlaintext(publicType(p.Group), g.Key), p.GroupCEK, publicType(p.Group), false); err != nil {
					return nil, err
				}
			case "count*":
				v = int64(g.Rows)
			case "count":
				v = int64(g.Count)
			case "sum", "avg", "min", "max":
				if g.Count == 0 {
					break // NULL
				}
				d, dt := g.Sum, decimal.Type{Precision: decimal.MaxPrecision, Scale: vt.Scale}
				switch o.Kind {
				case "avg":
					if o.Type.Kind == types.Decimal {
						d, dt, err = decimal.AvgOf(d, dt, int64(g.Count))
					} else {
						var q decimal.Dec
						if q, dt, err = decimal.Div(d, dt, decimal.Dec{Mag: [2]uint64{g.Count}}, decimal.Type{Precision: 19}); err == nil {
							d, err = decimal.Round(q, dt, 0, true)
						}
					}
				case "min":
					d, dt = g.Min, vt
				case "max":
					d, dt = g.Max, vt
				}
				if err == nil {
					v, err = e.seal(p.CEK, d, publicDecType(dt), publicType(o.Type))
				}
				if err != nil {
					return nil, err
				}
			default:
				return nil, fmt.Errorf("sqlenclave: unknown output %q", o.Kind)
			}
			res = append(res, v)
		}
		out = append(out, res)
	}
	return out, nil
}

// publicOp marks a filter's operator as public: it is the query's text.
//
//confide:declassify
func publicOp(op string) string { return op }

// compareMask is a op b, branch-free.
//
//confide:oblivious
//confide:secret a b
func compareMask(op string, a, b decimal.Dec) oblivious.Mask {
	lt, gt := decimal.LessCT(a, b), decimal.LessCT(b, a)
	eq := lt.Or(gt).Not()
	switch op { // public: the query's operator
	case "<":
		return lt
	case "<=":
		return gt.Not()
	case ">":
		return gt
	case ">=":
		return lt.Not()
	case "=":
		return eq
	}
	return eq.Not()
}

// keyPlaintext is groupKey's inverse: the normalized plaintext of a key.
func keyPlaintext(t types.Type, key uint64) []byte {
	if t.Kind == types.Date {
		return binary.LittleEndian.AppendUint64(nil, key)[:3]
	}
	return binary.LittleEndian.AppendUint64(nil, key^1<<63)
}

// compareKey is a op b on group keys, branch-free.
//
//confide:oblivious
//confide:secret a b
func compareKey(op string, a, b uint64) oblivious.Mask {
	switch op { // public: the query's operator
	case "<":
		return oblivious.Lt(a, b)
	case "<=":
		return oblivious.Le(a, b)
	case ">":
		return oblivious.Gt(a, b)
	case ">=":
		return oblivious.Ge(a, b)
	case "=":
		return oblivious.Eq(a, b)
	}
	return oblivious.Eq(a, b).Not()
}

// openCell decrypts an envelope for grouping.
func (e *Enclave) openCell(env string) (string, types.Type, []byte, error) {
	name, _, _, err := ParseEnvelope(env)
	if err != nil {
		return "", types.Type{}, nil, err
	}
	t, pt, err := e.open(env)
	return name, publicType(t), pt, err
}
