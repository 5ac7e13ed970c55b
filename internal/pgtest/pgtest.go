// Package pgtest starts throw-away PostgreSQL clusters for tests: a
// primary on a free loopback port, and streaming replicas of it. It uses
// the server binaries of Debian's postgresql package (scripts/test.sh
// installs them); initdb refuses to run as root, so a root test runs the
// cluster as the postgres user.
package pgtest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/confide/confide/internal/freeport"
	"github.com/confide/confide/internal/testcert"
)

// Bin is where Debian puts PostgreSQL 15's server programs.
const Bin = "/usr/lib/postgresql/15/bin"

// Cluster is a running server.
type Cluster struct {
	// Dir holds the data directory (Dir/data) and the server log.
	Dir  string
	Port int
	// Superuser is the bootstrap superuser, trusted on loopback.
	Superuser string
	owner     *user.User
}

// Data is the cluster's data directory.
func (c *Cluster) Data() string { return filepath.Join(c.Dir, "data") }

// DSN is a URL for database db as the superuser, without TLS.
func (c *Cluster) DSN(db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", c.Superuser, c.Port, db)
}

// Start initializes and starts a primary that allows replication
// connections, and stops it when the test ends.
func Start(t testing.TB) *Cluster {
	t.Helper()
	c := newCluster(t)
	c.run(t, filepath.Join(Bin, "initdb"), "-D", c.Data(), "-A", "trust", "-U", c.Superuser, "-E", "UTF8", "--no-instructions")
	conf := "listen_addresses = '127.0.0.1'\nwal_level = replica\nmax_wal_senders = 4\nfsync = off\n" +
		"unix_socket_directories = '" + c.Dir + "'\nport = " + strconv.Itoa(c.Port) + "\n"
	c.appendFile(t, filepath.Join(c.Data(), "postgresql.auto.conf"), conf)
	c.appendFile(t, filepath.Join(c.Data(), "pg_hba.conf"), "host replication all 127.0.0.1/32 trust\n")
	c.start(t)
	return c
}

// Replica starts a streaming replica of c (pg_basebackup -R), and stops
// it when the test ends.
func (c *Cluster) Replica(t testing.TB) *Cluster {
	t.Helper()
	r := newCluster(t)
	r.Superuser = c.Superuser
	r.run(t, filepath.Join(Bin, "pg_basebackup"), "-h", "127.0.0.1", "-p", strconv.Itoa(c.Port), "-U", c.Superuser,
		"-D", r.Data(), "-R", "-X", "stream", "-c", "fast")
	r.appendFile(t, filepath.Join(r.Data(), "postgresql.auto.conf"),
		"port = "+strconv.Itoa(r.Port)+"\nunix_socket_directories = '"+r.Dir+"'\nhot_standby = on\n")
	r.start(t)
	return r
}

func newCluster(t testing.TB) *Cluster {
	t.Helper()
	if _, err := os.Stat(filepath.Join(Bin, "initdb")); err != nil {
		t.Fatalf("pgtest: PostgreSQL 15's server is not installed (%v): apt-get install postgresql (scripts/test.sh does)", err)
	}
	dir, err := os.MkdirTemp("", "confide-pg")
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{Dir: dir, Port: freePort(t), Superuser: "postgres"}
	if os.Geteuid() == 0 {
		if c.owner, err = user.Lookup("postgres"); err != nil {
			t.Fatalf("pgtest: running as root needs the postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(c.owner.Uid)
		gid, _ := strconv.Atoi(c.owner.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return c
}

func freePort(t testing.TB) int {
	p, err := freeport.Port()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// run runs a PostgreSQL program as the cluster's owner.
func (c *Cluster) run(t testing.TB, prog string, args ...string) {
	t.Helper()
	if c.owner != nil {
		args = append([]string{"-u", c.owner.Username, "--", prog}, args...)
		prog = "runuser"
	}
	cmd := exec.Command(prog, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("pgtest: %s %v: %v\n%s", prog, args, err, out.String())
	}
}

func (c *Cluster) appendFile(t testing.TB, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

func (c *Cluster) start(t testing.TB) {
	t.Helper()
	c.run(t, filepath.Join(Bin, "pg_ctl"), "-D", c.Data(), "-l", filepath.Join(c.Dir, "server.log"), "-w", "-t", "60", "start")
	t.Cleanup(func() {
		cmd := []string{filepath.Join(Bin, "pg_ctl"), "-D", c.Data(), "-m", "immediate", "-w", "stop"}
		if c.owner != nil {
			cmd = append([]string{"runuser", "-u", c.owner.Username, "--"}, cmd...)
		}
		exec.Command(cmd[0], cmd[1:]...).Run()
	})
}

// CreateDB creates a database.
func (c *Cluster) CreateDB(t testing.TB, name string) {
	t.Helper()
	conn := c.Connect(t, "postgres")
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatal(err)
	}
}

// Connect opens a plain pgx connection as the superuser (a DBA's view).
func (c *Cluster) Connect(t testing.TB, db string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.DSN(db))
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// Checkpoint forces the server to write its buffers, so that a scan of
// the data directory sees every change.
func (c *Cluster) Checkpoint(t testing.TB) {
	t.Helper()
	conn := c.Connect(t, "postgres")
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), "CHECKPOINT"); err != nil {
		t.Fatal(err)
	}
}

// RequirePassword creates a login role that must authenticate with
// SCRAM-SHA-256 (PostgreSQL 15's default password hashing) from loopback.
func (c *Cluster) RequirePassword(t testing.TB, role, password string) {
	t.Helper()
	conn := c.Connect(t, "postgres")
	defer conn.Close(context.Background())
	ctx := context.Background()
	if _, err := conn.Exec(ctx, "CREATE ROLE "+pgx.Identifier{role}.Sanitize()+" LOGIN SUPERUSER PASSWORD "+quoteLiteral(password)); err != nil {
		t.Fatal(err)
	}
	hba := filepath.Join(c.Data(), "pg_hba.conf")
	old, err := os.ReadFile(hba)
	if err != nil {
		t.Fatal(err)
	}
	// The first matching line wins: this one goes before initdb's trust.
	if err := os.WriteFile(hba, append([]byte("host all "+role+" 127.0.0.1/32 scram-sha-256\n"), old...), 0o600); err != nil {
		t.Fatal(err)
	}
	c.chown(t, hba)
	c.reload(t, conn)
}

// EnableTLS turns on TLS with a certificate for 127.0.0.1 signed by a
// fresh CA, whose PEM file it returns (for sslrootcert).
func (c *Cluster) EnableTLS(t testing.TB) (caFile string) {
	t.Helper()
	caPEM, certPEM, keyPEM, err := testcert.Issue()
	if err != nil {
		t.Fatal(err)
	}
	caFile = filepath.Join(c.Dir, "ca.pem")
	for name, b := range map[string][]byte{caFile: caPEM, filepath.Join(c.Data(), "server.crt"): certPEM, filepath.Join(c.Data(), "server.key"): keyPEM} {
		if err := os.WriteFile(name, b, 0o600); err != nil {
			t.Fatal(err)
		}
		c.chown(t, name)
	}
	c.appendFile(t, filepath.Join(c.Data(), "postgresql.auto.conf"), "ssl = on\n")
	conn := c.Connect(t, "postgres")
	defer conn.Close(context.Background())
	c.reload(t, conn)
	return caFile
}

func (c *Cluster) reload(t testing.TB, conn *pgx.Conn) {
	t.Helper()
	if _, err := conn.Exec(context.Background(), "SELECT pg_reload_conf()"); err != nil {
		t.Fatal(err)
	}
	// The postmaster rereads its files asynchronously.
	time.Sleep(300 * time.Millisecond)
}

func (c *Cluster) chown(t testing.TB, path string) {
	if c.owner == nil {
		return
	}
	uid, _ := strconv.Atoi(c.owner.Uid)
	gid, _ := strconv.Atoi(c.owner.Gid)
	if err := os.Chown(path, uid, gid); err != nil {
		t.Fatal(err)
	}
}

func quoteLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}
