package vet

import (
	"strings"

	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/analysis/unitchecker"

	"github.com/confide/confide/vet/internal/leak"
)

// Analyzer is the leak checker, for any driver of
// golang.org/x/tools/go/analysis (unitchecker, singlechecker,
// analysistest, gopls).
var Analyzer *analysis.Analyzer = leak.Analyzer

// IsVetTool reports whether a program's arguments (os.Args[1:]) are an
// invocation by `go vet -vettool=PROG`: -V=full (the tool's identity, for
// go's cache), -flags (the flags it accepts), or flags followed by a
// single *.cfg file (one package to analyse).
func IsVetTool(args []string) bool {
	if len(args) == 0 {
		return false
	}
	if len(args) == 1 && (strings.HasPrefix(args[0], "-V=") || args[0] == "-flags") {
		return true
	}
	last := args[len(args)-1]
	if !strings.HasSuffix(last, ".cfg") {
		return false
	}
	for _, a := range args[:len(args)-1] {
		if !strings.HasPrefix(a, "-") {
			return false
		}
	}
	return true
}

// VetToolMain runs the leak checker under go vet's tool protocol, reading
// os.Args. It does not return.
func VetToolMain() {
	unitchecker.Main(Analyzer)
}
