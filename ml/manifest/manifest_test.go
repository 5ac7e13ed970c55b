package manifest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/confide/confide/ml/party"
)

const policy = `{"version":"1.0.0","allOf":[{"claim":"unique_id","equals":"00"}]}`

func parties(t *testing.T, n int) []*party.Keys {
	var ks []*party.Keys
	for i := range n {
		k, err := party.Generate(fmt.Sprintf("h%d", i+1))
		if err != nil {
			t.Fatal(err)
		}
		ks = append(ks, k)
	}
	return ks
}

func doc(ks []*party.Keys, edit func(m map[string]any)) []byte {
	var ps []any
	for i, k := range ks {
		pub := k.Public()
		ps = append(ps, map[string]any{"name": pub.Name, "signing_key": pub.SigningKey, "output_key": pub.OutputKey,
			"data": map[string]any{"sha256": strings.Repeat(fmt.Sprintf("%02x", i+1), 32), "bytes": 1000}})
	}
	m := map[string]any{
		"version": 1, "job": "hospitals", "parties": ps,
		"trainer":   map[string]any{"policy": json.RawMessage(policy), "allow_simulation": true},
		"schema":    map[string]any{"features": []string{"a", "b"}, "label": "y"},
		"algorithm": map[string]any{"name": "gbdt", "params": map[string]any{"objective": "binary:logistic", "num_boost_round": 10, "max_depth": 3, "eta": 0.3, "lambda": 1, "alpha": 0, "min_child_weight": 1, "gamma": 0, "max_bin": 256, "base_score": 0.5}},
		"holdout":   0.2, "seed": 1,
		"output": map[string]any{"recipients": []string{"h1", "h2"}, "release": true},
	}
	if edit != nil {
		edit(m)
	}
	b, _ := json.MarshalIndent(m, "", "  ")
	return b
}

func TestSignVerify(t *testing.T) {
	ks := parties(t, 3)
	b := doc(ks, nil)
	m, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := m.GBDT(); err != nil || p.Rounds != 10 || p.MaxDepth != 3 {
		t.Fatalf("gbdt params %+v %v", p, err)
	}
	var sigs Signatures
	for _, k := range ks[:2] {
		if err := Sign(b, &sigs, k.Name, k.Sign); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Verify(b, &sigs); !errors.Is(err, ErrUnsigned) || !strings.Contains(err.Error(), "party h3 has not signed") {
		t.Fatalf("two of three signatures: %v", err)
	}
	if err := Sign(b, &sigs, "h3", ks[0].Sign); err == nil {
		t.Fatal("signed as h3 with h1's key")
	}
	if err := Sign(b, &sigs, "h3", ks[2].Sign); err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(b, &sigs); err != nil {
		t.Fatal(err)
	}
	// A stranger's signature, a forged one, a changed manifest.
	_, stranger, _ := ed25519.GenerateKey(rand.Reader)
	extra := sigs
	extra.Signatures = append(append([]Signature{}, sigs.Signatures...), Signature{Party: "eve", Sig: "AAAA"})
	if _, err := Verify(b, &extra); err == nil || !strings.Contains(err.Error(), `"eve", who is not a party`) {
		t.Errorf("a stranger's signature: %v", err)
	}
	forged := sigs
	forged.Signatures = append([]Signature{}, sigs.Signatures...)
	forged.Signatures[1].Sig = signatureBy(stranger, b)
	if _, err := Verify(b, &forged); err == nil || !strings.Contains(err.Error(), "does not verify") {
		t.Errorf("a forged signature: %v", err)
	}
	// Party by party, as the console shows them.
	forged.Signatures = forged.Signatures[:2]
	forged.Signatures = append(forged.Signatures, Signature{Party: "eve", Sig: "AAAA"})
	_, st, err := SignatureStatus(b, &forged)
	want := []PartySignature{{"h1", SigValid}, {"h2", SigInvalid}, {"eve", SigNotAParty}, {"h3", SigMissing}}
	if err != nil || fmt.Sprint(st) != fmt.Sprint(want) {
		t.Errorf("statuses %v, %v", st, err)
	}
	changed := []byte(strings.Replace(string(b), `"num_boost_round": 10`, `"num_boost_round": 11`, 1))
	if _, err := Verify(changed, &sigs); err == nil || !strings.Contains(err.Error(), "not this one") {
		t.Errorf("a changed manifest: %v", err)
	}
}

func signatureBy(k ed25519.PrivateKey, b []byte) string {
	return b64(ed25519.Sign(k, signedMessage(Hash(b))))
}

func TestInvalid(t *testing.T) {
	ks := parties(t, 2)
	for name, c := range map[string]struct {
		edit func(m map[string]any)
		want string
	}{
		"version":         {func(m map[string]any) { m["version"] = 2 }, "version 2"},
		"unknown field":   {func(m map[string]any) { m["extra"] = 1 }, "unknown field"},
		"job name":        {func(m map[string]any) { m["job"] = "a b" }, "job name"},
		"duplicate party": {func(m map[string]any) { ps := m["parties"].([]any); m["parties"] = append(ps, ps[0]) }, "listed twice"},
		"bad signing key": {func(m map[string]any) { m["parties"].([]any)[0].(map[string]any)["signing_key"] = "AAAA" }, "signing_key"},
		"bad hash": {func(m map[string]any) {
			m["parties"].([]any)[0].(map[string]any)["data"] = map[string]any{"sha256": "zz", "bytes": 1}
		}, "64 hex"},
		"same file": {func(m map[string]any) {
			m["parties"].([]any)[1].(map[string]any)["data"] = m["parties"].([]any)[0].(map[string]any)["data"]
		}, "same data file"},
		"bad policy":       {func(m map[string]any) { m["trainer"] = map[string]any{"policy": map[string]any{"version": "9"}} }, "trainer policy"},
		"no features":      {func(m map[string]any) { m["schema"] = map[string]any{"features": []string{}, "label": "y"} }, "no features"},
		"label a feature":  {func(m map[string]any) { m["schema"] = map[string]any{"features": []string{"a", "y"}, "label": "y"} }, "repeated"},
		"unknown algo":     {func(m map[string]any) { m["algorithm"] = map[string]any{"name": "svm", "params": map[string]any{}} }, `"svm"`},
		"missing param":    {func(m map[string]any) { delete(m["algorithm"].(map[string]any)["params"].(map[string]any), "eta") }, `"eta" is missing`},
		"unknown param":    {func(m map[string]any) { m["algorithm"].(map[string]any)["params"].(map[string]any)["nthread"] = 2 }, `unknown "nthread"`},
		"bad param":        {func(m map[string]any) { m["algorithm"].(map[string]any)["params"].(map[string]any)["max_depth"] = 0 }, "MaxDepth"},
		"no label":         {func(m map[string]any) { m["schema"] = map[string]any{"features": []string{"a"}} }, "needs a label"},
		"holdout":          {func(m map[string]any) { m["holdout"] = 0.9 }, "holdout"},
		"stranger output":  {func(m map[string]any) { m["output"] = map[string]any{"recipients": []string{"eve"}, "release": true} }, `"eve" is not a party`},
		"released to none": {func(m map[string]any) { m["output"] = map[string]any{"recipients": []string{}, "release": true} }, "to nobody"},
	} {
		_, err := Parse(doc(ks, c.edit))
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v (want %q)", name, err, c.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	k1, _ := party.Generate("h1")
	f.Add(doc([]*party.Keys{k1}, nil))
	f.Add([]byte(`{"version":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err != nil {
			return
		}
		// A manifest that parses has what a trainer needs.
		if len(m.Parties) == 0 || len(m.Schema.Features) == 0 {
			t.Fatal("an empty manifest parsed")
		}
		for _, p := range m.Parties {
			if _, err := p.OutputPublicKey(); err != nil {
				t.Fatal(err)
			}
		}
	})
}
