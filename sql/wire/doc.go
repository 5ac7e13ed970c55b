// Package wire serves the PostgreSQL frontend/backend protocol, version
// 3.0, so that psql and ordinary PostgreSQL drivers connect to confide's
// SQL server. It is the protocol layer only: messages are encoded and
// decoded by pgx's pgproto3; the session state machine, the TLS upgrade,
// authentication and the message-size limits are this package's; the SQL
// is an Engine's.
//
//	srv := &wire.Server{Engine: eng, TLS: tlsConfig, Users: users, Log: logger}
//	err := srv.Serve(ctx, listener) // until ctx is done: ErrServerClosed
//
// # Connection start-up
//
// A connection begins with one of the untyped start-up packets (at most
// 10,000 bytes, as PostgreSQL):
//
//   - SSLRequest: with Server.TLS set, the server answers 'S' and runs the
//     TLS handshake, after which the client starts again; without, it
//     answers 'N' and the client goes on in plain text or gives up
//     (sslmode=require). The request is read straight from the socket, so
//     no byte sent after it is ever read as plaintext. A second SSLRequest
//     is a protocol violation. Direct TLS (PostgreSQL 17's
//     sslnegotiation=direct) is not supported: such a connection fails at
//     its first packet.
//   - GSSENCRequest: answered 'N' (no GSSAPI encryption).
//   - CancelRequest: the query running on the connection with that
//     process ID and secret key (compared in constant time) is canceled
//     and fails with 57014; the requester is told nothing and the
//     connection closed, whatever the outcome, as in PostgreSQL.
//   - StartupMessage: protocol 3.0. A client asking for 3.x with x > 0, or
//     sending _pq_. protocol options, gets NegotiateProtocolVersion (3.0,
//     the options it does not know) and goes on in 3.0. Other major
//     versions get FATAL 0A000. The user parameter is required (FATAL
//     28000 otherwise); database defaults to the user; client_encoding
//     must name UTF8 (or SQL_ASCII, which means no conversion), anything
//     else is FATAL 0A000 since the server converts nothing; replication
//     other than false is FATAL 0A000. The other parameters
//     (application_name, options, search_path …) go to Engine.Open.
//
// A malformed packet is FATAL 08P01. Start-up and authentication must end
// within Server.AuthTimeout (60 s by default), after which the connection
// is closed.
//
// # Authentication
//
// With Server.Users nil, a development server: connections from loopback
// addresses and Unix sockets are trusted without a password, as a fresh
// PostgreSQL cluster does, and all others get FATAL 28000.
//
// With Server.Users set, every connection authenticates by SASL
// SCRAM-SHA-256 (RFC 5802, RFC 7677) as PostgreSQL does it, through
// github.com/xdg-go/scram: AuthenticationSASL listing the mechanisms,
// SASLInitialResponse, AuthenticationSASLContinue, SASLResponse,
// AuthenticationSASLFinal. Over TLS the server also offers
// SCRAM-SHA-256-PLUS, binding the exchange to the TLS connection with
// tls-server-end-point (RFC 5929: the hash of the certificate the server
// presented), so that channel_binding=require works and a man in the
// middle with another certificate fails; a client that could bind but says
// the server offered no binding is refused as a downgrade. The user name
// in the SCRAM messages is ignored: the start-up user is the one
// authenticated. The server stores Verifiers (salt, iteration count,
// StoredKey, ServerKey — PostgreSQL's rolpassword format, see
// ParseVerifier), never passwords; the proof is checked in constant time.
// A user who does not exist goes through the same exchange with a salt
// derived from the name and a per-server random key, and fails at the same
// point with the same error as a wrong password (FATAL 28P01), so the
// exchange does not tell which users exist. Server.RequireTLS refuses
// plain connections other than local ones.
//
// Then the server sends AuthenticationOk, calls Engine.Open (its *Error
// becomes a FATAL ErrorResponse), and sends ParameterStatus for
// server_version ("16.0 (confide)"), server_encoding and client_encoding
// (UTF8), DateStyle (ISO, MDY), IntervalStyle, integer_datetimes,
// standard_conforming_strings (on), TimeZone (UTC), application_name (as
// the client sent it), is_superuser, session_authorization,
// default_transaction_read_only and in_hot_standby; then BackendKeyData
// (a random process ID and a 4-byte random cancel key) and
// ReadyForQuery('I').
//
// # Queries
//
// The simple protocol: Query is split into statements by Session.Split;
// each is prepared and executed in turn, its rows sent in text format
// after a RowDescription, ended by CommandComplete with the engine's tag;
// the first error ends the query. A query with no statement gets
// EmptyQueryResponse; parameters ($1) are an error (42P02). Every Query
// ends with ReadyForQuery.
//
// The extended protocol: Parse (named or unnamed statements; a named one
// that exists is 42P05; more than one statement is 42601), Bind (named or
// unnamed portals; parameter and result format codes as the protocol has
// them: none for all text, one for all, or one each; 0 and 1 only, others
// 22023; a parameter count other than the statement's is 08P01),
// Describe of a statement (ParameterDescription, then RowDescription or
// NoData) or of a portal (RowDescription in its formats, or NoData),
// Execute with a row limit (after that many rows, PortalSuspended; the
// next Execute continues the same cursor), Close (of something that does
// not exist is no error), Sync and Flush. A portal lives until it is
// closed, rebound (unnamed), or its transaction ends: outside a
// transaction block, every portal is dropped at Sync, as PostgreSQL drops
// them with the implicit transaction. A statement closed while portals
// use it is released by the engine only after the last of them.
//
// After an error in an extended-protocol message, the server discards
// every message up to the next Sync, as PostgreSQL does, and then answers
// it with ReadyForQuery. Output of the extended protocol is buffered until
// Sync or Flush; rows are written out every 64 KiB, so large results
// stream.
//
// ReadyForQuery carries the transaction status: 'T' after a BEGIN or
// START TRANSACTION tag, 'I' after COMMIT or ROLLBACK, 'E' after an error
// inside a transaction block — or whatever the session reports if it
// implements TxStatuser (the tags cannot tell ROLLBACK TO SAVEPOINT, also
// tagged ROLLBACK, from ROLLBACK).
//
// # The engine contract
//
// Engine.Open starts a Session per connection. Session.Split splits a
// query string into statements (the engine knows its lexical rules);
// Session.Prepare gives a Statement, which reports its parameter types
// and result columns and executes into a Result, a cursor read row by
// row: the server never holds a whole result. Who owns which slice, and
// for how long, is written on each method: in short, what the server
// passes is valid only during the call, and what the engine returns is
// valid until the next call on the same object. The server calls a
// session's methods from one goroutine, one at a time; ctx is canceled
// by a CancelRequest or when the server shuts down.
//
// Errors: an *Error (or an error wrapping one) reaches the client as an
// ErrorResponse with its SQLSTATE, message, detail, hint and position;
// any other error is logged by its type only and reaches the client as
// XX000 "internal error", its text withheld, since it may carry internals.
// An engine that panics ends that connection only: the panic is
// recovered, logged by type, and the connection closed.
//
// # Limits and protocol errors
//
// A message body larger than Server.MaxMessage (1 MiB by default) is
// FATAL 08P01 "message too large", before the body is read. A message of
// an unknown type, a malformed one, or one out of place (a password or
// SASL message after authentication, a start-up packet after start-up) is
// FATAL 08P01 and closes the connection. A connection closed mid-message
// ends quietly. None of this affects other connections.
//
// # Not supported
//
//   - COPY: COPY is SQL, and the engine refuses it; CopyData, CopyDone and
//     CopyFail outside COPY are ignored, as PostgreSQL does.
//   - The function call protocol (FunctionCall): ERROR 0A000.
//   - Replication connections (replication start-up parameter): FATAL
//     0A000.
//   - LISTEN/NOTIFY: the engine refuses LISTEN; the server never sends
//     NotificationResponse.
//   - Password (cleartext), MD5, GSSAPI, SSPI and certificate
//     authentication; GSSAPI encryption; direct TLS; protocol 3.2 (its
//     longer cancel keys): clients are negotiated down to 3.0.
//   - Client encodings other than UTF8: the server converts nothing.
//   - Implicit transactions around a multi-statement simple Query: the
//     statements run in the session's own transaction state.
package wire
