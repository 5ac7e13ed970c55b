package attestsvc

import (
	"errors"
	"sync"
	"time"

	"github.com/confide/confide/attest/token"
	"github.com/confide/confide/attestsvc/api"
	"github.com/confide/confide/internal/httpx"
)

// appraisals keeps the latest appraisals in memory, for administrators
// to see what was attested and why requests were refused (GET
// /v1/appraisals). They are not audited: evidence is appraised far more
// often than policies change, and a refusal is the caller's to retry.
type appraisals struct {
	mu   sync.Mutex
	max  int
	next int
	ring []api.Appraisal
}

// add records one appraisal: the verdict and, for a refusal, the reason
// the caller was given (an httpx error's message, which describes the
// request, never the service's internals).
func (a *appraisals) add(now time.Time, policy, outcome string, c *token.Claims, err error) {
	ap := api.Appraisal{Time: now.UTC().Format(time.RFC3339Nano), Policy: policy, Outcome: outcome}
	if c != nil {
		ap.Platform, ap.UniqueID, ap.SignerID, ap.ProductID, ap.SVN, ap.Debug, ap.TCBStatus =
			c.Platform, c.UniqueID, c.SignerID, c.ProductID, c.SVN, c.Debug, c.TCBStatus
		ap.Verdict = c.Verdict
	}
	var he *httpx.Error
	switch {
	case errors.As(err, &he):
		ap.Reason = he.Message
	case err != nil:
		ap.Reason = "internal error"
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.ring) < a.max {
		a.ring = append(a.ring, ap)
	} else {
		a.ring[a.next] = ap
	}
	a.next = (a.next + 1) % a.max
}

// list returns the appraisals, newest first.
func (a *appraisals) list() []api.Appraisal {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]api.Appraisal, 0, len(a.ring))
	for i := 1; i <= len(a.ring); i++ {
		out = append(out, a.ring[(a.next-i+len(a.ring))%len(a.ring)])
	}
	return out
}

// Appraisals returns the latest appraisals, newest first (at most 256,
// since the service started).
func (s *Service) Appraisals() []api.Appraisal { return s.recent.list() }
