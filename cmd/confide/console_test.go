package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/params"
	"github.com/rogpeppe/go-internal/txtar"

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
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dev := exec.CommandContext(ctx, filepath.Join(binDir, "confide"), "dev", "--attest-addr", "127.0.0.1:0", "--kms-addr", "127.0.0.1:0",
		"--ml-addr", "127.0.0.1:0", "--sql-addr", "127.0.0.1:0", "--ledger-addr", "127.0.0.1:0", "--eth-addr", "127.0.0.1:0",
		"--console-addr", "127.0.0.1:0")
	dev.Env = env
	dev.Cancel = func() error { return dev.Process.Signal(syscall.SIGINT) }
	dev.WaitDelay = 20 * time.Second
	stdout, err := dev.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr lockedBuilder
	dev.Stderr = &stderr
	if err := dev.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); dev.Wait() }()
	clients := regexp.MustCompile(`^clients:\s+export (.*)$`)
	ledgerLine := regexp.MustCompile(`^ledger\s+(https://\S+)`)
	sqlLine := regexp.MustCompile(`^sql\s+(postgres://\S+)`)
	// The console's port comes from dev: a port picked here and freed
	// could go to one of dev's other listeners first.
	consoleLine := regexp.MustCompile(`^console\s+http://(\S+)`)
	var consoleAddr string
	ready := false
	var sqlDSN string
	var exports []string
	var ledgerURL string
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		if m := clients.FindStringSubmatch(lines.Text()); m != nil {
			exports = strings.Fields(m[1])
		}
		if m := ledgerLine.FindStringSubmatch(lines.Text()); m != nil {
			ledgerURL = m[1]
		}
		if m := sqlLine.FindStringSubmatch(lines.Text()); m != nil {
			sqlDSN = m[1]
		}
		if m := consoleLine.FindStringSubmatch(lines.Text()); m != nil {
			consoleAddr = m[1]
		}
		if lines.Text() == "ready; Ctrl-C stops" {
			ready = true
			break
		}
	}
	if !ready || exports == nil || ledgerURL == "" || consoleAddr == "" {
		t.Fatalf("confide dev did not get ready:\n%s", stderr.String())
	}
	go func() {
		for lines.Scan() {
		}
	}()
	cliEnv := append(append([]string(nil), env...), exports...)
	dir := t.TempDir()
	run := func(args ...string) string {
		t.Helper()
		c := exec.Command(filepath.Join(binDir, "confide"), args...)
		c.Env = cliEnv
		c.Dir = dir
		out, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("confide %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	rel := filepath.Join(dir, "release.json")
	os.WriteFile(rel, []byte(`{"version":"1.0.0","anyOf":[{"claim":"platform","equals":"sim"}]}`), 0o600)
	run("kms", "create", "console-key", "--exportable", "--release-policy", rel)
	// A release the policy refuses, for the audit page's denials.
	c := exec.Command(filepath.Join(binDir, "confide"), "kms", "release", "no-such-key")
	c.Env = cliEnv
	c.Run()
	tok := strings.TrimSpace(run("attest", "token"))
	evidence := filepath.Join(dir, "evidence.bin")
	run("attest", "evidence", "--nonce", "0a0b", "-o", evidence)
	// Ledger: three transactions in a collection (as user0), and an open
	// proposal (member0's) for the browser to vote on.
	ldir := filepath.Join(home, "dev", "ledger")
	lc := ledgerClient(t, ldir, "user0")
	var txID string
	for i := range 3 {
		resp, err := lc.Post(ledgerURL+"/app/transactions?collection_id=console", "application/json",
			strings.NewReader(fmt.Sprintf(`{"contents":"console entry %d"}`, i)))
		if err != nil {
			t.Fatal(err)
		}
		var r struct {
			TxID string `json:"transaction_id"`
		}
		json.NewDecoder(resp.Body).Decode(&r)
		resp.Body.Close()
		if resp.StatusCode != 200 || r.TxID == "" {
			t.Fatalf("posting a transaction: %s", resp.Status)
		}
		txID = r.TxID
	}
	// Always Encrypted SQL: keys and a table with encrypted columns.
	run("sql", "keys", "create-cmk", "--name", "console_cmk", "--key-file", filepath.Join(dir, "cmk.pem"), "--dsn", sqlDSN)
	run("sql", "keys", "create-cek", "--name", "console_cek", "--cmk", "console_cmk", "--trust", filepath.Join(dir, "cmk.pem"), "--dsn", sqlDSN)
	cliEnv = append(cliEnv, "CONFIDE_SQL_DSN="+sqlDSN+"&column_encryption=enabled", "CONFIDE_SQL_TRUST="+filepath.Join(dir, "cmk.pem"))
	run("sql", "shell", "-c", "CREATE TABLE patients (id INT PRIMARY KEY, ssn VARCHAR(11) ENCRYPTED WITH (COLUMN_ENCRYPTION_KEY = console_cek, "+
		"ENCRYPTION_TYPE = DETERMINISTIC, ALGORITHM = 'AEAD_AES_256_CBC_HMAC_SHA_256'), diagnosis NVARCHAR(100) ENCRYPTED WITH "+
		"(COLUMN_ENCRYPTION_KEY = console_cek, ENCRYPTION_TYPE = RANDOMIZED, ALGORITHM = 'AEAD_AES_256_CBC_HMAC_SHA_256'))")

	// A multi-party job on dev's trainer, with the data of the protocol
	// script (testdata/script/mlproto.txtar).
	ar, err := txtar.ParseFile(filepath.Join("testdata", "script", "mlproto.txtar"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range ar.Files {
		if f.Name == "h1.csv" || f.Name == "h2.csv" || f.Name == "logreg.json" {
			os.WriteFile(filepath.Join(dir, f.Name), f.Data, 0o600)
		}
	}
	trainerPolicy := filepath.Join(home, "dev", "trainer-policy.json")
	for _, p := range []string{"h1", "h2"} {
		run("ml", "keygen", p)
		run("ml", "encrypt", "--party", p, "--in", p+".csv", "--out", p+".enc")
	}
	run("ml", "manifest", "create", "--job", "console-job", "--party", "h1.pub.json=h1.enc", "--party", "h2.pub.json=h2.enc",
		"--trainer-policy", trainerPolicy, "--allow-simulation", "--schema-from", "h1.csv", "--label", "y", "--algo", "logreg",
		"--params", "logreg.json", "--recipients", "h1,h2", "--holdout", "0.25")
	run("ml", "manifest", "sign", "--party", "h1")
	run("ml", "manifest", "sign", "--party", "h2")
	run("ml", "submit", "--party", "h1", "--data", "h1.enc")
	run("ml", "submit", "--party", "h2", "--data", "h2.enc")
	run("ml", "fetch", "--party", "h1", "--out", "out1") // waits until the job is done

	// One Ethereum transfer, from dev's funded account.
	var ei ethInfo
	if b, err := os.ReadFile(filepath.Join(ldir, EthInfoFile)); err != nil || json.Unmarshal(b, &ei) != nil || len(ei.Accounts) == 0 {
		t.Fatalf("no %s: %v", EthInfoFile, err)
	}
	ec, err := ethclient.Dial(ei.RPCURL)
	if err != nil {
		t.Fatal(err)
	}
	key, err := crypto.HexToECDSA(strings.TrimPrefix(ei.Accounts[0].PrivateKey, "0x"))
	if err != nil {
		t.Fatal(err)
	}
	chain := new(big.Int).SetUint64(ei.ChainID)
	payee := common.HexToAddress("0x00000000000000000000000000000000c0ffee01")
	etx, _ := types.SignNewTx(key, types.LatestSignerForChainID(chain), &types.DynamicFeeTx{ChainID: chain,
		GasFeeCap: big.NewInt(2 * params.GWei), Gas: 21000, To: &payee, Value: big.NewInt(12345)})
	if err := ec.SendTransaction(ctx, etx); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if r, err := ec.TransactionReceipt(ctx, etx.Hash()); err == nil && r.Status == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no receipt for the Ethereum transfer")
		}
	}
	prop := filepath.Join(dir, "proposal.json")
	os.WriteFile(prop, []byte(`{"actions":[{"name":"add_node_code","args":{"code_id":"`+strings.Repeat("ab", 32)+`"}}]}`), 0o600)
	var pv struct {
		ID string `json:"proposalId"`
	}
	if err := json.Unmarshal([]byte(run("ledger", "gov", "propose", "--cert", filepath.Join(ldir, "member0_cert.pem"),
		"--key", filepath.Join(ldir, "member0_privk.pem"), "--service-cert", filepath.Join(ldir, "service_cert.pem"),
		"--node", strings.TrimPrefix(ledgerURL, "https://"), prop)), &pv); err != nil || pv.ID == "" {
		t.Fatalf("proposing: %v", err)
	}
	// The receipt needs a committed signature after the last transaction.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		resp, err := lc.Get(ledgerURL + "/app/transactions/" + txID + "/receipt")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no receipt for %s", txID)
		}
	}
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
		"ATTEST_TOKEN="+tok, "KEY_NAME=console-key", "LEDGER_DIR="+ldir, "EVIDENCE_FILE="+evidence, "ETH_TX="+etx.Hash().Hex(), "ML_KEYS="+filepath.Join(dir, "h1.keys.pem"), "ML_OTHER_KEYS="+filepath.Join(dir, "h2.keys.pem"), "TX_ID="+txID, "PROPOSAL_ID="+pv.ID)
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

// ledgerClient is a ledger identity's HTTPS client (a sandbox's files).
func ledgerClient(t *testing.T, dir, name string) *http.Client {
	t.Helper()
	svc, err := os.ReadFile(filepath.Join(dir, "service_cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(svc)
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, name+"_cert.pem"), filepath.Join(dir, name+"_privk.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}}}
}

// lockedBuilder collects a running process's output, read while it
// still writes (a failing test prints it).
type lockedBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuilder) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuilder) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
