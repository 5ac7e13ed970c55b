package sqlenclave

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/confide/confide/sql/cell"
	"github.com/confide/confide/sql/decimal"
	"github.com/confide/confide/sql/types"
)

// The enclave scan (issue 25): an aggregate query over one table whose
// aggregates compute on encrypted columns runs in the enclave over whole
// columns, instead of one enclave call per row and per operator (which
// must encrypt every intermediate value, since it crosses back to the
// host). It runs in one of two ways.
//
// Over a table image: the host streams the columns the query needs, for
// every row of the table in storage order, once; the enclave keeps them
// (cells, and plaintext columns as the host stored them) as the image of
// that table at a version the host names, decrypts cells lazily — only
// those a row that passed the query's cheaper filters needs — and keeps
// what it decrypted. A later query of the same table at the same version
// needs nothing from the host: this is the warm path. The host's version
// is trusted the way the host's rows always are: a host that lies about
// it makes the enclave answer on older authentic rows, which it could do
// by replaying the older cells themselves. The enclave evaluates the
// WHERE conjuncts too, so the host learns nothing about which rows match.
//
// Streamed: for a WHERE the enclave does not evaluate, the host filters
// and streams the matching rows in batches, which the enclave evaluates
// as they come.
//
// Either way the enclave groups, aggregates and orders, in plaintext
// inside, and what leaves is the result rows, computed values encrypted
// (randomized) under their operands' key.

// ScanPlan is an aggregate query the enclave evaluates.
type ScanPlan struct {
	// Inputs are the columns the query reads.
	Inputs []ScanInput
	// Filters are WHERE conjuncts the enclave evaluates (an image's
	// rows; streamed rows come filtered).
	Filters []ScanFilter
	// Groups are the GROUP BY inputs (none: one group, always returned).
	Groups []int
	// Exprs are the aggregates' operands, each over inputs, parameters
	// and earlier expressions.
	Exprs   []ScanExpr
	Aggs    []ScanAgg
	Outputs []ScanOutput
	Order   []ScanOrder
}

// ScanInput is a column: its name, type, and key name for an
// enclave-enabled column ("" for plaintext).
type ScanInput struct {
	Name string
	Type types.Type
	CEK  string
}

// ScanFilter is the conjunct Input Op Arg, Op one of < <= > >= = <>. For
// an encrypted numeric input Arg is an envelope; for a plaintext input,
// a value as SQLite stores it (string for text and dates, int64 for
// integers), compared as SQLite does with the BINARY collation. NULL
// passes no filter.
type ScanFilter struct {
	Input int
	Op    string
	Arg   any
}

// ScanExpr is an expression node. Op is "input" (Input), "param" (Param,
// an envelope, "" for NULL), "+", "-", "*", "/" (L, R: earlier
// expressions), "round" (L, N, Truncate) or "cast" (L); Type is its
// result type, as the binder gave it.
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

// TableImage is what the enclave keeps of a table: some of its columns,
// for every row, at one version. The host holds it as a handle.
type TableImage struct {
	table   string
	version uint64
	rowids  []int64
	cols    map[string]*imageCol // by lower-cased name
	size    int64
	// mu serializes the queries that run on the image: they decrypt
	// into it. An image made from a base shares the base's columns, and
	// so its lock.
	mu *sync.Mutex
}

// imageCol is one column of an image.
type imageCol struct {
	name string
	typ  types.Type
	cek  string // as the plan named it; "" for plaintext
	// plain holds a plaintext column's values.
	plain []any
	// data holds an encrypted column's cells, row r's at
	// data[off[r]:off[r+1]] (empty: NULL).
	data []byte
	off  []uint32
	// Decrypted lazily: num (numbers) or pt (other types' plaintexts),
	// state 0 not yet, 1 done, 2 NULL.
	num   []decimal.Dec //confide:secret
	pt    [][]byte      //confide:secret
	state []uint8
}

// maxImageBytes bounds what the enclave keeps in table images; a new
// image past it makes the enclave drop the others.
const maxImageBytes = 4 << 30

// Image returns the enclave's image of a table at a version, or nil.
func (e *Enclave) Image(table string, version uint64) *TableImage {
	e.imgMu.Lock()
	defer e.imgMu.Unlock()
	img := e.images[strings.ToLower(table)]
	if img == nil || img.version != version {
		return nil
	}
	return img
}

// Missing lists the named columns the image lacks.
func (img *TableImage) Missing(cols []string) []string {
	var out []string
	for _, c := range cols {
		if img == nil || img.cols[strings.ToLower(c)] == nil {
			out = append(out, c)
		}
	}
	return out
}

// WantImage reports whether a query of a table at a version should make
// an image of it: from the second query of the table at that version on.
// A table queried once gets no image, which costs a read of every row.
func (e *Enclave) WantImage(table string, version uint64) bool {
	e.imgMu.Lock()
	defer e.imgMu.Unlock()
	table = strings.ToLower(table)
	if e.touched == nil {
		e.touched = map[string]uint64{}
	}
	if v, ok := e.touched[table]; ok && v == version {
		return true
	}
	if len(e.touched) > 4096 {
		clear(e.touched)
	}
	e.touched[table] = version
	return false
}

// dropImages forgets every table image.
func (e *Enclave) dropImages() {
	e.imgMu.Lock()
	clear(e.images)
	clear(e.touched)
	e.imgMu.Unlock()
}

// DropCaches forgets every table image and decrypted cell the enclave
// keeps between statements, so that the next query decrypts again (a
// cold start, for benchmarks).
func (e *Enclave) DropCaches() {
	e.mu.Lock()
	clear(e.opened)
	e.mu.Unlock()
	e.dropImages()
}

// ImageLoad is an image being streamed in.
type ImageLoad struct {
	e          *Enclave // nil for a streamed batch
	img        *TableImage
	base       int // rows of the base image to match, -1 for none
	baseRowids []int64
	cols       []*imageCol
}

// LoadImage starts an image of a table at a version: cols in every row,
// in storage order. base, an image of the same table and version, lends
// its columns (the new rows must be its rows).
func (e *Enclave) LoadImage(table string, version uint64, base *TableImage, cols []ScanInput) (*ImageLoad, error) {
	img := &TableImage{table: strings.ToLower(table), version: version, cols: map[string]*imageCol{}, mu: new(sync.Mutex)}
	l := &ImageLoad{e: e, img: img, base: -1}
	if base != nil && base.table == img.table && base.version == version {
		// The rowids are read again, and must match the base's.
		for k, c := range base.cols {
			img.cols[k] = c
		}
		img.size, img.mu = base.size, base.mu
		l.base, l.baseRowids = len(base.rowids), base.rowids
	}
	for _, in := range cols {
		c := &imageCol{name: in.Name, typ: in.Type, cek: in.CEK}
		if in.CEK != "" {
			if _, ok := e.CellKey(in.CEK); !ok {
				return nil, fmt.Errorf("sqlenclave: column encryption key %q is not in the enclave", in.CEK)
			}
			c.off = []uint32{0}
		}
		img.cols[strings.ToLower(in.Name)] = c
		l.cols = append(l.cols, c)
	}
	return l, nil
}

// Add appends rows: each a rowid (int64), then one value per column,
// envelopes for encrypted columns.
func (l *ImageLoad) Add(rows [][]any) error {
	if l.e != nil && l.e.observer.Load() != nil {
		var envs []string
		for _, r := range rows {
			for _, v := range r {
				if env, ok := v.(string); ok && strings.HasPrefix(env, envelopePrefix) {
					envs = append(envs, env)
				}
			}
		}
		l.e.observe("image", envs...)
	}
	var buf []byte
	for _, row := range rows {
		if len(row) != len(l.cols)+1 {
			return fmt.Errorf("sqlenclave: an image row of %d values for %d columns", len(row), len(l.cols))
		}
		id, ok := row[0].(int64)
		if !ok {
			return fmt.Errorf("sqlenclave: an image row without a rowid")
		}
		r := len(l.img.rowids)
		if l.base >= 0 && (r >= l.base || l.baseRowids[r] != id) {
			return ErrImageMoved
		}
		l.img.rowids = append(l.img.rowids, id)
		for j, c := range l.cols {
			v := row[j+1]
			if c.cek == "" {
				c.plain = append(c.plain, v)
				l.img.size += 16
				if s, ok := v.(string); ok {
					l.img.size += int64(len(s))
				}
				continue
			}
			if v != nil {
				env, ok := v.(string)
				if !ok {
					return fmt.Errorf("sqlenclave: column %s holds a %T, not an envelope", c.name, v)
				}
				var err error
				if buf, err = cellOf(buf[:0], env, c); err != nil {
					return err
				}
				c.data = append(c.data, buf...)
				if len(c.data) > math.MaxUint32 {
					return fmt.Errorf("sqlenclave: column %s is too large for a table image", c.name)
				}
			}
			c.off = append(c.off, uint32(len(c.data)))
			l.img.size += int64(len(buf)) + 4 + 25
		}
	}
	return nil
}

// ErrImageMoved reports rows that changed while an image loaded.
var ErrImageMoved = errors.New("sqlenclave: the table's rows changed while its image loaded")

// cellOf decodes an envelope of column c into buf.
func cellOf(buf []byte, env string, c *imageCol) ([]byte, error) {
	name, t, cb, err := ParseEnvelope(env)
	if err != nil {
		return nil, err
	}
	if !strings.EqualFold(name, c.cek) || t != c.typ {
		return nil, fmt.Errorf("sqlenclave: a %s cell under %q in column %s of %s under %q", t, name, c.name, c.typ, c.cek)
	}
	if len(cb) < cell.Overhead {
		return nil, cell.ErrFormat
	}
	return append(buf, cb...), nil
}

// Finish completes the image; keep makes it the enclave's image of the
// table (the host keeps it only while the table's version holds).
func (l *ImageLoad) Finish(e *Enclave, keep bool) (*TableImage, error) {
	if l.base >= 0 && len(l.img.rowids) != l.base {
		return nil, ErrImageMoved
	}
	for _, c := range l.cols {
		n := len(l.img.rowids)
		if c.cek != "" {
			c.state = make([]uint8, n)
			if decimal.Numeric(c.typ) {
				c.num = make([]decimal.Dec, n)
			} else {
				c.pt = make([][]byte, n)
			}
		}
	}
	if keep {
		e.imgMu.Lock()
		if e.images == nil {
			e.images = map[string]*TableImage{}
		}
		total := l.img.size
		for _, other := range e.images {
			total += other.size
		}
		if total > maxImageBytes {
			clear(e.images)
		}
		e.images[l.img.table] = l.img
		e.imgMu.Unlock()
	}
	return l.img, nil
}

// RunImage runs a plan over an image, in parallel over ranges of rows.
func (e *Enclave) RunImage(img *TableImage, p ScanPlan) ([][]any, error) {
	img.mu.Lock()
	defer img.mu.Unlock()
	cols, err := img.columns(p)
	if err != nil {
		return nil, err
	}
	n := len(img.rowids)
	workers := max(1, min(runtime.GOMAXPROCS(0), n/4096))
	evs := make([]*evaluator, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range evs {
		ev, err := e.newEvaluator(&p)
		if err != nil {
			return nil, err
		}
		ev.cols = cols
		evs[w] = ev
		lo, hi := n*w/workers, n*(w+1)/workers
		wg.Go(func() { errs[w] = ev.rows(lo, hi) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	for _, ev := range evs[1:] {
		if err := evs[0].merge(ev); err != nil {
			return nil, err
		}
	}
	return evs[0].result()
}

// columns finds a plan's inputs in an image.
func (img *TableImage) columns(p ScanPlan) ([]*imageCol, error) {
	cols := make([]*imageCol, len(p.Inputs))
	for i, in := range p.Inputs {
		c := img.cols[strings.ToLower(in.Name)]
		if c == nil || c.typ != in.Type || !strings.EqualFold(c.cek, in.CEK) {
			return nil, fmt.Errorf("sqlenclave: the table image has no column %s of %s", in.Name, in.Type)
		}
		cols[i] = c
	}
	return cols, nil
}

// batchImage makes a throw-away image of rows the host streamed, one
// value per input.
func batchImage(p ScanPlan, rows [][]any) (*TableImage, error) {
	img := &TableImage{cols: map[string]*imageCol{}, mu: new(sync.Mutex)}
	l := &ImageLoad{img: img, base: -1}
	for _, in := range p.Inputs {
		c := &imageCol{name: in.Name, typ: in.Type, cek: in.CEK}
		if in.CEK != "" {
			c.off = []uint32{0}
		}
		img.cols[strings.ToLower(in.Name)] = c
		l.cols = append(l.cols, c)
	}
	withIDs := make([][]any, len(rows))
	for i, r := range rows {
		withIDs[i] = append([]any{int64(i)}, r...)
	}
	if err := l.Add(withIDs); err != nil {
		return nil, err
	}
	return l.Finish(nil, false)
}

// Scan is a streamed enclave scan: the host sends the rows its WHERE
// selected, in batches.
type Scan struct {
	evs  []*evaluator
	work chan [][]any
	errs []error
	wg   sync.WaitGroup
	done bool
}

// NewScan checks a plan and starts a streamed scan, with one worker per
// processor evaluating the batches as they come.
func (e *Enclave) NewScan(p ScanPlan) (*Scan, error) {
	s := &Scan{work: make(chan [][]any, 2)}
	n := runtime.GOMAXPROCS(0)
	s.errs = make([]error, n)
	for w := range n {
		ev, err := e.newEvaluator(&p)
		if err != nil {
			close(s.work)
			s.wg.Wait()
			return nil, err
		}
		s.evs = append(s.evs, ev)
		s.wg.Go(func() {
			for rows := range s.work {
				if s.errs[w] == nil {
					s.errs[w] = ev.batch(rows)
				}
			}
		})
	}
	return s, nil
}

// Add hands a batch of rows, one value per input, to a worker.
func (s *Scan) Add(rows [][]any) error {
	e := s.evs[0].e
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
	s.work <- rows
	return nil
}

// batch evaluates a batch of streamed rows.
func (v *evaluator) batch(rows [][]any) error {
	img, err := batchImage(*v.p, rows)
	if err != nil {
		return err
	}
	if v.cols, err = img.columns(*v.p); err != nil {
		return err
	}
	return v.rows(0, len(rows))
}

// Close stops the workers; Result does it too.
func (s *Scan) Close() {
	if !s.done {
		s.done = true
		close(s.work)
		s.wg.Wait()
	}
}

// Result finishes the scan: its result rows (see evaluator.result).
func (s *Scan) Result() ([][]any, error) {
	s.Close()
	for _, err := range s.errs {
		if err != nil {
			return nil, err
		}
	}
	for _, ev := range s.evs[1:] {
		if err := s.evs[0].merge(ev); err != nil {
			return nil, err
		}
	}
	return s.evs[0].result()
}

// evaluator evaluates a plan over rows of an image.
type evaluator struct {
	e      *Enclave
	p      *ScanPlan
	cols   []*imageCol    // per input
	keys   []*cell.Key    // per input (encrypted)
	dts    []decimal.Type // per input (numeric)
	cek    []string       // per expression, lower-cased ("" for none)
	fast   []bool         // per expression: the fast path applies
	rts    []decimal.Type // per expression: its type
	params []number       // per expression of Op "param"
	flts   []preparedFilter
	vals   []number
	key    []byte
	groups map[string]*scanGroup
	order  []*scanGroup
}

type preparedFilter struct {
	in    int
	op    string
	plain any
	num   number
	null  bool // compared with NULL: never passes
}

type number struct {
	d    decimal.Dec //confide:secret
	t    decimal.Type
	null bool
	// small, when set, is d as an int64 of magnitude below 2^62 (the
	// value times 10^scale): the normal mode's arithmetic takes a fast
	// path on it. It is not constant-time; the oblivious mode does not
	// use it.
	s     int64 //confide:secret
	small bool
}

// smallLimit bounds the magnitudes of the fast path: a sum or
// difference of two stays below 2^63.
const smallLimit = 1 << 62

// withSmall sets n's fast-path form when d is small enough.
func withSmall(n number) number {
	if n.d.Mag[1] == 0 && n.d.Mag[0] < smallLimit {
		n.s, n.small = int64(n.d.Mag[0]), true
		if n.d.Neg == 1 {
			n.s = -n.s
		}
	}
	return n
}

// fromSmall is the number of a fast-path value.
func fromSmall(v int64, t decimal.Type) number {
	n := number{t: t, s: v, small: true}
	if v < 0 {
		n.d = decimal.Dec{Neg: 1, Mag: [2]uint64{uint64(-v), 0}}
	} else {
		n.d = decimal.Dec{Mag: [2]uint64{uint64(v), 0}}
	}
	return n
}

// pow10s are the powers of ten an int64 holds.
var pow10s = func() [19]int64 {
	var p [19]int64
	p[0] = 1
	for i := 1; i < len(p); i++ {
		p[i] = p[i-1] * 10
	}
	return p
}()

type scanGroup struct {
	key   string
	first []any // the group columns' values: plaintext, or envelopes
	aggs  []scanAcc
}

type scanAcc struct {
	sum      decimal.Dec //confide:secret
	small    int64       //confide:secret
	st       decimal.Type
	min, max decimal.Dec  //confide:secret
	vt       decimal.Type // the values' type: one per expression
	count    int64
}

// newEvaluator checks a plan against the enclave's keys.
func (e *Enclave) newEvaluator(p *ScanPlan) (*evaluator, error) {
	v := &evaluator{e: e, p: p, keys: make([]*cell.Key, len(p.Inputs)), dts: make([]decimal.Type, len(p.Inputs)),
		fast: make([]bool, len(p.Exprs)), rts: make([]decimal.Type, len(p.Exprs)),
		cek: make([]string, len(p.Exprs)), params: make([]number, len(p.Exprs)), vals: make([]number, len(p.Exprs)), groups: map[string]*scanGroup{}}
	for i, in := range p.Inputs {
		if decimal.Numeric(in.Type) {
			dt, err := decimal.Of(in.Type)
			if err != nil {
				return nil, err
			}
			v.dts[i] = dt
		}
		if in.CEK == "" {
			continue
		}
		k, ok := e.CellKey(in.CEK)
		if !ok {
			return nil, fmt.Errorf("sqlenclave: column encryption key %q is not in the enclave", in.CEK)
		}
		v.keys[i] = k
	}
	for _, g := range p.Groups {
		if g < 0 || g >= len(p.Inputs) {
			return nil, fmt.Errorf("sqlenclave: group input %d of %d", g, len(p.Inputs))
		}
	}
	// Plaintext filters first: they are cheaper than a decryption.
	for pass := range 2 {
		for _, f := range p.Filters {
			if f.Input < 0 || f.Input >= len(p.Inputs) || !strings.Contains("< <= > >= = <>", f.Op) || f.Op == "" {
				return nil, fmt.Errorf("sqlenclave: a filter %q on input %d", f.Op, f.Input)
			}
			in := p.Inputs[f.Input]
			if (in.CEK == "") != (pass == 0) {
				continue
			}
			pf := preparedFilter{in: f.Input, op: f.Op, plain: f.Arg, null: f.Arg == nil}
			if in.CEK != "" && f.Arg != nil {
				env, ok := f.Arg.(string)
				if !ok || !decimal.Numeric(in.Type) {
					return nil, fmt.Errorf("sqlenclave: a filter on %s takes an encrypted number", in.Name)
				}
				k, _, d, dt, err := e.openNumber(env)
				if err != nil {
					return nil, err
				}
				if !strings.EqualFold(k, in.CEK) {
					return nil, fmt.Errorf("sqlenclave: a filter parameter under %q for a column under %q", k, in.CEK)
				}
				pf.num, pf.plain = number{d: d, t: dt}, nil
			}
			v.flts = append(v.flts, pf)
		}
	}
	for i, x := range p.Exprs {
		var err error
		switch x.Op {
		case "input":
			if x.Input < 0 || x.Input >= len(p.Inputs) || p.Inputs[x.Input].CEK == "" || !decimal.Numeric(p.Inputs[x.Input].Type) {
				return nil, fmt.Errorf("sqlenclave: expression %d reads input %d, which is not an encrypted number", i, x.Input)
			}
			v.cek[i] = strings.ToLower(p.Inputs[x.Input].CEK)
		case "param":
			if x.Param == "" {
				v.params[i] = number{null: true} // NULL
				continue
			}
			k, t, d, dt, err := e.openNumber(x.Param)
			if err != nil {
				return nil, err
			}
			if t != x.Type {
				return nil, fmt.Errorf("sqlenclave: a %s parameter where %s is expected", t, x.Type)
			}
			v.cek[i] = strings.ToLower(k)
			v.params[i] = withSmall(number{d: d, t: dt})
		case "+", "-", "*", "/":
			if err = v.operands(i, x.L, x.R); err != nil {
				return nil, err
			}
			want, err := decimal.ResultType(x.Op[0], p.Exprs[x.L].Type, p.Exprs[x.R].Type)
			if err != nil || want != x.Type {
				return nil, fmt.Errorf("sqlenclave: %s %s %s is not %s", p.Exprs[x.L].Type, x.Op, p.Exprs[x.R].Type, x.Type)
			}
		case "round", "cast":
			if err = v.operands(i, x.L, x.L); err != nil {
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
	if err := v.fastPaths(); err != nil {
		return nil, err
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
	return v, nil
}

// fastPaths marks the + − × expressions whose result keeps its operands'
// digits (SQL Server's type rules cut no scale) and is a DECIMAL: on
// small operands they compute in int64.
func (v *evaluator) fastPaths() error {
	types_ := make([]decimal.Type, len(v.p.Exprs))
	for i, x := range v.p.Exprs {
		t, err := decimal.Of(x.Type)
		if err != nil {
			return err
		}
		types_[i] = t
		v.rts[i] = t
		if x.Type.Kind != types.Decimal {
			continue
		}
		switch x.Op {
		case "+", "-":
			lt, rt := types_[x.L], types_[x.R]
			v.fast[i] = t.Scale == max(lt.Scale, rt.Scale) && t.Scale-min(lt.Scale, rt.Scale) < len(pow10s)
		case "*":
			lt, rt := types_[x.L], types_[x.R]
			v.fast[i] = t.Scale == lt.Scale+rt.Scale
		}
	}
	return nil
}

// arith is the fast path of l op r into type t: ok is false when it
// does not apply (a value too large, or a result past t's precision,
// which the slow path then reports).
func arith(op byte, l, r number, t decimal.Type) (number, bool) {
	var z int64
	switch op {
	case '+', '-':
		a, b := l.s, r.s
		if k := t.Scale - l.t.Scale; k > 0 {
			if a > smallLimit/pow10s[k] || a < -smallLimit/pow10s[k] {
				return number{}, false
			}
			a *= pow10s[k]
		}
		if k := t.Scale - r.t.Scale; k > 0 {
			if b > smallLimit/pow10s[k] || b < -smallLimit/pow10s[k] {
				return number{}, false
			}
			b *= pow10s[k]
		}
		if op == '-' {
			b = -b
		}
		z = a + b
	case '*':
		hi, lo := bits.Mul64(uint64(abs64(l.s)), uint64(abs64(r.s)))
		if hi != 0 || lo >= smallLimit {
			return number{}, false
		}
		z = int64(lo)
		if (l.s < 0) != (r.s < 0) {
			z = -z
		}
	}
	if z >= smallLimit || z <= -smallLimit {
		return number{}, false
	}
	// DECIMAL(p, s) holds |z| < 10^p.
	if t.Precision < len(pow10s) && (z >= pow10s[t.Precision] || z <= -pow10s[t.Precision]) {
		return number{}, false
	}
	return fromSmall(z, t), true
}

func abs64(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// operands checks that expression i's operands come before it and share
// a key.
func (v *evaluator) operands(i, l, r int) error {
	if l < 0 || r < 0 || l >= i || r >= i {
		return fmt.Errorf("sqlenclave: expression %d has operands %d and %d", i, l, r)
	}
	// A NULL parameter (no key) takes its partner's.
	if v.cek[l] != v.cek[r] && v.cek[l] != "" && v.cek[r] != "" {
		return fmt.Errorf("sqlenclave: operands under keys %q and %q: an expression's encrypted operands must share a key", v.cek[l], v.cek[r])
	}
	v.cek[i] = max(v.cek[l], v.cek[r])
	return nil
}

// number is row r of input j, decrypted on first use.
func (v *evaluator) number(j, r int) (number, error) {
	c := v.cols[j]
	switch c.state[r] {
	case 1:
		return withSmall(number{d: c.num[r], t: v.dts[j]}), nil
	case 2:
		return number{null: true}, nil
	}
	cb := c.data[c.off[r]:c.off[r+1]]
	if len(cb) == 0 {
		c.state[r] = 2
		return number{null: true}, nil
	}
	pt, err := v.keys[j].Decrypt(cb)
	if err != nil {
		return number{}, fmt.Errorf("sqlenclave: a cell of %s under %q: %w", c.name, c.cek, err)
	}
	d, _, err := fromNormalized(c.typ, pt)
	if err != nil {
		return number{}, err
	}
	c.num[r], c.state[r] = d, 1
	return withSmall(number{d: d, t: v.dts[j]}), nil
}

// plaintext is row r of a non-numeric encrypted input, decrypted on
// first use (nil for NULL).
func (v *evaluator) plaintext(j, r int) ([]byte, error) {
	c := v.cols[j]
	switch c.state[r] {
	case 1:
		return c.pt[r], nil
	case 2:
		return nil, nil
	}
	cb := c.data[c.off[r]:c.off[r+1]]
	if len(cb) == 0 {
		c.state[r] = 2
		return nil, nil
	}
	pt, err := v.keys[j].Decrypt(cb)
	if err != nil {
		return nil, fmt.Errorf("sqlenclave: a cell of %s under %q: %w", c.name, c.cek, err)
	}
	c.pt[r], c.state[r] = pt, 1
	return pt, nil
}

// rows evaluates rows lo … hi−1 of the evaluator's columns.
func (v *evaluator) rows(lo, hi int) error {
	p := v.p
rows:
	for r := lo; r < hi; r++ {
		for _, f := range v.flts {
			ok, err := v.pass(f, r)
			if err != nil {
				return err
			}
			if !ok {
				continue rows
			}
		}
		for i, x := range p.Exprs {
			val, err := v.eval(r, i, x)
			if err != nil {
				return err
			}
			v.vals[i] = val
		}
		g, err := v.group(r)
		if err != nil {
			return err
		}
		g = publicGroup(g)
		for j, a := range p.Aggs {
			if err := g.aggs[j].step(a, v.vals); err != nil {
				return err
			}
		}
	}
	return nil
}

// pass evaluates a filter on row r.
func (v *evaluator) pass(f preparedFilter, r int) (bool, error) {
	var c int
	if v.cols[f.in].cek == "" {
		x := v.cols[f.in].plain[r]
		if x == nil || f.plain == nil {
			return false, nil
		}
		c = comparePlain(x, f.plain)
	} else {
		if f.null {
			return false, nil // a NULL parameter
		}
		n, err := v.number(f.in, r)
		if err != nil || n.null {
			return false, err
		}
		c = decimal.Compare(n.d, publicDecType(n.t), f.num.d, publicDecType(f.num.t))
	}
	return publicVerdict(f.op, c), nil
}

// publicVerdict declassifies a filter's verdict: the normal mode lets
// the enclave's memory accesses show which rows pass (the host's WHERE
// shows it outright in the per-row plan); the oblivious mode is the one
// that hides it.
//
//confide:declassify
func publicVerdict(op string, c int) bool {
	switch op {
	case "<":
		return c < 0
	case "<=":
		return c <= 0
	case ">":
		return c > 0
	case ">=":
		return c >= 0
	case "=":
		return c == 0
	}
	return c != 0
}

// eval computes expression i of row r.
func (v *evaluator) eval(r, i int, x ScanExpr) (number, error) {
	var l, rv number
	switch x.Op {
	case "input":
		return v.number(x.Input, r)
	case "param":
		return v.params[i], nil
	case "+", "-", "*", "/":
		l, rv = v.vals[x.L], v.vals[x.R]
		if l.null || rv.null {
			return number{null: true}, nil
		}
		if v.fast[i] && l.small && rv.small {
			if n, ok := arith(x.Op[0], l, rv, v.rts[i]); ok {
				return n, nil
			}
		}
	default:
		l = v.vals[x.L]
		if l.null {
			return number{null: true}, nil
		}
	}
	// Types are the query's, public; the values are secret.
	lt, rt := publicDecType(l.t), publicDecType(rv.t)
	var d decimal.Dec
	var dt decimal.Type
	var err error
	switch x.Op {
	case "+":
		d, dt, err = decimal.Add(l.d, lt, rv.d, rt)
	case "-":
		d, dt, err = decimal.Sub(l.d, lt, rv.d, rt)
	case "*":
		d, dt, err = decimal.Mul(l.d, lt, rv.d, rt)
	case "/":
		d, dt, err = decimal.Div(l.d, lt, rv.d, rt)
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
		return withSmall(number{d: c, t: to}), err
	}
	// Integers: the range check of their plaintext encoding.
	pt, err := toNormalized(d, dt, t)
	if err != nil {
		return number{}, err
	}
	c, ct, err := fromNormalized(t, pt)
	return withSmall(number{d: c, t: publicDecType(ct)}), err
}

// group finds or makes row r's group. Encrypted group columns group by
// plaintext.
func (v *evaluator) group(r int) (*scanGroup, error) {
	v.key = v.key[:0]
	for _, gi := range v.p.Groups {
		c := v.cols[gi]
		if c.cek == "" {
			v.key = appendKey(v.key, c.plain[r])
			continue
		}
		if decimal.Numeric(c.typ) {
			n, err := v.number(gi, r)
			if err != nil {
				return nil, err
			}
			if n.null {
				v.key = append(v.key, 0)
				continue
			}
			v.key = binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64(append(v.key, 6, byte(n.d.Neg)), n.d.Mag[0]), n.d.Mag[1])
			continue
		}
		pt, err := v.plaintext(gi, r)
		if err != nil {
			return nil, err
		}
		if pt == nil {
			v.key = append(v.key, 0)
			continue
		}
		v.key = append(binary.AppendUvarint(append(v.key, 7), uint64(len(pt))), pt...)
	}
	g := v.groups[string(v.key)]
	if g == nil {
		g = &scanGroup{key: string(v.key), first: make([]any, len(v.p.Groups)), aggs: make([]scanAcc, len(v.p.Aggs))}
		for k, gi := range v.p.Groups {
			c := v.cols[gi]
			if c.cek == "" {
				g.first[k] = c.plain[r]
			} else if cb := c.data[c.off[r]:c.off[r+1]]; len(cb) > 0 {
				g.first[k] = Envelope(v.p.Inputs[gi].CEK, c.typ.String(), cb)
			}
		}
		v.groups[string(v.key)] = g
		v.order = append(v.order, g)
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

// appendKey encodes a plaintext group value unambiguously: a tag, then
// the value (length-prefixed when variable).
func appendKey(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, 0)
	case int64:
		return binary.LittleEndian.AppendUint64(append(b, 1), uint64(x))
	case float64:
		return binary.LittleEndian.AppendUint64(append(b, 2), math.Float64bits(x))
	case string:
		return append(binary.AppendUvarint(append(b, 3), uint64(len(x))), x...)
	case []byte:
		return append(binary.AppendUvarint(append(b, 4), uint64(len(x))), x...)
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
		// The running sum has the values' scale: small values add as
		// integers, flushed into the exact sum before they could
		// overflow.
		if v.small {
			a.small += v.s
			if a.small < smallLimit && a.small > -smallLimit {
				break
			}
			v = fromSmall(a.small, vt)
			a.small = 0
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

// merge adds another evaluator's groups to this one's, in the order they
// first appeared (the other's rows come after this one's).
func (v *evaluator) merge(o *evaluator) error {
	for _, og := range o.order {
		g := v.groups[og.key]
		if g == nil {
			v.groups[og.key] = og
			v.order = append(v.order, og)
			continue
		}
		for j, a := range v.p.Aggs {
			if err := g.aggs[j].add(a, &og.aggs[j]); err != nil {
				return err
			}
		}
	}
	return nil
}

// flush moves the small running sum into the exact one.
func (a *scanAcc) flush() error {
	if a.small == 0 {
		return nil
	}
	sum, _, err := decimal.Add(a.sum, a.st, fromSmall(a.small, a.vt).d, a.vt)
	a.sum, a.small = sum, 0
	return err
}

// add combines a partial aggregate of the same query.
func (a *scanAcc) add(agg ScanAgg, b *scanAcc) error {
	if b.count == 0 {
		return nil
	}
	if err := b.flush(); err != nil {
		return err
	}
	if a.count == 0 {
		*a = *b
		return nil
	}
	if err := a.flush(); err != nil {
		return err
	}
	switch agg.Fn {
	case "sum", "avg":
		sum, _, err := decimal.Add(a.sum, a.st, b.sum, b.st)
		if err != nil {
			return err
		}
		a.sum = sum
	case "min":
		if decimal.Compare(b.min, b.vt, a.min, a.vt) < 0 {
			a.min = b.min
		}
	case "max":
		if decimal.Compare(b.max, b.vt, a.max, a.vt) > 0 {
			a.max = b.max
		}
	}
	a.count += b.count
	return nil
}

// result is the result rows, each value an envelope (computed values,
// encrypted group columns), a plaintext group value as the host stored
// it, an int64 count, or nil for NULL; in ORDER BY order.
func (v *evaluator) result() ([][]any, error) {
	e, p := v.e, v.p
	if len(p.Groups) == 0 && len(v.order) == 0 {
		v.order = append(v.order, &scanGroup{aggs: make([]scanAcc, len(p.Aggs))})
	}
	type sortRow struct {
		out  []any
		keys []sortKey
	}
	rows := make([]sortRow, 0, len(v.order))
	for _, g := range v.order {
		r := sortRow{out: make([]any, len(p.Outputs))}
		vals := make([]sortKey, len(p.Outputs))
		for k, o := range p.Outputs {
			if o.Group >= 0 {
				x := g.first[o.Group]
				r.out[k] = x
				vals[k] = sortKey{plain: x}
				if p.Inputs[p.Groups[o.Group]].CEK != "" && x != nil {
					vals[k] = sortKey{env: x.(string)}
				}
				continue
			}
			agg := p.Aggs[o.Agg]
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
			if r.out[k], err = e.seal(v.cek[agg.Expr], n.d, n.t, agg.Type); err != nil {
				return nil, err
			}
		}
		for _, o := range p.Order {
			r.keys = append(r.keys, vals[o.Output])
		}
		rows = append(rows, r)
	}
	var cmpErr error
	if len(p.Order) > 0 {
		slices.SortStableFunc(rows, func(a, b sortRow) int {
			for i, o := range p.Order {
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
	if err := a.flush(); err != nil {
		return number{}, err
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
