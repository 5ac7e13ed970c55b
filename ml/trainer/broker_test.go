package trainer

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/confide/confide/enclave/sim/simtest"
	"github.com/confide/confide/kms/kmstest"
	"github.com/confide/confide/ml/manifest"
)

// TestWithBroker: the parties' keys go to the real key broker under
// release policies naming the trainer's code and the manifest's hash;
// the trainer obtains them by secure key release from the real
// attestation service's tokens. A key is refused to a trainer with
// another measurement, to a simulated trainer under a production
// manifest, and for another manifest — and nothing trains.
func TestWithBroker(t *testing.T) {
	plat := simtest.Start(t)
	w := kmstest.Start(t, plat)
	ctx := context.Background()
	trainerKeys := &BrokerKeys{KMS: w.Anon, AS: w.AS, Attester: plat.Client}
	submit := func(j *job) {
		t.Helper()
		m, err := manifest.Parse(j.manifest)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range j.parties {
			if err := StoreDataKey(ctx, w.Admin, m, manifest.Hash(j.manifest), w.ASURL, k); err != nil {
				t.Fatal(err)
			}
		}
	}
	job := func(name string) func(map[string]any) { return func(m map[string]any) { m["job"] = name } }

	ok := newJob(t, true, job("ok"))
	submit(ok)
	res, err := Run(ctx, ok.manifest, &ok.sigs, trainerKeys, ok.store, plat.Client)
	if err != nil {
		t.Fatal(err)
	}
	if res.Report.Metrics["holdout_accuracy"].(float64) < 0.9 {
		t.Fatalf("report %+v", res.Report)
	}

	for name, c := range map[string]struct {
		edit func(map[string]any)
		want string
	}{
		"another measurement": {func(m map[string]any) {
			m["trainer"] = map[string]any{"policy": json.RawMessage(`{"version":"1.0.0","allOf":[{"claim":"unique_id","equals":"` + strings.Repeat("ab", 32) + `"}]}`), "allow_simulation": true}
		}, `claim "unique_id"`},
		"simulated trainer, production manifest": {func(m map[string]any) {
			m["trainer"] = map[string]any{"policy": json.RawMessage(`{"version":"1.0.0","allOf":[{"claim":"platform","equals":"sim"}]}`), "allow_simulation": false}
		}, `claim "platform" is sim`},
	} {
		j := newJob(t, true, job(strings.ReplaceAll(name, " ", "-")[:12]), c.edit)
		submit(j)
		if _, err := Run(ctx, j.manifest, &j.sigs, trainerKeys, j.store, plat.Client); err == nil || !strings.Contains(err.Error(), "party h1's data key") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v", name, err)
		}
	}

	// The keys submitted for one manifest are not released for another
	// of the same job and parties (here a different holdout seed), even
	// though every party signed both.
	a := newJob(t, true, job("twice"))
	submit(a)
	b := *a // the same parties, files and keys
	var mm map[string]any
	json.Unmarshal(a.manifest, &mm)
	mm["seed"] = 8
	b.manifest, _ = json.MarshalIndent(mm, "", " ")
	b.sigs = manifest.Signatures{}
	for _, k := range a.parties {
		if err := manifest.Sign(b.manifest, &b.sigs, k.Name, k.Sign); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Run(ctx, b.manifest, &b.sigs, trainerKeys, b.store, plat.Client); err == nil || !strings.Contains(err.Error(), "runtime.manifest_sha256") {
		t.Errorf("a key released for another manifest: %v", err)
	}
}
