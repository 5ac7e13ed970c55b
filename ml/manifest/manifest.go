// Package manifest is the multi-party training job's manifest
// (spec/ml-manifest.md): who the parties are (a signing key and an output
// key each), which code may train (an attestation policy), each party's
// encrypted data set by its hash, the common schema, the algorithm with
// every hyperparameter, and who receives the model. Every party signs the
// manifest's exact bytes; a trainer runs a job only when every listed
// party has signed and nobody else has, and key release policies name the
// manifest's hash, so a key released for one job serves no other.
package manifest

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"github.com/confide/confide/attest"
	"github.com/confide/confide/ml/gbdt"
	"github.com/confide/confide/ml/kmeans"
	"github.com/confide/confide/ml/logreg"
)

// Version is the manifest format's.
const Version = 1

// Manifest is a job.
type Manifest struct {
	Version   int       `json:"version"`
	Job       string    `json:"job"`
	Parties   []Party   `json:"parties"`
	Trainer   Trainer   `json:"trainer"`
	Schema    Schema    `json:"schema"`
	Algorithm Algorithm `json:"algorithm"`
	// Holdout is the fraction of each party's rows kept out of training
	// to measure the model (the report's metrics); Seed draws them.
	Holdout float64 `json:"holdout"`
	Seed    uint64  `json:"seed"`
	Output  Output  `json:"output"`
}

// Party is one data owner.
type Party struct {
	Name string `json:"name"`
	// SigningKey is the party's Ed25519 public key (base64), which
	// signs the manifest and its requests.
	SigningKey string `json:"signing_key"`
	// OutputKey is the party's X25519 public key (base64), to which the
	// trainer encrypts the model and the report (HPKE).
	OutputKey string  `json:"output_key"`
	Data      DataRef `json:"data"`
}

// DataRef names a party's encrypted data set (spec/ml-data.md).
type DataRef struct {
	SHA256 string `json:"sha256"` // of the whole encrypted file
	Bytes  int64  `json:"bytes"`  // its size: public anyway
}

// Trainer is the code allowed to train: an attestation policy in the
// platform's grammar (spec/policy.md), and whether simulated evidence is
// acceptable (never for production data).
type Trainer struct {
	Policy          json.RawMessage `json:"policy"`
	AllowSimulation bool            `json:"allow_simulation"`
}

// Schema is the columns every party's table has.
type Schema struct {
	Features []string `json:"features"`
	Label    string   `json:"label,omitempty"`
}

// Algorithm is what to train, every hyperparameter spelled out.
type Algorithm struct {
	Name   string          `json:"name"` // gbdt, logreg, kmeans
	Params json.RawMessage `json:"params"`
	// Oblivious trains (and, for a model kept inside, predicts) with the
	// data-oblivious trainers of package ml/obl; iteration counts are
	// then exact.
	Oblivious bool `json:"oblivious,omitempty"`
}

// Output says who receives the model. With Release false the model never
// leaves the enclave: parties ask it for predictions, each seeing its own.
type Output struct {
	Recipients []string `json:"recipients"`
	Release    bool     `json:"release"`
}

var namePat = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// ErrInvalid wraps every validation failure.
var ErrInvalid = errors.New("manifest")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Parse reads and validates a manifest's bytes, strictly: unknown fields
// are refused.
func Parse(b []byte) (*Manifest, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, invalid("%v", err)
	}
	if dec.More() {
		return nil, invalid("trailing data after the manifest")
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// Validate checks a manifest's consistency.
func (m *Manifest) Validate() error {
	if m.Version != Version {
		return invalid("version %d (this reader knows %d)", m.Version, Version)
	}
	if !namePat.MatchString(m.Job) {
		return invalid("job name %q: letters, digits, . _ - (at most 64)", m.Job)
	}
	if len(m.Parties) == 0 || len(m.Parties) > 64 {
		return invalid("%d parties (1 to 64)", len(m.Parties))
	}
	names := map[string]bool{}
	hashes := map[string]string{}
	for _, p := range m.Parties {
		if !namePat.MatchString(p.Name) {
			return invalid("party name %q: letters, digits, . _ - (at most 64)", p.Name)
		}
		if names[p.Name] {
			return invalid("party %q listed twice", p.Name)
		}
		names[p.Name] = true
		if _, err := p.signingKey(); err != nil {
			return invalid("party %s: %v", p.Name, err)
		}
		if _, err := p.outputKey(); err != nil {
			return invalid("party %s: %v", p.Name, err)
		}
		if h, err := hex.DecodeString(p.Data.SHA256); err != nil || len(h) != sha256.Size {
			return invalid("party %s: data sha256 %q is not 64 hex digits", p.Name, p.Data.SHA256)
		}
		if other, ok := hashes[p.Data.SHA256]; ok {
			return invalid("parties %s and %s name the same data file", other, p.Name)
		}
		hashes[p.Data.SHA256] = p.Name
		if p.Data.Bytes <= 0 {
			return invalid("party %s: data size %d", p.Name, p.Data.Bytes)
		}
	}
	if len(m.Trainer.Policy) == 0 {
		return invalid("no trainer policy")
	}
	if _, err := attest.ParsePolicy(m.Trainer.Policy); err != nil {
		return invalid("trainer policy: %v", err)
	}
	if len(m.Schema.Features) == 0 {
		return invalid("the schema has no features")
	}
	cols := map[string]bool{}
	for _, c := range append(slices.Clone(m.Schema.Features), m.Schema.Label) {
		if c == "" && c == m.Schema.Label {
			continue
		}
		if c == "" || cols[c] {
			return invalid("schema column %q empty or repeated", c)
		}
		cols[c] = true
	}
	if err := m.checkAlgorithm(); err != nil {
		return err
	}
	if !(m.Holdout >= 0 && m.Holdout <= 0.5) || math.IsNaN(m.Holdout) {
		return invalid("holdout %v: from 0 to 0.5", m.Holdout)
	}
	if len(m.Output.Recipients) == 0 && m.Output.Release {
		return invalid("the model is released but to nobody")
	}
	seen := map[string]bool{}
	for _, r := range m.Output.Recipients {
		if !names[r] {
			return invalid("recipient %q is not a party", r)
		}
		if seen[r] {
			return invalid("recipient %q listed twice", r)
		}
		seen[r] = true
	}
	return nil
}

func strict(raw json.RawMessage, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func (m *Manifest) checkAlgorithm() error {
	if len(m.Algorithm.Params) == 0 {
		return invalid("algorithm %q: no params (spell every hyperparameter out)", m.Algorithm.Name)
	}
	supervised := true
	switch m.Algorithm.Name {
	case "gbdt":
		p, err := m.GBDT()
		if err != nil {
			return err
		}
		if err := p.Validate(); err != nil {
			return invalid("algorithm: %v", err)
		}
	case "logreg":
		p, err := m.LogReg()
		if err != nil {
			return err
		}
		if err := p.Validate(); err != nil {
			return invalid("algorithm: %v", err)
		}
	case "kmeans":
		p, err := m.KMeans()
		if err != nil {
			return err
		}
		if err := p.Validate(math.MaxInt); err != nil {
			return invalid("algorithm: %v", err)
		}
		supervised = false
	default:
		return invalid("algorithm %q: want gbdt, logreg or kmeans", m.Algorithm.Name)
	}
	if supervised && m.Schema.Label == "" {
		return invalid("algorithm %s needs a label column in the schema", m.Algorithm.Name)
	}
	return nil
}

// GBDTParams are the boosted trees' hyperparameters as a manifest spells
// them: XGBoost's names, every one present.
type GBDTParams struct {
	Objective      string  `json:"objective"`
	Rounds         int     `json:"num_boost_round"`
	MaxDepth       int     `json:"max_depth"`
	Eta            float64 `json:"eta"`
	Lambda         float64 `json:"lambda"`
	Alpha          float64 `json:"alpha"`
	MinChildWeight float64 `json:"min_child_weight"`
	Gamma          float64 `json:"gamma"`
	MaxBin         int     `json:"max_bin"`
	BaseScore      float64 `json:"base_score"`
}

// every checks that a params object spells out exactly the given
// members: a manifest leaves nothing to a default that might change.
func every(raw json.RawMessage, v any, what string) error {
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(raw, &keys); err != nil {
		return invalid("%s params: %v", what, err)
	}
	want := map[string]bool{}
	t := reflect.TypeOf(v).Elem()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			want[name] = true
			if _, ok := keys[name]; !ok {
				return invalid("%s params: %q is missing (spell every hyperparameter out)", what, name)
			}
		}
	}
	for k := range keys {
		if !want[k] {
			return invalid("%s params: unknown %q", what, k)
		}
	}
	if err := strict(raw, v); err != nil {
		return invalid("%s params: %v", what, err)
	}
	return nil
}

// GBDT is the boosted trees' hyperparameters.
func (m *Manifest) GBDT() (gbdt.Params, error) {
	var g GBDTParams
	if err := every(m.Algorithm.Params, &g, "gbdt"); err != nil {
		return gbdt.Params{}, err
	}
	p := gbdt.Defaults()
	p.Objective, p.Rounds, p.MaxDepth, p.LearningRate = g.Objective, g.Rounds, g.MaxDepth, g.Eta
	p.Lambda, p.Alpha, p.MinChildWeight, p.Gamma, p.MaxBins, p.BaseScore = g.Lambda, g.Alpha, g.MinChildWeight, g.Gamma, g.MaxBin, g.BaseScore
	return p, nil
}

// GBDTParamsOf spells p out as a manifest does (GBDT's inverse).
func GBDTParamsOf(p gbdt.Params) GBDTParams {
	return GBDTParams{Objective: p.Objective, Rounds: p.Rounds, MaxDepth: p.MaxDepth, Eta: p.LearningRate,
		Lambda: p.Lambda, Alpha: p.Alpha, MinChildWeight: p.MinChildWeight, Gamma: p.Gamma, MaxBin: p.MaxBins, BaseScore: p.BaseScore}
}

// LogReg is logistic regression's hyperparameters.
func (m *Manifest) LogReg() (logreg.Params, error) {
	var p logreg.Params
	return p, every(m.Algorithm.Params, &p, "logreg")
}

// KMeans is k-means' hyperparameters.
func (m *Manifest) KMeans() (kmeans.Params, error) {
	var p kmeans.Params
	return p, every(m.Algorithm.Params, &p, "kmeans")
}

// Party finds a party by name.
func (m *Manifest) Party(name string) (*Party, bool) {
	for i := range m.Parties {
		if m.Parties[i].Name == name {
			return &m.Parties[i], true
		}
	}
	return nil, false
}

func decodeKey(s string, size int, what string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != size {
		return nil, fmt.Errorf("%s is not a base64 key of %d bytes", what, size)
	}
	return b, nil
}

func (p *Party) signingKey() (ed25519.PublicKey, error) {
	b, err := decodeKey(p.SigningKey, ed25519.PublicKeySize, "signing_key (Ed25519)")
	return ed25519.PublicKey(b), err
}

// SigningPublicKey is the party's Ed25519 signing key.
func (p *Party) SigningPublicKey() (ed25519.PublicKey, error) { return p.signingKey() }

// OutputPublicKey is the party's X25519 output key.
func (p *Party) OutputPublicKey() (*ecdh.PublicKey, error) { return p.outputKey() }

func (p *Party) outputKey() (*ecdh.PublicKey, error) {
	b, err := decodeKey(p.OutputKey, 32, "output_key (X25519)")
	if err != nil {
		return nil, err
	}
	return ecdh.X25519().NewPublicKey(b)
}

// Hash is the SHA-256 of a manifest's exact bytes: what parties sign,
// what key release policies and the training report name.
func Hash(b []byte) [32]byte { return sha256.Sum256(b) }

// signedMessage is what a party's signature covers: a context string
// and the manifest's hash.
func signedMessage(hash [32]byte) []byte {
	return append([]byte("confide ml manifest v1\n"), hash[:]...)
}

// Signature is one party's.
type Signature struct {
	Party string `json:"party"`
	Sig   string `json:"sig"` // base64 Ed25519
}

// Signatures is the file of signatures beside a manifest.
type Signatures struct {
	Manifest   string      `json:"manifest_sha256"` // hex
	Signatures []Signature `json:"signatures"`
}

// Sign adds (or replaces) party's signature of the manifest bytes b.
func Sign(b []byte, sigs *Signatures, party string, key ed25519.PrivateKey) error {
	m, err := Parse(b)
	if err != nil {
		return err
	}
	p, ok := m.Party(party)
	if !ok {
		return invalid("%q is not a party of job %s", party, m.Job)
	}
	pub, _ := p.signingKey()
	if !bytes.Equal(key.Public().(ed25519.PublicKey), pub) {
		return invalid("this key is not party %s's signing key in the manifest", party)
	}
	h := Hash(b)
	if sigs.Manifest != "" && sigs.Manifest != hex.EncodeToString(h[:]) {
		return invalid("the signatures file is for another manifest (%s…)", sigs.Manifest[:min(12, len(sigs.Manifest))])
	}
	sigs.Manifest = hex.EncodeToString(h[:])
	s := Signature{Party: party, Sig: base64.StdEncoding.EncodeToString(ed25519.Sign(key, signedMessage(h)))}
	sigs.Signatures = slices.DeleteFunc(sigs.Signatures, func(x Signature) bool { return x.Party == party })
	sigs.Signatures = append(sigs.Signatures, s)
	return nil
}

// ErrUnsigned wraps a manifest's missing, foreign or bad signatures.
var ErrUnsigned = errors.New("manifest signatures")

// Verify parses the manifest bytes b and checks that every party, and
// nobody else, has signed exactly them.
func Verify(b []byte, sigs *Signatures) (*Manifest, error) {
	m, status, err := SignatureStatus(b, sigs)
	if err != nil {
		return nil, err
	}
	for _, st := range status {
		switch st.Status {
		case SigNotAParty:
			return nil, fmt.Errorf("%w: signed by %q, who is not a party", ErrUnsigned, st.Party)
		case SigTwice:
			return nil, fmt.Errorf("%w: party %s signed twice", ErrUnsigned, st.Party)
		case SigInvalid:
			return nil, fmt.Errorf("%w: party %s's signature does not verify", ErrUnsigned, st.Party)
		case SigMissing:
			return nil, fmt.Errorf("%w: party %s has not signed", ErrUnsigned, st.Party)
		}
	}
	return m, nil
}

// Signature statuses (SignatureStatus).
const (
	SigValid     = "valid"
	SigInvalid   = "invalid"
	SigMissing   = "missing"
	SigTwice     = "signed twice"
	SigNotAParty = "not a party"
)

// PartySignature is one party's (or a stranger's) signature status.
type PartySignature struct {
	Party, Status string
}

// SignatureStatus parses the manifest bytes b and reports, for each
// signature in the order given and then for each party that did not
// sign, whether it verifies: what a reviewer (or the console) shows. An
// error means the manifest does not parse or the signatures are for
// another manifest.
func SignatureStatus(b []byte, sigs *Signatures) (*Manifest, []PartySignature, error) {
	m, err := Parse(b)
	if err != nil {
		return nil, nil, err
	}
	h := Hash(b)
	if sigs.Manifest != hex.EncodeToString(h[:]) {
		return nil, nil, fmt.Errorf("%w: the signatures are for manifest %s…, not this one (%s…)", ErrUnsigned, sigs.Manifest[:min(12, len(sigs.Manifest))], hex.EncodeToString(h[:6]))
	}
	var out []PartySignature
	signed := map[string]bool{}
	for _, s := range sigs.Signatures {
		p, ok := m.Party(s.Party)
		switch {
		case !ok:
			out = append(out, PartySignature{s.Party, SigNotAParty})
			continue
		case signed[s.Party]:
			out = append(out, PartySignature{s.Party, SigTwice})
			continue
		}
		sig, err := base64.StdEncoding.DecodeString(s.Sig)
		pub, _ := p.signingKey()
		if err != nil || !ed25519.Verify(pub, signedMessage(h), sig) {
			out = append(out, PartySignature{s.Party, SigInvalid})
			continue
		}
		signed[s.Party] = true
		out = append(out, PartySignature{s.Party, SigValid})
	}
	for _, p := range m.Parties {
		if !signed[p.Name] && !slices.ContainsFunc(out, func(x PartySignature) bool { return x.Party == p.Name }) {
			out = append(out, PartySignature{p.Name, SigMissing})
		}
	}
	return m, out, nil
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
