package attestsvc

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/confide/confide/attestsvc/api"
	"github.com/confide/confide/internal/httpx"
)

func sortPolicies(ps []api.Policy) {
	slices.SortFunc(ps, func(a, b api.Policy) int { return strings.Compare(a.Name, b.Name) })
}

// Handler returns the HTTP API. gatherer serves /metrics (nil: none).
func (s *Service) Handler(gatherer prometheus.Gatherer) http.Handler {
	hs := httpx.NewServer(s.cfg.Log, s.cfg.Registerer, "confide_attest")
	mux := http.NewServeMux()
	route := func(pattern string, h httpx.HandlerFunc) { mux.Handle(pattern, hs.Handle(pattern, h)) }
	route("POST "+api.PathChallenge, func(w http.ResponseWriter, r *http.Request) error {
		c, err := s.Challenge()
		if err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusOK, c)
		return nil
	})
	route("POST "+api.PathAttest, func(w http.ResponseWriter, r *http.Request) error {
		var req api.AttestRequest
		if err := httpx.DecodeJSON(r, api.MaxAttestRequest, &req); err != nil {
			s.attests.WithLabelValues("bad_request").Inc()
			return err
		}
		tok, err := s.Attest(r.Context(), req)
		if err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusOK, api.AttestResponse{Token: tok})
		return nil
	})
	route("POST "+api.PathMigrate, func(w http.ResponseWriter, r *http.Request) error {
		var req api.AttestRequest
		if err := httpx.DecodeJSON(r, api.MaxAttestRequest, &req); err != nil {
			return err
		}
		resp, err := s.Migrate(r.Context(), req)
		if err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusOK, resp)
		return nil
	})
	route("GET "+api.PathCerts, func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Cache-Control", "max-age=60")
		httpx.WriteJSON(w, http.StatusOK, s.issuer.JWKS(s.cfg.Now()))
		return nil
	})
	route("GET "+api.PathPolicies, func(w http.ResponseWriter, r *http.Request) error {
		if _, err := s.cfg.Admins.Admin(r); err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusOK, api.PolicyList{Policies: s.Policies()})
		return nil
	})
	route("GET "+api.PathPolicies+"/{name}", func(w http.ResponseWriter, r *http.Request) error {
		if _, err := s.cfg.Admins.Admin(r); err != nil {
			return err
		}
		p, err := s.Policy(r.PathValue("name"))
		if err != nil {
			return notFound(err)
		}
		httpx.WriteJSON(w, http.StatusOK, p)
		return nil
	})
	route("PUT "+api.PathPolicies+"/{name}", func(w http.ResponseWriter, r *http.Request) error {
		who, err := s.cfg.Admins.Admin(r)
		if err != nil {
			return err
		}
		body, err := httpx.ReadBody(r, api.MaxPolicy)
		if err != nil {
			return err
		}
		p, err := s.PutPolicy(r.PathValue("name"), who.Name, bytes.TrimSpace(body))
		if err != nil {
			return err
		}
		p.Policy = nil
		httpx.WriteJSON(w, http.StatusOK, p)
		return nil
	})
	route("DELETE "+api.PathPolicies+"/{name}", func(w http.ResponseWriter, r *http.Request) error {
		who, err := s.cfg.Admins.Admin(r)
		if err != nil {
			return err
		}
		if err := s.DeletePolicy(r.PathValue("name"), who.Name); err != nil {
			return notFound(err)
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
	route("GET "+api.PathAppraisals, func(w http.ResponseWriter, r *http.Request) error {
		if _, err := s.cfg.Admins.Admin(r); err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusOK, api.AppraisalList{Appraisals: s.Appraisals()})
		return nil
	})
	route("GET "+api.PathAudit, func(w http.ResponseWriter, r *http.Request) error {
		if _, err := s.cfg.Admins.Admin(r); err != nil {
			return err
		}
		return httpx.WriteAudit(w, func(out io.Writer) (uint64, string, error) {
			h, err := s.ExportAudit(out)
			return h.Seq, h.Hash, err
		})
	})
	hs.Common(mux, api.PathHealth, api.PathMetrics, gatherer)
	return mux
}

func notFound(err error) error {
	if errors.Is(err, ErrNoSuchPolicy) {
		return httpx.Errorf(http.StatusNotFound, "no_such_policy", "no such policy")
	}
	return err
}
