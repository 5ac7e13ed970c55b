// Package ddl reads the Always Encrypted statements confide SQL takes
// from SQL Server — CREATE / DROP COLUMN MASTER KEY, CREATE / ALTER / DROP
// COLUMN ENCRYPTION KEY, and the ENCRYPTED WITH clause of a column in
// CREATE TABLE — which no PostgreSQL parser knows. Parse recognizes them;
// for CREATE TABLE it returns the statement with the clauses cut out, for
// the general parser, and the columns' encryption settings.
package ddl

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/confide/confide/sql/cell"
)

// Encryption types.
const (
	Deterministic = "DETERMINISTIC"
	Randomized    = "RANDOMIZED"
)

// CreateCMK is CREATE COLUMN MASTER KEY name WITH (KEY_STORE_PROVIDER_NAME
// = '…', KEY_PATH = '…' [, ENCLAVE_COMPUTATIONS (SIGNATURE = 0x…)]).
type CreateCMK struct {
	Name, Provider, KeyPath string
	// EnclaveSignature is the CMK's signature over its metadata when the
	// key allows enclave computations; nil otherwise.
	EnclaveSignature []byte
}

// CEKValue is one encrypted value of a CEK.
type CEKValue struct {
	CMK, Algorithm string
	Encrypted      []byte
}

// CreateCEK is CREATE COLUMN ENCRYPTION KEY name WITH VALUES (…)[, (…)].
type CreateCEK struct {
	Name   string
	Values []CEKValue
}

// AlterCEK is ALTER COLUMN ENCRYPTION KEY name ADD VALUE (…) or DROP
// VALUE (COLUMN_MASTER_KEY = cmk).
type AlterCEK struct {
	Name    string
	Add     *CEKValue
	DropCMK string
}

// Drop is DROP COLUMN MASTER KEY name or DROP COLUMN ENCRYPTION KEY name.
type Drop struct {
	What string // "COLUMN MASTER KEY" or "COLUMN ENCRYPTION KEY"
	Name string
}

// ColumnEncryption is a column's ENCRYPTED WITH clause.
type ColumnEncryption struct {
	CEK, Type, Algorithm string
}

// CreateTable is a CREATE TABLE with at least one ENCRYPTED WITH clause.
type CreateTable struct {
	Table string
	// SQL is the statement without its ENCRYPTED WITH clauses.
	SQL string
	// Columns maps column names (as written) to their encryption.
	Columns map[string]ColumnEncryption
}

// ErrSyntax reports a malformed Always Encrypted statement.
var ErrSyntax = errors.New("syntax error")

// MaxStatement bounds the statements Parse reads.
const MaxStatement = 1 << 20

// Parse recognizes an Always Encrypted statement. It returns nil and no
// error for any other statement (including CREATE TABLE without
// ENCRYPTED WITH), which the caller hands to its general parser.
func Parse(sql string) (any, error) {
	if len(sql) > MaxStatement {
		return nil, fmt.Errorf("%w: statement over %d bytes", ErrSyntax, MaxStatement)
	}
	toks, err := lex(sql)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSyntax, err)
	}
	p := &parser{src: sql, toks: toks}
	switch {
	case p.words("CREATE", "COLUMN", "MASTER", "KEY"):
		return p.end(p.createCMK())
	case p.words("CREATE", "COLUMN", "ENCRYPTION", "KEY"):
		return p.end(p.createCEK())
	case p.words("ALTER", "COLUMN", "ENCRYPTION", "KEY"):
		return p.end(p.alterCEK())
	case p.words("DROP", "COLUMN", "MASTER", "KEY"):
		return p.end(p.drop("COLUMN MASTER KEY"))
	case p.words("DROP", "COLUMN", "ENCRYPTION", "KEY"):
		return p.end(p.drop("COLUMN ENCRYPTION KEY"))
	case p.words("CREATE", "TABLE"):
		return p.createTable()
	case p.words("ALTER", "TABLE"):
		return p.alterColumn()
	}
	return nil, nil
}

type parser struct {
	src  string
	toks []token
	i    int
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

// words consumes the keywords if they come next.
func (p *parser) words(ws ...string) bool {
	for j, w := range ws {
		t := p.toks[min(p.i+j, len(p.toks)-1)]
		if t.kind != tIdent || t.text != w {
			return false
		}
	}
	p.i += len(ws)
	return true
}

func (p *parser) fail(format string, args ...any) error {
	t := p.peek()
	near := "end of statement"
	if t.kind != tEOF {
		near = fmt.Sprintf("%q", p.src[t.pos:t.end])
	}
	return fmt.Errorf("%w at or near %s: %s", ErrSyntax, near, fmt.Sprintf(format, args...))
}

func (p *parser) punct(c string) error {
	if t := p.peek(); t.kind != tPunct || t.text != c {
		return p.fail("expected %q", c)
	}
	p.next()
	return nil
}

func (p *parser) isPunct(c string) bool {
	t := p.peek()
	return t.kind == tPunct && t.text == c
}

// name reads an identifier: as written when unquoted, the contents when
// quoted.
func (p *parser) name() (string, error) {
	t := p.peek()
	switch t.kind {
	case tIdent:
		p.next()
		return p.src[t.pos:t.end], nil
	case tQuoted:
		p.next()
		if t.text == "" {
			return "", p.fail("empty identifier")
		}
		return t.text, nil
	}
	return "", p.fail("expected a name")
}

func (p *parser) str() (string, error) {
	if t := p.peek(); t.kind == tString {
		p.next()
		return t.text, nil
	}
	return "", p.fail("expected a string literal")
}

func (p *parser) hex() ([]byte, error) {
	t := p.peek()
	if t.kind != tHex || len(t.text)%2 != 0 || t.text == "" {
		return nil, p.fail("expected a binary literal 0x…")
	}
	p.next()
	return hex.DecodeString(t.text)
}

// end checks that nothing but an optional semicolon follows.
func (p *parser) end(v any, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	if p.isPunct(";") {
		p.next()
	}
	if p.peek().kind != tEOF {
		return nil, p.fail("unexpected text after the statement")
	}
	return v, nil
}

// options reads ( KEY = value, … ) calling fn for each key; fn reads the
// value.
func (p *parser) options(fn func(key string) error) error {
	if err := p.punct("("); err != nil {
		return err
	}
	seen := map[string]bool{}
	for {
		t := p.next()
		if t.kind != tIdent {
			return p.fail("expected an option name")
		}
		if seen[t.text] {
			return fmt.Errorf("%w: %s given twice", ErrSyntax, t.text)
		}
		seen[t.text] = true
		if err := fn(t.text); err != nil {
			return err
		}
		if p.isPunct(")") {
			p.next()
			return nil
		}
		if err := p.punct(","); err != nil {
			return err
		}
	}
}

func (p *parser) assign() error { return p.punct("=") }

func (p *parser) createCMK() (*CreateCMK, error) {
	var c CreateCMK
	var err error
	if c.Name, err = p.name(); err != nil {
		return nil, err
	}
	if !p.words("WITH") {
		return nil, p.fail("expected WITH")
	}
	err = p.options(func(k string) error {
		var err error
		switch k {
		case "KEY_STORE_PROVIDER_NAME":
			if err = p.assign(); err == nil {
				c.Provider, err = p.str()
			}
		case "KEY_PATH":
			if err = p.assign(); err == nil {
				c.KeyPath, err = p.str()
			}
		case "ENCLAVE_COMPUTATIONS":
			err = p.options(func(k string) error {
				if k != "SIGNATURE" {
					return fmt.Errorf("%w: ENCLAVE_COMPUTATIONS takes SIGNATURE, not %s", ErrSyntax, k)
				}
				if err := p.assign(); err != nil {
					return err
				}
				var err error
				c.EnclaveSignature, err = p.hex()
				return err
			})
		default:
			err = fmt.Errorf("%w: unknown option %s of CREATE COLUMN MASTER KEY", ErrSyntax, k)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if c.Provider == "" || c.KeyPath == "" {
		return nil, fmt.Errorf("%w: CREATE COLUMN MASTER KEY needs KEY_STORE_PROVIDER_NAME and KEY_PATH", ErrSyntax)
	}
	return &c, nil
}

// value reads ( COLUMN_MASTER_KEY = cmk, ALGORITHM = 'RSA_OAEP',
// ENCRYPTED_VALUE = 0x… ); with dropOnly, only COLUMN_MASTER_KEY.
func (p *parser) value(dropOnly bool) (*CEKValue, error) {
	var v CEKValue
	err := p.options(func(k string) error {
		if err := p.assign(); err != nil {
			return err
		}
		var err error
		switch {
		case k == "COLUMN_MASTER_KEY":
			v.CMK, err = p.name()
		case k == "ALGORITHM" && !dropOnly:
			v.Algorithm, err = p.str()
		case k == "ENCRYPTED_VALUE" && !dropOnly:
			v.Encrypted, err = p.hex()
		default:
			err = fmt.Errorf("%w: unexpected %s in a column encryption key value", ErrSyntax, k)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if v.CMK == "" || !dropOnly && (v.Algorithm == "" || v.Encrypted == nil) {
		return nil, fmt.Errorf("%w: a column encryption key value needs COLUMN_MASTER_KEY, ALGORITHM and ENCRYPTED_VALUE", ErrSyntax)
	}
	if !dropOnly && !strings.EqualFold(v.Algorithm, "RSA_OAEP") {
		return nil, fmt.Errorf("%w: ALGORITHM must be 'RSA_OAEP', not %q", ErrSyntax, v.Algorithm)
	}
	return &v, nil
}

func (p *parser) createCEK() (*CreateCEK, error) {
	var c CreateCEK
	var err error
	if c.Name, err = p.name(); err != nil {
		return nil, err
	}
	if !p.words("WITH", "VALUES") {
		return nil, p.fail("expected WITH VALUES")
	}
	for {
		v, err := p.value(false)
		if err != nil {
			return nil, err
		}
		c.Values = append(c.Values, *v)
		if !p.isPunct(",") {
			break
		}
		p.next()
	}
	if len(c.Values) > 2 {
		return nil, fmt.Errorf("%w: a column encryption key has at most two values", ErrSyntax)
	}
	return &c, nil
}

func (p *parser) alterCEK() (*AlterCEK, error) {
	var a AlterCEK
	var err error
	if a.Name, err = p.name(); err != nil {
		return nil, err
	}
	switch {
	case p.words("ADD", "VALUE"):
		a.Add, err = p.value(false)
	case p.words("DROP", "VALUE"):
		var v *CEKValue
		if v, err = p.value(true); err == nil {
			a.DropCMK = v.CMK
		}
	default:
		return nil, p.fail("expected ADD VALUE or DROP VALUE")
	}
	if err != nil {
		return nil, err
	}
	return &a, nil
}

func (p *parser) drop(what string) (*Drop, error) {
	n, err := p.name()
	if err != nil {
		return nil, err
	}
	return &Drop{What: what, Name: n}, nil
}

// createTable finds the ENCRYPTED WITH clauses of the column definitions
// and cuts them out of the statement.
// encryptedWith reads WITH (COLUMN_ENCRYPTION_KEY = …, ENCRYPTION_TYPE =
// …, ALGORITHM = '…') after ENCRYPTED.
func (p *parser) encryptedWith() (ColumnEncryption, error) {
	var ce ColumnEncryption
	if !p.words("WITH") {
		return ce, p.fail("expected WITH after ENCRYPTED")
	}
	err := p.options(func(k string) error {
		if err := p.assign(); err != nil {
			return err
		}
		var err error
		switch k {
		case "COLUMN_ENCRYPTION_KEY":
			ce.CEK, err = p.name()
		case "ENCRYPTION_TYPE":
			var w token
			if w = p.next(); w.kind != tIdent || (w.text != Deterministic && w.text != Randomized) {
				err = fmt.Errorf("%w: ENCRYPTION_TYPE is DETERMINISTIC or RANDOMIZED", ErrSyntax)
			}
			ce.Type = w.text
		case "ALGORITHM":
			ce.Algorithm, err = p.str()
		default:
			err = fmt.Errorf("%w: unknown option %s of ENCRYPTED WITH", ErrSyntax, k)
		}
		return err
	})
	if err != nil {
		return ce, err
	}
	if ce.CEK == "" || ce.Type == "" || ce.Algorithm == "" {
		return ce, fmt.Errorf("%w: ENCRYPTED WITH needs COLUMN_ENCRYPTION_KEY, ENCRYPTION_TYPE and ALGORITHM", ErrSyntax)
	}
	if ce.Algorithm != cell.Algorithm {
		return ce, fmt.Errorf("%w: ALGORITHM must be '%s', not %q", ErrSyntax, cell.Algorithm, ce.Algorithm)
	}
	return ce, nil
}

// AlterColumn is ALTER TABLE t ALTER COLUMN c type [ENCRYPTED WITH (…)],
// SQL Server's in-place encryption: with ENCRYPTED WITH it encrypts a
// plaintext column or re-encrypts an encrypted one (another key or
// encryption type); without, it decrypts an encrypted column.
type AlterColumn struct {
	Table, Column string
	// Type is the column's type as written (package types parses it).
	Type string
	// Encryption is nil for decryption.
	Encryption *ColumnEncryption
}

func (p *parser) alterColumn() (any, error) {
	table, err := p.name()
	if err != nil {
		return nil, nil
	}
	if !p.words("ALTER", "COLUMN") {
		return nil, nil // another ALTER TABLE: the general parser's
	}
	ac := &AlterColumn{Table: table}
	if ac.Column, err = p.name(); err != nil {
		return nil, err
	}
	start := p.peek().pos
	end := start
	for t := p.peek(); t.kind != tEOF && !(t.kind == tIdent && t.text == "ENCRYPTED") && !(t.kind == tPunct && t.text == ";"); t = p.peek() {
		end = t.end
		p.next()
	}
	ac.Type = strings.TrimSpace(p.src[start:end])
	if ac.Type == "" {
		return nil, p.fail("ALTER COLUMN needs the column's type")
	}
	if p.words("ENCRYPTED") {
		ce, err := p.encryptedWith()
		if err != nil {
			return nil, err
		}
		ac.Encryption = &ce
	}
	return p.end(ac, nil)
}

func (p *parser) createTable() (any, error) {
	table, err := p.name()
	if err != nil {
		return nil, nil // not ours to judge: the general parser reports it
	}
	for p.isPunct(".") { // schema.table
		p.next()
		if table, err = p.name(); err != nil {
			return nil, nil
		}
	}
	if !p.isPunct("(") {
		return nil, nil
	}
	p.next()
	ct := &CreateTable{Table: table, Columns: map[string]ColumnEncryption{}}
	var cuts [][2]int
	depth := 1
	colStart := true
	column := ""
	for depth > 0 {
		t := p.peek()
		switch {
		case t.kind == tEOF:
			return nil, nil
		case t.kind == tPunct && t.text == "(":
			depth++
			p.next()
		case t.kind == tPunct && t.text == ")":
			depth--
			p.next()
		case t.kind == tPunct && t.text == "," && depth == 1:
			colStart = true
			p.next()
		case colStart:
			colStart = false
			column, _ = p.name()
			if column == "" {
				p.next()
			}
		case depth == 1 && t.kind == tIdent && t.text == "ENCRYPTED":
			start := t.pos
			p.next()
			ce, err := p.encryptedWith()
			if err != nil {
				return nil, err
			}
			if column == "" {
				return nil, fmt.Errorf("%w: ENCRYPTED WITH outside a column definition", ErrSyntax)
			}
			if _, dup := ct.Columns[column]; dup {
				return nil, fmt.Errorf("%w: column %s is encrypted twice", ErrSyntax, column)
			}
			ct.Columns[column] = ce
			cuts = append(cuts, [2]int{start, p.toks[p.i-1].end})
		default:
			p.next()
		}
	}
	if len(cuts) == 0 {
		return nil, nil
	}
	var b strings.Builder
	last := 0
	for _, c := range cuts {
		b.WriteString(p.src[last:c[0]])
		last = c[1]
	}
	b.WriteString(p.src[last:])
	ct.SQL = b.String()
	return ct, nil
}
