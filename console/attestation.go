package console

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/confide/confide/attest"
	"github.com/confide/confide/attest/token"
	attestclient "github.com/confide/confide/attestsvc/client"
	"github.com/confide/confide/audit"
	"github.com/confide/confide/enclave"
	"github.com/confide/confide/internal/httpx"
)

func (s *Server) attestRoutes(mux *http.ServeMux) {
	if !s.cfg.Attest.configured() {
		return
	}
	mux.Handle("GET /attestation", s.page(s.attestation, true))
	mux.Handle("GET /attestation/policies/{name}", s.page(s.policy, true))
	mux.Handle("POST /attestation/policies/{name}/preview", s.page(s.policyPreview, true))
	mux.Handle("POST /attestation/policies/{name}", s.page(s.policySave, true))
	mux.Handle("POST /attestation/new", s.page(s.policyNew, true))
	mux.Handle("POST /attestation/token", s.page(s.tokenVerify, true))
	mux.Handle("POST /attestation/evidence", s.page(s.evidenceVerify, true))
}

// attestClient talks to the attestation service as the signed-in user.
func (s *Server) attestClient(sess *session) *attestclient.Client {
	c := attestclient.New(s.cfg.Attest.URL, s.cfg.Attest.HTTP)
	if sess != nil {
		c.Bearer = sess.token
	}
	return c
}

// denied reports whether err is the service refusing this user's role.
func denied(err error) bool {
	var he *httpx.Error
	return errors.As(err, &he) && (he.Status == http.StatusForbidden || he.Status == http.StatusUnauthorized)
}

func (s *Server) attestation(w http.ResponseWriter, r *http.Request, sess *session) error {
	data := map[string]any{}
	pols, err := s.attestClient(sess).Policies(r.Context())
	switch {
	case denied(err):
		data["PoliciesDenied"] = true
	case err != nil:
		return err
	default:
		data["Policies"] = pols
	}
	if aps, err := s.attestClient(sess).Appraisals(r.Context()); err == nil {
		data["Appraisals"] = aps
	} else if !denied(err) {
		return err
	}
	data["Evidence"] = s.cfg.Verifier != nil
	s.render(w, r, sess, "attestation", data)
	return nil
}

// verifyExport checks an exported audit log's chain and that its head
// is the one the service reported with it.
func verifyExport(log []byte, reported audit.Head) (audit.Head, []audit.Record, error) {
	h, recs, err := audit.Verify(bytes.NewReader(log))
	if err == nil && h != reported {
		err = fmt.Errorf("the log's head %d/%s is not the head the service reports", h.Seq, h.Hash)
	}
	return h, recs, err
}

// claimRows lists claims (a token's or evidence's, as their JSON names
// them) by name, each value as JSON without a string's quotes.
func claimRows(claims any) []claimRow {
	b, _ := json.Marshal(claims)
	var m map[string]any
	json.Unmarshal(b, &m)
	var rows []claimRow
	for _, k := range sortedKeys(m) {
		vb, _ := json.Marshal(m[k])
		rows = append(rows, claimRow{k, strings.Trim(string(vb), `"`)})
	}
	return rows
}

// auditLog reads the attestation service's audit log and keeps the
// records keep selects; it reports the chain's verification apart.
func (s *Server) auditLog(r *http.Request, sess *session, keep func(audit.Record) bool) (recs []audit.Record, head audit.Head, verr error, err error) {
	var buf bytes.Buffer
	reported, err := s.attestClient(sess).Audit(r.Context(), &buf)
	if err != nil {
		return nil, audit.Head{}, nil, err
	}
	h, all, verr := verifyExport(buf.Bytes(), reported)
	for _, rec := range all {
		if keep(rec) {
			recs = append(recs, rec)
		}
	}
	return recs, h, verr, nil
}

func (s *Server) policy(w http.ResponseWriter, r *http.Request, sess *session) error {
	name := r.PathValue("name")
	p, err := s.attestClient(sess).Policy(r.Context(), name)
	if err != nil {
		return err
	}
	data := map[string]any{"Policy": p, "Text": string(p.Policy), "Saved": r.URL.Query().Get("saved")}
	recs, head, verr, err := s.auditLog(r, sess, func(rec audit.Record) bool {
		return strings.HasPrefix(rec.Target, "policy/"+name+"/")
	})
	if err != nil {
		return err
	}
	data["History"], data["Head"] = recs, head
	if verr != nil {
		data["ChainError"] = verr.Error()
	}
	s.render(w, r, sess, "policy", data)
	return nil
}

// policyNew starts a new policy: its name, then the same preview.
func (s *Server) policyNew(w http.ResponseWriter, r *http.Request, sess *session) error {
	name := strings.TrimSpace(r.PostForm.Get("name"))
	return s.preview(w, r, sess, name, "", true)
}

func (s *Server) policyPreview(w http.ResponseWriter, r *http.Request, sess *session) error {
	name := r.PathValue("name")
	p, err := s.attestClient(sess).Policy(r.Context(), name)
	if err != nil {
		return err
	}
	return s.preview(w, r, sess, name, string(p.Policy), false)
}

// preview validates the edited policy and shows its diff against the
// stored version, with a form that saves exactly what was shown.
func (s *Server) preview(w http.ResponseWriter, r *http.Request, sess *session, name, old string, isNew bool) error {
	text := strings.ReplaceAll(r.PostForm.Get("policy"), "\r\n", "\n")
	data := map[string]any{"Name": name, "Text": text, "New": isNew}
	if _, err := attest.ParsePolicy([]byte(strings.TrimSpace(text))); err != nil {
		data["Invalid"] = err.Error()
	} else {
		d := lineDiff(old, strings.TrimSpace(text))
		data["Diff"] = d
		changed := false
		for _, l := range d {
			changed = changed || l.Op != " "
		}
		data["Unchanged"] = !changed
	}
	s.render(w, r, sess, "policy-preview", data)
	return nil
}

func (s *Server) policySave(w http.ResponseWriter, r *http.Request, sess *session) error {
	name := r.PathValue("name")
	text := strings.TrimSpace(strings.ReplaceAll(r.PostForm.Get("policy"), "\r\n", "\n"))
	p, err := s.attestClient(sess).PutPolicy(r.Context(), name, []byte(text))
	if err != nil {
		return err
	}
	http.Redirect(w, r, fmt.Sprintf("/attestation/policies/%s?saved=%d", p.Name, p.Version), http.StatusSeeOther)
	return nil
}

// claimRow is one claim of a verified token, as the page lists them.
type claimRow struct{ Name, Value string }

// tokenVerify checks a pasted token against the service's JWKS and lists
// its claims.
func (s *Server) tokenVerify(w http.ResponseWriter, r *http.Request, sess *session) error {
	tok := strings.TrimSpace(r.PostForm.Get("token"))
	v := &token.Verifier{Issuer: s.cfg.Attest.URL, Keys: &attestclient.KeySet{Client: s.attestClient(nil)}, Now: s.cfg.Now}
	data := map[string]any{}
	c, err := v.Verify(tok)
	if err != nil {
		data["Invalid"] = err.Error()
	} else {
		data["Claims"], data["Verdict"] = claimRows(c), c.Verdict
	}
	s.render(w, r, sess, "token", data)
	return nil
}

// evidenceVerify checks pasted evidence (base64; the page fills it from a
// file) with the console's verifier — the deployment's trust roots — and
// lists its claims; a nonce, if given, must start the report data.
func (s *Server) evidenceVerify(w http.ResponseWriter, r *http.Request, sess *session) error {
	if s.cfg.Verifier == nil {
		return pageError{http.StatusNotFound, "This console verifies no evidence."}
	}
	data := map[string]any{"Kind": "Evidence"}
	ev, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(r.PostForm.Get("evidence")), ""))
	var want attest.Expect
	if n := strings.TrimSpace(r.PostForm.Get("nonce")); n != "" && err == nil {
		if want.Nonce, err = hex.DecodeString(n); err != nil || len(want.Nonce) > 32 {
			err = errors.New("the nonce is up to 32 bytes of hex")
		}
	}
	var c enclave.Claims
	if err == nil {
		c, err = s.cfg.Verifier.Verify(r.Context(), ev, want)
	}
	if err != nil {
		data["Invalid"] = err.Error()
	} else {
		data["Claims"] = claimRows(c)
	}
	s.render(w, r, sess, "token", data)
	return nil
}
