package wire

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5/pgproto3"
)

// TxStatuser is an optional interface of a Session that knows its
// transaction state. When a session implements it, the server reports
// TxStatus in every ReadyForQuery instead of following command tags
// (which cannot tell ROLLBACK TO SAVEPOINT, tagged ROLLBACK, from
// ROLLBACK). TxStatus returns 'I' (idle), 'T' (in a transaction) or 'E'
// (in a failed transaction).
type TxStatuser interface {
	TxStatus() byte
}

// flushAt is how many bytes of rows are buffered before they are written
// out, so that large results stream.
const flushAt = 64 << 10

// prepared is a prepared statement, shared by the statement map and the
// portals bound to it; the engine's statement is closed with the last.
type prepared struct {
	stmt   Statement // nil for an empty query
	params []uint32
	cols   []Column
	refs   int
}

func (p *prepared) release(c *conn) {
	p.refs--
	if p.refs == 0 && p.stmt != nil {
		if err := p.stmt.Close(); err != nil {
			c.log.Warn("closing statement", "error", fmt.Sprintf("%T", err))
		}
	}
}

// portal is a bound statement and, once executed, its open cursor.
type portal struct {
	ps      *prepared
	params  []Param
	formats []int16 // one per column
	res     Result
	done    bool
	tag     string
}

func (p *portal) close(c *conn) {
	if p.res != nil {
		if err := p.res.Close(); err != nil {
			c.log.Warn("closing result", "error", fmt.Sprintf("%T", err))
		}
		p.res = nil
	}
	p.ps.release(c)
}

// ioError is a failure of the connection itself.
type ioError struct{ err error }

func (e ioError) Error() string { return e.err.Error() }
func (e ioError) Unwrap() error { return e.err }

// loop serves messages after startup until Terminate or a FATAL error.
func (c *conn) loop() error {
	c.stmts = make(map[string]*prepared)
	c.portals = make(map[string]*portal)
	for {
		msg, err := c.receive()
		if err != nil {
			return err
		}
		if c.skipSync {
			switch msg.(type) {
			case *pgproto3.Sync:
			case *pgproto3.Terminate:
				return nil
			default:
				continue
			}
		}
		extended := true
		switch m := msg.(type) {
		case *pgproto3.Query:
			extended = false
			err = c.query(m.String)
		case *pgproto3.Parse:
			err = c.parse(m)
		case *pgproto3.Bind:
			err = c.bind(m)
		case *pgproto3.Describe:
			err = c.describe(m)
		case *pgproto3.Execute:
			err = c.execute(m)
		case *pgproto3.Close:
			err = c.closeMsg(m)
		case *pgproto3.Sync:
			c.skipSync = false
			err = c.ready()
		case *pgproto3.Flush:
			err = c.flush()
		case *pgproto3.Terminate:
			return nil
		case *pgproto3.CopyData, *pgproto3.CopyDone, *pgproto3.CopyFail:
			// Outside COPY these are ignored, as PostgreSQL does.
		case *pgproto3.FunctionCall:
			extended = false
			c.sendError(&Error{Code: "0A000", Message: "the function call protocol is not supported"}, "ERROR")
			err = c.ready()
		default:
			return protocolViolation(fmt.Sprintf("unexpected message type %q", msgType(msg)))
		}
		if err != nil {
			if err := c.report(err, extended); err != nil {
				return err
			}
		}
	}
}

func msgType(m pgproto3.FrontendMessage) string {
	b, err := m.Encode(nil)
	if err != nil || len(b) == 0 {
		return "?"
	}
	return string(b[:1])
}

// report sends a statement's error to the client, or returns the error
// when it ends the connection.
func (c *conn) report(err error, extended bool) error {
	var f fatal
	var ie ioError
	if errors.As(err, &f) || errors.As(err, &ie) {
		return err
	}
	e := c.clientError(err)
	c.sendError(e, "ERROR")
	if c.tx == 'T' {
		c.tx = 'E'
	}
	if extended {
		c.skipSync = true
		return nil
	}
	return c.ready()
}

// ready ends a simple query or an extended-protocol sequence.
func (c *conn) ready() error {
	if ts, ok := c.sess.(TxStatuser); ok {
		c.tx = ts.TxStatus()
	}
	if c.tx == 'I' {
		// Outside a transaction block, portals end with the implicit
		// transaction.
		for name, p := range c.portals {
			p.close(c)
			delete(c.portals, name)
		}
	}
	c.be.Send(&pgproto3.ReadyForQuery{TxStatus: c.tx})
	return c.flush()
}

// track follows the transaction status from a command tag.
func (c *conn) track(tag string) {
	switch tag {
	case "BEGIN", "START TRANSACTION":
		c.tx = 'T'
	case "COMMIT", "ROLLBACK":
		c.tx = 'I'
	}
}

func (c *conn) closeAll() {
	for name, p := range c.portals {
		p.close(c)
		delete(c.portals, name)
	}
	for name, ps := range c.stmts {
		ps.release(c)
		delete(c.stmts, name)
	}
}

func (c *conn) flush() error {
	c.sentBytes = 0
	if err := c.be.Flush(); err != nil {
		return ioError{err}
	}
	return nil
}

// begin returns the context of one engine call, which a CancelRequest
// cancels with errCanceled, and the function that ends it.
func (c *conn) begin() (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(c.ctx)
	c.qmu.Lock()
	c.cancelQuery = cancel
	c.qmu.Unlock()
	return ctx, func() {
		c.qmu.Lock()
		c.cancelQuery = nil
		c.qmu.Unlock()
		cancel(nil)
	}
}

// engineErr marks an engine error that a CancelRequest caused.
func engineErr(ctx context.Context, err error) error {
	var e *Error
	if !errors.As(err, &e) && errors.Is(context.Cause(ctx), errCanceled) {
		return errCanceled
	}
	return err
}

// prepare splits sql and prepares its single statement.
func (c *conn) prepare(ctx context.Context, sql string, oids []uint32) (*prepared, error) {
	parts, err := c.sess.Split(ctx, sql)
	if err != nil {
		return nil, engineErr(ctx, err)
	}
	switch len(parts) {
	case 0:
		return &prepared{params: oids}, nil
	case 1:
	default:
		return nil, NewError("42601", "cannot insert multiple commands into a prepared statement")
	}
	return c.prepareOne(ctx, parts[0], oids)
}

func (c *conn) prepareOne(ctx context.Context, sql string, oids []uint32) (*prepared, error) {
	st, err := c.sess.Prepare(ctx, sql, oids)
	if err != nil {
		return nil, engineErr(ctx, err)
	}
	return &prepared{stmt: st, params: st.Params(), cols: st.Columns()}, nil
}

// query runs a simple Query: each statement in turn, rows in text.
func (c *conn) query(sql string) error {
	ctx, end := c.begin()
	defer end()
	if p := c.portals[""]; p != nil {
		p.close(c)
		delete(c.portals, "")
	}
	if ps := c.stmts[""]; ps != nil {
		ps.release(c)
		delete(c.stmts, "")
	}
	parts, err := c.sess.Split(ctx, sql)
	if err != nil {
		return engineErr(ctx, err)
	}
	if len(parts) == 0 {
		c.be.Send(&pgproto3.EmptyQueryResponse{})
		return c.ready()
	}
	for _, part := range parts {
		if err := c.simple(ctx, part); err != nil {
			return err
		}
	}
	return c.ready()
}

func (c *conn) simple(ctx context.Context, sql string) error {
	ps, err := c.prepareOne(ctx, sql, nil)
	if err != nil {
		return err
	}
	ps.refs = 1
	p := &portal{ps: ps, formats: make([]int16, len(ps.cols))}
	defer p.close(c)
	if len(ps.params) > 0 {
		return NewError("42P02", "there is no parameter $1")
	}
	if len(ps.cols) > 0 {
		c.be.Send(rowDescription(ps.cols, p.formats))
	}
	return c.run(ctx, p, 0)
}

func rowDescription(cols []Column, formats []int16) *pgproto3.RowDescription {
	fields := make([]pgproto3.FieldDescription, len(cols))
	for i, col := range cols {
		fields[i] = pgproto3.FieldDescription{
			Name:                 []byte(col.Name),
			TableOID:             col.TableOID,
			TableAttributeNumber: col.AttrNumber,
			DataTypeOID:          col.TypeOID,
			DataTypeSize:         col.TypeSize,
			TypeModifier:         col.TypeModifier,
			Format:               formats[i],
		}
	}
	return &pgproto3.RowDescription{Fields: fields}
}

// run executes a portal, sending up to maxRows rows (0: all), then
// CommandComplete, or PortalSuspended when the limit was reached.
func (c *conn) run(ctx context.Context, p *portal, maxRows uint32) error {
	if p.ps.stmt == nil {
		c.be.Send(&pgproto3.EmptyQueryResponse{})
		return nil
	}
	if p.done {
		c.be.Send(&pgproto3.CommandComplete{CommandTag: []byte(p.tag)})
		return nil
	}
	if p.res == nil {
		res, err := p.ps.stmt.Execute(ctx, p.params, p.formats)
		if err != nil {
			p.done, p.tag = true, ""
			return engineErr(ctx, err)
		}
		p.res = res
	}
	for n := uint32(0); maxRows == 0 || n < maxRows; n++ {
		row, err := p.res.Next(ctx)
		if err == io.EOF {
			p.tag = p.res.Tag()
			p.done = true
			p.res.Close()
			p.res = nil
			c.track(p.tag)
			c.be.Send(&pgproto3.CommandComplete{CommandTag: []byte(p.tag)})
			return nil
		}
		if err != nil {
			p.done = true
			p.res.Close()
			p.res = nil
			return engineErr(ctx, err)
		}
		if len(row) != len(p.ps.cols) {
			p.done = true
			return fmt.Errorf("wire: engine returned %d values for %d columns", len(row), len(p.ps.cols))
		}
		c.be.Send(&pgproto3.DataRow{Values: row})
		c.sentBytes += 7
		for _, v := range row {
			c.sentBytes += 4 + len(v)
		}
		if c.sentBytes >= flushAt {
			if err := c.flush(); err != nil {
				return err
			}
		}
	}
	c.be.Send(&pgproto3.PortalSuspended{})
	return nil
}

func (c *conn) parse(m *pgproto3.Parse) error {
	if m.Name != "" && c.stmts[m.Name] != nil {
		return &Error{Code: "42P05", Message: fmt.Sprintf("prepared statement %q already exists", m.Name)}
	}
	if c.stmts[m.Name] == nil && len(c.stmts) >= c.srv.maxPrepared() {
		return &Error{Code: "54000", Message: fmt.Sprintf("too many prepared statements: this connection holds %d, the server's limit", len(c.stmts)),
			Hint: "close (or DEALLOCATE) prepared statements that are no longer needed"}
	}
	ctx, end := c.begin()
	defer end()
	ps, err := c.prepare(ctx, m.Query, m.ParameterOIDs)
	if err != nil {
		return err
	}
	if old := c.stmts[m.Name]; old != nil {
		old.release(c)
	}
	ps.refs = 1
	c.stmts[m.Name] = ps
	c.be.Send(&pgproto3.ParseComplete{})
	return nil
}

// formats expands the format codes of a Bind message to n entries: none
// means all text, one applies to all.
func formats(n int, codes []int16, what string) ([]int16, error) {
	out := make([]int16, n)
	switch len(codes) {
	case 0:
		return out, nil
	case 1:
		for i := range out {
			out[i] = codes[0]
		}
	case n:
		copy(out, codes)
	default:
		return nil, &Error{Code: "08P01", Message: fmt.Sprintf("bind message has %d %s formats but %d %ss", len(codes), what, n, what)}
	}
	for _, f := range codes {
		if f != TextFormat && f != BinaryFormat {
			return nil, &Error{Code: "22023", Message: fmt.Sprintf("unsupported format code: %d", f)}
		}
	}
	return out, nil
}

func (c *conn) bind(m *pgproto3.Bind) error {
	ps := c.stmts[m.PreparedStatement]
	if ps == nil {
		return &Error{Code: "26000", Message: fmt.Sprintf("prepared statement %q does not exist", m.PreparedStatement)}
	}
	if m.DestinationPortal != "" && c.portals[m.DestinationPortal] != nil {
		return &Error{Code: "42P03", Message: fmt.Sprintf("portal %q already exists", m.DestinationPortal)}
	}
	if c.portals[m.DestinationPortal] == nil && len(c.portals) >= c.srv.maxPrepared() {
		return &Error{Code: "54000", Message: fmt.Sprintf("too many portals: this connection holds %d, the server's limit", len(c.portals)),
			Hint: "close portals that are no longer needed"}
	}
	if len(m.Parameters) != len(ps.params) {
		return &Error{Code: "08P01", Message: fmt.Sprintf("bind message supplies %d parameters, but prepared statement %q requires %d",
			len(m.Parameters), m.PreparedStatement, len(ps.params))}
	}
	pf, err := formats(len(m.Parameters), m.ParameterFormatCodes, "parameter")
	if err != nil {
		return err
	}
	rf, err := formats(len(ps.cols), m.ResultFormatCodes, "result")
	if err != nil {
		return err
	}
	// The message's buffer is reused by the next Receive: copy.
	size := 0
	for _, v := range m.Parameters {
		size += len(v)
	}
	buf := make([]byte, 0, size)
	params := make([]Param, len(m.Parameters))
	for i, v := range m.Parameters {
		params[i].Format = pf[i]
		if v != nil {
			buf = append(buf, v...)
			params[i].Value = buf[len(buf)-len(v) : len(buf) : len(buf)]
		}
	}
	if old := c.portals[m.DestinationPortal]; old != nil {
		old.close(c)
	}
	ps.refs++
	c.portals[m.DestinationPortal] = &portal{ps: ps, params: params, formats: rf}
	c.be.Send(&pgproto3.BindComplete{})
	return nil
}

func (c *conn) describe(m *pgproto3.Describe) error {
	switch m.ObjectType {
	case 'S':
		ps := c.stmts[m.Name]
		if ps == nil {
			return &Error{Code: "26000", Message: fmt.Sprintf("prepared statement %q does not exist", m.Name)}
		}
		c.be.Send(&pgproto3.ParameterDescription{ParameterOIDs: ps.params})
		if len(ps.cols) == 0 {
			c.be.Send(&pgproto3.NoData{})
			return nil
		}
		c.be.Send(rowDescription(ps.cols, make([]int16, len(ps.cols))))
	case 'P':
		p := c.portals[m.Name]
		if p == nil {
			return &Error{Code: "34000", Message: fmt.Sprintf("portal %q does not exist", m.Name)}
		}
		if len(p.ps.cols) == 0 {
			c.be.Send(&pgproto3.NoData{})
			return nil
		}
		c.be.Send(rowDescription(p.ps.cols, p.formats))
	default:
		return &Error{Code: "08P01", Message: fmt.Sprintf("invalid DESCRIBE message subtype %d", m.ObjectType)}
	}
	return nil
}

func (c *conn) execute(m *pgproto3.Execute) error {
	p := c.portals[m.Portal]
	if p == nil {
		return &Error{Code: "34000", Message: fmt.Sprintf("portal %q does not exist", m.Portal)}
	}
	ctx, end := c.begin()
	defer end()
	return c.run(ctx, p, m.MaxRows)
}

func (c *conn) closeMsg(m *pgproto3.Close) error {
	switch m.ObjectType {
	case 'S':
		if ps := c.stmts[m.Name]; ps != nil {
			ps.release(c)
			delete(c.stmts, m.Name)
		}
	case 'P':
		if p := c.portals[m.Name]; p != nil {
			p.close(c)
			delete(c.portals, m.Name)
		}
	default:
		return &Error{Code: "08P01", Message: fmt.Sprintf("invalid CLOSE message subtype %d", m.ObjectType)}
	}
	c.be.Send(&pgproto3.CloseComplete{})
	return nil
}

// notifier sends NOTICEs on a connection; it holds the protocol backend
// only, not the connection and its context.
type notifier struct{ be *pgproto3.Backend }

func (n notifier) notify(message, detail string) {
	n.be.Send(&pgproto3.NoticeResponse{Severity: "NOTICE", SeverityUnlocalized: "NOTICE", Code: "00000", Message: message, Detail: detail})
	n.be.Flush()
}
