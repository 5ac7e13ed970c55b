//go:build obltrace

package demo

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRun runs the demo as the command does, in both modes, and checks
// its verdicts and its figure.
func TestRun(t *testing.T) {
	for _, secret := range []bool{false, true} {
		dir := t.TempDir()
		var out bytes.Buffer
		if err := Run(&out, Options{Dir: dir, Secret: secret}); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(out.String(), "\n")
		for _, want := range []string{"naive: traces differ", "oblivious: traces identical"} {
			found := 0
			for _, l := range lines {
				if l == want {
					found++
				}
			}
			if found != 1 {
				t.Errorf("secret %v: %d lines %q in\n%s", secret, found, want, out.String())
			}
		}
		for _, want := range []string{"predicted malignant", "predicted benign", "breast cancer", "heart-disease"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("secret %v: output lacks %q:\n%s", secret, want, out.String())
			}
		}
		svg, err := os.ReadFile(filepath.Join(dir, SVGName))
		if err != nil {
			t.Fatal(err)
		}
		ids, groups, marks := svgPanels(t, svg)
		if strings.Join(ids, ",") != "naive,oblivious" {
			t.Fatalf("secret %v: panels %q", secret, ids)
		}
		for i := range ids {
			if groups[i] != 2 || marks[i] == 0 {
				t.Errorf("secret %v: panel %s has %d predictions, %d marks", secret, ids[i], groups[i], marks[i])
			}
		}
		// The oblivious walk reads every node at least once: more marks.
		if marks[1] <= marks[0] {
			t.Errorf("secret %v: oblivious panel has %d marks, naive %d", secret, marks[1], marks[0])
		}
	}
}
