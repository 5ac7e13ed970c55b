package vet

import (
	"encoding/json"
	"io"
	"net/url"
	"path/filepath"
	"strings"
)

// SARIF 2.1.0 (OASIS), the subset code-scanning tools read.
type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool               sarifTool                  `json:"tool"`
	OriginalURIBaseIDs map[string]sarifArtifactID `json:"originalUriBaseIds,omitempty"`
	Results            []sarifResult              `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	InformationURI string      `json:"informationUri"`
	Rules          []sarifRule `json:"rules"`
}

type sarifRule struct {
	ID                   string       `json:"id"`
	ShortDescription     sarifMessage `json:"shortDescription"`
	DefaultConfiguration struct {
		Level string `json:"level"`
	} `json:"defaultConfiguration"`
}

type sarifMessage struct {
	Text string `json:"text"`
}

type sarifArtifactID struct {
	URI       string `json:"uri"`
	URIBaseID string `json:"uriBaseId,omitempty"`
}

type sarifResult struct {
	RuleID    string          `json:"ruleId"`
	RuleIndex int             `json:"ruleIndex"`
	Level     string          `json:"level"`
	Message   sarifMessage    `json:"message"`
	Locations []sarifLocation `json:"locations"`
}

type sarifLocation struct {
	PhysicalLocation struct {
		ArtifactLocation sarifArtifactID `json:"artifactLocation"`
		Region           struct {
			StartLine   int `json:"startLine"`
			StartColumn int `json:"startColumn,omitempty"`
		} `json:"region"`
	} `json:"physicalLocation"`
}

var sarifRules = []struct{ id, text string }{
	{"direct-leak", "A secret reaches a sink (output that leaves the enclave) without passing through a declassifier."},
	{"indirect-leak", "In an oblivious function, control flow, a memory access or an operation's timing depends on a secret."},
	{"annotation", "A //confide: annotation is misplaced, malformed, or a suppression lacks its reason."},
}

// WriteSARIF writes findings as a SARIF 2.1.0 log. Paths inside root are
// written relative to it (base %SRCROOT%).
func WriteSARIF(w io.Writer, root string, fs []Finding) error {
	root, _ = filepath.Abs(root)
	run := sarifRun{
		Tool: sarifTool{Driver: sarifDriver{
			Name:           "confide vet",
			InformationURI: "https://pkg.go.dev/github.com/confide/confide/vet",
		}},
		OriginalURIBaseIDs: map[string]sarifArtifactID{
			"%SRCROOT%": {URI: (&url.URL{Scheme: "file", Path: filepath.ToSlash(root) + "/"}).String()},
		},
		Results: []sarifResult{},
	}
	index := map[string]int{}
	for i, r := range sarifRules {
		rule := sarifRule{ID: r.id, ShortDescription: sarifMessage{Text: r.text}}
		rule.DefaultConfiguration.Level = "error"
		if r.id == "annotation" {
			rule.DefaultConfiguration.Level = "warning"
		}
		run.Tool.Driver.Rules = append(run.Tool.Driver.Rules, rule)
		index[r.id] = i
	}
	for _, f := range fs {
		i, ok := index[f.Category]
		if !ok {
			i = index["annotation"]
		}
		res := sarifResult{
			RuleID:    sarifRules[i].id,
			RuleIndex: i,
			Level:     run.Tool.Driver.Rules[i].DefaultConfiguration.Level,
			Message:   sarifMessage{Text: f.Message},
		}
		var loc sarifLocation
		if rel, err := filepath.Rel(root, f.File); err == nil && !strings.HasPrefix(rel, "..") {
			loc.PhysicalLocation.ArtifactLocation = sarifArtifactID{URI: filepath.ToSlash(rel), URIBaseID: "%SRCROOT%"}
		} else {
			loc.PhysicalLocation.ArtifactLocation = sarifArtifactID{URI: (&url.URL{Scheme: "file", Path: filepath.ToSlash(f.File)}).String()}
		}
		loc.PhysicalLocation.Region.StartLine = f.Line
		loc.PhysicalLocation.Region.StartColumn = f.Column
		res.Locations = []sarifLocation{loc}
		run.Results = append(run.Results, res)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(sarifLog{
		Schema:  "https://json.schemastore.org/sarif-2.1.0.json",
		Version: "2.1.0",
		Runs:    []sarifRun{run},
	})
}
