package vet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Options configures Run.
type Options struct {
	// Dir is the directory go vet runs in (the module); "" means the
	// current directory.
	Dir string
	// Patterns are the packages to check; none means ./... .
	Patterns []string
	// Tool is the executable that implements the vet-tool protocol
	// (IsVetTool, VetToolMain); "" means the running executable.
	Tool string
	// Env, if set, is the environment of go vet (default: this
	// process's).
	Env []string
}

// Finding is one diagnostic.
type Finding struct {
	Package  string // the package ID go vet reports ("p" or "p [p.test]")
	File     string // absolute path
	Line     int
	Column   int
	Category string // "direct-leak", "indirect-leak" or "annotation"
	Message  string
}

// Posn renders the finding's position as go vet does, relative to dir
// when it lies inside.
func (f Finding) Posn(dir string) string {
	file := f.File
	if rel, err := filepath.Rel(dir, file); err == nil && !strings.HasPrefix(rel, "..") {
		file = rel
	}
	return fmt.Sprintf("%s:%d:%d", file, f.Line, f.Column)
}

// Result is what Run found.
type Result struct {
	Findings []Finding
	// JSON is go vet's -json output, unchanged.
	JSON []byte
}

// ErrFindings is returned (wrapped) by callers that turn findings into a
// failure.
var ErrFindings = errors.New("leaks found")

// Run checks packages by running `go vet -vettool=TOOL -json`, so that go
// builds what the analysis needs and caches its results (facts and
// diagnostics) per package: a second run over unchanged packages only
// reads the cache.
func Run(ctx context.Context, o Options) (*Result, error) {
	tool := o.Tool
	if tool == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("vet: finding the vet tool: %w", err)
		}
		tool = exe
	}
	patterns := o.Patterns
	if len(patterns) == 0 {
		patterns = []string{"./..."}
	}
	args := append([]string{"vet", "-vettool=" + tool, "-json"}, patterns...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = o.Dir
	cmd.Env = o.Env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	// go vet -json writes its JSON to standard error, interleaved with
	// "# package" headers; accept it on either stream.
	out := append(append([]byte(nil), stdout.Bytes()...), stderr.Bytes()...)
	res, jsonText, rest, err := parseVetJSON(out)
	if err != nil {
		return nil, err
	}
	if runErr != nil && len(res) == 0 {
		msg := strings.TrimSpace(string(rest))
		if msg == "" {
			msg = runErr.Error()
		}
		return nil, fmt.Errorf("go vet: %s", msg)
	}
	if runErr != nil && len(strings.TrimSpace(string(rest))) > 0 {
		// Some packages failed to build or analyse.
		return &Result{Findings: res, JSON: jsonText}, fmt.Errorf("go vet: %s", strings.TrimSpace(string(rest)))
	}
	return &Result{Findings: res, JSON: jsonText}, nil
}

// vetDiagnostic is one diagnostic in go vet's JSON.
type vetDiagnostic struct {
	Posn     string `json:"posn"`
	Message  string `json:"message"`
	Category string `json:"category"`
}

// parseVetJSON reads the JSON objects that go vet -json prints, one per
// package: {"pkg": {"analyzer": [diagnostics] or {"error": ...}}}. Other
// lines ("# pkg" headers, build errors) are returned in rest.
func parseVetJSON(out []byte) (findings []Finding, jsonText, rest []byte, err error) {
	var errs []string
	for len(out) > 0 {
		i := bytes.IndexByte(out, '{')
		if i < 0 {
			rest = append(rest, out...)
			break
		}
		if i > 0 {
			rest = append(rest, filterHeaders(out[:i])...)
		}
		dec := json.NewDecoder(bytes.NewReader(out[i:]))
		var tree map[string]map[string]json.RawMessage
		if err := dec.Decode(&tree); err != nil {
			// Not JSON: keep the line as text.
			j := bytes.IndexByte(out[i:], '\n')
			if j < 0 {
				j = len(out) - i - 1
			}
			rest = append(rest, out[i:i+j+1]...)
			out = out[i+j+1:]
			continue
		}
		n := int(dec.InputOffset())
		jsonText = append(append(jsonText, out[i:i+n]...), '\n')
		out = out[i+n:]
		for pkg, byAnalyzer := range tree {
			for _, raw := range byAnalyzer {
				var diags []vetDiagnostic
				if err := json.Unmarshal(raw, &diags); err != nil {
					var e struct {
						Error string `json:"error"`
					}
					if json.Unmarshal(raw, &e) == nil && e.Error != "" {
						errs = append(errs, pkg+": "+e.Error)
					}
					continue
				}
				for _, d := range diags {
					f := Finding{Package: pkg, Message: d.Message, Category: d.Category}
					f.File, f.Line, f.Column = splitPosn(d.Posn)
					if f.Category == "" {
						f.Category = categoryOf(d.Message)
					}
					findings = append(findings, f)
				}
			}
		}
	}
	if len(errs) > 0 {
		sort.Strings(errs)
		rest = append(rest, []byte(strings.Join(errs, "\n")+"\n")...)
	}
	return dedupe(findings), jsonText, rest, nil
}

func filterHeaders(b []byte) []byte {
	var out []byte
	for _, line := range bytes.SplitAfter(b, []byte("\n")) {
		if bytes.HasPrefix(line, []byte("# ")) || len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		out = append(out, line...)
	}
	return out
}

func categoryOf(msg string) string {
	switch {
	case strings.HasPrefix(msg, "direct leak:"):
		return "direct-leak"
	case strings.HasPrefix(msg, "indirect leak:"):
		return "indirect-leak"
	}
	return "annotation"
}

// splitPosn splits "file:line:col" (or "file:line").
func splitPosn(posn string) (file string, line, col int) {
	var nums []int
	file = posn
	for len(nums) < 2 {
		i := strings.LastIndexByte(file, ':')
		if i < 0 {
			break
		}
		n, err := strconv.Atoi(file[i+1:])
		if err != nil {
			break
		}
		nums = append(nums, n)
		file = file[:i]
	}
	switch len(nums) {
	case 2:
		return file, nums[1], nums[0]
	case 1:
		return file, nums[0], 0
	}
	return file, 0, 0
}

// dedupe sorts findings by position and drops repeats (a package and its
// test variant report the same non-test findings).
func dedupe(fs []Finding) []Finding {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Column != b.Column {
			return a.Column < b.Column
		}
		return a.Message < b.Message
	})
	var out []Finding
	for i, f := range fs {
		if i > 0 {
			p := fs[i-1]
			if p.File == f.File && p.Line == f.Line && p.Column == f.Column && p.Message == f.Message {
				continue
			}
		}
		out = append(out, f)
	}
	return out
}

// WriteText prints findings in go vet's form, file:line:col: message,
// with paths relative to dir.
func WriteText(w io.Writer, dir string, fs []Finding) error {
	for _, f := range fs {
		if _, err := fmt.Fprintf(w, "%s: %s\n", f.Posn(dir), f.Message); err != nil {
			return err
		}
	}
	return nil
}
