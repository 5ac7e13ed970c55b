package vet_test

import (
	"fmt"
	"strings"
	"testing"

	"golang.org/x/tools/go/analysis/analysistest"

	"github.com/confide/confide/vet"
)

// factFilter passes analysistest's errors on, except those about facts
// no expectation mentions: every function gets a summary fact, and the
// suites assert only the summaries they are about.
type factFilter struct{ t *testing.T }

func (f factFilter) Errorf(format string, args ...any) {
	f.t.Helper()
	msg := strings.TrimSpace(fmt.Sprintf(format, args...))
	if strings.Contains(msg, ": unexpected fact: ") {
		return
	}
	f.t.Error(msg)
}

func run(t *testing.T, pkgs ...string) {
	t.Helper()
	analysistest.Run(factFilter{t}, analysistest.TestData(), vet.Analyzer, pkgs...)
}

// The suites, one testdata package each (testdata/src), with // want
// expectations for every finding and, for some functions, their
// summaries:
//
//   - basic: each annotation form (parameters, receiver, variadic,
//     results, named results, error results secret only through flow,
//     struct fields including embedded ones, variables and constants
//     including grouped specs, short variable declarations), sinks, panic,
//     in-memory buffers, a call to a printing helper, suppressions with
//     and without reasons.
//   - obliv: every dependence an oblivious function must not have, the
//     allow-list, a helper marked oblivious that indexes by its parameter
//     called with a secret, calls into branching functions, recursion,
//     closures, function values and method values passed to an oblivious
//     function, generic code viewing records through unsafe.
//   - lib and app: flows across packages through facts (summaries, secret
//     fields, variables and constants), declassify, sink and boundary
//     functions, interface annotations and implementations checked
//     against them.
//   - writers: the standard library's sinks and writers by provenance,
//     hashes, AEADs, attested TLS, confide's sealing, slog and log.
//   - grammar: misuses of the annotation grammar.
//   - fp: what a careful user would not accept findings on.
//   - flows: channels, goroutines, maps, package variables assigned
//     secrets, generics, closures writing captured variables, whole-struct
//     comparisons.
//   - sealer: the structure of confide's seal package.
func TestBasic(t *testing.T) { run(t, "example.com/basic") }

func TestOblivious(t *testing.T) { run(t, "example.com/obliv") }

func TestCrossPackage(t *testing.T) { run(t, "example.com/lib", "example.com/app") }

func TestWriters(t *testing.T) { run(t, "example.com/writers") }

func TestGrammar(t *testing.T) { run(t, "example.com/grammar") }

func TestFalsePositives(t *testing.T) { run(t, "example.com/fp") }

func TestFlows(t *testing.T) { run(t, "example.com/flows") }

func TestSealer(t *testing.T) { run(t, "example.com/sealer") }
