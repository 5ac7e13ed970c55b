package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/confide/confide/internal/nodetest"
)

// PlaywrightVersion is the playwright-core the browser test drives
// Debian's chromium with.
const playwrightVersion = "playwright-core@1.64.1"

// TestConsoleBrowser walks the web console in a real browser against a
// live `confide dev` (testdata/console_e2e.js). Screenshots are kept in
// .cache/artifacts/console; with CONFIDE_UPDATE_SCREENSHOTS=1 they also
// replace docs/console's.
func TestConsoleBrowser(t *testing.T) {
	if _, err := os.Stat("/usr/bin/chromium"); err != nil {
		if os.Getenv("CONFIDE_BROWSER_CHECK") != "" {
			t.Fatal("/usr/bin/chromium is missing (scripts/test.sh installs it)")
		}
		t.Skip("no /usr/bin/chromium (scripts/test.sh installs it)")
	}
	mods := nodetest.Install(t, "playwright-core", playwrightVersion)
	home := t.TempDir()
	env := append(os.Environ(), "CONFIDE_HOME="+home)
	consoleAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dev := exec.CommandContext(ctx, filepath.Join(binDir, "confide"), "dev", "--attest-addr", "127.0.0.1:0", "--kms-addr", "127.0.0.1:0",
		"--ml-addr", "127.0.0.1:0", "--sql-addr", "127.0.0.1:0", "--ledger-addr", "127.0.0.1:0", "--eth-addr", "127.0.0.1:0",
		"--console-addr", consoleAddr)
	dev.Env = env
	dev.Cancel = func() error { return dev.Process.Signal(syscall.SIGINT) }
	dev.WaitDelay = 20 * time.Second
	stdout, err := dev.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	dev.Stderr = &stderr
	if err := dev.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); dev.Wait() }()
	clients := regexp.MustCompile(`^clients:\s+export (.*)$`)
	var exports []string
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		if m := clients.FindStringSubmatch(lines.Text()); m != nil {
			exports = strings.Fields(m[1])
		}
		if lines.Text() == "ready; Ctrl-C stops" {
			break
		}
	}
	if exports == nil {
		t.Fatalf("confide dev did not get ready:\n%s", stderr.String())
	}
	go func() {
		for lines.Scan() {
		}
	}()
	cliEnv := append(append([]string(nil), env...), exports...)
	run := func(args ...string) string {
		t.Helper()
		c := exec.Command(filepath.Join(binDir, "confide"), args...)
		c.Env = cliEnv
		out, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("confide %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	dir := t.TempDir()
	rel := filepath.Join(dir, "release.json")
	os.WriteFile(rel, []byte(`{"version":"1.0.0","anyOf":[{"claim":"platform","equals":"sim"}]}`), 0o600)
	run("kms", "create", "console-key", "--exportable", "--release-policy", rel)
	// A release the policy refuses, for the audit page's denials.
	c := exec.Command(filepath.Join(binDir, "confide"), "kms", "release", "no-such-key")
	c.Env = cliEnv
	c.Run()
	tok := strings.TrimSpace(run("attest", "token"))
	admin, _ := os.ReadFile(filepath.Join(home, "dev", "admin.token"))
	reader, _ := os.ReadFile(filepath.Join(home, "dev", "reader.token"))

	out := filepath.Join(nodetest.Root(), ".cache", "artifacts", "console")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	nctx, ncancel := context.WithTimeout(ctx, 4*time.Minute)
	defer ncancel()
	node := exec.CommandContext(nctx, "node", filepath.Join("testdata", "console_e2e.js"), mods)
	node.Env = append(os.Environ(), "CONSOLE_URL=http://"+consoleAddr, "OUT_DIR="+out,
		"ADMIN_TOKEN="+strings.TrimSpace(string(admin)), "READER_TOKEN="+strings.TrimSpace(string(reader)),
		"ATTEST_TOKEN="+tok, "KEY_NAME=console-key")
	res, err := node.CombinedOutput()
	if err != nil {
		t.Fatalf("the browser test failed: %v\n%s\nconfide dev:\n%s", err, res, stderr.String())
	}
	var got struct {
		OK    bool     `json:"ok"`
		Shots []string `json:"shots"`
	}
	ls := strings.Split(strings.TrimSpace(string(res)), "\n")
	if json.Unmarshal([]byte(ls[len(ls)-1]), &got) != nil || !got.OK || len(got.Shots) < 10 {
		t.Fatalf("the browser test said:\n%s", res)
	}
	if os.Getenv("CONFIDE_UPDATE_SCREENSHOTS") != "" {
		docs := filepath.Join(nodetest.Root(), "docs", "console")
		os.MkdirAll(docs, 0o755)
		for _, s := range got.Shots {
			b, err := os.ReadFile(filepath.Join(out, s+".png"))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(docs, s+".png"), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
