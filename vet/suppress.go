package vet

import (
	"context"
	"fmt"
	"go/parser"
	"go/token"
	"io"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/tools/go/packages"

	"github.com/confide/confide/vet/internal/annot"
)

// Suppression is a //confide:ignore comment.
type Suppression struct {
	File   string // absolute path
	Line   int
	Reason string // empty: the suppression lacks its reason (and suppresses nothing)
}

// Suppressions lists every //confide:ignore in the packages' Go files
// (tests included), in file and line order.
func Suppressions(ctx context.Context, dir string, patterns []string) ([]Suppression, error) {
	if len(patterns) == 0 {
		patterns = []string{"./..."}
	}
	pkgs, err := packages.Load(&packages.Config{
		Context: ctx,
		Dir:     dir,
		Mode:    packages.NeedName | packages.NeedFiles,
		Tests:   true,
	}, patterns...)
	if err != nil {
		return nil, err
	}
	var errs []string
	files := map[string]bool{}
	for _, p := range pkgs {
		for _, e := range p.Errors {
			errs = append(errs, e.Error())
		}
		for _, f := range append(append([]string(nil), p.GoFiles...), p.IgnoredFiles...) {
			if strings.HasSuffix(f, ".go") {
				files[f] = true
			}
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("vet: %s", strings.Join(errs, "; "))
	}
	var out []Suppression
	fset := token.NewFileSet()
	for f := range files {
		af, err := parser.ParseFile(fset, f, nil, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		for _, cg := range af.Comments {
			for _, c := range cg.List {
				if reason, ok := annot.IgnoreReason(c); ok {
					pos := fset.Position(c.Pos())
					out = append(out, Suppression{File: pos.Filename, Line: pos.Line, Reason: reason})
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].File != out[j].File {
			return out[i].File < out[j].File
		}
		return out[i].Line < out[j].Line
	})
	return out, nil
}

// WriteSuppressions prints suppressions as file:line: reason, paths
// relative to dir.
func WriteSuppressions(w io.Writer, dir string, ss []Suppression) error {
	for _, s := range ss {
		file := s.File
		if rel, err := filepath.Rel(dir, file); err == nil && !strings.HasPrefix(rel, "..") {
			file = rel
		}
		reason := s.Reason
		if reason == "" {
			reason = "(no reason: this suppression is reported and suppresses nothing)"
		}
		if _, err := fmt.Fprintf(w, "%s:%d: %s\n", file, s.Line, reason); err != nil {
			return err
		}
	}
	return nil
}
