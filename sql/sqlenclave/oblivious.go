package sqlenclave

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"

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
	// Pad, when positive, is a public bound the result is padded to:
	// exactly Pad rows, the real groups and then copies of the first,
	// each value encrypted afresh, so that the host cannot tell them
	// apart; the client drops rows equal to an earlier one (a grouped
	// result has none). It needs an encrypted group key and encrypted
	// outputs only; more groups than Pad is an error, and an empty result
	// stays empty.
	Pad int
}

// PaddedNotice is the NOTICE the server sends before a padded result,
// which tells the driver to drop its repeated rows.
const PaddedNotice = "confide: padded result"

// ErrPadTooSmall reports a result with more groups than its pad bound.
var ErrPadTooSmall = errors.New("sqlenclave: the result has more groups than confide.oblivious_pad")

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
	if p.Pad > 0 {
		if p.GroupCEK == "" || !p.Grouped {
			return nil, fmt.Errorf("sqlenclave: padding needs an encrypted group key")
		}
		for _, o := range p.Outputs {
			if o.Kind == "count" || o.Kind == "count*" {
				return nil, fmt.Errorf("sqlenclave: padding needs encrypted results, and COUNT is plaintext")
			}
		}
		if n > uint64(p.Pad) {
			return nil, ErrPadTooSmall
		}
	}
	rows_ := int(n)
	if p.Pad > 0 && n > 0 {
		rows_ = p.Pad
	}
	out := make([][]any, 0, rows_)
	for i := range rows_ {
		g := groups[0]
		if uint64(i) < n {
			g = groups[i]
		}
		res, err := e.obliviousRow(p, g, vt)
		if err != nil {
			return nil, err
		}
		out = append(out, res)
	}
	return out, nil
}

// obliviousRow is a group's result row, every encrypted value encrypted
// afresh.
func (e *Enclave) obliviousRow(p ObliviousPlan, g oblivq.Group, vt decimal.Type) ([]any, error) {
	var res []any
	var err error
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
	return res, nil
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

// The oblivious scan: the oblivious mode for the enclave scan's plans
// whose GROUP BY columns are plaintext (or absent). The host streams
// every row of the table in storage order; the enclave evaluates every
// row alike — filters as masks, expressions and aggregates in
// constant-time decimal arithmetic, every aggregate updated for every row
// with the row's contribution selected by its mask — so its memory
// accesses depend on the table's size and on its plaintext columns (the
// group a row falls in), which the host holds anyway, and not on the
// encrypted values. An overflow is one error for the whole query, after
// all the work. Rows that a conjunct on a plaintext column rejects are
// skipped: the host computes those verdicts from its own data. (Cells a
// normal-mode query decrypted into the table's image are not decrypted
// again; which ones they are shows what that query's own accesses
// showed.)

// ObliviousScanOK reports whether the oblivious scan runs a plan: GROUP
// BY on plaintext columns only, DECIMAL-typed expressions, ORDER BY on
// plaintext group columns only (an order of encrypted results would show
// how they compare).
func ObliviousScanOK(p ScanPlan) bool {
	for _, g := range p.Groups {
		if p.Inputs[g].CEK != "" {
			return false
		}
	}
	for _, x := range p.Exprs {
		if x.Op != "input" && x.Op != "param" && x.Type.Kind != types.Decimal {
			return false
		}
		if x.Op == "/" || x.Op == "round" {
			return false
		}
	}
	for _, o := range p.Order {
		if p.Outputs[o.Output].Group < 0 {
			return false
		}
	}
	return true
}

// oblAcc is one aggregate of one group, updated for every row.
type oblAcc struct {
	sum      decimal.Dec //confide:secret
	min, max decimal.Dec //confide:secret
	count    uint64      //confide:secret
}

// oblGroup is a plaintext group's accumulators.
type oblGroup struct {
	key   string
	first []any
	rows  uint64 //confide:secret
	aggs  []oblAcc
}

// RunObliviousScan runs a plan obliviously over every row of a table
// (one value per input, in storage order).
func (e *Enclave) RunObliviousScan(p ScanPlan, rows [][]any) ([][]any, error) {
	if e.observer.Load() != nil {
		var envs []string
		for _, r := range rows {
			for _, v := range r {
				if s, ok := v.(string); ok && strings.HasPrefix(s, envelopePrefix) {
					envs = append(envs, s)
				}
			}
		}
		e.observe("oblivious", envs...)
	}
	img, err := batchImage(p, rows)
	if err != nil {
		return nil, err
	}
	return e.RunObliviousImage(img, p)
}

// RunObliviousImage runs a plan obliviously over every row of a table
// image (see LoadImage), decrypting every encrypted input of every row.
func (e *Enclave) RunObliviousImage(img *TableImage, p ScanPlan) ([][]any, error) {
	if !ObliviousScanOK(p) {
		return nil, fmt.Errorf("sqlenclave: the oblivious mode does not run this plan")
	}
	img.mu.Lock()
	defer img.mu.Unlock()
	cols, err := img.columns(p)
	if err != nil {
		return nil, err
	}
	// The evaluator checks the plan and decrypts the parameters; its
	// per-row machinery is the normal mode's and is not used.
	checked := p // the evaluator keeps a pointer to its plan
	ev, err := e.newEvaluator(&checked)
	if err != nil {
		return nil, err
	}
	ev.cols = cols
	// Expression and input types (the query's: public), the parameters'
	// NULLs (public too), and filter arguments in their column's type.
	xt := make([]decimal.Type, len(p.Exprs))
	shapes := make([]oblOp, len(p.Exprs))
	paramNull := make([]bool, len(p.Exprs))
	for i, x := range p.Exprs {
		t, err := decimal.Of(x.Type)
		if err != nil {
			return nil, err
		}
		xt[i] = publicDecType(t)
		paramNull[i] = publicNull(ev.params[i])
		shapes[i] = publicShape(x)
	}
	dts := make([]decimal.Type, len(p.Inputs))
	for j, in := range p.Inputs {
		if decimal.Numeric(in.Type) {
			t, err := decimal.Of(in.Type)
			if err != nil {
				return nil, err
			}
			dts[j] = publicDecType(t)
		}
	}
	type oblFilter struct {
		in    int
		op    string
		plain any
		arg   decimal.Dec
		null  bool
	}
	var flts []oblFilter
	for _, f := range p.Filters {
		of := oblFilter{in: f.Input, op: f.Op, plain: f.Arg, null: f.Arg == nil}
		if p.Inputs[f.Input].CEK != "" && !of.null {
			env, _ := f.Arg.(string) // the evaluator checked it
			_, _, d, dt, err := e.openNumber(env)
			if err != nil {
				return nil, err
			}
			if of.arg, err = decimal.Cast(d, dt, dts[publicIndex(f.Input)]); err != nil {
				return nil, fmt.Errorf("sqlenclave: a filter parameter does not fit %s: %w", p.Inputs[f.Input].Type, err)
			}
			of.plain = nil
		}
		flts = append(flts, of)
	}
	// Workers take ranges of rows, each with its own accumulators, merged
	// in row order.
	type part struct {
		groups   map[string]*oblGroup
		order    []*oblGroup
		overflow oblivious.Mask
		err      error
	}
	n := len(img.rowids)
	workers := max(1, min(runtime.GOMAXPROCS(0), n/4096))
	parts := make([]part, workers)
	var wg sync.WaitGroup
	for w := range parts {
		lo, hi := n*w/workers, n*(w+1)/workers
		wev := ev
		if w > 0 {
			// Each worker decrypts with its own evaluator (its buffers).
			if wev, err = e.newEvaluator(&checked); err != nil {
				return nil, err
			}
			wev.cols = cols
		}
		wg.Go(func() {
			pt := &parts[w]
			pt.groups = map[string]*oblGroup{}
			vals := make([]decimal.Dec, len(p.Exprs))
			nulls := make([]bool, len(p.Exprs))
			inputs := make([]decimal.Dec, len(p.Inputs))
			var key []byte
			row := make([]any, len(p.Inputs))
		rows:
			for r := lo; r < hi; r++ {
				// Conjuncts on plaintext columns first: their verdicts are
				// the host's to compute already, so a row they reject is
				// skipped, which shows nothing the host does not know.
				for j, in := range p.Inputs {
					if in.CEK == "" {
						row[j] = cols[j].plain[r]
					}
				}
				for _, f := range flts {
					if p.Inputs[f.in].CEK != "" {
						continue
					}
					if f.null || row[f.in] == nil || !publicVerdict(f.op, comparePlain(row[f.in], f.plain)) {
						continue rows
					}
				}
				// Decrypt every encrypted numeric input of every other
				// row: which ones a row needs must not depend on the
				// others.
				for j, in := range p.Inputs {
					if in.CEK == "" {
						continue
					}
					if !decimal.Numeric(in.Type) {
						pt.err = fmt.Errorf("sqlenclave: the oblivious mode reads numbers, not %s", in.Type)
						return
					}
					num, err := wev.number(j, r)
					if err != nil {
						pt.err = err
						return
					}
					row[j] = true // not NULL (NULLs are visible to the host)
					if num.null {
						row[j] = nil
					}
					inputs[j] = num.d
				}
				keep := oblivious.True
				for _, f := range flts {
					if p.Inputs[f.in].CEK == "" {
						continue // passed above
					}
					if f.null || row[f.in] == nil {
						keep = oblivious.False // NULL passes no filter; NULLs are visible to the host
						continue
					}
					keep = keep.And(compareMask(publicOp(f.op), inputs[f.in], f.arg))
				}
				for i, x := range p.Exprs {
					nulls[i] = exprNull(x, i, row, nulls, paramNull)
					var over oblivious.Mask
					vals[i], over = obliviousExpr(shapes[i], i, inputs, vals, wev.params, xt)
					pt.overflow = pt.overflow.Or(keep.And(over))
				}
				key = key[:0]
				for _, gi := range p.Groups {
					key = appendKey(key, row[gi])
				}
				g := pt.groups[string(key)]
				if g == nil {
					g = &oblGroup{key: string(key), first: make([]any, len(p.Groups)), aggs: make([]oblAcc, len(p.Aggs))}
					for k, gi := range p.Groups {
						g.first[k] = row[gi]
					}
					pt.groups[string(key)] = g
					pt.order = append(pt.order, g)
				}
				g.rows += keep.Bit()
				for j, a := range p.Aggs {
					if a.Fn == "count*" || nulls[a.Expr] {
						continue // NULL is visible to the host: a public branch
					}
					pt.overflow = pt.overflow.Or(obliviousStep(&g.aggs[j], keep, vals[a.Expr]))
				}
			}
		})
	}
	wg.Wait()
	groups := map[string]*oblGroup{}
	var order []*oblGroup
	var overflow oblivious.Mask
	for _, pt := range parts {
		if pt.err != nil {
			return nil, pt.err
		}
		overflow = overflow.Or(pt.overflow)
		for _, og := range pt.order {
			g := groups[og.key]
			if g == nil {
				groups[og.key] = og
				order = append(order, og)
				continue
			}
			g.rows += og.rows
			for j := range g.aggs {
				overflow = overflow.Or(obliviousMerge(&g.aggs[j], &og.aggs[j]))
			}
		}
	}
	if overflow == oblivious.True {
		return nil, decimal.ErrOverflow
	}
	if len(p.Groups) == 0 && len(order) == 0 {
		order = append(order, &oblGroup{aggs: make([]oblAcc, len(p.Aggs))})
	}
	// The result: the groups that kept a row (without GROUP BY, the one
	// group), as the normal mode's accumulators would hold them.
	out := ev
	out.order = nil
	for _, g := range order {
		if len(p.Groups) > 0 && g.rows == 0 {
			continue
		}
		sg := &scanGroup{first: g.first, aggs: make([]scanAcc, len(p.Aggs))}
		for j, a := range p.Aggs {
			acc := &sg.aggs[j]
			if a.Fn == "count*" {
				acc.count = int64(g.rows)
				continue
			}
			acc.count = int64(g.aggs[j].count)
			acc.sum, acc.min, acc.max = g.aggs[j].sum, g.aggs[j].min, g.aggs[j].max
			acc.vt = xt[a.Expr]
			acc.st = decimal.Type{Precision: decimal.MaxPrecision, Scale: xt[a.Expr].Scale}
		}
		out.order = append(out.order, sg)
	}
	return out.result()
}

// oblOp is an expression's shape, which is the query's text.
type oblOp struct {
	op       byte // 'i' input, 'p' param, 'c' cast, or + - *
	in, l, r int
}

// publicShape declassifies an expression's shape: it is the query's
// text (the plan also holds ciphertexts, which the checker cannot tell
// from what they encrypt).
//
//confide:declassify
func publicShape(x ScanExpr) oblOp {
	o := oblOp{in: x.Input, l: x.L, r: x.R}
	switch x.Op {
	case "input":
		o.op = 'i'
	case "param":
		o.op = 'p'
	case "cast":
		o.op = 'c'
	default:
		o.op = x.Op[0]
	}
	return o
}

// publicIndex declassifies a position taken from the query's plan.
//
//confide:declassify
func publicIndex(i int) int { return i }

// publicNull declassifies whether a parameter is NULL: the host sent it.
//
//confide:declassify
func publicNull(n number) bool { return n.null }

// exprNull is whether expression i of a row is NULL: public, since
// NULLs are visible to the host.
func exprNull(x ScanExpr, i int, row []any, nulls, paramNull []bool) bool {
	switch x.Op {
	case "input":
		return row[x.Input] == nil
	case "param":
		return paramNull[i]
	case "cast", "round":
		return nulls[x.L]
	}
	return nulls[x.L] || nulls[x.R]
}

// obliviousExpr evaluates expression i of a row in constant time: its
// value (meaningless when exprNull says NULL), and a mask that is True
// on overflow.
//
//confide:oblivious
//confide:secret inputs vals params
func obliviousExpr(x oblOp, i int, inputs, vals []decimal.Dec, params []number, xt []decimal.Type) (decimal.Dec, oblivious.Mask) {
	switch x.op {
	case 'i':
		return inputs[x.in], oblivious.False
	case 'p':
		return params[i].d, oblivious.False
	}
	l := vals[x.l]
	if x.op == 'c' {
		return decimal.CastCT(l, xt[x.l], xt[i])
	}
	r := vals[x.r]
	var d decimal.Dec
	var dt decimal.Type
	var over oblivious.Mask
	switch x.op {
	case '+':
		d, dt, over = decimal.AddTypedCT(l, xt[x.l], r, xt[x.r])
	case '-':
		d, dt, over = decimal.SubTypedCT(l, xt[x.l], r, xt[x.r])
	default:
		d, dt, over = decimal.MulCT(l, xt[x.l], r, xt[x.r])
	}
	c, over2 := decimal.CastCT(d, dt, xt[i])
	return c, over.Or(over2)
}

// obliviousMerge adds a worker's accumulator b to a, in constant time;
// it returns the overflow mask.
//
//confide:oblivious
//confide:secret a b
func obliviousMerge(a, b *oblAcc) oblivious.Mask {
	sum, over := decimal.AddCT(a.sum, b.sum)
	a.sum = sum
	aHas, bHas := oblivious.IsZero(a.count).Not(), oblivious.IsZero(b.count).Not()
	a.min = decimal.SelectDec(bHas.And(aHas.Not().Or(decimal.LessCT(b.min, a.min))), b.min, a.min)
	a.max = decimal.SelectDec(bHas.And(aHas.Not().Or(decimal.LessCT(a.max, b.max))), b.max, a.max)
	a.count += b.count
	return over
}

// obliviousStep adds a row's value to an aggregate when keep is True,
// doing the same work either way; it returns the overflow mask.
//
//confide:oblivious
//confide:secret a keep v
func obliviousStep(a *oblAcc, keep oblivious.Mask, v decimal.Dec) oblivious.Mask {
	first := oblivious.IsZero(a.count)
	sum, over := decimal.AddCT(a.sum, decimal.SelectDec(keep, v, decimal.Dec{}))
	a.sum = sum
	a.min = decimal.SelectDec(keep.And(first.Or(decimal.LessCT(v, a.min))), v, a.min)
	a.max = decimal.SelectDec(keep.And(first.Or(decimal.LessCT(a.max, v))), v, a.max)
	a.count += keep.Bit()
	return over
}
