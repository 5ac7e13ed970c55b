package console

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"
)

// SQLBackend is an Always Encrypted SQL server (confide's) the console
// reads as a DBA would: metadata and ciphertext, never a key that opens
// anything (the server holds none).
type SQLBackend struct {
	// DSN is a PostgreSQL connection string (URL form) for a DBA's
	// connection; its database is where the list of databases is asked.
	DSN string
}

func (s *Server) sqlRoutes(mux *http.ServeMux) {
	if s.cfg.SQL.DSN == "" {
		return
	}
	mux.Handle("GET /sql", s.page(s.sqlDatabases, true))
	mux.Handle("GET /sql/db/{name}", s.page(s.sqlDatabase, true))
}

// sqlConn connects to one database (the DSN's own when db is "").
func (s *Server) sqlConn(ctx context.Context, db string) (*pgx.Conn, error) {
	u, err := url.Parse(s.cfg.SQL.DSN)
	if err != nil {
		return nil, err
	}
	if db != "" {
		u.Path = "/" + db
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return pgx.Connect(ctx, u.String())
}

func (s *Server) sqlDatabases(w http.ResponseWriter, r *http.Request, sess *session) error {
	c, err := s.sqlConn(r.Context(), "")
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	rows, err := c.Query(r.Context(), "SELECT * FROM sp_databases()")
	if err != nil {
		return err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	s.render(w, r, sess, "sql", map[string]any{"Databases": names})
	return nil
}

var sqlDBRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_-]{0,62}$`)

type sqlCMK struct {
	Name, Provider, Path string
	Enclave              bool
}

type sqlCEKValue struct {
	CEK, CMK, Algorithm string
	Size                int
	SHA256              string
}

type sqlColumn struct {
	Column, Type, CEK, EncType, RotatingTo string
	Ordinal                                int
	Enclave                                bool
}

type sqlTable struct {
	Name    string
	Columns []sqlColumn
}

// sqlDatabase shows a database's Always Encrypted metadata: its column
// master keys (provider and path), column encryption keys (which master
// keys encrypt each; two while a master key is rotated) and every column
// (plaintext or encrypted, by which key and how, enclave-enabled, and a
// key rotation under way).
func (s *Server) sqlDatabase(w http.ResponseWriter, r *http.Request, sess *session) error {
	db := r.PathValue("name")
	if !sqlDBRE.MatchString(db) {
		return pageError{http.StatusBadRequest, "A database name is 1–63 of A-Z a-z 0-9 _ -."}
	}
	ctx := r.Context()
	c, err := s.sqlConn(ctx, db)
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	var cmks []sqlCMK
	rows, err := c.Query(ctx, "SELECT * FROM sp_column_master_keys()")
	if err != nil {
		return err
	}
	for rows.Next() {
		var k sqlCMK
		if err := rows.Scan(&k.Name, &k.Provider, &k.Path, &k.Enclave); err != nil {
			return err
		}
		cmks = append(cmks, k)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	var ceks []sqlCEKValue
	valuesOf := map[string]int{}
	rows, err = c.Query(ctx, "SELECT * FROM sp_column_encryption_keys()")
	if err != nil {
		return err
	}
	for rows.Next() {
		var v sqlCEKValue
		var value []byte
		if err := rows.Scan(&v.CEK, &v.CMK, &v.Algorithm, &value); err != nil {
			return err
		}
		sum := sha256.Sum256(value)
		v.Size, v.SHA256 = len(value), hex.EncodeToString(sum[:8])
		valuesOf[v.CEK]++
		ceks = append(ceks, v)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	var tables []sqlTable
	rows, err = c.Query(ctx, "SELECT * FROM sp_encrypted_columns()")
	if err != nil {
		return err
	}
	for rows.Next() {
		var tbl string
		var col sqlColumn
		var cek, enc, next *string
		var ord int32
		if err := rows.Scan(&tbl, &col.Column, &ord, &col.Type, &cek, &enc, &next, &col.Enclave); err != nil {
			return err
		}
		col.Ordinal = int(ord)
		for p, dst := range map[*string]*string{cek: &col.CEK, enc: &col.EncType, next: &col.RotatingTo} {
			if p != nil {
				*dst = *p
			}
		}
		if len(tables) == 0 || tables[len(tables)-1].Name != tbl {
			tables = append(tables, sqlTable{Name: tbl})
		}
		tables[len(tables)-1].Columns = append(tables[len(tables)-1].Columns, col)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	s.render(w, r, sess, "sql-db", map[string]any{"DB": db, "CMKs": cmks, "CEKs": ceks, "Rotating": valuesOf, "Tables": tables})
	return nil
}
