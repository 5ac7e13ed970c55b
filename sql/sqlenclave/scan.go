package sqlenclave

import (
	"cmp"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"

	"github.com/confide/confide/sql/cell"
	"github.com/confide/confide/sql/decimal"
	"github.com/confide/confide/sql/types"
)

// The enclave scan (issue 25): an aggregate query over one table whose
// aggregates are computed from encrypted columns runs as one pass of the
// host's matching rows through the enclave, in batches, instead of one
// enclave call per row and per operator. The host filters (WHERE) as in
// the rest of the normal mode; the enclave decrypts the operands,
// evaluates the expressions, groups, aggregates and orders, keeping
// intermediate values in plaintext inside the enclave (the per-call
// functions have to encrypt every intermediate result, since it crosses
// back to the host). What leaves is the result rows, computed values
// encrypted (randomized) under their operands' key.
//
// The enclave keeps decrypted numbers between queries (cells are read
// again for the next query; the cache only saves their decryption),
// keyed by key name and cell MAC: a host that presents a known MAC learns
// nothing it could not learn by presenting the cell itself, and the MAC
// cannot be forged for another plaintext without the key.

// ScanPlan is an aggregate query the enclave evaluates over the rows the
// host streams. Each streamed row holds one value per input.
type ScanPlan struct {
	Inputs []ScanInput
	// Groups are the GROUP BY inputs (none: one group, always returned).
	Groups []int
	// Exprs are the aggregates' operands, each over inputs, parameters
	// and earlier expressions.
	Exprs   []ScanExpr
	Aggs    []ScanAgg
	Outputs []ScanOutput
	Order   []ScanOrder
}

// ScanInput is a streamed column: its type, and its key name for an
// enclave-enabled column ("" for plaintext).
type ScanInput struct {
	Type types.Type
	CEK  string
}

// ScanExpr is an expression node. Op is "input" (Input), "param" (Param,
// an envelope), "+", "-", "*", "/" (L, R: earlier expressions), "round"
// (L, N, Truncate) or "cast" (L); Type is its result type, as the binder
// gave it.
type ScanExpr struct {
	Op       string
	Input    int
	Param    string
	L, R     int
	N        int
	Truncate bool
	Type     types.Type
}

// ScanAgg is an aggregate: Fn is "sum", "avg", "min", "max", "count" (of
// Expr) or "count*"; Type is its result type.
type ScanAgg struct {
	Fn   string
	Expr int
	Type types.Type
}

// ScanOutput is a result column: a group column (Group ≥ 0, an index
// into Groups) or an aggregate (Agg ≥ 0).
type ScanOutput struct {
	Group, Agg int
}

// ScanOrder is one ORDER BY key: a result column.
type ScanOrder struct {
	Output int
	Desc   bool
}

// Scan is a running enclave scan.
type Scan struct {
	e      *Enclave
	p      ScanPlan
	cek    []string // per expression, lower-cased ("" for none)
	keys   []*cell.Key
	prefix []string // per input: the envelope prefix of its column
	cache  []map[[32]byte]cachedNumber
	params []number // per expression of Op "param"
	groups map[string]*scanGroup
	order  []*scanGroup
	vals   []number
	key    []byte
	// fresh holds numbers decrypted by this scan, added to the cache at
	// the end (a failed scan adds nothing).
	fresh []freshNumber
}

type number struct {
	d    decimal.Dec //confide:secret
	t    decimal.Type
	null bool
}

type cachedNumber struct {
	typ types.Type
	d   decimal.Dec //confide:secret
}

type freshNumber struct {
	input int
	mac   [32]byte
	n     cachedNumber
}

type scanGroup struct {
	first []any // the group's input values, from its first row
	aggs  []scanAcc
}

type scanAcc struct {
	sum      decimal.Dec //confide:secret
	st       decimal.Type
	min, max decimal.Dec  //confide:secret
	vt       decimal.Type // the values' type: one per expression
	count    int64
}

// maxCachedNumbers bounds the numbers the enclave keeps decrypted
// between scans (about 100 bytes each); past it the cache starts again.
const maxCachedNumbers = 1 << 23

// NewScan checks a plan and starts it.
func (e *Enclave) NewScan(p ScanPlan) (*Scan, error) {
	s := &Scan{e: e, p: p, cek: make([]string, len(p.Exprs)), prefix: make([]string, len(p.Inputs)),
		cache: make([]map[[32]byte]cachedNumber, len(p.Inputs)), keys: make([]*cell.Key, len(p.Inputs)),
		params: make([]number, len(p.Exprs)), groups: map[string]*scanGroup{}, vals: make([]number, len(p.Exprs))}
	b64 := base64.RawURLEncoding
	for i, in := range p.Inputs {
		if in.CEK == "" {
			continue
		}
		k, ok := e.CellKey(in.CEK)
		if !ok {
			return nil, fmt.Errorf("sqlenclave: column encryption key %q is not in the enclave", in.CEK)
		}
		s.keys[i] = k
		s.prefix[i] = envelopePrefix + b64.EncodeToString([]byte(in.CEK)) + ":" + b64.EncodeToString([]byte(in.Type.String())) + ":"
		s.cache[i] = e.numberCache(in.CEK)
	}
	for _, g := range p.Groups {
		if g < 0 || g >= len(p.Inputs) {
			return nil, fmt.Errorf("sqlenclave: group input %d of %d", g, len(p.Inputs))
		}
	}
	for i, x := range p.Exprs {
		var err error
		switch x.Op {
		case "input":
			if x.Input < 0 || x.Input >= len(p.Inputs) || p.Inputs[x.Input].CEK == "" || !decimal.Numeric(p.Inputs[x.Input].Type) {
				return nil, fmt.Errorf("sqlenclave: expression %d reads input %d, which is not an encrypted number", i, x.Input)
			}
			s.cek[i] = strings.ToLower(p.Inputs[x.Input].CEK)
		case "param":
			if x.Param == "" {
				s.params[i] = number{null: true} // NULL
				continue
			}
			k, t, d, dt, err := e.openNumber(x.Param)
			if err != nil {
				return nil, err
			}
			if t != x.Type {
				return nil, fmt.Errorf("sqlenclave: a %s parameter where %s is expected", t, x.Type)
			}
			s.cek[i] = strings.ToLower(k)
			s.params[i] = number{d: d, t: dt}
		case "+", "-", "*", "/":
			if err = s.operands(i, x.L, x.R); err != nil {
				return nil, err
			}
			want, err := decimal.ResultType(x.Op[0], p.Exprs[x.L].Type, p.Exprs[x.R].Type)
			if err != nil || want != x.Type {
				return nil, fmt.Errorf("sqlenclave: %s %s %s is not %s", p.Exprs[x.L].Type, x.Op, p.Exprs[x.R].Type, x.Type)
			}
		case "round", "cast":
			if err = s.operands(i, x.L, x.L); err != nil {
				return nil, err
			}
			if x.Op == "round" && x.Type != p.Exprs[x.L].Type {
				return nil, fmt.Errorf("sqlenclave: round keeps its operand's type")
			}
			if !decimal.Numeric(x.Type) {
				return nil, fmt.Errorf("sqlenclave: a cast to %s", x.Type)
			}
		default:
			return nil, fmt.Errorf("sqlenclave: unknown expression %q", x.Op)
		}
	}
	for _, a := range p.Aggs {
		switch a.Fn {
		case "count*":
		case "sum", "avg", "min", "max", "count":
			if a.Expr < 0 || a.Expr >= len(p.Exprs) {
				return nil, fmt.Errorf("sqlenclave: aggregate of expression %d of %d", a.Expr, len(p.Exprs))
			}
			if a.Fn == "sum" || a.Fn == "avg" {
				want, err := decimal.AggregateType(a.Fn, p.Exprs[a.Expr].Type)
				if err != nil || want != a.Type {
					return nil, fmt.Errorf("sqlenclave: %s of %s is not %s", a.Fn, p.Exprs[a.Expr].Type, a.Type)
				}
			}
		default:
			return nil, fmt.Errorf("sqlenclave: unknown aggregate %q", a.Fn)
		}
	}
	for _, o := range p.Outputs {
		if (o.Group < 0) == (o.Agg < 0) || o.Group >= len(p.Groups) || o.Agg >= len(p.Aggs) {
			return nil, fmt.Errorf("sqlenclave: a result column must be one group column or one aggregate")
		}
	}
	for _, o := range p.Order {
		if o.Output < 0 || o.Output >= len(p.Outputs) {
			return nil, fmt.Errorf("sqlenclave: ORDER BY result column %d of %d", o.Output, len(p.Outputs))
		}
	}
	return s, nil
}

// operands checks that expression i's operands come before it and share
// a key.
func (s *Scan) operands(i, l, r int) error {
	if l < 0 || r < 0 || l >= i || r >= i {
		return fmt.Errorf("sqlenclave: expression %d has operands %d and %d", i, l, r)
	}
	// A NULL parameter (no key) takes its partner's.
	if s.cek[l] != s.cek[r] && s.cek[l] != "" && s.cek[r] != "" {
		return fmt.Errorf("sqlenclave: operands under keys %q and %q: an expression's encrypted operands must share a key", s.cek[l], s.cek[r])
	}
	s.cek[i] = max(s.cek[l], s.cek[r])
	return nil
}

// numberCache is the enclave's cache of decrypted numbers under a key.
func (e *Enclave) numberCache(cek string) map[[32]byte]cachedNumber {
	e.numMu.Lock()
	defer e.numMu.Unlock()
	if e.numbers == nil {
		e.numbers = map[string]map[[32]byte]cachedNumber{}
	}
	name := strings.ToLower(cek)
	m := e.numbers[name]
	if m == nil {
		m = map[[32]byte]cachedNumber{}
		e.numbers[name] = m
	}
	return m
}

// Add evaluates a batch of rows.
func (s *Scan) Add(rows [][]any) error {
	e := s.e
	if e.observer.Load() != nil {
		var envs []string
		for _, r := range rows {
			for _, v := range r {
				if env, ok := v.(string); ok && strings.HasPrefix(env, envelopePrefix) {
					envs = append(envs, env)
				}
			}
		}
		e.observe("scan", envs...)
	}
	for _, row := range rows {
		if len(row) != len(s.p.Inputs) {
			return fmt.Errorf("sqlenclave: a row of %d values for %d inputs", len(row), len(s.p.Inputs))
		}
		for i, x := range s.p.Exprs {
			v, err := s.eval(row, i, x)
			if err != nil {
				return err
			}
			s.vals[i] = v
		}
		g, err := s.group(row)
		if err != nil {
			return err
		}
		g = publicGroup(g)
		for j, a := range s.p.Aggs {
			if err := g.aggs[j].step(a, s.vals); err != nil {
				return err
			}
		}
	}
	return nil
}

// eval computes expression i of a row.
func (s *Scan) eval(row []any, i int, x ScanExpr) (number, error) {
	var l, r number
	switch x.Op {
	case "input":
		return s.input(row, x.Input)
	case "param":
		return s.params[i], nil
	case "+", "-", "*", "/":
		l, r = s.vals[x.L], s.vals[x.R]
		if l.null || r.null {
			return number{null: true}, nil
		}
	default:
		l = s.vals[x.L]
		if l.null {
			return number{null: true}, nil
		}
	}
	// Types are the query's, public; the values are secret.
	lt, rt := publicDecType(l.t), publicDecType(r.t)
	var d decimal.Dec
	var dt decimal.Type
	var err error
	switch x.Op {
	case "+":
		d, dt, err = decimal.Add(l.d, lt, r.d, rt)
	case "-":
		d, dt, err = decimal.Sub(l.d, lt, r.d, rt)
	case "*":
		d, dt, err = decimal.Mul(l.d, lt, r.d, rt)
	case "/":
		d, dt, err = decimal.Div(l.d, lt, r.d, rt)
		if err == nil && x.Type.Kind != types.Decimal {
			d, err = decimal.Round(d, dt, 0, true)
		}
	case "round":
		d, dt = l.d, lt
		d, err = decimal.Round(d, dt, x.N, x.Truncate)
	case "cast":
		d, dt = l.d, lt
	}
	if err != nil {
		return number{}, err
	}
	return fitNumber(d, dt, x.Type)
}

// fitNumber gives a computed value its SQL type, as sealing it would:
// rounded to a DECIMAL's scale, an error when it does not fit.
func fitNumber(d decimal.Dec, dt decimal.Type, t types.Type) (number, error) {
	if t.Kind == types.Decimal {
		to := decimal.Type{Precision: t.Precision, Scale: t.Scale}
		c, err := decimal.Cast(d, dt, to)
		return number{d: c, t: to}, err
	}
	// Integers: the range check of their plaintext encoding.
	pt, err := toNormalized(d, dt, t)
	if err != nil {
		return number{}, err
	}
	c, ct, err := fromNormalized(t, pt)
	return number{d: c, t: publicDecType(ct)}, err
}

// input decrypts input j of a row, through the number cache.
func (s *Scan) input(row []any, j int) (number, error) {
	v := row[j]
	if v == nil {
		return number{null: true}, nil
	}
	env, ok := v.(string)
	if !ok {
		return number{}, fmt.Errorf("sqlenclave: input %d is not an envelope", j)
	}
	t := s.p.Inputs[j].Type
	dt, err := decimal.Of(t)
	if err != nil {
		return number{}, err
	}
	rest, ok := strings.CutPrefix(env, s.prefix[j])
	var buf [160]byte
	var c []byte
	if ok && base64.RawURLEncoding.DecodedLen(len(rest)) <= len(buf) {
		n, err := base64.RawURLEncoding.Decode(buf[:], []byte(rest))
		if err != nil {
			return number{}, ErrEnvelope
		}
		c = buf[:n]
	} else {
		// Another spelling of the key's name, or a long cell.
		name, et, cb, err := ParseEnvelope(env)
		if err != nil {
			return number{}, err
		}
		if !strings.EqualFold(name, s.p.Inputs[j].CEK) || et != t {
			return number{}, fmt.Errorf("sqlenclave: a %s cell under %q in a %s column under %q", et, name, t, s.p.Inputs[j].CEK)
		}
		c = cb
	}
	if len(c) < cell.Overhead {
		return number{}, cell.ErrFormat
	}
	var mac [32]byte
	copy(mac[:], c[1:33])
	s.e.numMu.RLock()
	n, ok := s.cache[j][mac]
	s.e.numMu.RUnlock()
	if ok && n.typ == t {
		return number{d: n.d, t: dt}, nil
	}
	pt, err := s.keys[j].Decrypt(c)
	if err != nil {
		return number{}, fmt.Errorf("sqlenclave: a cell under %q: %w", s.p.Inputs[j].CEK, err)
	}
	d, _, err := fromNormalized(t, pt)
	if err != nil {
		return number{}, err
	}
	s.fresh = append(s.fresh, freshNumber{input: j, mac: mac, n: cachedNumber{typ: t, d: d}})
	return number{d: d, t: dt}, nil
}

// group finds or makes a row's group. Encrypted group columns group by
// plaintext.
func (s *Scan) group(row []any) (*scanGroup, error) {
	s.key = s.key[:0]
	for _, gi := range s.p.Groups {
		v := row[gi]
		if s.p.Inputs[gi].CEK != "" && v != nil {
			env, ok := v.(string)
			if !ok {
				return nil, fmt.Errorf("sqlenclave: group input %d is not an envelope", gi)
			}
			name, t, pt, err := s.e.openCell(env)
			if err != nil {
				return nil, err
			}
			if !strings.EqualFold(name, s.p.Inputs[gi].CEK) || t != s.p.Inputs[gi].Type {
				return nil, fmt.Errorf("sqlenclave: a %s cell under %q in a group column of %s under %q", t, name, s.p.Inputs[gi].Type, s.p.Inputs[gi].CEK)
			}
			v = pt
		}
		s.key = appendKey(s.key, v)
	}
	g := s.groups[string(s.key)]
	if g == nil {
		g = &scanGroup{first: row, aggs: make([]scanAcc, len(s.p.Aggs))}
		s.groups[string(s.key)] = g
		s.order = append(s.order, g)
	}
	return g, nil
}

// publicGroup declassifies which group a row falls in: the normal mode
// reveals equal group keys (spec/ae-enclave.md), as the per-row plan
// does to SQLite's GROUP BY, and the map lookup here shows it in the
// enclave's memory accesses. The oblivious mode is the one that hides it.
//
//confide:declassify
func publicGroup(g *scanGroup) *scanGroup { return g }

// appendKey encodes a group value unambiguously: a tag, then the value
// (length-prefixed when variable). SQLite's integer and real 1 are
// different keys here only if SQLite stored them differently, which a
// typed column does not.
func appendKey(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, 0)
	case int64:
		return append(append(b, 1), byte(x), byte(x>>8), byte(x>>16), byte(x>>24), byte(x>>32), byte(x>>40), byte(x>>48), byte(x>>56))
	case float64:
		return fmt.Appendf(append(b, 2), "%v;", x)
	case string:
		return append(fmt.Appendf(append(b, 3), "%d:", len(x)), x...)
	case []byte:
		return append(fmt.Appendf(append(b, 4), "%d:", len(x)), x...)
	}
	return fmt.Appendf(append(b, 5), "%T:%v;", v, v)
}

// step adds a row's value to an aggregate.
func (a *scanAcc) step(agg ScanAgg, vals []number) error {
	if agg.Fn == "count*" {
		a.count++
		return nil
	}
	v := vals[agg.Expr]
	if v.null {
		return nil
	}
	vt := publicDecType(v.t)
	switch agg.Fn {
	case "sum", "avg":
		if a.count == 0 {
			a.st = decimal.Type{Precision: decimal.MaxPrecision, Scale: vt.Scale}
		}
		sum, _, err := decimal.Add(a.sum, a.st, v.d, vt)
		if err != nil {
			return err
		}
		a.sum = sum
	case "min":
		if a.count == 0 || decimal.Compare(v.d, vt, a.min, vt) < 0 {
			a.min = v.d
		}
	case "max":
		if a.count == 0 || decimal.Compare(v.d, vt, a.max, vt) > 0 {
			a.max = v.d
		}
	}
	a.vt = vt
	a.count++
	return nil
}

// Result finishes the scan: the result rows, each value an envelope
// (computed values, encrypted group columns), a plaintext group value as
// the host gave it, an int64 count, or nil for NULL; in ORDER BY order.
func (s *Scan) Result() ([][]any, error) {
	e := s.e
	if len(s.p.Groups) == 0 && len(s.order) == 0 {
		s.order = append(s.order, &scanGroup{aggs: make([]scanAcc, len(s.p.Aggs))})
	}
	type sortRow struct {
		out  []any
		keys []sortKey
	}
	rows := make([]sortRow, 0, len(s.order))
	for _, g := range s.order {
		r := sortRow{out: make([]any, len(s.p.Outputs))}
		vals := make([]sortKey, len(s.p.Outputs))
		for k, o := range s.p.Outputs {
			if o.Group >= 0 {
				v := g.first[s.p.Groups[o.Group]]
				r.out[k] = v
				vals[k] = sortKey{plain: v}
				if s.p.Inputs[s.p.Groups[o.Group]].CEK != "" && v != nil {
					vals[k] = sortKey{env: v.(string)}
				}
				continue
			}
			agg := s.p.Aggs[o.Agg]
			n, err := g.aggs[o.Agg].result(agg)
			if err != nil {
				return nil, err
			}
			if agg.Fn == "count" || agg.Fn == "count*" {
				r.out[k] = g.aggs[o.Agg].count
				vals[k] = sortKey{plain: g.aggs[o.Agg].count}
				continue
			}
			vals[k] = sortKey{num: n}
			if n.null {
				vals[k] = sortKey{}
				continue
			}
			if r.out[k], err = e.seal(s.cek[agg.Expr], n.d, n.t, agg.Type); err != nil {
				return nil, err
			}
		}
		for _, o := range s.p.Order {
			r.keys = append(r.keys, vals[o.Output])
		}
		rows = append(rows, r)
	}
	var cmpErr error
	if len(s.p.Order) > 0 {
		slices.SortStableFunc(rows, func(a, b sortRow) int {
			for i, o := range s.p.Order {
				c, err := e.compareKeys(a.keys[i], b.keys[i])
				if err != nil && cmpErr == nil {
					cmpErr = err
				}
				if o.Desc {
					c = -c
				}
				if c != 0 {
					return c
				}
			}
			return 0
		})
	}
	if cmpErr != nil {
		return nil, cmpErr
	}
	e.cacheNumbers(s)
	out := make([][]any, len(rows))
	for i, r := range rows {
		out[i] = r.out
	}
	return out, nil
}

// result is an aggregate's value (null for no values).
func (a *scanAcc) result(agg ScanAgg) (number, error) {
	if a.count == 0 {
		return number{null: true}, nil
	}
	switch agg.Fn {
	case "min":
		return fitNumber(a.min, a.vt, agg.Type)
	case "max":
		return fitNumber(a.max, a.vt, agg.Type)
	case "sum":
		return fitNumber(a.sum, a.st, agg.Type)
	case "avg":
		if agg.Type.Kind == types.Decimal {
			d, dt, err := decimal.AvgOf(a.sum, a.st, a.count)
			if err != nil {
				return number{}, err
			}
			return fitNumber(d, dt, agg.Type)
		}
		q, dt, err := decimal.Div(a.sum, a.st, mustCount(a.count), decimal.Type{Precision: 19})
		if err != nil {
			return number{}, err
		}
		if q, err = decimal.Round(q, dt, 0, true); err != nil {
			return number{}, err
		}
		return fitNumber(q, dt, agg.Type)
	}
	return number{null: true}, nil
}

// sortKey is a result value as ORDER BY compares it: a plaintext value,
// an envelope (compared by plaintext), or a computed number. The zero
// value is NULL, which sorts first, as in SQLite.
type sortKey struct {
	plain any
	env   string
	num   number
}

func (k sortKey) isNull() bool {
	return k.plain == nil && k.env == "" && (k.num == number{} || k.num.null)
}

// compareKeys orders two result values.
func (e *Enclave) compareKeys(a, b sortKey) (int, error) {
	an, bn := a.isNull(), b.isNull()
	switch {
	case an && bn:
		return 0, nil
	case an:
		return -1, nil
	case bn:
		return 1, nil
	case a.env != "":
		return e.Compare(a.env, b.env)
	case a.plain != nil:
		return comparePlain(a.plain, b.plain), nil
	}
	return decimal.Compare(a.num.d, a.num.t, b.num.d, b.num.t), nil
}

// comparePlain orders plaintext values as SQLite does: numbers before
// text before blobs; text by bytes (BINARY collation).
func comparePlain(a, b any) int {
	rank := func(v any) int {
		switch v.(type) {
		case int64, float64:
			return 1
		case string:
			return 2
		}
		return 3
	}
	if ra, rb := rank(a), rank(b); ra != rb {
		return cmp.Compare(ra, rb)
	}
	switch x := a.(type) {
	case int64:
		switch y := b.(type) {
		case int64:
			return cmp.Compare(x, y)
		case float64:
			return cmp.Compare(float64(x), y)
		}
	case float64:
		switch y := b.(type) {
		case int64:
			return cmp.Compare(x, float64(y))
		case float64:
			return cmp.Compare(x, y)
		}
	case string:
		return strings.Compare(x, b.(string))
	case []byte:
		return strings.Compare(string(x), string(b.([]byte)))
	}
	return 0
}

// DropNumbers forgets every decrypted number and cell the enclave keeps
// between statements, so that the next scan decrypts again (a cold
// start, for benchmarks).
func (e *Enclave) DropNumbers() {
	e.mu.Lock()
	clear(e.opened)
	e.mu.Unlock()
	e.numMu.Lock()
	for _, m := range e.numbers {
		clear(m)
	}
	e.numMu.Unlock()
}

// cacheNumbers keeps what a finished scan decrypted.
func (e *Enclave) cacheNumbers(s *Scan) {
	if len(s.fresh) == 0 {
		return
	}
	e.numMu.Lock()
	defer e.numMu.Unlock()
	total := 0
	for _, m := range e.numbers {
		total += len(m)
	}
	if total+len(s.fresh) > maxCachedNumbers {
		for _, m := range e.numbers {
			clear(m)
		}
	}
	for _, f := range s.fresh {
		// The key may have gone since the scan began: its map then is no
		// longer the enclave's and the number is dropped with it.
		s.cache[f.input][f.mac] = f.n
	}
	s.fresh = nil
}
