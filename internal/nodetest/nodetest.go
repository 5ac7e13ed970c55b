// Package nodetest runs the npm package tedious, an independent
// implementation of SQL Server's Always Encrypted, from Go tests. The
// package is installed with npm into .cache/npm at the module root
// (ignored by git) on first use; node and npm must be installed
// (scripts/test.sh installs them).
package nodetest

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
)

// TediousVersion is the npm version spec installed.
const TediousVersion = "tedious@20.3.9"

// Request is one operation for tedious.
type Request struct {
	Op            string `json:"op"` // cell-encrypt, cell-decrypt, cek-encrypt, cek-decrypt
	CEK           string `json:"cek,omitempty"`
	Deterministic bool   `json:"deterministic,omitempty"`
	Data          string `json:"data"` // hex
	PEM           string `json:"pem,omitempty"`
	Path          string `json:"path,omitempty"`
}

// Result is tedious's answer: Data (hex) or Error.
type Result struct {
	Data  string `json:"data"`
	Error string `json:"error"`
}

func root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// modules installs tedious if needed and returns its node_modules.
func modules(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(root(), ".cache", "npm")
	mods := filepath.Join(dir, "node_modules")
	if _, err := os.Stat(filepath.Join(mods, "tedious", "package.json")); err == nil {
		return mods
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// Packages testing in parallel share the install: take a lock.
	lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(mods, "tedious", "package.json")); err == nil {
		return mods
	}
	cmd := exec.Command("npm", "install", "--no-audit", "--no-fund", "--prefix", dir, TediousVersion)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm install %s (scripts/test.sh installs node and npm): %v\n%s", TediousVersion, err, out)
	}
	return mods
}

// Run sends the requests to tedious and returns its results.
func Run(t testing.TB, reqs []Request) []Result {
	t.Helper()
	mods := modules(t)
	in, _ := json.Marshal(reqs)
	_, file, _, _ := runtime.Caller(0)
	cmd := exec.Command("node", filepath.Join(filepath.Dir(file), "tedious.js"), mods)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.String())
	}
	var res []Result
	if err := json.Unmarshal(out, &res); err != nil || len(res) != len(reqs) {
		t.Fatalf("node answered %q (%v)", out, err)
	}
	return res
}
