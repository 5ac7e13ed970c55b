// Package api holds the wire types of the attestation service's HTTP API
// (version 1, under /v1), shared by the service and its clients
// (spec/attestation-service.md).
package api

import "encoding/json"

// Paths.
const (
	PathChallenge  = "/v1/challenge"
	PathAttest     = "/v1/attest"
	PathCerts      = "/v1/certs"
	PathPolicies   = "/v1/policies"
	PathAudit      = "/v1/audit"
	PathMigrate    = "/v1/migrate"
	PathAppraisals = "/v1/appraisals"
	PathHealth     = "/healthz"
	PathMetrics    = "/metrics"
)

// HeaderAuditHead carries "<seq> <hash>" of an exported audit log.
const HeaderAuditHead = "Confide-Audit-Head"

// Limits on request bodies.
const (
	MaxAttestRequest = 2 << 20 // evidence is at most 1 MiB, base64 adds a third
	MaxPolicy        = 64 << 10
	MaxRuntimeData   = 64 << 10
)

// Challenge is the reply to POST /v1/challenge.
type Challenge struct {
	// Nonce is 32 random bytes, hex; it may be used once, before Expires.
	Nonce   string `json:"nonce"`
	Expires string `json:"expires"`
}

// AttestRequest is the body of POST /v1/attest.
type AttestRequest struct {
	// Evidence is a confide evidence envelope, standard base64.
	Evidence string `json:"evidence"`
	// Nonce is a challenge's nonce, hex; the evidence's report data must
	// start with it.
	Nonce string `json:"nonce"`
	// RuntimeData, standard base64, optional: its SHA-256 must be the
	// report data's second half.
	RuntimeData string `json:"runtime_data,omitempty"`
	// Policy names a stored appraisal policy, optional.
	Policy string `json:"policy,omitempty"`
}

// AttestResponse is the reply to POST /v1/attest.
type AttestResponse struct {
	Token string `json:"token"`
}

// MigrateResponse is the reply to POST /v1/migrate, whose body is an
// AttestRequest (without a policy) from the successor service: the
// service's secrets (signing keys and audit key, JSON), a compact JWE to
// the "jwk" in the request's runtime data.
type MigrateResponse struct {
	Secrets string `json:"secrets"`
}

// Appraisal is one recent appraisal (GET /v1/appraisals, admin): when,
// the policy named, the outcome (token, bad_request, nonce, evidence,
// policy, error), the evidence's identity when it verified, the verdict,
// and the reason a refusal gave.
type Appraisal struct {
	Time      string `json:"time"`
	Policy    string `json:"policy,omitempty"`
	Outcome   string `json:"outcome"`
	Platform  string `json:"platform,omitempty"`
	UniqueID  string `json:"unique_id,omitempty"`
	SignerID  string `json:"signer_id,omitempty"`
	ProductID uint16 `json:"product_id,omitempty"`
	SVN       uint16 `json:"svn,omitempty"`
	Debug     bool   `json:"debug,omitempty"`
	TCBStatus string `json:"tcb_status,omitempty"`
	Verdict   string `json:"verdict,omitempty"`
	Reason    string `json:"reason,omitempty"`
}

// AppraisalList is the reply to GET /v1/appraisals.
type AppraisalList struct {
	Appraisals []Appraisal `json:"appraisals"`
}

// Policy is a stored policy version (GET /v1/policies/{name}, and the
// reply to PUT).
type Policy struct {
	Name    string          `json:"name"`
	Version int             `json:"version"`
	SHA256  string          `json:"sha256"`
	Updated string          `json:"updated"`
	By      string          `json:"by"`
	Policy  json.RawMessage `json:"policy,omitempty"`
}

// PolicyList is the reply to GET /v1/policies.
type PolicyList struct {
	Policies []Policy `json:"policies"`
}
