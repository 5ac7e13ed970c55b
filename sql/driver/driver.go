// Package driver is confide's database/sql driver for Always Encrypted
// SQL: with column encryption enabled, it asks the server which
// parameters and result columns of each statement are encrypted
// (sp_describe_parameter_encryption, cached per statement text, as
// SqlClient does), encrypts parameters bound for encrypted columns with
// their column encryption keys, and decrypts encrypted result columns, so
// application code is unchanged. Keys never reach the server: column
// encryption keys are opened on the client, through key store providers,
// from column master keys whose paths the application trusts.
//
// The DSN is a PostgreSQL URL; the driver consumes its own parameter
// column_encryption=enabled|disabled and never sends it to the server.
// With column encryption disabled, encrypted columns read and write as
// their cells (bytea): bulk loads and migrations pass ciphertext through
// unchanged, as SqlClient's AllowEncryptedValueModifications does, and
// the server still refuses a value for an encrypted column that is not
// shaped like a cell.
//
// A result the server padded in the oblivious mode (its NOTICE "confide:
// padded result", spec/ae-enclave.md §6) comes back without its padding:
// the driver drops each row equal, decrypted, to an earlier one.
//
//	db := sql.OpenDB(driver.NewConnector(dsn, driver.Config{Keys: cache}))
package driver

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/confide/confide/attest"
	attestclient "github.com/confide/confide/attestsvc/client"
	"github.com/confide/confide/sql/cek"
	"github.com/confide/confide/sql/cell"
	"github.com/confide/confide/sql/sqlenclave"
	"github.com/confide/confide/sql/types"
)

// Config configures a Connector.
type Config struct {
	// Keys opens column encryption keys: providers and trusted key paths.
	Keys *cek.Cache
	// Enclave verifies the SQL enclave's evidence (its backends and trust
	// roots), against the DSN's enclave_policy; nil refuses every
	// statement that needs the enclave.
	Enclave *attest.Verifier
	// AttestationService returns the client of the attestation service at
	// a DSN's enclave_attestation_url (nil: a plain HTTP client, for
	// tests and loopback).
	AttestationService func(baseURL string) *attestclient.Client
	// OnNotice, if set, receives the server's NOTICEs: the progress of
	// in-place encryption ("n of m rows", Detail "n/m").
	OnNotice func(message, detail string)
}

// Encrypted marks a parameter that must be sent encrypted: if the server
// says its column is not encrypted, the statement fails instead of
// sending the value in plaintext (SqlClient's ForceColumnEncryption).
type Encrypted struct{ Value any }

// Connector opens connections for database/sql.
type Connector struct {
	dsn     string
	enabled bool
	cfg     Config
	err     error

	// enclavePolicy appraises the SQL enclave (DSN enclave_policy=PATH),
	// or the attestation service at asURL does, with its policy asPolicy.
	enclavePolicy   *attest.Policy
	asURL, asPolicy string
	asKeys          *attestclient.KeySet

	mu    sync.Mutex
	plans map[string]*plan // statement text → describe answer
	// session is the attested session with the server's SQL enclave, and
	// sent records when each CEK last went to it.
	session *sqlenclave.Session
	sent    map[string]time.Time
	// remote holds statement texts that stock PostgreSQL runs as they
	// are (not Always Encrypted DDL nor a key function).
	remote map[string]struct{}
}

// NewConnector parses the DSN.
func NewConnector(dsn string, cfg Config) *Connector {
	c := &Connector{cfg: cfg, plans: map[string]*plan{}, remote: map[string]struct{}{}}
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		c.err = errors.New("driver: the DSN must be a postgres:// URL")
		return c
	}
	q := u.Query()
	switch v := q.Get("column_encryption"); v {
	case "enabled":
		c.enabled = true
	case "", "disabled":
	default:
		c.err = fmt.Errorf("driver: column_encryption=%q: want enabled or disabled", v)
	}
	q.Del("column_encryption")
	if path := q.Get("enclave_policy"); path != "" {
		b, err := os.ReadFile(path)
		if err == nil {
			c.enclavePolicy, err = attest.ParsePolicy(b)
		}
		if err != nil {
			c.err = fmt.Errorf("driver: enclave_policy: %w", err)
		}
	}
	q.Del("enclave_policy")
	c.asURL, c.asPolicy = q.Get("enclave_attestation_url"), q.Get("enclave_attestation_policy")
	if (c.asURL == "") != (c.asPolicy == "") {
		c.err = errors.New("driver: enclave_attestation_url and enclave_attestation_policy go together")
	}
	if c.asURL != "" && c.enclavePolicy != nil {
		c.err = errors.New("driver: enclave_policy or enclave_attestation_url, not both")
	}
	q.Del("enclave_attestation_url")
	q.Del("enclave_attestation_policy")
	u.RawQuery = q.Encode()
	c.dsn = u.String()
	if c.enabled && cfg.Keys == nil {
		c.err = errors.New("driver: column encryption needs Config.Keys")
	}
	return c
}

// Driver is the database/sql driver; Open takes a DSN without key
// configuration, so column encryption needs NewConnector.
type Driver struct{}

func (Driver) Open(dsn string) (driver.Conn, error) {
	return NewConnector(dsn, Config{}).Connect(context.Background())
}

func (c *Connector) Driver() driver.Driver { return Driver{} }

func (c *Connector) Connect(ctx context.Context) (driver.Conn, error) {
	if c.err != nil {
		return nil, c.err
	}
	pcfg, err := pgx.ParseConfig(c.dsn)
	if err != nil {
		return nil, err
	}
	cn := &conn{c: c}
	f := c.cfg.OnNotice
	pcfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
		// The server pads an oblivious result with copies of its first
		// row (spec/ae-enclave.md §6): the rows that follow are to be
		// deduplicated. pgx calls this while reading, before the rows.
		if n.Message == sqlenclave.PaddedNotice {
			cn.padded.Store(true)
			return
		}
		if f != nil {
			f(n.Message, n.Detail)
		}
	}
	pc, err := pgx.ConnectConfig(ctx, pcfg)
	if err != nil {
		return nil, err
	}
	cn.pg, cn.stock = pc, !strings.Contains(pc.PgConn().ParameterStatus("server_version"), "(confide)")
	return cn, nil
}

// slot is one parameter's or result column's encryption.
type slot struct {
	encrypted     bool
	deterministic bool
	typ           types.Type
	column        string
}

// plan is a statement's describe answer. The cell keys sit apart from
// the slots' public metadata, which error messages quote.
type plan struct {
	params    []slot
	columns   []slot
	paramKeys []*cell.Key
	// columnKeys holds, per result column, the keys its values may be
	// under: two while the column is being rotated to another key.
	columnKeys [][]*cell.Key
	// enclaveKeys are the CEKs (by catalog name) the SQL enclave needs
	// for the statement; sent in a key package before it runs.
	enclaveKeys map[string][]byte
	fetched     time.Time
}

type conn struct {
	c  *Connector
	pg *pgx.Conn
	// stock is set for a stock PostgreSQL server, where the driver keeps
	// the catalog itself (postgres.go).
	stock bool
	// padded is set by the server's PaddedNotice for the running query.
	padded atomic.Bool
}

func (cn *conn) Prepare(query string) (driver.Stmt, error) {
	return &stmt{cn: cn, query: query}, nil
}

func (cn *conn) Close() error { return cn.pg.Close(context.Background()) }

func (cn *conn) Begin() (driver.Tx, error) {
	return cn.BeginTx(context.Background(), driver.TxOptions{})
}

func (cn *conn) BeginTx(ctx context.Context, _ driver.TxOptions) (driver.Tx, error) {
	if _, err := cn.pg.Exec(ctx, "BEGIN"); err != nil {
		return nil, err
	}
	return &tx{cn}, nil
}

type tx struct{ cn *conn }

func (t *tx) Commit() error {
	_, err := t.cn.pg.Exec(context.Background(), "COMMIT")
	return err
}

func (t *tx) Rollback() error {
	_, err := t.cn.pg.Exec(context.Background(), "ROLLBACK")
	return err
}

// CheckNamedValue lets any value through to the driver's own conversion
// (Encrypted, types.Dec, [16]byte UUIDs).
func (cn *conn) CheckNamedValue(*driver.NamedValue) error { return nil }

// describeRow is one row of a describe answer (the confide server's
// sp_describe_parameter_encryption, or the driver's own on stock
// PostgreSQL): a parameter's or result column's encryption with one value
// of its CEK, or a row without encryption for plaintext.
type describeRow struct {
	kind          string // "parameter" or "column"
	ord           int
	table, column *string // nil for expressions
	typ, encType  *string // encType nil: plaintext
	cek           string
	key           cekValue
	signature     []byte // kind "enclave": the CMK's enclave signature
}

// describe returns the statement's plan, described once per statement
// text.
func (cn *conn) describe(ctx context.Context, query string) (*plan, error) {
	cn.c.mu.Lock()
	p := cn.c.plans[query]
	cn.c.mu.Unlock()
	if p != nil {
		return p, nil
	}
	var rows []describeRow
	var err error
	if cn.stock {
		rows, err = cn.stockDescribe(ctx, query)
	} else {
		rows, err = cn.serverDescribe(ctx, query)
	}
	if err != nil {
		return nil, err
	}
	if p, err = cn.plan(ctx, rows); err != nil {
		return nil, err
	}
	cn.c.mu.Lock()
	cn.c.plans[query] = p
	cn.c.mu.Unlock()
	return p, nil
}

// forget drops the cached plans after the driver changed the catalog.
func (cn *conn) forget() {
	cn.c.mu.Lock()
	clear(cn.c.plans)
	cn.c.mu.Unlock()
}

// serverDescribe asks the confide server.
func (cn *conn) serverDescribe(ctx context.Context, query string) ([]describeRow, error) {
	rows, err := cn.pg.Query(ctx, "SELECT * FROM sp_describe_parameter_encryption($1)", query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []describeRow
	for rows.Next() {
		var r describeRow
		var alg, cekName, cmk, provider, path, kalg *string
		dest := []any{&r.kind, &r.ord, &r.table, &r.column, &r.typ, &r.encType, &alg, &cekName, &cmk, &provider, &path, &kalg, &r.key.value}
		if len(rows.FieldDescriptions()) > len(dest) {
			dest = append(dest, &r.signature) // describe version 2
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		if r.encType != nil || r.kind == "enclave" {
			if cekName == nil || provider == nil || path == nil {
				return nil, errors.New("driver: the server described an encrypted column without its key")
			}
			r.cek, r.key.provider, r.key.path = *cekName, *provider, *path
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// plan opens the keys a describe answer names.
func (cn *conn) plan(ctx context.Context, rows []describeRow) (*plan, error) {
	p := &plan{fetched: time.Now()}
	var err error
	values := map[int]map[string][]cekValue{} // slot id → cek → values
	enclave := map[string][]describeRow{}
	for _, r := range rows {
		if r.kind == "enclave" {
			enclave[r.cek] = append(enclave[r.cek], r)
			continue
		}
		list := &p.params
		if r.kind == "column" {
			list = &p.columns
		}
		if r.ord < 1 || r.ord > 1<<16 {
			return nil, fmt.Errorf("driver: describe answer has ordinal %d", r.ord)
		}
		for len(*list) < r.ord {
			*list = append(*list, slot{})
		}
		s := &(*list)[r.ord-1]
		if r.table != nil && r.column != nil {
			s.column = *r.table + "." + *r.column
		}
		if r.encType == nil {
			continue
		}
		if r.typ == nil {
			return nil, fmt.Errorf("driver: encrypted %s %d has no type", r.kind, r.ord)
		}
		t, err := types.Parse(*r.typ)
		if err != nil {
			return nil, err
		}
		s.encrypted, s.deterministic, s.typ = true, *r.encType == "DETERMINISTIC", t
		id := r.ord
		if r.kind == "column" {
			id = -r.ord
		}
		if values[id] == nil {
			values[id] = map[string][]cekValue{}
		}
		values[id][r.cek] = append(values[id][r.cek], r.key)
	}
	if len(enclave) > 0 {
		if p.enclaveKeys, err = cn.enclaveKeys(ctx, enclave); err != nil {
			return nil, err
		}
	}
	p.paramKeys, p.columnKeys = make([]*cell.Key, len(p.params)), make([][]*cell.Key, len(p.columns))
	for id, byCEK := range values {
		for _, vals := range byCEK {
			key, err := cn.openCEK(ctx, vals)
			if err != nil {
				return nil, err
			}
			if id > 0 {
				p.paramKeys[id-1] = key
			} else {
				p.columnKeys[-id-1] = append(p.columnKeys[-id-1], key)
			}
		}
	}
	return p, nil
}

type cekValue struct {
	provider, path string
	value          []byte
}

// openCEK decrypts one of a CEK's values: the first whose CMK path is
// trusted and opens (during a CMK rotation a CEK has two).
func (cn *conn) openCEK(ctx context.Context, vals []cekValue) (*cell.Key, error) {
	var first error
	for _, v := range vals {
		root, err := cn.c.cfg.Keys.Decrypt(ctx, v.provider, v.path, v.value)
		if err == nil {
			return cell.NewKey(root)
		}
		if first == nil {
			first = err
		}
	}
	return nil, first
}

// args converts database/sql arguments, encrypting those bound for
// encrypted columns.
func (cn *conn) args(p *plan, named []driver.NamedValue) ([]any, error) {
	out := make([]any, len(named))
	var err error
	for i, nv := range named {
		v := nv.Value
		force := false
		if e, ok := v.(Encrypted); ok {
			v, force = e.Value, true
		}
		var s slot
		if p != nil && i < len(p.params) {
			s = p.params[i]
		}
		if !s.encrypted {
			if force {
				return nil, fmt.Errorf("driver: parameter %d must be encrypted, but the server says its column (%s) is not: refusing to send it in plaintext", i+1, s.column)
			}
			out[i] = v
			continue
		}
		if v == nil {
			out[i] = nil
			continue
		}
		v = goValue(v)
		if str, ok := v.(string); ok && s.typ.Kind != types.NVarChar && s.typ.Kind != types.VarChar {
			// A literal's text, from Parameterize or an application.
			if v, err = s.typ.ParseLiteral(str); err != nil {
				return nil, fmt.Errorf("driver: parameter %d for %s: %w", i+1, s.column, err)
			}
		}
		norm, err := s.typ.Normalize(v)
		if err != nil {
			return nil, fmt.Errorf("driver: parameter %d for %s: %w", i+1, s.column, err)
		}
		c, err := p.paramKeys[i].Encrypt(norm, s.deterministic, nil)
		if err != nil {
			return nil, err
		}
		out[i] = c
	}
	return out, nil
}

// goValue adapts database/sql's value kinds to package types'.
func goValue(v any) any {
	switch x := v.(type) {
	case int:
		return int64(x)
	case int32:
		return int64(x)
	case int16:
		return int64(x)
	case int8:
		return int64(x)
	}
	return v
}

// bind describes the statement (with column encryption on) and converts
// its arguments.
func (cn *conn) bind(ctx context.Context, query string, named []driver.NamedValue) (*plan, []any, error) {
	var p *plan
	if cn.c.enabled {
		var err error
		if p, err = cn.describe(ctx, query); err != nil {
			return nil, nil, err
		}
	}
	args, err := cn.args(p, named)
	return p, args, err
}

func (cn *conn) QueryContext(ctx context.Context, query string, named []driver.NamedValue) (driver.Rows, error) {
	if cn.stock {
		res, err := cn.stockLocal(ctx, query, named)
		if err != nil {
			return nil, err
		}
		if res.handled {
			return &localRows{cols: res.cols, rows: res.rows}, nil
		}
	}
	p, args, err := cn.bind(ctx, query, named)
	if err != nil {
		return nil, err
	}
	cn.padded.Store(false)
	var rows pgx.Rows
	primed := 0
	err = cn.withEnclave(ctx, query, p, func() error {
		var err error
		rows, err = cn.pg.Query(ctx, query, args...)
		if err != nil || p == nil || len(p.enclaveKeys) == 0 {
			return err
		}
		// A key the enclave lacks shows only when the first row is
		// read: read it now, so that withEnclave can resend the keys.
		if rows.Next() {
			primed = 1
			return nil
		}
		primed = 2
		if err = rows.Err(); err != nil {
			rows.Close()
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return &resultRows{rows: rows, p: p, primed: primed, cn: cn}, nil
}

func (cn *conn) ExecContext(ctx context.Context, query string, named []driver.NamedValue) (driver.Result, error) {
	if cn.stock {
		res, err := cn.stockLocal(ctx, query, named)
		if err != nil {
			return nil, err
		}
		if res.handled {
			return driver.RowsAffected(len(res.rows)), nil
		}
	}
	p, args, err := cn.bind(ctx, query, named)
	if err != nil {
		return nil, err
	}
	var tag pgconn.CommandTag
	err = cn.withEnclave(ctx, query, p, func() error {
		var err error
		tag, err = cn.pg.Exec(ctx, query, args...)
		return err
	})
	if err != nil {
		return nil, err
	}
	return driver.RowsAffected(tag.RowsAffected()), nil
}

type stmt struct {
	cn    *conn
	query string
}

func (s *stmt) Close() error  { return nil }
func (s *stmt) NumInput() int { return -1 }
func (s *stmt) Exec(args []driver.Value) (driver.Result, error) {
	return s.cn.ExecContext(context.Background(), s.query, named(args))
}
func (s *stmt) Query(args []driver.Value) (driver.Rows, error) {
	return s.cn.QueryContext(context.Background(), s.query, named(args))
}
func (s *stmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	return s.cn.ExecContext(ctx, s.query, args)
}
func (s *stmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	return s.cn.QueryContext(ctx, s.query, args)
}

func named(args []driver.Value) []driver.NamedValue {
	out := make([]driver.NamedValue, len(args))
	for i, a := range args {
		out[i] = driver.NamedValue{Ordinal: i + 1, Value: a}
	}
	return out
}

type resultRows struct {
	rows pgx.Rows
	p    *plan
	cn   *conn
	// seen holds the rows of a padded result so far (their decrypted
	// values), to drop the padding's repeats.
	seen map[string]bool
	// primed is 1 when the first row was read ahead (withEnclave), 2
	// when the read ahead found none.
	primed int
}

func (r *resultRows) Columns() []string {
	fds := r.rows.FieldDescriptions()
	out := make([]string, len(fds))
	for i, f := range fds {
		out[i] = f.Name
	}
	return out
}

func (r *resultRows) Close() error {
	r.rows.Close()
	return r.rows.Err()
}

// Next decrypts encrypted columns; a cell that does not authenticate is
// an error naming its column.
func (r *resultRows) Next(dest []driver.Value) error {
	for {
		if err := r.next(dest); err != nil {
			return err
		}
		if r.seen == nil && r.cn != nil && r.cn.padded.Swap(false) {
			r.seen = map[string]bool{}
		}
		if r.seen == nil {
			return nil
		}
		key := fmt.Sprintf("%#v", dest)
		if !r.seen[key] {
			r.seen[key] = true
			return nil
		}
	}
}

func (r *resultRows) next(dest []driver.Value) error {
	primed := r.primed
	r.primed = 0
	if primed == 2 || primed == 0 && !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return io.EOF
	}
	vals, err := r.rows.Values()
	if err != nil {
		return err
	}
	for i, v := range vals {
		var s slot
		if r.p != nil && i < len(r.p.columns) {
			s = r.p.columns[i]
		}
		if !s.encrypted || v == nil {
			dest[i] = dbValue(v)
			continue
		}
		c, ok := v.([]byte)
		if !ok {
			return fmt.Errorf("driver: column %s is encrypted but the server sent %T", s.column, v)
		}
		var pt []byte
		err := cell.ErrMAC
		for _, k := range r.p.columnKeys[i] {
			if pt, err = k.Decrypt(c); err == nil {
				break
			}
		}
		if err != nil {
			return fmt.Errorf("driver: column %s: %w", s.column, err)
		}
		gv, err := s.typ.Denormalize(pt)
		if err != nil {
			return fmt.Errorf("driver: column %s: %w", s.column, err)
		}
		dest[i] = dbValue(gv)
	}
	return nil
}

// dbValue maps values to database/sql's kinds.
func dbValue(v any) driver.Value {
	switch x := v.(type) {
	case types.Dec:
		return x.String()
	case [16]byte:
		h := fmt.Sprintf("%x", x[:])
		return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
	case int32:
		return int64(x)
	case int16:
		return int64(x)
	case pgconn.CommandTag:
		return x.String()
	}
	return v
}
