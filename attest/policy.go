package attest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/confide/confide/enclave"
)

// PolicyVersion is the only policy version confide reads.
const PolicyVersion = "1.0.0"

// ErrPolicy is wrapped by every appraisal failure, so callers can tell "the
// evidence was fine but not acceptable" from "the evidence was bad".
var ErrPolicy = errors.New("policy not satisfied")

// Policy is an appraisal or key-release policy in the JSON grammar of Azure
// Key Vault secure key release (spec/policy.md):
//
//	{"version": "1.0.0", "anyOf": [ {"claim": "svn", "greaterOrEquals": 2}, … ]}
//
// A node is either a claim condition or a nested anyOf/allOf, optionally
// scoped to an "authority" (the issuer of an attestation token, used by the
// key broker). The zero Policy is invalid; build one with ParsePolicy.
type Policy struct {
	root *node
}

type op string

const (
	opEquals          op = "equals"
	opNotEquals       op = "notEquals"
	opLess            op = "less"
	opLessOrEquals    op = "lessOrEquals"
	opGreater         op = "greater"
	opGreaterOrEquals op = "greaterOrEquals"
	opExists          op = "exists"
)

var ops = []op{opEquals, opNotEquals, opLess, opLessOrEquals, opGreater, opGreaterOrEquals, opExists}

type node struct {
	authority string
	anyOf     []*node // exactly one of anyOf, allOf, claim is set
	allOf     []*node
	claim     string
	op        op
	value     any // string, float64 or bool
}

// maxPolicyDepth bounds nesting so that a hostile policy cannot exhaust the
// stack; real policies are two or three levels deep.
const maxPolicyDepth = 32

// ParsePolicy reads a policy. It fails closed: unknown fields, operators,
// versions, empty lists and wrongly typed values are errors.
func ParsePolicy(b []byte) (*Policy, error) {
	var raw map[string]json.RawMessage
	if err := strictUnmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	v, ok := raw["version"]
	if !ok {
		return nil, errors.New(`policy: missing "version"`)
	}
	var version string
	if err := json.Unmarshal(v, &version); err != nil || version != PolicyVersion {
		return nil, fmt.Errorf("policy: version must be %q", PolicyVersion)
	}
	delete(raw, "version")
	root, err := parseNode(raw, 0, true)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	if root.claim != "" {
		return nil, errors.New(`policy: top level must be "anyOf" or "allOf"`)
	}
	return &Policy{root: root}, nil
}

func strictUnmarshal(b []byte, v any) error {
	if err := noDuplicateKeys(b); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after JSON value")
	}
	return nil
}

func parseNode(raw map[string]json.RawMessage, depth int, top bool) (*node, error) {
	if depth > maxPolicyDepth {
		return nil, errors.New("nested too deeply")
	}
	n := &node{}
	if a, ok := raw["authority"]; ok {
		if err := json.Unmarshal(a, &n.authority); err != nil || n.authority == "" {
			return nil, errors.New(`"authority" must be a non-empty string`)
		}
		delete(raw, "authority")
	}
	var kinds []string
	for k := range raw {
		kinds = append(kinds, k)
	}
	switch {
	case has(raw, "anyOf") || has(raw, "allOf"):
		if len(raw) != 1 {
			return nil, fmt.Errorf("a group takes exactly one of anyOf/allOf, got %s", strings.Join(kinds, ", "))
		}
		key := "anyOf"
		if has(raw, "allOf") {
			key = "allOf"
		}
		var items []map[string]json.RawMessage
		if err := strictUnmarshal(raw[key], &items); err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		if len(items) == 0 {
			return nil, fmt.Errorf("%s is empty", key)
		}
		list := make([]*node, 0, len(items))
		for i, it := range items {
			if it == nil {
				return nil, fmt.Errorf("%s[%d] is null", key, i)
			}
			c, err := parseNode(it, depth+1, false)
			if err != nil {
				return nil, fmt.Errorf("%s[%d]: %w", key, i, err)
			}
			list = append(list, c)
		}
		if key == "anyOf" {
			n.anyOf = list
		} else {
			n.allOf = list
		}
		return n, nil
	case has(raw, "claim"):
		if top {
			return nil, errors.New(`top level must be "anyOf" or "allOf"`)
		}
		if n.authority != "" {
			return nil, errors.New(`"authority" belongs on a group, not a condition`)
		}
		if err := json.Unmarshal(raw["claim"], &n.claim); err != nil || n.claim == "" {
			return nil, errors.New(`"claim" must be a non-empty string`)
		}
		delete(raw, "claim")
		if len(raw) != 1 {
			return nil, fmt.Errorf("condition on %q needs exactly one operator", n.claim)
		}
		for k, v := range raw {
			n.op = op(k)
			val, err := parseValue(v)
			if err != nil {
				return nil, fmt.Errorf("condition on %q: %w", n.claim, err)
			}
			n.value = val
		}
		switch n.op {
		case opEquals, opNotEquals:
		case opLess, opLessOrEquals, opGreater, opGreaterOrEquals:
			if _, ok := n.value.(float64); !ok {
				return nil, fmt.Errorf("condition on %q: %s takes a number", n.claim, n.op)
			}
		case opExists:
			if _, ok := n.value.(bool); !ok {
				return nil, fmt.Errorf("condition on %q: exists takes true or false", n.claim)
			}
		default:
			return nil, fmt.Errorf("condition on %q: unknown operator %q (want one of %v)", n.claim, string(n.op), ops)
		}
		return n, nil
	}
	return nil, fmt.Errorf("expected anyOf, allOf or claim, got %s", strings.Join(kinds, ", "))
}

func has(m map[string]json.RawMessage, k string) bool { _, ok := m[k]; return ok }

func parseValue(raw json.RawMessage) (any, error) {
	var v any
	if err := strictUnmarshal(raw, &v); err != nil {
		return nil, err
	}
	switch x := v.(type) {
	case string, bool:
		return x, nil
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return nil, err
		}
		return f, nil
	}
	return nil, errors.New("value must be a string, number or boolean")
}

// Input is what a policy is evaluated against: claims by name, and the
// authority (token issuer) that vouched for them, empty for evidence
// verified locally.
type Input struct {
	Claims    map[string]any
	Authority string
}

// Evaluate appraises the input. Simulated evidence (claim platform = "sim")
// passes only if the conditions that make the policy pass include
// {"claim": "platform", "equals": "sim"}: a policy must opt in to
// simulation explicitly, so no production policy is ever satisfied by it.
func (p *Policy) Evaluate(in Input) error {
	if p == nil || p.root == nil {
		return fmt.Errorf("%w: no policy", ErrPolicy)
	}
	ok, sim := p.root.eval(in)
	if !ok {
		return fmt.Errorf("%w: %s", ErrPolicy, p.root.explain(in))
	}
	if in.Claims["platform"] == enclave.PlatformSim && !sim {
		return fmt.Errorf("%w: simulated evidence needs a condition {\"claim\": \"platform\", \"equals\": \"sim\"}", ErrPolicy)
	}
	return nil
}

// EvaluateClaims appraises locally verified claims.
func (p *Policy) EvaluateClaims(c enclave.Claims) error {
	return p.Evaluate(Input{Claims: c.Map()})
}

// eval returns whether the node passes and whether some derivation of that
// pass includes the platform = sim condition.
func (n *node) eval(in Input) (pass, sim bool) {
	if n.authority != "" && n.authority != in.Authority {
		return false, false
	}
	switch {
	case n.anyOf != nil:
		for _, c := range n.anyOf {
			p, s := c.eval(in)
			pass = pass || p
			sim = sim || (p && s)
		}
		return pass, sim
	case n.allOf != nil:
		for _, c := range n.allOf {
			p, s := c.eval(in)
			if !p {
				return false, false
			}
			sim = sim || s
		}
		return true, sim
	}
	v, present := in.Claims[n.claim]
	switch n.op {
	case opExists:
		return present == n.value.(bool), false
	case opEquals:
		ok := present && v == n.value
		return ok, ok && n.claim == "platform" && n.value == enclave.PlatformSim
	case opNotEquals:
		return present && v != n.value, false
	}
	got, isNum := v.(float64)
	want := n.value.(float64)
	if !present || !isNum {
		return false, false
	}
	switch n.op {
	case opLess:
		return got < want, false
	case opLessOrEquals:
		return got <= want, false
	case opGreater:
		return got > want, false
	default:
		return got >= want, false
	}
}

// explain says why a node that failed, failed: the conditions that do not
// hold, with the value presented (claims are the caller's own), not the
// value wanted (a policy need not be published to be enforced).
func (n *node) explain(in Input) string {
	if n.authority != "" && n.authority != in.Authority {
		return fmt.Sprintf("the claims are not vouched for by the authority the policy names (issuer %q)", in.Authority)
	}
	switch {
	case n.anyOf != nil:
		var why []string
		for i, c := range n.anyOf {
			if i == 3 {
				why = append(why, fmt.Sprintf("and %d more", len(n.anyOf)-3))
				break
			}
			why = append(why, c.explain(in))
		}
		if len(n.anyOf) == 1 {
			return why[0]
		}
		return fmt.Sprintf("none of %d alternatives holds (%s)", len(n.anyOf), strings.Join(why, "; "))
	case n.allOf != nil:
		for _, c := range n.allOf {
			if p, _ := c.eval(in); !p {
				return c.explain(in)
			}
		}
		return "all conditions hold"
	}
	v, present := in.Claims[n.claim]
	if !present {
		return fmt.Sprintf("claim %q is absent", n.claim)
	}
	if s, ok := v.(string); ok && len(s) > 80 {
		v = s[:80] + "…"
	}
	return fmt.Sprintf("claim %q is %v, which fails %s", n.claim, v, n.op)
}

// noDuplicateKeys rejects JSON objects that repeat a member name:
// encoding/json keeps the last, so {"allOf":[A],"allOf":[B]} would
// silently mean allOf [B].
func noDuplicateKeys(b []byte) error {
	type frame struct {
		seen  map[string]bool
		isObj bool
		key   bool // the next token in this object is a member name
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.isObj && top.key {
			name, ok := tok.(string)
			if ok {
				if top.seen[name] {
					return fmt.Errorf("duplicate member %q", name)
				}
				top.seen[name] = true
				top.key = false
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{seen: map[string]bool{}, isObj: true, key: true})
			continue
		case json.Delim('['):
			stack = append(stack, &frame{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		// A complete value ends: the enclosing object expects a name next.
		if len(stack) > 0 && stack[len(stack)-1].isObj {
			stack[len(stack)-1].key = true
		}
	}
}
