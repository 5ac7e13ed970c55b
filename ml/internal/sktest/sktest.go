// Package sktest runs the plaintext baselines — scikit-learn and XGBoost
// as Debian packages them (python3-sklearn 1.2.1, python3-xgboost 1.7.4,
// importable from /usr/bin/python3 only) — from Go tests. Without them a
// test is skipped, unless CONFIDE_ML_CHECK=1 (scripts/test.sh sets it
// after installing them): then it fails.
package sktest

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Python is Debian's interpreter, which has the packages.
const Python = "/usr/bin/python3"

// Need skips (or fails, under CONFIDE_ML_CHECK=1) unless the modules
// import.
func Need(t testing.TB, modules ...string) {
	t.Helper()
	args := []string{"-c", "import sys\nfor m in sys.argv[1:]: __import__(m)"}
	if out, err := exec.Command(Python, append(args, modules...)...).CombinedOutput(); err != nil {
		msg := "the baselines are not installed (apt-get install python3-sklearn python3-xgboost; scripts/test.sh does): " + string(out)
		if os.Getenv("CONFIDE_ML_CHECK") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
}

// Run runs a Python script with in (JSON) in the file named by argv[1]
// and decodes what it prints on stdout (JSON) into out.
func Run(t testing.TB, script string, in, out any) {
	t.Helper()
	dir := t.TempDir()
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	inPath := filepath.Join(dir, "in.json")
	if err := os.WriteFile(inPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(Python, "-c", script, inPath)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// The machine's two cores for OpenMP (XGBoost), one BLAS thread.
	cmd.Env = append(os.Environ(), "OMP_NUM_THREADS=2", "OPENBLAS_NUM_THREADS=1")
	if err := cmd.Run(); err != nil {
		t.Fatalf("python: %v\n%s", err, stderr.String())
	}
	if err := json.Unmarshal(stdout.Bytes(), out); err != nil {
		t.Fatalf("python's answer: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
}
