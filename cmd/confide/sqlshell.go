package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	kmsclient "github.com/confide/confide/kms/client"
	"github.com/confide/confide/sql/cek"
	"github.com/confide/confide/sql/driver"
)

// trustedPaths are the CMK paths the CLI may open: --trust flags, then
// $CONFIDE_SQL_TRUST, a comma-separated list (key paths are file paths
// and URLs, so the OS list separator, a colon, would not do).
func trustedPaths(flags []string) []string {
	out := append([]string(nil), flags...)
	for _, p := range strings.Split(os.Getenv("CONFIDE_SQL_TRUST"), ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func openSQL(dsn string, trust []string) (*sql.DB, error) {
	if dsn == "" {
		dsn = os.Getenv("CONFIDE_SQL_DSN")
	}
	if dsn == "" {
		return nil, errors.New("no --dsn (or $CONFIDE_SQL_DSN)")
	}
	// The SQL enclave's evidence is checked against the DSN's
	// enclave_policy with this machine's simulated root and the vendors'
	// roots; without them, statements that need the enclave are refused.
	v, _ := newVerifier("", hardwareOptions{})
	c := driver.NewConnector(dsn, driver.Config{Keys: &cek.Cache{Providers: keyStores(), Trusted: trustedPaths(trust)}, Enclave: v,
		OnNotice: progressNotices(os.Stderr)})
	return sql.OpenDB(c), nil
}

// progressNotices shows the server's progress NOTICEs (detail "n/m", as
// in-place encryption sends them) as a progress bar, and other NOTICEs as
// lines.
func progressNotices(w io.Writer) func(message, detail string) {
	var bar *progressbar.ProgressBar
	return func(message, detail string) {
		done, total, ok := strings.Cut(detail, "/")
		n, err1 := strconv.ParseInt(done, 10, 64)
		m, err2 := strconv.ParseInt(total, 10, 64)
		if !ok || err1 != nil || err2 != nil || m <= 0 {
			fmt.Fprintln(w, "NOTICE:", message)
			return
		}
		if bar == nil {
			what, _, _ := strings.Cut(message, ":")
			bar = progressbar.NewOptions64(m, progressbar.OptionSetWriter(w), progressbar.OptionSetDescription(what),
				progressbar.OptionShowCount(), progressbar.OptionClearOnFinish())
		}
		bar.Set64(n)
		if n >= m {
			bar.Finish()
			bar = nil
		}
	}
}

// keyStores are the column master key stores the CLI opens: key files,
// and the key broker, reached over attested TLS with the server policy
// and bearer token the kms commands use.
func keyStores() []cek.Provider {
	return []cek.Provider{cek.KeyFiles{}, cek.KMSKeys{Client: func(base string) *kmsclient.Client {
		hc, err := httpClient(base, "")
		if err != nil {
			return nil
		}
		c := kmsclient.New(base, hc)
		c.Bearer, _ = bearer()
		return c
	}}}
}

// openCMK opens a column master key named by the server's metadata, if
// its path is trusted.
func openCMK(ctx context.Context, provider, path string, trust []string) (cek.CMK, error) {
	if !trusted(trust, path) {
		return nil, fmt.Errorf("column master key path %q is not trusted (--trust or $CONFIDE_SQL_TRUST)", path)
	}
	for _, p := range keyStores() {
		if strings.EqualFold(p.Name(), provider) {
			return p.Open(ctx, path)
		}
	}
	return nil, fmt.Errorf("no key store %q in this client", provider)
}

func newSQLKeysCmd() *cobra.Command {
	keys := &cobra.Command{Use: "keys", Short: "Make and register column master and column encryption keys"}
	var dsn, name, keyFile, kmsKey, cmkName string
	var enclave bool
	var trust []string
	cmk := &cobra.Command{
		Use:   "create-cmk",
		Short: "Register a column master key kept in a key file (made if missing); the database gets only its path",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var (
				m        cek.CMK
				provider string
				path     string
			)
			switch {
			case (keyFile == "") == (kmsKey == ""):
				return errors.New("give one of --key-file and --kms-key")
			case kmsKey != "":
				base := os.Getenv("CONFIDE_KMS_URL")
				if base == "" {
					return errors.New("--kms-key needs $CONFIDE_KMS_URL")
				}
				provider, path = cek.KMSKeys{}.Name(), strings.TrimRight(base, "/")+"/v1/keys/"+kmsKey
				var err error
				if m, err = openCMK(cmd.Context(), provider, path, []string{path}); err != nil {
					return err
				}
				if _, err := m.Public(cmd.Context()); err != nil {
					return fmt.Errorf("key broker key %s: %w", kmsKey, err)
				}
			default:
				abs, err := filepath.Abs(keyFile)
				if err != nil {
					return err
				}
				kf, err := cek.LoadKeyFile(abs)
				if errors.Is(err, os.ErrNotExist) {
					var pemBytes []byte
					if kf, pemBytes, err = cek.NewKeyFile(3072); err == nil {
						err = os.WriteFile(abs, pemBytes, 0o600)
					}
					fmt.Fprintf(cmd.ErrOrStderr(), "made column master key %s\n", abs)
				}
				if err != nil {
					return err
				}
				m, provider, path = kf, cek.KeyFiles{}.Name(), abs
			}
			stmt := fmt.Sprintf("CREATE COLUMN MASTER KEY %s WITH (KEY_STORE_PROVIDER_NAME = N'%s', KEY_PATH = N'%s'", quoteIdent(name), provider, strings.ReplaceAll(path, "'", "''"))
			if enclave {
				sig, err := cek.SignMetadata(cmd.Context(), m, provider, path, true)
				if err != nil {
					return err
				}
				stmt += fmt.Sprintf(", ENCLAVE_COMPUTATIONS (SIGNATURE = 0x%x)", sig)
			}
			db, err := openSQL(dsn, nil)
			if err != nil {
				return err
			}
			defer db.Close()
			_, err = db.ExecContext(cmd.Context(), stmt+")")
			return err
		},
	}
	cmk.Flags().StringVar(&name, "name", "", "key name")
	cmk.Flags().StringVar(&keyFile, "key-file", "", "PEM RSA private key (made if missing)")
	cmk.Flags().StringVar(&kmsKey, "kms-key", "", "an RSA key of the key broker at $CONFIDE_KMS_URL instead (needs get, unwrapkey and sign)")
	cmk.Flags().BoolVar(&enclave, "enclave-computations", false, "allow enclave computations (signs the key's metadata)")
	cmk.Flags().StringVar(&dsn, "dsn", "", "server URL (default $CONFIDE_SQL_DSN)")
	cmk.MarkFlagRequired("name")
	keys.AddCommand(cmk)

	cekCmd := &cobra.Command{
		Use:   "create-cek",
		Short: "Make a column encryption key, encrypt it with a column master key, and register the encrypted value",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			db, err := openSQL(dsn, nil)
			if err != nil {
				return err
			}
			defer db.Close()
			var n, provider, path string
			var sig []byte
			if err := db.QueryRowContext(cmd.Context(), "SELECT * FROM sp_column_master_key($1)", cmkName).Scan(&n, &provider, &path, &sig); err != nil {
				return err
			}
			m, err := openCMK(cmd.Context(), provider, path, trustedPaths(trust))
			if err != nil {
				return fmt.Errorf("column master key %s: %w", n, err)
			}
			root := make([]byte, 32)
			if _, err := rand.Read(root); err != nil {
				return err
			}
			v, err := cek.Encrypt(cmd.Context(), m, path, root, nil)
			clear(root)
			if err != nil {
				return err
			}
			_, err = db.ExecContext(cmd.Context(), fmt.Sprintf("CREATE COLUMN ENCRYPTION KEY %s WITH VALUES (COLUMN_MASTER_KEY = %s, ALGORITHM = 'RSA_OAEP', ENCRYPTED_VALUE = 0x%x)",
				quoteIdent(name), quoteIdent(n), v))
			return err
		},
	}
	cekCmd.Flags().StringVar(&name, "name", "", "key name")
	cekCmd.Flags().StringVar(&cmkName, "cmk", "", "column master key that encrypts it")
	cekCmd.Flags().StringVar(&dsn, "dsn", "", "server URL (default $CONFIDE_SQL_DSN)")
	cekCmd.Flags().StringArrayVar(&trust, "trust", nil, "trusted column master key path (repeatable)")
	cekCmd.MarkFlagRequired("name")
	cekCmd.MarkFlagRequired("cmk")
	keys.AddCommand(cekCmd)

	var toCMK string
	var finish bool
	rotate := &cobra.Command{
		Use:   "rotate-cmk",
		Short: "Encrypt a column encryption key under another column master key (ADD VALUE); --finish drops the old values",
		Long: `rotate-cmk rotates a column master key without touching data: it opens the
column encryption key through a trusted current master key, encrypts it under
the new one and adds that value, so the key has two values and clients that
trust either master key keep working. Once every client trusts the new master
key, --finish drops the values under the others.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return rotateCMK(cmd, dsn, name, toCMK, finish, trustedPaths(trust))
		},
	}
	rotate.Flags().StringVar(&name, "cek", "", "column encryption key")
	rotate.Flags().StringVar(&toCMK, "to", "", "the new column master key (registered with create-cmk)")
	rotate.Flags().BoolVar(&finish, "finish", false, "drop the values under other column master keys")
	rotate.Flags().StringVar(&dsn, "dsn", "", "server URL (default $CONFIDE_SQL_DSN)")
	rotate.Flags().StringArrayVar(&trust, "trust", nil, "trusted column master key path (repeatable)")
	rotate.MarkFlagRequired("cek")
	rotate.MarkFlagRequired("to")
	keys.AddCommand(rotate, newRotateCEKCmd())
	return keys
}

type cekValueRow struct {
	cmk, provider, path, alg string
	v                        []byte
}

func rotateCMK(cmd *cobra.Command, dsn, name, toCMK string, finish bool, trust []string) error {
	ctx := cmd.Context()
	db, err := openSQL(dsn, nil)
	if err != nil {
		return err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, "SELECT * FROM sp_column_encryption_key($1)", name)
	if err != nil {
		return err
	}
	var vals []cekValueRow
	for rows.Next() {
		var v cekValueRow
		if err := rows.Scan(&v.cmk, &v.provider, &v.path, &v.alg, &v.v); err != nil {
			rows.Close()
			return err
		}
		vals = append(vals, v)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	has := false
	for _, v := range vals {
		has = has || strings.EqualFold(v.cmk, toCMK)
	}
	if !has {
		var root []byte
		for _, v := range vals {
			m, err := openCMK(ctx, v.provider, v.path, trust)
			if err != nil {
				continue
			}
			if root, err = cek.Decrypt(ctx, m, v.path, v.v); err != nil {
				return err
			}
			break
		}
		if root == nil {
			return fmt.Errorf("no value of %s is under a trusted column master key (--trust or $CONFIDE_SQL_TRUST)", name)
		}
		var n, provider, path string
		var sig []byte
		if err := db.QueryRowContext(ctx, "SELECT * FROM sp_column_master_key($1)", toCMK).Scan(&n, &provider, &path, &sig); err != nil {
			return err
		}
		m, err := openCMK(ctx, provider, path, trust)
		if err != nil {
			return fmt.Errorf("column master key %s: %w", n, err)
		}
		v, err := cek.Encrypt(ctx, m, path, root, nil)
		clear(root)
		if err != nil {
			return err
		}
		if _, err := db.ExecContext(ctx, fmt.Sprintf("ALTER COLUMN ENCRYPTION KEY %s ADD VALUE (COLUMN_MASTER_KEY = %s, ALGORITHM = 'RSA_OAEP', ENCRYPTED_VALUE = 0x%x)",
			quoteIdent(name), quoteIdent(n), v)); err != nil {
			return err
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "%s is now also encrypted under %s\n", name, n)
	}
	if finish {
		for _, v := range vals {
			if strings.EqualFold(v.cmk, toCMK) {
				continue
			}
			if _, err := db.ExecContext(ctx, fmt.Sprintf("ALTER COLUMN ENCRYPTION KEY %s DROP VALUE (COLUMN_MASTER_KEY = %s)", quoteIdent(name), quoteIdent(v.cmk))); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "dropped the value of %s under %s\n", name, v.cmk)
		}
	}
	return nil
}

func trusted(paths []string, p string) bool {
	for _, t := range paths {
		if strings.EqualFold(t, p) {
			return true
		}
	}
	return false
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func newSQLShellCmd() *cobra.Command {
	var dsn, command string
	var csvOut, noParam bool
	var trust []string
	cmd := &cobra.Command{
		Use:   "shell",
		Short: "Run SQL from stdin (or -c), decrypting where this client holds keys",
		Long: `shell reads SQL statements, separated by semicolons, from standard input
(or runs -c), and prints results as an aligned table (--csv for CSV). With
column encryption enabled in the DSN it encrypts parameters and decrypts
results through the keys whose paths it trusts (--trust, $CONFIDE_SQL_TRUST),
and, like SSMS, turns literals compared with or stored into columns into
parameters, so that plain SQL works on encrypted columns.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			db, err := openSQL(dsn, trust)
			if err != nil {
				return err
			}
			defer db.Close()
			src := command
			if src == "" {
				b, err := io.ReadAll(bufio.NewReader(cmd.InOrStdin()))
				if err != nil {
					return err
				}
				src = string(b)
			}
			stmts, err := splitStatements(src)
			if err != nil {
				return err
			}
			for _, q := range stmts {
				var args []any
				if !noParam {
					if q, args, err = driver.Parameterize(q); err != nil {
						return err
					}
				}
				if err := runStatement(cmd.Context(), cmd.OutOrStdout(), db, q, args, csvOut); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dsn, "dsn", "", "server URL, with column_encryption=enabled to decrypt (default $CONFIDE_SQL_DSN)")
	cmd.Flags().StringVarP(&command, "command", "c", "", "run these statements instead of reading stdin")
	cmd.Flags().BoolVar(&csvOut, "csv", false, "print CSV")
	cmd.Flags().BoolVar(&noParam, "no-parameterize", false, "send literals as they are")
	cmd.Flags().StringArrayVar(&trust, "trust", nil, "trusted column master key path (repeatable)")
	return cmd
}

// splitStatements splits at semicolons outside quotes and comments.
func splitStatements(s string) ([]string, error) {
	var out []string
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\'' || c == '"':
			j := i + 1
			for j < len(s) && !(s[j] == c && (j+1 >= len(s) || s[j+1] != c)) {
				if s[j] == c {
					j++
				}
				j++
			}
			if j >= len(s) {
				return nil, errors.New("unterminated quoted text")
			}
			b.WriteString(s[i : j+1])
			i = j
		case c == '-' && i+1 < len(s) && s[i+1] == '-':
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case c == ';':
			if t := strings.TrimSpace(b.String()); t != "" {
				out = append(out, t)
			}
			b.Reset()
		default:
			b.WriteByte(c)
		}
	}
	if t := strings.TrimSpace(b.String()); t != "" {
		out = append(out, t)
	}
	return out, nil
}

func runStatement(ctx context.Context, w io.Writer, db *sql.DB, q string, args []any, csvOut bool) error {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	if len(cols) == 0 {
		for rows.Next() {
		}
		return rows.Err()
	}
	var table [][]string
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		row := make([]string, len(cols))
		for i, v := range vals {
			row[i] = display(v)
		}
		table = append(table, row)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if csvOut {
		cw := csv.NewWriter(w)
		cw.Write(cols)
		cw.WriteAll(table)
		return cw.Error()
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(cols, "\t"))
	for _, r := range table {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	fmt.Fprintf(tw, "(%d rows)\n", len(table))
	return tw.Flush()
}

func display(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case []byte:
		return `\x` + hex.EncodeToString(x)
	case time.Time:
		if x.Hour() == 0 && x.Minute() == 0 && x.Second() == 0 && x.Nanosecond() == 0 {
			return x.Format(time.DateOnly)
		}
		return x.Format("2006-01-02 15:04:05.9999999")
	}
	return fmt.Sprint(v)
}
