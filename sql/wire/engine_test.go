package wire_test

// A test fixture, not an engine: just enough SQL to drive the protocol.
//
//	BEGIN | START TRANSACTION | COMMIT | ROLLBACK
//	SELECT item, item …     item: integer, 'string', NULL, $n[::int4|int8|text], 1/0
//	SELECT * FROM series(N) N rows of one int8 column n
//	INSERT …                tag INSERT 0 1, no rows
//	SLEEP                   blocks until its context ends (when allowed)
//	PANIC                   panics (when allowed)
//	LEAK                    fails with an error that is not a *wire.Error
//
// Statements are separated by semicolons outside single quotes.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/confide/confide/sql/wire"
)

const (
	oidInt4 = 23
	oidInt8 = 20
	oidText = 25
)

type testEngine struct {
	unsafe bool // SLEEP and PANIC allowed
}

func (e *testEngine) Open(ctx context.Context, s wire.Startup) (wire.Session, error) {
	if s.Database == "nodb" {
		return nil, &wire.Error{Code: "3D000", Message: fmt.Sprintf("database %q does not exist", s.Database)}
	}
	return &testSession{e: e}, nil
}

type testSession struct {
	e            *testEngine
	inTx, failed bool
}

func (s *testSession) Split(ctx context.Context, sql string) ([]string, error) {
	var out []string
	quoted, start := false, 0
	for i := 0; i <= len(sql); i++ {
		if i < len(sql) && sql[i] == '\'' {
			quoted = !quoted
		}
		if i == len(sql) || (sql[i] == ';' && !quoted) {
			if st := strings.TrimSpace(sql[start:i]); st != "" {
				out = append(out, st)
			}
			start = i + 1
		}
	}
	if quoted {
		return nil, &wire.Error{Code: "42601", Message: "unterminated quoted string"}
	}
	return out, nil
}

func (s *testSession) Close() error { return nil }

type testItem struct {
	kind  string // int, text, null, param, div0
	value string
	param int
}

type testStmt struct {
	s      *testSession
	verb   string
	params []uint32
	cols   []wire.Column
	items  []testItem
	series int
}

func syntax(sql string) error {
	return &wire.Error{Code: "42601", Message: fmt.Sprintf("syntax error at or near %q", sql)}
}

func (s *testSession) Prepare(ctx context.Context, sql string, oids []uint32) (wire.Statement, error) {
	upper := strings.ToUpper(sql)
	st := &testStmt{s: s}
	if err := s.check(upper); err != nil {
		return nil, err
	}
	switch {
	case upper == "BEGIN" || upper == "START TRANSACTION" || upper == "COMMIT" || upper == "ROLLBACK" ||
		upper == "SLEEP" || upper == "PANIC" || upper == "LEAK" || strings.HasPrefix(upper, "INSERT"):
		st.verb = strings.Fields(upper)[0]
	case strings.HasPrefix(upper, "SELECT * FROM SERIES("):
		n, err := strconv.Atoi(strings.TrimSuffix(sql[len("SELECT * FROM SERIES("):], ")"))
		if err != nil || n < 0 {
			return nil, syntax(sql)
		}
		st.verb, st.series = "SERIES", n
		st.cols = []wire.Column{{Name: "n", TypeOID: oidInt8, TypeSize: 8, TypeModifier: -1}}
	case strings.HasPrefix(upper, "SELECT "):
		st.verb = "SELECT"
		for _, f := range strings.Split(sql[len("SELECT "):], ",") {
			f = strings.TrimSpace(f)
			col := wire.Column{Name: "?column?", TypeModifier: -1}
			var it testItem
			switch {
			case strings.EqualFold(f, "NULL"):
				it.kind, col.TypeOID, col.TypeSize = "null", oidText, -1
			case f == "1/0":
				it.kind, col.TypeOID, col.TypeSize = "div0", oidInt4, 4
			case len(f) >= 2 && f[0] == '\'' && f[len(f)-1] == '\'':
				it.kind, it.value, col.TypeOID, col.TypeSize = "text", f[1:len(f)-1], oidText, -1
			case strings.HasPrefix(f, "$"):
				num, typ, _ := strings.Cut(f[1:], "::")
				n, err := strconv.Atoi(num)
				if err != nil || n < 1 || n > 100 {
					return nil, syntax(f)
				}
				oid := uint32(oidText)
				if n <= len(oids) && oids[n-1] != 0 {
					oid = oids[n-1]
				}
				switch strings.ToLower(typ) {
				case "int4":
					oid = oidInt4
				case "int8":
					oid = oidInt8
				case "text":
					oid = oidText
				case "":
				default:
					return nil, syntax(f)
				}
				for len(st.params) < n {
					st.params = append(st.params, oidText)
				}
				st.params[n-1] = oid
				it.kind, it.param, col.TypeOID, col.TypeSize = "param", n-1, oid, typeSize(oid)
			default:
				if _, err := strconv.ParseInt(f, 10, 32); err != nil {
					return nil, syntax(f)
				}
				it.kind, it.value, col.TypeOID, col.TypeSize = "int", f, oidInt4, 4
			}
			st.items = append(st.items, it)
			st.cols = append(st.cols, col)
		}
	default:
		return nil, syntax(sql)
	}
	return st, nil
}

// check refuses statements in a failed transaction.
func (s *testSession) check(upper string) error {
	if s.failed && upper != "COMMIT" && upper != "ROLLBACK" {
		return &wire.Error{Code: "25P02", Message: "current transaction is aborted, commands ignored until end of transaction block"}
	}
	return nil
}

func typeSize(oid uint32) int16 {
	switch oid {
	case oidInt4:
		return 4
	case oidInt8:
		return 8
	}
	return -1
}

func (st *testStmt) Params() []uint32       { return st.params }
func (st *testStmt) Columns() []wire.Column { return st.cols }
func (st *testStmt) Close() error           { return nil }

func (st *testStmt) fail(err error) error {
	if st.s.inTx {
		st.s.failed = true
	}
	return err
}

func (st *testStmt) Execute(ctx context.Context, params []wire.Param, formats []int16) (wire.Result, error) {
	s := st.s
	if err := s.check(st.verb); err != nil {
		return nil, err
	}
	if len(params) != len(st.params) || len(formats) != len(st.cols) {
		return nil, errors.New("fixture: bad call")
	}
	switch st.verb {
	case "BEGIN", "START":
		s.inTx = true
		return &testResult{tag: "BEGIN"}, nil
	case "COMMIT", "ROLLBACK":
		tag := st.verb
		if s.failed {
			tag = "ROLLBACK"
		}
		s.inTx, s.failed = false, false
		return &testResult{tag: tag}, nil
	case "INSERT":
		return &testResult{tag: "INSERT 0 1"}, nil
	case "LEAK":
		return nil, st.fail(errors.New("fixture: secret internal detail"))
	case "SLEEP":
		if !s.e.unsafe {
			return nil, syntax("SLEEP")
		}
		<-ctx.Done()
		return nil, st.fail(ctx.Err())
	case "PANIC":
		if !s.e.unsafe {
			return nil, syntax("PANIC")
		}
		panic("fixture: PANIC")
	case "SERIES":
		return &testResult{st: st, series: st.series, formats: formats, tag: "SELECT " + strconv.Itoa(st.series)}, nil
	}
	row := make([][]byte, len(st.items))
	for i, it := range st.items {
		var v any
		switch it.kind {
		case "null":
			continue
		case "div0":
			return nil, st.fail(&wire.Error{Code: "22012", Message: "division by zero"})
		case "int":
			n, _ := strconv.ParseInt(it.value, 10, 64)
			v = n
		case "text":
			v = it.value
		case "param":
			p := params[it.param]
			if p.Value == nil {
				continue
			}
			var err error
			v, err = decode(st.params[it.param], p)
			if err != nil {
				return nil, st.fail(err)
			}
		}
		row[i] = encode(st.cols[i].TypeOID, formats[i], v)
	}
	return &testResult{rows: [][][]byte{row}, tag: "SELECT 1"}, nil
}

func decode(oid uint32, p wire.Param) (any, error) {
	bad := &wire.Error{Code: "22P02", Message: "invalid input syntax"}
	if oid == oidText {
		return string(p.Value), nil
	}
	if p.Format == wire.BinaryFormat {
		switch {
		case oid == oidInt4 && len(p.Value) == 4:
			return int64(int32(binary.BigEndian.Uint32(p.Value))), nil
		case oid == oidInt8 && len(p.Value) == 8:
			return int64(binary.BigEndian.Uint64(p.Value)), nil
		}
		return nil, &wire.Error{Code: "22P03", Message: "incorrect binary data format"}
	}
	bits := 32
	if oid == oidInt8 {
		bits = 64
	}
	n, err := strconv.ParseInt(string(p.Value), 10, bits)
	if err != nil {
		return nil, bad
	}
	return n, nil
}

func encode(oid uint32, format int16, v any) []byte {
	if format == wire.TextFormat {
		return fmt.Append(nil, v)
	}
	switch oid {
	case oidInt4:
		return binary.BigEndian.AppendUint32(nil, uint32(v.(int64)))
	case oidInt8:
		return binary.BigEndian.AppendUint64(nil, uint64(v.(int64)))
	}
	return fmt.Append(nil, v)
}

type testResult struct {
	st      *testStmt
	rows    [][][]byte
	series  int
	next    int
	formats []int16
	tag     string
	closed  bool
}

func (r *testResult) Next(ctx context.Context) ([][]byte, error) {
	if r.closed {
		return nil, errors.New("fixture: Next after Close")
	}
	if r.st != nil { // series
		if r.next >= r.series {
			return nil, io.EOF
		}
		r.next++
		return [][]byte{encode(oidInt8, r.formats[0], int64(r.next))}, nil
	}
	if r.next >= len(r.rows) {
		return nil, io.EOF
	}
	r.next++
	return r.rows[r.next-1], nil
}

func (r *testResult) Tag() string  { return r.tag }
func (r *testResult) Close() error { r.closed = true; return nil }
