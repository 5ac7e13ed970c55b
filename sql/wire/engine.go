package wire

import (
	"context"
	"errors"
	"net"
)

// Engine is the SQL engine behind the server. The server calls Open once
// per connection, after authentication.
type Engine interface {
	// Open starts a session for an authenticated connection. An *Error is
	// sent to the client as a FATAL ErrorResponse with its code (3D000 for
	// a database that does not exist, 28000 for a user who may not connect
	// to it); any other error is sent as XX000 "internal error". The
	// Startup value is the server's: Open must not keep its Options map.
	Open(ctx context.Context, s Startup) (Session, error)
}

// Startup describes a connection to Engine.Open.
type Startup struct {
	User     string // authenticated user name, never empty
	Database string // database named by the client; the user name if none was
	// Options holds the other startup parameters the client sent
	// (application_name, search_path, options …), never the user,
	// database, client_encoding or replication parameters.
	Options    map[string]string
	RemoteAddr net.Addr
	TLS        bool // the connection is encrypted
	// Notify sends a NOTICE to the client at once: engines report the
	// progress of long statements with it, from the session's goroutine
	// while a statement runs. A failure to send shows when the
	// statement's own answer is sent.
	Notify func(message, detail string)
}

// Session is one client connection's view of the engine. The server calls
// its methods from the connection's goroutine only, one at a time, and
// Close exactly once when the connection ends.
//
// Transactions belong to the session: the server learns of them only from
// command tags (BEGIN or START TRANSACTION opens one, COMMIT or ROLLBACK
// ends it, an error inside one marks it failed) to report the transaction
// status byte of ReadyForQuery. The session itself must refuse statements
// other than COMMIT and ROLLBACK inside a failed transaction (25P02), and
// report COMMIT of a failed transaction with the tag ROLLBACK, as
// PostgreSQL does. A simple Query holding several statements runs them
// one after another in the session's current transaction state (no
// implicit transaction around them).
type Session interface {
	// Split splits a simple Query string into its statements, in order,
	// following the engine's lexical rules (quotes, comments). A string
	// holding no statement (empty, blanks, comments) gives an empty list,
	// which the server answers with EmptyQueryResponse. The server also
	// splits the query of every Parse message: more than one statement
	// there is an error (42601), as in PostgreSQL, so Prepare is only ever
	// given one statement.
	Split(ctx context.Context, sql string) ([]string, error)

	// Prepare parses and plans one statement. paramOIDs holds the
	// parameter types the client specified (0: unspecified, for the engine
	// to infer); it may be shorter than the statement's parameter list and
	// is not retained after Prepare returns.
	Prepare(ctx context.Context, sql string, paramOIDs []uint32) (Statement, error)

	// Close ends the session, rolling back any open transaction.
	Close() error
}

// Statement is a prepared statement. The slices its methods return belong
// to the statement and must not change until Close; the server does not
// modify them.
type Statement interface {
	// Params returns the type OIDs of the statement's parameters, $1
	// first. Every Execute is given exactly that many parameters.
	Params() []uint32

	// Columns describes the rows Execute returns; nil or empty for a
	// statement that returns none. The Format of each column is ignored:
	// the server fills it in from the client's requested formats.
	Columns() []Column

	// Execute runs the statement. params has len(Params()) entries;
	// formats has len(Columns()) entries, each TextFormat or BinaryFormat,
	// the encoding the client wants for that column. Both slices, and the
	// parameter values, are owned by the server and valid only until
	// Execute returns: a Result that needs them later must copy them. The
	// Result's rows are read by the server, possibly over several client
	// Execute messages (a portal with a row limit), before it is closed.
	// Several Results of one statement may be open at once, and a Result
	// may outlive the statement's Close.
	Execute(ctx context.Context, params []Param, formats []int16) (Result, error)

	// Close releases the statement. It is called once, after which the
	// server calls no method of the statement.
	Close() error
}

// Result is the cursor of one execution. The server calls Next until it
// returns an error or the client's row limit is reached, then Close; Close
// may come before the rows are exhausted (the client closed the portal,
// the transaction ended, the connection broke).
type Result interface {
	// Next returns the next row: one value per column, encoded in the
	// format requested for that column, nil for NULL. The row and its
	// values belong to the Result and are valid only until the next call
	// of Next or Close: the server copies them out at once. After the last
	// row Next returns io.EOF; a statement with no result rows returns
	// io.EOF at once. ctx is the context of the client's current Execute,
	// not necessarily the one Execute was called with.
	Next(ctx context.Context) ([][]byte, error)

	// Tag is the command tag ("SELECT 3", "INSERT 0 1", "BEGIN"), called
	// after Next has returned io.EOF.
	Tag() string

	// Close releases the cursor.
	Close() error
}

// Column describes one result column, as in RowDescription.
type Column struct {
	Name         string
	TableOID     uint32 // 0 if not a table column
	AttrNumber   uint16 // 0 if not a table column
	TypeOID      uint32
	TypeSize     int16 // pg_type.typlen: -1 for variable length
	TypeModifier int32 // pg_attribute.atttypmod: -1 if none
	Format       int16 // set by the server
}

// Param is one bound parameter value.
type Param struct {
	Value  []byte // nil: NULL
	Format int16  // TextFormat or BinaryFormat
}

// Value formats, as in the protocol.
const (
	TextFormat   int16 = 0
	BinaryFormat int16 = 1
)

// Error is an error the client should see: the server sends it as an
// ErrorResponse with these fields. Any error that is not (and does not
// wrap) an *Error reaches the client as XX000 "internal error", its text
// withheld.
type Error struct {
	Code     string // SQLSTATE, five characters
	Message  string
	Detail   string // optional
	Hint     string // optional
	Position int32  // optional: 1-based character position in the query
	Err      error  // optional cause, never sent to the client
}

func (e *Error) Error() string {
	if e.Detail != "" {
		return e.Message + " (SQLSTATE " + e.Code + "): " + e.Detail
	}
	return e.Message + " (SQLSTATE " + e.Code + ")"
}

func (e *Error) Unwrap() error { return e.Err }

// NewError returns an *Error with a code and message.
func NewError(code, message string) *Error {
	return &Error{Code: code, Message: message}
}

// ErrServerClosed is returned by Serve after its context is done.
var ErrServerClosed = errors.New("wire: server closed")
