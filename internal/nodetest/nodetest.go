// Package nodetest runs npm packages from Go tests: tedious, an
// independent implementation of SQL Server's Always Encrypted, and
// others through Install (ethers, for the Ethereum app). Packages are
// installed with npm into .cache/npm at the module root (ignored by git)
// on first use; node and npm must be installed (scripts/test.sh
// installs them).
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

// Root is the module root, where .cache lives.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// modules installs tedious if needed and returns its node_modules.
func modules(t testing.TB) string {
	t.Helper()
	return Install(t, "tedious", TediousVersion)
}

// Install installs an npm package (spec "name@version") into .cache/npm
// at the module root if it is not there, and returns the node_modules
// directory. Tests in parallel packages share the install under a lock.
func Install(t testing.TB, name, spec string) string {
	t.Helper()
	dir := filepath.Join(Root(), ".cache", "npm")
	mods := filepath.Join(dir, "node_modules")
	installed := func() bool {
		b, err := os.ReadFile(filepath.Join(mods, name, "package.json"))
		if err != nil {
			return false
		}
		var p struct {
			Version string `json:"version"`
		}
		return json.Unmarshal(b, &p) == nil && name+"@"+p.Version == spec
	}
	if installed() {
		return mods
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if installed() {
		return mods
	}
	cmd := exec.Command("npm", "install", "--no-audit", "--no-fund", "--prefix", dir, spec)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm install %s (scripts/test.sh installs node and npm): %v\n%s", spec, err, out)
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
