package attest_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/confide/confide/attest"
	"github.com/confide/confide/enclave"
)

func claims(platform string, svn uint16, debug bool) map[string]any {
	c := enclave.Claims{Identity: enclave.Identity{Platform: platform, UniqueID: []byte{0xab}, ConfigID: []byte{0xcd},
		SignerID: []byte{0xef}, ProductID: 7, SVN: svn, Debug: debug, TCBStatus: enclave.TCBUpToDate}}
	return c.Map()
}

func TestPolicyEvaluate(t *testing.T) {
	cases := []struct {
		name   string
		policy string
		claims map[string]any
		ok     bool
	}{
		{"equals string", `{"version":"1.0.0","allOf":[{"claim":"unique_id","equals":"ab"}]}`, claims("snp", 1, false), true},
		{"equals wrong", `{"version":"1.0.0","allOf":[{"claim":"unique_id","equals":"ac"}]}`, claims("snp", 1, false), false},
		{"equals number", `{"version":"1.0.0","allOf":[{"claim":"product_id","equals":7}]}`, claims("snp", 1, false), true},
		{"number is not string", `{"version":"1.0.0","allOf":[{"claim":"product_id","equals":"7"}]}`, claims("snp", 1, false), false},
		{"bool", `{"version":"1.0.0","allOf":[{"claim":"debug","equals":false}]}`, claims("snp", 1, false), true},
		{"debug in production", `{"version":"1.0.0","allOf":[{"claim":"debug","equals":false}]}`, claims("snp", 1, true), false},
		{"notEquals", `{"version":"1.0.0","allOf":[{"claim":"tcb_status","notEquals":"Revoked"}]}`, claims("tdx", 1, false), true},
		{"notEquals missing claim", `{"version":"1.0.0","allOf":[{"claim":"nope","notEquals":"x"}]}`, claims("tdx", 1, false), false},
		{"greaterOrEquals", `{"version":"1.0.0","allOf":[{"claim":"svn","greaterOrEquals":2}]}`, claims("snp", 2, false), true},
		{"greaterOrEquals below", `{"version":"1.0.0","allOf":[{"claim":"svn","greaterOrEquals":2}]}`, claims("snp", 1, false), false},
		{"greater", `{"version":"1.0.0","allOf":[{"claim":"svn","greater":2}]}`, claims("snp", 2, false), false},
		{"less", `{"version":"1.0.0","allOf":[{"claim":"svn","less":3}]}`, claims("snp", 2, false), true},
		{"lessOrEquals", `{"version":"1.0.0","allOf":[{"claim":"svn","lessOrEquals":1}]}`, claims("snp", 2, false), false},
		{"compare string claim", `{"version":"1.0.0","allOf":[{"claim":"platform","greater":1}]}`, claims("snp", 2, false), false},
		{"exists", `{"version":"1.0.0","allOf":[{"claim":"svn","exists":true}]}`, claims("snp", 2, false), true},
		{"not exists", `{"version":"1.0.0","allOf":[{"claim":"x-ms-foo","exists":false}]}`, claims("snp", 2, false), true},
		{"anyOf", `{"version":"1.0.0","anyOf":[{"claim":"svn","equals":9},{"claim":"svn","equals":2}]}`, claims("snp", 2, false), true},
		{"anyOf none", `{"version":"1.0.0","anyOf":[{"claim":"svn","equals":9},{"claim":"svn","equals":8}]}`, claims("snp", 2, false), false},
		{"allOf one fails", `{"version":"1.0.0","allOf":[{"claim":"svn","equals":2},{"claim":"debug","equals":true}]}`, claims("snp", 2, false), false},
		{"nested", `{"version":"1.0.0","allOf":[{"anyOf":[{"claim":"svn","equals":1},{"claim":"svn","equals":2}]},{"claim":"debug","equals":false}]}`, claims("snp", 2, false), true},
		{"authority absent", `{"version":"1.0.0","anyOf":[{"authority":"https://as","allOf":[{"claim":"svn","equals":2}]}]}`, claims("snp", 2, false), false},

		{"sim without opt-in", `{"version":"1.0.0","allOf":[{"claim":"svn","equals":0}]}`, claims("sim", 0, true), false},
		{"sim opt-in", `{"version":"1.0.0","allOf":[{"claim":"platform","equals":"sim"},{"claim":"svn","equals":0}]}`, claims("sim", 0, true), true},
		{"sim opt-in on the branch that failed", `{"version":"1.0.0","anyOf":[{"allOf":[{"claim":"platform","equals":"sim"},{"claim":"svn","equals":5}]},{"claim":"svn","equals":0}]}`, claims("sim", 0, true), false},
		{"sim opt-in on a passing branch", `{"version":"1.0.0","anyOf":[{"claim":"svn","equals":0},{"claim":"platform","equals":"sim"}]}`, claims("sim", 0, true), true},
		{"sim notEquals is no opt-in", `{"version":"1.0.0","allOf":[{"claim":"platform","notEquals":"snp"}]}`, claims("sim", 0, true), false},
		{"sim production policy", `{"version":"1.0.0","allOf":[{"claim":"platform","equals":"sim"},{"claim":"debug","equals":false}]}`, claims("sim", 0, true), false},
	}
	for _, c := range cases {
		p, err := attest.ParsePolicy([]byte(c.policy))
		if err != nil {
			t.Errorf("%s: parse: %v", c.name, err)
			continue
		}
		err = p.Evaluate(attest.Input{Claims: c.claims})
		if c.ok != (err == nil) {
			t.Errorf("%s: got %v, want ok=%v", c.name, err, c.ok)
		}
		if err != nil && !errors.Is(err, attest.ErrPolicy) {
			t.Errorf("%s: error %v does not wrap ErrPolicy", c.name, err)
		}
	}
}

func TestPolicyAuthority(t *testing.T) {
	p, err := attest.ParsePolicy([]byte(`{"version":"1.0.0","anyOf":[{"authority":"https://as.example","allOf":[{"claim":"svn","equals":2}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Evaluate(attest.Input{Claims: claims("snp", 2, false), Authority: "https://as.example"}); err != nil {
		t.Error(err)
	}
	if err := p.Evaluate(attest.Input{Claims: claims("snp", 2, false), Authority: "https://evil.example"}); err == nil {
		t.Error("wrong authority accepted")
	}
}

func TestPolicyParseErrors(t *testing.T) {
	for name, in := range map[string]string{
		"no version":          `{"allOf":[{"claim":"svn","equals":1}]}`,
		"wrong version":       `{"version":"2.0.0","allOf":[{"claim":"svn","equals":1}]}`,
		"top-level claim":     `{"version":"1.0.0","claim":"svn","equals":1}`,
		"empty anyOf":         `{"version":"1.0.0","anyOf":[]}`,
		"both groups":         `{"version":"1.0.0","anyOf":[{"claim":"a","equals":1}],"allOf":[{"claim":"a","equals":1}]}`,
		"unknown operator":    `{"version":"1.0.0","allOf":[{"claim":"svn","matches":"x"}]}`,
		"two operators":       `{"version":"1.0.0","allOf":[{"claim":"svn","equals":1,"less":2}]}`,
		"no operator":         `{"version":"1.0.0","allOf":[{"claim":"svn"}]}`,
		"unknown field":       `{"version":"1.0.0","allOf":[{"claim":"svn","equals":1}],"comment":"x"}`,
		"number op on string": `{"version":"1.0.0","allOf":[{"claim":"svn","greater":"1"}]}`,
		"exists not bool":     `{"version":"1.0.0","allOf":[{"claim":"svn","exists":1}]}`,
		"null value":          `{"version":"1.0.0","allOf":[{"claim":"svn","equals":null}]}`,
		"object value":        `{"version":"1.0.0","allOf":[{"claim":"svn","equals":{}}]}`,
		"null item":           `{"version":"1.0.0","allOf":[null]}`,
		"empty claim":         `{"version":"1.0.0","allOf":[{"claim":"","equals":1}]}`,
		"authority on claim":  `{"version":"1.0.0","allOf":[{"authority":"x","claim":"svn","equals":1}]}`,
		"trailing":            `{"version":"1.0.0","allOf":[{"claim":"svn","equals":1}]} {}`,
		"not json":            `version: 1.0.0`,
		"too deep":            `{"version":"1.0.0","allOf":[` + strings.Repeat(`{"allOf":[`, 40) + `{"claim":"a","equals":1}` + strings.Repeat(`]}`, 40) + `]}`,
	} {
		if _, err := attest.ParsePolicy([]byte(in)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func FuzzParsePolicy(f *testing.F) {
	f.Add([]byte(`{"version":"1.0.0","anyOf":[{"authority":"https://as","allOf":[{"claim":"svn","greaterOrEquals":2},{"claim":"debug","equals":false}]}]}`))
	f.Add([]byte(`{"version":"1.0.0","allOf":[{"claim":"platform","equals":"sim"},{"claim":"x","exists":false}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := attest.ParsePolicy(b)
		if err != nil {
			return
		}
		// Whatever parses evaluates without panicking, and never admits
		// simulated evidence without the opt-in.
		for _, c := range []map[string]any{claims("sim", 0, true), claims("snp", 3, false), {}} {
			err := p.Evaluate(attest.Input{Claims: c, Authority: "https://as"})
			if err == nil && c["platform"] == "sim" && !strings.Contains(string(b), `"sim"`) {
				t.Fatalf("sim evidence passed %s", b)
			}
		}
	})
}

func TestPolicyDuplicateMembers(t *testing.T) {
	for _, in := range []string{
		`{"version":"1.0.0","allOf":[{"claim":"svn","equals":1}],"allOf":[{"claim":"svn","equals":2}]}`,
		`{"version":"1.0.0","version":"1.0.0","allOf":[{"claim":"svn","equals":1}]}`,
		`{"version":"1.0.0","allOf":[{"claim":"svn","claim":"debug","equals":true}]}`,
		`{"version":"1.0.0","anyOf":[{"allOf":[{"claim":"a","equals":1,"equals":2}]}]}`,
	} {
		if _, err := attest.ParsePolicy([]byte(in)); err == nil || !strings.Contains(err.Error(), "duplicate") {
			t.Errorf("%s: %v", in, err)
		}
	}
	// The same name in sibling objects is fine.
	if _, err := attest.ParsePolicy([]byte(`{"version":"1.0.0","allOf":[{"claim":"a","equals":1},{"claim":"b","equals":{"x":1}}]}`)); err == nil || strings.Contains(err.Error(), "duplicate") {
		t.Errorf("siblings: %v", err)
	}
	if _, err := attest.ParsePolicy([]byte(`{"version":"1.0.0","allOf":[{"claim":"a","equals":1},{"claim":"b","equals":2}]}`)); err != nil {
		t.Error(err)
	}
}

func TestPolicyExplains(t *testing.T) {
	p, err := attest.ParsePolicy([]byte(`{"version":"1.0.0","anyOf":[{"authority":"https://as","allOf":[
		{"claim":"platform","equals":"sim"},{"claim":"svn","greaterOrEquals":3},{"claim":"runtime.job","equals":"x"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		in   attest.Input
		want string
	}{
		{attest.Input{Claims: map[string]any{"platform": "sim", "svn": 1.0}, Authority: "https://as"}, `claim "svn" is 1, which fails greaterOrEquals`},
		{attest.Input{Claims: map[string]any{"platform": "sim", "svn": 3.0}, Authority: "https://as"}, `claim "runtime.job" is absent`},
		{attest.Input{Claims: map[string]any{"platform": "sim", "svn": 3.0}, Authority: "https://other"}, `not vouched for by the authority`},
	} {
		err := p.Evaluate(c.in)
		if !errors.Is(err, attest.ErrPolicy) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.in, err, c.want)
		}
	}
}
