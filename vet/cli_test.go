package vet_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestCLI runs the scripts in testdata/script against the real confide
// binary, as a user would: `confide vet` and `go vet -vettool=confide`
// on small modules.
func TestCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds cmd/confide and runs go vet")
	}
	bin := buildConfide(t)
	goEnv := map[string]string{}
	out, err := exec.Command("go", "env", "-json", "GOCACHE", "GOMODCACHE", "GOPATH", "GOROOT").Output()
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out, &goEnv); err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			env.Setenv("PATH", filepath.Dir(bin)+string(os.PathListSeparator)+filepath.Join(goEnv["GOROOT"], "bin")+string(os.PathListSeparator)+env.Getenv("PATH"))
			env.Setenv("CONFIDE", bin)
			for _, k := range []string{"GOCACHE", "GOMODCACHE", "GOPATH"} {
				env.Setenv(k, goEnv[k])
			}
			env.Setenv("GOPROXY", "off")
			env.Setenv("GOTOOLCHAIN", "local")
			env.Setenv("GOFLAGS", "-buildvcs=false")
			return nil
		},
	})
}

// buildConfide builds cmd/confide.
func buildConfide(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "confide")
	args := []string{"build", "-o", bin}
	cmd := exec.Command("go", append(args, "./cmd/confide")...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building confide: %v\n%s", err, out)
	}
	return bin
}
