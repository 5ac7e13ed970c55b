package main

import (
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/confide/confide/sql/cek"
	"github.com/confide/confide/sql/cell"
	"github.com/confide/confide/sql/driver"
)

func newRotateCEKCmd() *cobra.Command {
	var dsn, table, column, to, key string
	var batch, maxBatches int
	var trust []string
	cmd := &cobra.Command{
		Use:   "rotate-cek",
		Short: "Re-encrypt a column under another column encryption key, through this client, in batches; resumable",
		Long: `rotate-cek moves an encrypted column to another column encryption key without
an enclave: it starts the rotation on the server (new values are encrypted
under the new key, stored ones may be under either), re-encrypts the rows in
batches ordered by a plaintext key column (--key), one transaction each,
recording its progress so that a rerun after a crash resumes, then checks
that every stored cell opens under the new key and finishes the rotation.
Equality queries on the column may miss rows until it finishes: run it in a
maintenance window.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if dsn == "" {
				dsn = os.Getenv("CONFIDE_SQL_DSN")
			}
			db, err := openSQL(dsn, trust)
			if err != nil {
				return err
			}
			defer db.Close()
			var status string
			if err := db.QueryRowContext(ctx, "SELECT * FROM sp_rotate_column_encryption_key($1, $2, $3)", table, column, to).Scan(&status); err != nil {
				return err
			}
			fmt.Fprintln(cmd.ErrOrStderr(), status)
			state, err := rotationState(dsn, table, column, to)
			if err != nil {
				return err
			}
			last, _ := os.ReadFile(state)
			var total int64
			if err := db.QueryRowContext(ctx, fmt.Sprintf("SELECT count(*) FROM %s", quoteIdent(table))).Scan(&total); err != nil {
				return err
			}
			bar := progressbar.NewOptions64(total, progressbar.OptionSetWriter(cmd.ErrOrStderr()),
				progressbar.OptionSetDescription("re-encrypting "+table+"."+column), progressbar.OptionShowCount(),
				progressbar.OptionClearOnFinish())
			sel := fmt.Sprintf("SELECT %s, %s FROM %s WHERE %s > $1 ORDER BY %s LIMIT %d",
				quoteIdent(key), quoteIdent(column), quoteIdent(table), quoteIdent(key), quoteIdent(key), batch)
			first := fmt.Sprintf("SELECT %s, %s FROM %s ORDER BY %s LIMIT %d",
				quoteIdent(key), quoteIdent(column), quoteIdent(table), quoteIdent(key), batch)
			upd := fmt.Sprintf("UPDATE %s SET %s = $1 WHERE %s = $2", quoteIdent(table), quoteIdent(column), quoteIdent(key))
			var cp struct{ Last string }
			started := json.Unmarshal(last, &cp) == nil && cp.Last != ""
			finished := false
			for n := 0; !finished && (maxBatches == 0 || n < maxBatches); n++ {
				var rows *sql.Rows
				if started {
					rows, err = db.QueryContext(ctx, sel, cp.Last)
				} else {
					rows, err = db.QueryContext(ctx, first)
				}
				if err != nil {
					return err
				}
				type row struct {
					key string
					val any
				}
				var got []row
				for rows.Next() {
					var r row
					if err := rows.Scan(&r.key, &r.val); err != nil {
						rows.Close()
						return err
					}
					got = append(got, r)
				}
				rows.Close()
				if err := rows.Err(); err != nil {
					return err
				}
				if len(got) == 0 {
					finished = true
					break
				}
				tx, err := db.BeginTx(ctx, nil)
				if err != nil {
					return err
				}
				for _, r := range got {
					if r.val == nil {
						continue
					}
					if _, err := tx.ExecContext(ctx, upd, r.val, r.key); err != nil {
						tx.Rollback()
						return fmt.Errorf("re-encrypting %s = %s: %w", key, r.key, err)
					}
				}
				if err := tx.Commit(); err != nil {
					return err
				}
				cp.Last, started = got[len(got)-1].key, true
				b, _ := json.Marshal(cp)
				if err := os.WriteFile(state, b, 0o600); err != nil {
					return err
				}
				bar.Add(len(got))
				finished = len(got) < batch
			}
			bar.Finish()
			if !finished {
				fmt.Fprintf(cmd.ErrOrStderr(), "stopped after %d batches at %s = %s; run again to resume\n", maxBatches, key, cp.Last)
				return nil
			}
			if err := checkRotated(cmd, dsn, table, column, to, trust); err != nil {
				return err
			}
			if err := db.QueryRowContext(ctx, "SELECT * FROM sp_finish_column_encryption_key_rotation($1, $2)", table, column).Scan(&status); err != nil {
				return err
			}
			os.Remove(state)
			fmt.Fprintln(cmd.ErrOrStderr(), status)
			return nil
		},
	}
	cmd.Flags().StringVar(&table, "table", "", "table")
	cmd.Flags().StringVar(&column, "column", "", "encrypted column")
	cmd.Flags().StringVar(&to, "to", "", "the new column encryption key")
	cmd.Flags().StringVar(&key, "key", "id", "plaintext column that orders the rows (the primary key)")
	cmd.Flags().IntVar(&batch, "batch", 500, "rows per transaction")
	cmd.Flags().IntVar(&maxBatches, "max-batches", 0, "stop after this many batches (0: run to the end)")
	cmd.Flags().StringVar(&dsn, "dsn", "", "server URL with column_encryption=enabled (default $CONFIDE_SQL_DSN)")
	cmd.Flags().StringArrayVar(&trust, "trust", nil, "trusted column master key path (repeatable)")
	for _, f := range []string{"table", "column", "to"} {
		cmd.MarkFlagRequired(f)
	}
	return cmd
}

// rotationState is the checkpoint file of one rotation.
func rotationState(dsn, table, column, to string) (string, error) {
	h, err := home()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(h, "sql-rotations")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	base := dsn
	if i := strings.IndexByte(base, '?'); i >= 0 {
		base = base[:i]
	}
	sum := sha256.Sum256([]byte(strings.ToLower(base + "\x00" + table + "\x00" + column + "\x00" + to)))
	return filepath.Join(dir, hex.EncodeToString(sum[:8])+".json"), nil
}

// checkRotated reads every stored cell of the column as the DBA would
// (no decryption) and checks that each opens under the new key alone.
func checkRotated(cmd *cobra.Command, dsn, table, column, to string, trust []string) error {
	ctx := cmd.Context()
	raw := sql.OpenDB(driver.NewConnector(strings.Replace(dsn, "column_encryption=enabled", "column_encryption=disabled", 1), driver.Config{}))
	defer raw.Close()
	rows, err := raw.QueryContext(ctx, "SELECT * FROM sp_column_encryption_key($1)", to)
	if err != nil {
		return err
	}
	cache := &cek.Cache{Providers: keyStores(), Trusted: trustedPaths(trust)}
	var key *cell.Key
	for rows.Next() && key == nil {
		var cmk, provider, path, alg string
		var v []byte
		if err := rows.Scan(&cmk, &provider, &path, &alg, &v); err != nil {
			rows.Close()
			return err
		}
		if root, err := cache.Decrypt(ctx, provider, path, v); err == nil {
			key, err = cell.NewKey(root)
			if err != nil {
				rows.Close()
				return err
			}
		}
	}
	rows.Close()
	if key == nil {
		return fmt.Errorf("cannot open %s to check the rotation", to)
	}
	cells, err := raw.QueryContext(ctx, fmt.Sprintf("SELECT %s FROM %s", quoteIdent(column), quoteIdent(table)))
	if err != nil {
		return err
	}
	defer cells.Close()
	for cells.Next() {
		var c []byte
		if err := cells.Scan(&c); err != nil {
			return err
		}
		if c == nil {
			continue
		}
		if _, err := key.Decrypt(c); err != nil {
			return errors.New("a stored cell is not under the new key yet: run rotate-cek again")
		}
	}
	return cells.Err()
}
