package vet

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestIsVetTool(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{[]string{"-V=full"}, true},
		{[]string{"-flags"}, true},
		{[]string{"/tmp/go-build1/b001/vet.cfg"}, true},
		{[]string{"-json", "/tmp/go-build1/b001/vet.cfg"}, true},
		{nil, false},
		{[]string{"vet"}, false},
		{[]string{"vet", "./..."}, false},
		{[]string{"seal", "x.cfg"}, false}, // a subcommand's argument
		{[]string{"-flags", "x"}, false},
	} {
		if got := IsVetTool(tc.args); got != tc.want {
			t.Errorf("IsVetTool(%q) = %v, want %v", tc.args, got, tc.want)
		}
	}
}

func TestParseVetJSON(t *testing.T) {
	out := []byte(`# example.com/p
{
	"example.com/p": {
		"confide": [
			{"posn": "/m/p.go:12:3", "message": "direct leak: secret x reaches panic", "category": "direct-leak"},
			{"posn": "/m/p.go:4:1", "message": "indirect leak: secret y used as index in oblivious function f"}
		]
	}
}
# example.com/p [example.com/p.test]
{
	"example.com/p [example.com/p.test]": {
		"confide": [
			{"posn": "/m/p.go:12:3", "message": "direct leak: secret x reaches panic", "category": "direct-leak"}
		]
	}
}
{"example.com/q": {"confide": {"error": "analysis failed"}}}
p.go:1:1: some build error
`)
	fs, jsonText, rest, err := parseVetJSON(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 2 {
		t.Fatalf("got %d findings, want 2 (deduplicated): %+v", len(fs), fs)
	}
	if f := fs[0]; f.File != "/m/p.go" || f.Line != 4 || f.Column != 1 || f.Category != "indirect-leak" {
		t.Errorf("first finding %+v", f)
	}
	if fs[1].Category != "direct-leak" || fs[1].Posn("/m") != "p.go:12:3" {
		t.Errorf("second finding %+v", fs[1])
	}
	if !strings.Contains(string(rest), "example.com/q: analysis failed") || !strings.Contains(string(rest), "some build error") {
		t.Errorf("rest = %q", rest)
	}
	if strings.Contains(string(rest), "# example.com/p") {
		t.Errorf("rest keeps package headers: %q", rest)
	}
	dec := json.NewDecoder(bytes.NewReader(jsonText))
	n := 0
	for dec.More() {
		var v map[string]any
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 3 {
		t.Errorf("JSON holds %d objects, want 3", n)
	}
}

func TestSplitPosn(t *testing.T) {
	for _, tc := range []struct {
		in        string
		file      string
		line, col int
	}{
		{"/a/b.go:3:4", "/a/b.go", 3, 4},
		{"/a/b.go:3", "/a/b.go", 3, 0},
		{`C:\a\b.go:3:4`, `C:\a\b.go`, 3, 4},
	} {
		f, l, c := splitPosn(tc.in)
		if f != tc.file || l != tc.line || c != tc.col {
			t.Errorf("splitPosn(%q) = %q %d %d", tc.in, f, l, c)
		}
	}
}

func TestWriteSARIF(t *testing.T) {
	var b bytes.Buffer
	fs := []Finding{
		{File: "/m/p.go", Line: 3, Column: 2, Category: "direct-leak", Message: "direct leak: m"},
		{File: "/elsewhere/q.go", Line: 1, Category: "annotation", Message: "annotation: m"},
	}
	if err := WriteSARIF(&b, "/m", fs); err != nil {
		t.Fatal(err)
	}
	var log struct {
		Version string
		Runs    []struct {
			Tool struct {
				Driver struct {
					Rules []struct{ ID string }
				}
			}
			Results []struct {
				RuleID    string
				Level     string
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct {
							URI       string
							URIBaseID string `json:"uriBaseId"`
						}
						Region struct{ StartLine, StartColumn int }
					}
				}
			}
		}
	}
	if err := json.Unmarshal(b.Bytes(), &log); err != nil {
		t.Fatal(err)
	}
	if log.Version != "2.1.0" || len(log.Runs) != 1 || len(log.Runs[0].Tool.Driver.Rules) != 3 {
		t.Fatalf("log %+v", log)
	}
	r := log.Runs[0].Results
	if len(r) != 2 || r[0].RuleID != "direct-leak" || r[0].Level != "error" || r[1].Level != "warning" {
		t.Fatalf("results %+v", r)
	}
	loc := r[0].Locations[0].PhysicalLocation
	if loc.ArtifactLocation.URI != "p.go" || loc.ArtifactLocation.URIBaseID != "%SRCROOT%" || loc.Region.StartLine != 3 || loc.Region.StartColumn != 2 {
		t.Errorf("location %+v", loc)
	}
	if got := r[1].Locations[0].PhysicalLocation.ArtifactLocation.URI; got != "file:///elsewhere/q.go" {
		t.Errorf("outside URI %q", got)
	}
}
