package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/confide/confide/internal/freeport"
	"github.com/confide/confide/internal/pgtest"
	"github.com/confide/confide/internal/testcert"
)

// The scripts run the real binary, built once, as a user would: the
// platform it starts on demand is a separate process, as in production.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "confide-bin")
	if err != nil {
		panic(err)
	}
	binDir = dir
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "confide"), ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		panic("building confide: " + err.Error())
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func TestScripts(t *testing.T) {
	testscript.Run(t, scriptParams("testdata/script", nil))
}

// TestSQLScripts runs the SQL scripts that hold for both backends twice:
// against the confide server, which each script starts itself (the
// condition [postgres] is false), and against a throw-away stock
// PostgreSQL cluster per script. Either way the script finds the server
// at $SQLADDR ($SQLPORT), with $DBA and $APP as the DBA's and the
// application's user names.
func TestSQLScripts(t *testing.T) {
	for _, backend := range []string{"confide", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			p := scriptParams("testdata/sql", func(e *testscript.Env) error {
				if backend == "confide" {
					port := strconv.Itoa(freePort(t))
					e.Setenv("SQLPORT", port)
					e.Setenv("SQLADDR", "127.0.0.1:"+port)
					e.Setenv("DBA", "dba")
					e.Setenv("APP", "app")
					e.Setenv("BACKEND", "confide")
					return nil
				}
				c := pgtest.Start(t)
				c.CreateDB(t, "hospital")
				e.Setenv("SQLPORT", strconv.Itoa(c.Port))
				e.Setenv("SQLADDR", "127.0.0.1:"+strconv.Itoa(c.Port))
				e.Setenv("DBA", c.Superuser)
				e.Setenv("APP", c.Superuser)
				e.Setenv("BACKEND", "postgres")
				return nil
			})
			p.Condition = func(cond string) (bool, error) {
				if cond != "postgres" {
					return false, fmt.Errorf("unknown condition %q", cond)
				}
				return backend == "postgres", nil
			}
			testscript.Run(t, p)
		})
	}
}

func freePort(t *testing.T) int {
	p, err := freeport.Port()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// scriptParams are the scripts' commands and environment; setup, if not
// nil, adds to the environment.
func scriptParams(dir string, setup func(*testscript.Env) error) testscript.Params {
	return testscript.Params{
		Dir: dir,
		Condition: func(cond string) (bool, error) {
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			// flipbyte IN OFFSET OUT writes IN with one bit of byte
			// OFFSET flipped.
			"flipbyte": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 3 {
					ts.Fatalf("usage: flipbyte IN OFFSET OUT")
				}
				b, err := os.ReadFile(ts.MkAbs(args[0]))
				ts.Check(err)
				off, err := strconv.Atoi(args[1])
				ts.Check(err)
				if off >= len(b) {
					ts.Fatalf("offset %d beyond %d bytes", off, len(b))
				}
				b[off] ^= 1
				ts.Check(os.WriteFile(ts.MkAbs(args[2]), b, 0o600))
			},
			// sha256 FILE VAR sets VAR to FILE's SHA-256 (hex).
			"sha256": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 2 {
					ts.Fatalf("usage: sha256 FILE VAR")
				}
				b, err := os.ReadFile(ts.MkAbs(args[0]))
				ts.Check(err)
				h := sha256.Sum256(b)
				ts.Setenv(args[1], hex.EncodeToString(h[:]))
			},
			// edit FILE OLD NEW replaces the first OLD in FILE by NEW.
			"edit": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 3 {
					ts.Fatalf("usage: edit FILE OLD NEW")
				}
				b, err := os.ReadFile(ts.MkAbs(args[0]))
				ts.Check(err)
				if !bytes.Contains(b, []byte(args[1])) {
					ts.Fatalf("%s does not contain %q", args[0], args[1])
				}
				ts.Check(os.WriteFile(ts.MkAbs(args[0]), bytes.Replace(b, []byte(args[1]), []byte(args[2]), 1), 0o600))
			},
			// testcert CA CERT KEY makes a CA and a server certificate
			// it signs for 127.0.0.1 and localhost.
			"testcert": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 3 {
					ts.Fatalf("usage: testcert CA CERT KEY")
				}
				ca, cert, key, err := testcert.Issue()
				ts.Check(err)
				ts.Check(os.WriteFile(ts.MkAbs(args[0]), ca, 0o644))
				ts.Check(os.WriteFile(ts.MkAbs(args[1]), cert, 0o644))
				ts.Check(os.WriteFile(ts.MkAbs(args[2]), key, 0o600))
			},
			// waitport HOST:PORT waits up to thirty seconds for a listener.
			"waitport": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 1 {
					ts.Fatalf("usage: waitport HOST:PORT")
				}
				for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
					if c, err := net.DialTimeout("tcp", args[0], time.Second); err == nil {
						c.Close()
						return
					}
				}
				ts.Fatalf("nothing listens on %s", args[0])
			},
			// waitfor PATH waits up to thirty seconds for PATH to exist.
			"waitfor": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 1 {
					ts.Fatalf("usage: waitfor PATH")
				}
				for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
					if _, err := os.Stat(args[0]); err == nil {
						return
					}
				}
				ts.Fatalf("%s did not appear", args[0])
			},
			// waitgone PATH waits up to ten seconds for PATH to vanish.
			"waitgone": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 1 {
					ts.Fatalf("usage: waitgone PATH")
				}
				for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
					if _, err := os.Stat(args[0]); err != nil {
						return
					}
				}
				ts.Fatalf("%s is still there", args[0])
			},
		},
		Setup: func(e *testscript.Env) error {
			e.Setenv("PATH", binDir+string(os.PathListSeparator)+e.Getenv("PATH"))
			// Short: Unix socket paths are limited to 108 bytes.
			home, err := os.MkdirTemp("", "cfh")
			if err != nil {
				return err
			}
			e.Defer(func() { os.RemoveAll(home) })
			e.Setenv("CONFIDE_HOME", home)
			e.Setenv("CONFIDE_PLATFORM_IDLE", "3s")
			if setup != nil {
				return setup(e)
			}
			return nil
		},
	}
}
