package trainer

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/go-jose/go-jose/v4"

	attestclient "github.com/confide/confide/attestsvc/client"
	"github.com/confide/confide/enclave"
	"github.com/confide/confide/kms/api"
	kmsclient "github.com/confide/confide/kms/client"
	"github.com/confide/confide/ml/encfile"
	"github.com/confide/confide/ml/manifest"
	"github.com/confide/confide/ml/party"
)

// ReleasePolicy is the release policy of a party's data key for the job
// (spec/ml-manifest.md, "Key release"): tokens from authority, for code
// the manifest's trainer policy accepts, whose runtime data names this
// manifest's hash — and, unless the manifest allows simulation, neither
// simulated nor debug.
func ReleasePolicy(m *manifest.Manifest, hash [32]byte, authority string) (json.RawMessage, error) {
	var root map[string]any
	if err := json.Unmarshal(m.Trainer.Policy, &root); err != nil {
		return nil, fmt.Errorf("trainer policy: %w", err)
	}
	delete(root, "version") // a node of the outer policy now
	conds := []any{root, map[string]any{"claim": "runtime.manifest_sha256", "equals": hex.EncodeToString(hash[:])}}
	if !m.Trainer.AllowSimulation {
		conds = append(conds,
			map[string]any{"claim": "platform", "notEquals": enclave.PlatformSim},
			map[string]any{"claim": "debug", "equals": false})
	}
	return json.Marshal(map[string]any{"version": "1.0.0",
		"anyOf": []any{map[string]any{"authority": authority, "allOf": conds}}})
}

// StoreDataKey puts a party's data key into the key broker, exportable
// only under ReleasePolicy (the party's side of submitting a job).
func StoreDataKey(ctx context.Context, kms *kmsclient.Client, m *manifest.Manifest, hash [32]byte, authority string, k *party.Keys) error {
	pol, err := ReleasePolicy(m, hash, authority)
	if err != nil {
		return err
	}
	jwk, err := jose.JSONWebKey{Key: k.Data}.MarshalJSON()
	if err != nil {
		return err
	}
	_, err = kms.Create(ctx, party.DataKeyID(m.Job, k.Name), api.CreateKey{JWK: jwk, Exportable: true, ReleasePolicy: pol})
	return err
}

// BrokerKeys obtains data keys from the key broker: one secure key
// release per party, with an attestation token whose runtime data
// carries the manifest's hash.
type BrokerKeys struct {
	KMS      *kmsclient.Client
	AS       *attestclient.Client
	Attester enclave.Attester
}

// DataKey releases party's key for this job.
func (b *BrokerKeys) DataKey(ctx context.Context, m *manifest.Manifest, hash [32]byte, name string) ([]byte, error) {
	k, _, err := b.KMS.ReleaseFor(ctx, b.AS, b.Attester, party.DataKeyID(m.Job, name), 0,
		map[string]any{"manifest_sha256": hex.EncodeToString(hash[:])})
	if err != nil {
		return nil, err
	}
	key, ok := k.Key.([]byte)
	if !ok || len(key) != encfile.KeySize {
		return nil, fmt.Errorf("the broker released a %T, not a %d-byte data key", k.Key, encfile.KeySize)
	}
	return key, nil
}
