package gbdt

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestDefaults(t *testing.T) {
	p := Defaults()
	want := Params{Objective: RegSquaredError, Rounds: 10, MaxDepth: 6, LearningRate: 0.3, Lambda: 1,
		MinChildWeight: 1, MaxBins: 256, BaseScore: 0.5}
	if p != want {
		t.Errorf("Defaults() = %+v, want %+v", p, want)
	}
	if err := p.Validate(); err != nil {
		t.Errorf("Defaults().Validate() = %v", err)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Params)
		want   string // "" for valid
	}{
		{"binary", func(p *Params) { p.Objective = BinaryLogistic }, ""},
		{"alpha", func(p *Params) { p.Alpha = 0.5 }, ""},
		{"zero lambda", func(p *Params) { p.Lambda = 0; p.MinChildWeight = 0 }, ""},
		{"two bins", func(p *Params) { p.MaxBins = 2 }, ""},
		{"threads", func(p *Params) { p.Threads = 3 }, ""},
		{"regression base score", func(p *Params) { p.BaseScore = -7 }, ""},
		{"objective", func(p *Params) { p.Objective = "multi:softmax" }, `objective "multi:softmax" is not supported`},
		{"empty objective", func(p *Params) { p.Objective = "" }, `objective "" is not supported`},
		{"rounds", func(p *Params) { p.Rounds = 0 }, "Rounds is 0"},
		{"depth", func(p *Params) { p.MaxDepth = 0 }, "MaxDepth is 0"},
		{"one bin", func(p *Params) { p.MaxBins = 1 }, "MaxBins is 1"},
		{"too many bins", func(p *Params) { p.MaxBins = 257 }, "MaxBins is 257; it must be from 2 to 256"},
		{"threads negative", func(p *Params) { p.Threads = -1 }, "Threads is -1"},
		{"eta zero", func(p *Params) { p.LearningRate = 0 }, "LearningRate is 0; it must be more than 0"},
		{"eta NaN", func(p *Params) { p.LearningRate = math.NaN() }, "LearningRate is NaN"},
		{"lambda negative", func(p *Params) { p.Lambda = -1 }, "Lambda is -1; it must not be negative"},
		{"lambda huge", func(p *Params) { p.Lambda = 1e39 }, "Lambda is 1e+39; it must be a finite float32"},
		{"alpha negative", func(p *Params) { p.Alpha = -0.1 }, "Alpha is -0.1"},
		{"min child weight", func(p *Params) { p.MinChildWeight = math.Inf(1) }, "MinChildWeight is +Inf"},
		{"gamma", func(p *Params) { p.Gamma = -1 }, "Gamma is -1"},
		{"base score inf", func(p *Params) { p.BaseScore = math.Inf(-1) }, "BaseScore is -Inf"},
		{"base score 0 binary", func(p *Params) { p.Objective = BinaryLogistic; p.BaseScore = 0 }, "strictly between 0 and 1"},
		{"base score 1 binary", func(p *Params) { p.Objective = BinaryLogistic; p.BaseScore = 1 }, "strictly between 0 and 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := Defaults()
			tc.change(&p)
			err := p.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrParams) {
				t.Fatalf("Validate() = %v, want an ErrParams containing %q", err, tc.want)
			}
		})
	}
}
