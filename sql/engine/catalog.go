package engine

import (
	"context"
	"database/sql"

	"github.com/confide/confide/sql/bind"
	"github.com/confide/confide/sql/catalog"
)

// The catalog lives in each database, in tables whose names start with
// _confide_, which user statements may not touch (package catalog).

// column is a table column as the catalog records it.
type column = bind.Column

// sqlQuerier runs the catalog's statements on the session's connection.
type sqlQuerier struct{ c *sql.Conn }

func (q sqlQuerier) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	r, err := q.c.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return r.RowsAffected()
}

func (q sqlQuerier) Query(ctx context.Context, query string, args ...any) (catalog.Rows, error) {
	r, err := q.c.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{r}, nil
}

type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { r.Rows.Close() }

func (s *session) catalog() *catalog.Store {
	return &catalog.Store{Q: sqlQuerier{s.conn}, Dialect: catalog.SQLite}
}
